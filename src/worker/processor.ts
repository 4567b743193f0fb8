import { UnrecoverableError } from 'bullmq';
import sharp from 'sharp';
import { extensionFor } from '../core/media.js';
import { ProviderError, errorCode, memberMessage } from '../core/errors.js';
import type { ModelSpec } from '../core/model-spec.js';
import type { ProgressEvent } from '../core/progress.js';
import type { ProviderOutput, ProviderOutputOk } from '../core/provider.js';
import type { GenerationStatus } from '../core/status.js';
import type { Catalog } from '../catalog/catalog.js';
import {
  knownFromJob,
  knownOf,
  type FinishInput,
  type GenerationService,
  type KnownGeneration,
  type StoredOutput,
} from '../generation/generation-service.js';
import type { EndedSummary } from '../generation/summary.js';
import type { Logger } from '../logger.js';
import type { ProviderRegistry } from '../providers/registry.js';
import {
  generationJobSchema,
  type GenerationJob,
  type GenerationJobHandle,
  type GenerationJobResult,
  type ProgressPayload,
} from '../queue/contracts.js';
import type { MediaStore } from '../store/media-store.js';
import { SETTLE_OUTCOMES, type FailedOutput } from '../store/recorded-result.js';
import type { ProgressChannel } from '../queue/progress-channel.js';

/** Least time between two previews of one generation. */
const PREVIEW_INTERVAL_MS = 2000;

/**
 * A backend's preview as a small JPEG (at most 256 px a side and 24 KB), base64, for the
 * progress event: it travels through the queue's event stream, so it is kept small.
 */
async function shrinkPreview(data: Uint8Array): Promise<string | undefined> {
  const jpeg = await sharp(data)
    .resize(256, 256, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#000000' })
    .jpeg({ quality: 60 })
    .toBuffer();
  return jpeg.length <= 24 * 1024 ? jpeg.toString('base64') : undefined;
}

export interface ProcessorDeps {
  generations: GenerationService;
  catalog: Catalog;
  providers: ProviderRegistry;
  media: MediaStore;
  logger: Logger;
  /** Least time between two progress writes to Redis; the last step always goes out. */
  progressIntervalMs?: number;
  /** How long a job runs before it is shown (and recorded) as running; default 1 s. */
  runningAfterMs?: number;
  /** Where progress goes (the bot shows it); none: progress is not published. */
  progress?: ProgressChannel;
  /** Whether a cancel for this generation arrived before its job started here. */
  wasCancelled?: (generationId: string) => boolean;
}

/** A job that ends sooner is never shown as running: it goes from queued to its result. */
export const RUNNING_AFTER_MS = 1000;

export type ProcessResult = GenerationJobResult;

/** Why the provider's signal fired: a member's cancel, or the model's time limit. */
class TimeoutAbort extends Error {
  override readonly name = 'TimeoutAbort';
}

/** One run of one generation job: what every step below needs. */
interface JobRun {
  deps: ProcessorDeps;
  job: GenerationJobHandle;
  data: GenerationJob;
  id: string;
  /** 1 on the first try. */
  attempt: number;
  log: Logger;
}

/** Writes the generation's final state; waits for the running mark first. */
type End = (input: FinishInput) => Promise<EndedSummary>;

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
    const mark = await markRunningLater(run, progress);
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

/**
 * A job's progress on its way to the progress channel: held back until the job is shown as
 * running, at most one write per interval (a final step always goes out), and only when it
 * changed. Previews are shrunk, at most one every `PREVIEW_INTERVAL_MS`.
 */
class ProgressPublisher {
  readonly #run: JobRun;
  readonly #intervalMs: number;
  #lastWrite = 0;
  #lastSent = '';
  #lastEvent: ProgressEvent = {};
  /** Progress is held back until the job has run long enough to be shown as running. */
  #shown = false;
  #lastPreview = 0;
  #previewing = false;

  constructor(run: JobRun, intervalMs: number) {
    this.#run = run;
    this.#intervalMs = intervalMs;
  }

  publish(event: ProgressEvent, force = false): void {
    const now = Date.now();
    if (event.preview === undefined) this.#lastEvent = event;
    if (!this.#shown || (!force && now - this.#lastWrite < this.#intervalMs)) return;
    const { id, attempt, log, deps } = this.#run;
    const payload: ProgressPayload = {
      ...event,
      generationId: id,
      status: 'processing',
      attempt,
    };
    // Only what changed goes out: a repeated step is not worth a Redis write and an edit.
    const serialized = JSON.stringify(payload);
    if (serialized === this.#lastSent) return;
    this.#lastSent = serialized;
    this.#lastWrite = now;
    deps.progress
      ?.publish(payload)
      .catch((error: unknown) => log.warn({ err: error }, 'progress update failed'));
  }

  /** From now on progress goes out, starting with the latest step (or "started"). */
  show(): void {
    this.#shown = true;
    const { attempt } = this.#run;
    const started = { percent: 0, message: attempt > 1 ? `attempt ${attempt}` : 'started' };
    const last = this.#lastEvent;
    this.publish(last.percent !== undefined || last.step !== undefined ? last : started, true);
  }

  /** A backend's intermediate image; dropped once `signal` has fired. */
  preview(image: { data: Uint8Array }, signal: AbortSignal): void {
    const now = Date.now();
    if (now - this.#lastPreview < PREVIEW_INTERVAL_MS || this.#previewing) return;
    this.#lastPreview = now;
    this.#previewing = true;
    void shrinkPreview(image.data)
      .then((preview) => {
        if (preview && !signal.aborted) this.publish({ ...this.#lastEvent, preview }, true);
      })
      .catch((error: unknown) => this.#run.log.debug({ err: error }, 'preview skipped'))
      .finally(() => {
        this.#previewing = false;
      });
  }
}

/** The running mark of a job; `settled` before the final write, which it must never follow. */
interface RunningMark {
  settled(): Promise<void>;
}

/**
 * Running is shown (in the chat, and in the generation for /history) once the job has run
 * long enough for anyone to see it: an instant job goes from queued to its result, with no
 * progress message and no extra write. With `runningAfterMs` 0 (tests that follow every
 * step) it is shown at once, before the provider is called.
 */
async function markRunningLater(run: JobRun, progress: ProgressPublisher): Promise<RunningMark> {
  const { id, attempt, log, deps } = run;
  let marked: Promise<void> | undefined;
  const showRunning = (): void => {
    progress.show();
    marked = deps.generations
      .markProcessing(id, attempt)
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
  };
}

interface GenerateContext {
  /** The job's signal: fires when the member cancels. */
  signal: AbortSignal | undefined;
  progress: ProgressPublisher;
  mark: RunningMark;
  end: End;
}

/** Runs the provider within the model's time limit and ends the generation with what it made. */
async function generate(
  run: JobRun,
  model: ModelSpec,
  ctx: GenerateContext,
): Promise<ProcessResult> {
  const timeout = new AbortController();
  const timer = setTimeout(
    () => timeout.abort(new TimeoutAbort(`timed out after ${model.timeoutSeconds}s`)),
    model.timeoutSeconds * 1000,
  );
  const runSignal = ctx.signal ? AbortSignal.any([ctx.signal, timeout.signal]) : timeout.signal;
  let results: ProviderOutput[];
  try {
    results = await callProvider(run, model, runSignal, ctx.progress);
  } catch (error) {
    if (ctx.signal?.aborted) return await endCancelledWhileRunning(run, ctx.end);
    if (timeout.signal.aborted) return await endTimedOut(run, model, ctx.end);
    return await endAfterProviderError(run, error, ctx);
  } finally {
    clearTimeout(timer);
  }
  return endWithResults(run, results, ctx.end);
}

/** Hands the provider the request and the stored input images' bytes. */
async function callProvider(
  run: JobRun,
  model: ModelSpec,
  signal: AbortSignal,
  progress: ProgressPublisher,
): Promise<ProviderOutput[]> {
  const { id, attempt, data, deps } = run;
  // Input images were re-encoded and stored by the adapter; the provider gets the bytes.
  const inputImages = await Promise.all(
    data.request.inputImages.map(async (ref) => ({
      data: await deps.media.get(ref.fileId),
      mime: ref.mime,
      width: ref.width,
      height: ref.height,
    })),
  );
  return deps.providers.get(model.provider).generate(
    { generationId: id, model, request: data.request, inputImages, attempt },
    {
      signal,
      onProgress: (event) =>
        progress.publish(event, event.step !== undefined && event.step === event.steps),
      onPreview: (image) => progress.preview(image, signal),
    },
  );
}

async function endCancelledWhileRunning(run: JobRun, end: End): Promise<ProcessResult> {
  run.log.info('generation cancelled while running');
  await end({
    outcome: 'cancelled',
    error: {
      code: 'cancelled',
      message: 'The generation was cancelled. Your points were returned.',
    },
  });
  return { status: 'cancelled' };
}

async function endTimedOut(run: JobRun, model: ModelSpec, end: End): Promise<never> {
  run.log.warn({ timeoutSeconds: model.timeoutSeconds }, 'generation timed out');
  await end({
    outcome: 'failed',
    error: {
      code: 'timeout',
      message: `The generator took longer than ${model.timeoutSeconds} seconds. Your points were returned.`,
    },
  });
  throw new UnrecoverableError('timeout');
}

/**
 * A provider that threw: a retryable error with attempts left goes back to BullMQ (queued
 * until its backoff ends); anything else fails the generation with the points returned.
 */
async function endAfterProviderError(
  run: JobRun,
  error: unknown,
  ctx: GenerateContext,
): Promise<never> {
  const { job, id, attempt, log, deps } = run;
  const retryable = error instanceof ProviderError && error.retryable;
  const attemptsLeft = (job.opts.attempts ?? 1) - attempt;
  if (retryable && attemptsLeft > 0) {
    log.warn({ err: error, attempt, attemptsLeft }, 'retryable provider error; will retry');
    await ctx.mark.settled();
    await deps.generations.markRetrying(id, errorCode(error));
    throw error;
  }
  log.warn({ err: error, attempt }, 'generation failed');
  await ctx.end({
    outcome: 'failed',
    error: {
      code: errorCode(error),
      message:
        error instanceof ProviderError
          ? memberMessage(error)
          : 'The generation failed on our side. Your points were returned.',
    },
  });
  throw new UnrecoverableError(errorCode(error));
}

/** Stores what the provider made and ends the generation: completed when any output is kept. */
async function endWithResults(
  run: JobRun,
  results: ProviderOutput[],
  end: End,
): Promise<ProcessResult> {
  const { id, deps } = run;
  const outputs: StoredOutput[] = [];
  const failedOutputs: FailedOutput[] = [];
  for (const [index, result] of results.entries()) {
    if (!result.ok) {
      failedOutputs.push({ index, code: result.code, message: result.message });
      continue;
    }
    outputs.push(await store(deps.media, id, index, result));
  }
  if (outputs.length === 0) {
    const first = failedOutputs[0];
    await end({
      outcome: 'failed',
      failedOutputs,
      error: {
        code: first?.code ?? 'provider_failed',
        message: 'The generator could not make any of the images. Your points were returned.',
      },
    });
    throw new UnrecoverableError('no outputs');
  }
  const final = await end({ outcome: 'completed', outputs, failedOutputs });
  return { status: final.status };
}

async function store(
  media: MediaStore,
  id: string,
  index: number,
  result: ProviderOutputOk,
): Promise<StoredOutput> {
  const ext = extensionFor(result.mime);
  const saved = await media.put(result.data, {
    filename: `${id}-${index}.${ext}`,
    contentType: result.mime,
    metadata: { generationId: id, index },
  });
  return {
    index,
    fileId: saved.fileId,
    mime: result.mime,
    bytes: saved.bytes,
    sha256: saved.sha256,
    width: result.width,
    height: result.height,
    seed: result.seed,
  };
}
