import type { GenerationStatus } from '../core/status.js';
import type { JobRun } from './job-run.js';
import type { ProgressPublisher } from './progress-publisher.js';

/** A job that ends sooner is never shown as running: it goes from queued to its result. */
export const RUNNING_AFTER_MS = 1000;

/** The running mark of a job; `settled` before the final write, which it must never follow. */
export interface RunningMark {
  settled(): Promise<void>;
  /** The generation's status as this worker last wrote or found it. */
  status(): GenerationStatus;
}

/**
 * Running is shown (in the chat, and in the generation for /history) once the job has run
 * long enough for anyone to see it: an instant job goes from queued to its result, with no
 * progress message and no extra write. With `runningAfterMs` 0 (tests that follow every
 * step) it is shown at once, before the provider is called.
 */
export async function markRunningLater(
  run: JobRun,
  progress: ProgressPublisher,
  from: GenerationStatus,
): Promise<RunningMark> {
  const { id, attempt, log, deps } = run;
  let marked: Promise<void> | undefined;
  let status = from;
  const showRunning = (): void => {
    progress.show();
    marked = deps.generations
      .markProcessing(id, attempt, from)
      .then(() => {
        status = 'processing';
      })
      .catch((error: unknown) => log.warn({ err: error }, 'could not mark the generation running'));
  };
  const runningAfter = deps.runningAfterMs ?? RUNNING_AFTER_MS;
  const timer = runningAfter > 0 ? setTimeout(showRunning, runningAfter) : undefined;
  if (!timer) {
    showRunning();
    await marked;
  }
  return {
    settled: async () => {
      clearTimeout(timer);
      await marked;
    },
    status: () => status,
  };
}
