import { UnrecoverableError } from 'bullmq';
import { ProviderError, memberMessage } from '../core/errors.js';
import type { ModelSpec } from '../core/model-spec.js';
import type { GenerationStatus } from '../core/status.js';
import { knownFromJob, knownOf, type KnownGeneration } from '../generation/generation-service.js';
import { generationJobSchema, type GenerationJobHandle } from '../queue/contracts.js';
import { SETTLE_OUTCOMES } from '../store/recorded-result.js';
import type { End, JobRun, ProcessorDeps, ProcessResult } from './job-run.js';
import { ProgressPublisher } from './progress-publisher.js';
import { markRunningLater } from './running-mark.js';
import { generate } from './run-provider.js';

export type { ProcessorDeps, ProcessResult } from './job-run.js';
export { RUNNING_AFTER_MS } from './running-mark.js';

/**
 * The job processor of the generation queues. It trusts nothing in the job (the payload is
 * validated again), skips generations that already ended (a stalled job run twice), and
 * finishes every path through `GenerationService.finish`, which settles the points.
 */
export function createProcessor(deps: ProcessorDeps) {
  return async function process(
    job: GenerationJobHandle,
    _token?: string,
    signal?: AbortSignal,
  ): Promise<ProcessResult> {
    const run = jobRun(deps, job);
    const start = await startingFacts(run);
    if ('ended' in start) return start.ended;
    const { known } = start;
    if (deps.wasCancelled?.(run.id)) return finishCancelled(run, known);
    const model = await availableModel(run, known);
    const progress = new ProgressPublisher(run, deps.progressIntervalMs ?? 250);
    const mark = await markRunningLater(run, progress, known.summary.status);
    const started = Date.now();
    const end: End = async (input) => {
      await mark.settled();
      const ranMs = Date.now() - started;
      return deps.generations.finish(run.id, { ...input, attempt: run.attempt, ranMs }, known);
    };
    try {
      return await generate(run, model, { signal, progress, mark, end });
    } finally {
      await mark.settled();
    }
  };
}

/** Validates the job's payload (jobs outlive deploys) and names what every step uses. */
function jobRun(deps: ProcessorDeps, job: GenerationJobHandle): JobRun {
  const parsed = generationJobSchema.safeParse(job.data);
  if (!parsed.success) {
    deps.logger.error(
      { jobId: job.id, issues: parsed.error.issues },
      'generation job payload is invalid',
    );
    throw new UnrecoverableError('invalid job payload');
  }
  const data = parsed.data;
  return {
    deps,
    job,
    data,
    id: data.generationId,
    attempt: job.attemptsMade + 1,
    log: deps.logger.child({ generationId: data.generationId, jobId: job.id }),
  };
}

/** The status a job reports for a generation that has ended; undefined while it has not. */
function endedStatus(status: GenerationStatus): ProcessResult['status'] | undefined {
  return SETTLE_OUTCOMES.find((outcome) => outcome === status);
}

/**
 * What the worker knows of the generation before it runs, or how it ended when there is
 * nothing to run. A first run of a v2 job reads nothing: the job says what to make and for
 * whom, and its points are held (it was added after the hold). A retry, a stalled job run
 * again or a job from the release before reads the generation, which may have ended meanwhile.
 */
async function startingFacts(
  run: JobRun,
): Promise<{ known: KnownGeneration } | { ended: ProcessResult }> {
  const { data, job, attempt } = run;
  if (data.v === 1 || attempt > 1 || (job.stalledCounter ?? 0) > 0) return storedFacts(run);
  return { known: knownFromJob(data) };
}

async function storedFacts(
  run: JobRun,
): Promise<{ known: KnownGeneration } | { ended: ProcessResult }> {
  const { id, log } = run;
  const { generations } = run.deps;
  const doc = await generations.find(id);
  if (!doc) throw new UnrecoverableError(`generation ${id} does not exist`);
  const ended = endedStatus(doc.status);
  if (ended) {
    // Its worker may have died between the final status and queueing the delivery.
    await generations.redeliver(doc);
    log.info({ status: doc.status }, 'generation already ended; nothing to do');
    return { ended: { status: ended } };
  }
  const resumed = await generations.resumeIfInterrupted(doc);
  if (resumed) {
    // A worker died inside finish (this is the stalled job run again): complete what it
    // recorded instead of generating, and charging for, a second result.
    log.warn({ status: resumed.ended?.status }, 'resumed an interrupted finish');
    return { ended: { status: resumed.ended?.status ?? 'failed' } };
  }
  const known = knownOf(doc);
  if (doc.cancelRequested) return { ended: await finishCancelled(run, known) };
  return { known };
}

/** Ends a generation cancelled before its provider was called. */
async function finishCancelled(run: JobRun, facts: KnownGeneration): Promise<ProcessResult> {
  await run.deps.generations.finish(
    run.id,
    {
      outcome: 'cancelled',
      error: {
        code: 'cancelled',
        message: memberMessage(
          new ProviderError('cancelled', { code: 'cancelled', retryable: false }),
        ),
      },
    },
    facts,
  );
  return { status: 'cancelled' };
}

/** The job's model, if this worker can still run it; else the generation fails, refunded. */
async function availableModel(run: JobRun, known: KnownGeneration): Promise<ModelSpec> {
  const { catalog, providers, generations } = run.deps;
  const model = catalog.find(run.data.model);
  if (model && providers.has(model.provider)) return model;
  const error = {
    code: 'provider_unavailable',
    message: 'This model is no longer available. Your points were returned.',
  };
  await generations.finish(run.id, { outcome: 'failed', error }, known);
  throw new UnrecoverableError(`model ${run.data.model} is not available in this worker`);
}
