import { UnrecoverableError } from 'bullmq';
import sharp from 'sharp';
import { extensionFor } from '../core/media.js';
import { ProviderError, errorCode, memberMessage } from '../core/errors.js';
import type { ProgressEvent } from '../core/progress.js';
import type { ProviderOutputOk } from '../core/provider.js';
import { isTerminal } from '../core/status.js';
import type { Catalog } from '../catalog/catalog.js';
import {
  knownFromJob,
  knownOf,
  type FinishInput,
  type GenerationService,
  type KnownGeneration,
  type StoredOutput,
} from '../generation/generation-service.js';
import type { GenerationSummary } from '../generation/summary.js';
import type { Logger } from '../logger.js';
import type { ProviderRegistry } from '../providers/registry.js';
import {
  generationJobSchema,
  type GenerationJobHandle,
  type GenerationJobResult,
  type ProgressPayload,
} from '../queue/contracts.js';
import type { MediaStore } from '../store/media-store.js';
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

/**
 * The job processor of the generation queues. It trusts nothing in the job (the payload is
 * validated again), skips generations that already ended (a stalled job run twice), and
 * finishes every path through `GenerationService.finish`, which settles the points.
 */
export function createProcessor(deps: ProcessorDeps) {
  const { generations, catalog, providers, media, logger } = deps;
  const interval = deps.progressIntervalMs ?? 250;

  return async function process(
    job: GenerationJobHandle,
    _token?: string,
    signal?: AbortSignal,
  ): Promise<ProcessResult> {
    const parsed = generationJobSchema.safeParse(job.data);
    if (!parsed.success) {
      logger.error(
        { jobId: job.id, issues: parsed.error.issues },
        'generation job payload is invalid',
      );
      throw new UnrecoverableError('invalid job payload');
    }
    const data = parsed.data;
    const id = data.generationId;
    const log = logger.child({ generationId: id, jobId: job.id });
    const attempt = job.attemptsMade + 1;

    // A first run of a v2 job reads nothing: the job says what to make and for whom, and its
    // points are held (it was added after the hold). A retry, a stalled job run again or a
    // job from the release before reads the generation, which may have ended meanwhile.
    let known: KnownGeneration;
    if (data.v === 1 || attempt > 1 || (job.stalledCounter ?? 0) > 0) {
      const doc = await generations.find(id);
      if (!doc) throw new UnrecoverableError(`generation ${id} does not exist`);
      if (isTerminal(doc.status)) {
        // Its worker may have died between the final status and queueing the delivery.
        await generations.redeliver(doc);
        log.info({ status: doc.status }, 'generation already ended; nothing to do');
        return { status: doc.status as ProcessResult['status'] };
      }
      if (await generations.resumeIfInterrupted(doc)) {
        // A worker died inside finish (this is the stalled job run again): complete what it
        // recorded instead of generating, and charging for, a second result.
        const resumed = await generations.find(id);
        log.warn({ status: resumed?.status }, 'resumed an interrupted finish');
        return { status: (resumed?.status ?? 'failed') as ProcessResult['status'] };
      }
      known = knownOf(doc);
      if (doc.cancelRequested) return cancel(known);
    } else {
      known = knownFromJob(data);
    }
    if (deps.wasCancelled?.(id)) return cancel(known);

    const model = catalog.find(data.model);
    if (!model || !providers.has(model.provider)) {
      const error = {
        code: 'provider_unavailable',
        message: 'This model is no longer available. Your points were returned.',
      };
      await generations.finish(id, { outcome: 'failed', error }, known);
      throw new UnrecoverableError(`model ${data.model} is not available in this worker`);
    }

    let lastWrite = 0;
    let lastSent = '';
    let lastEvent: ProgressEvent = {};
    /** Progress is held back until the job has run long enough to be shown as running. */
    let shown = false;
    const publish = (event: ProgressEvent, force = false): void => {
      const now = Date.now();
      if (event.preview === undefined) lastEvent = event;
      if (!shown || (!force && now - lastWrite < interval)) return;
      const payload: ProgressPayload = {
        ...event,
        generationId: id,
        status: 'processing',
        attempt,
      };
      // Only what changed goes out: a repeated step is not worth a Redis write and an edit.
      const serialized = JSON.stringify(payload);
      if (serialized === lastSent) return;
      lastSent = serialized;
      lastWrite = now;
      deps.progress
        ?.publish(payload)
        .catch((error: unknown) => log.warn({ err: error }, 'progress update failed'));
    };

    // Running is shown (in the chat, and in the generation for /history) once the job has run
    // long enough for anyone to see it: an instant job goes from queued to its result, with
    // no progress message and no extra write.
    let marked: Promise<void> | undefined;
    const runningAfter = deps.runningAfterMs ?? RUNNING_AFTER_MS;
    const showRunning = (): void => {
      shown = true;
      const started = { percent: 0, message: attempt > 1 ? `attempt ${attempt}` : 'started' };
      publish(
        lastEvent.percent !== undefined || lastEvent.step !== undefined ? lastEvent : started,
        true,
      );
      marked = generations
        .markProcessing(id, attempt)
        .catch((error: unknown) =>
          log.warn({ err: error }, 'could not mark the generation running'),
        );
    };
    // 0 (tests that follow every step): shown at once, before the provider is called.
    const markTimer = runningAfter > 0 ? setTimeout(showRunning, runningAfter) : undefined;
    if (!markTimer) {
      showRunning();
      await marked;
    }
    /** Before the final write: the running mark must never land after it. */
    const settled = async (): Promise<void> => {
      clearTimeout(markTimer);
      await marked;
    };
    const end = async (input: FinishInput): Promise<GenerationSummary> => {
      await settled();
      return generations.finish(id, { ...input, attempt }, known);
    };
    try {
      return await run();
    } finally {
      await settled();
    }

    async function cancel(facts: KnownGeneration): Promise<ProcessResult> {
      await generations.finish(
        id,
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

    async function run(): Promise<ProcessResult> {
      if (!model) throw new Error('unreachable');
      let lastPreview = 0;
      let previewing = false;
      const timeout = new AbortController();
      const timer = setTimeout(
        () => timeout.abort(new TimeoutAbort(`timed out after ${model.timeoutSeconds}s`)),
        model.timeoutSeconds * 1000,
      );
      const runSignal = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
      let results;
      try {
        // Input images were re-encoded and stored by the adapter; the provider gets the bytes.
        const inputImages = await Promise.all(
          data.request.inputImages.map(async (ref) => ({
            data: await media.get(ref.fileId),
            mime: ref.mime,
            width: ref.width,
            height: ref.height,
          })),
        );
        results = await providers.get(model.provider).generate(
          { generationId: id, model, request: data.request, inputImages, attempt },
          {
            signal: runSignal,
            onProgress: (event) =>
              publish(event, event.step !== undefined && event.step === event.steps),
            onPreview: (image) => {
              const now = Date.now();
              if (now - lastPreview < PREVIEW_INTERVAL_MS || previewing) return;
              lastPreview = now;
              previewing = true;
              void shrinkPreview(image.data)
                .then((preview) => {
                  if (preview && !runSignal.aborted) publish({ ...lastEvent, preview }, true);
                })
                .catch((error: unknown) => log.debug({ err: error }, 'preview skipped'))
                .finally(() => {
                  previewing = false;
                });
            },
          },
        );
      } catch (error) {
        if (signal?.aborted) {
          log.info('generation cancelled while running');
          await end({
            outcome: 'cancelled',
            error: {
              code: 'cancelled',
              message: 'The generation was cancelled. Your points were returned.',
            },
          });
          return { status: 'cancelled' };
        }
        if (timeout.signal.aborted) {
          log.warn({ timeoutSeconds: model.timeoutSeconds }, 'generation timed out');
          await end({
            outcome: 'failed',
            error: {
              code: 'timeout',
              message: `The generator took longer than ${model.timeoutSeconds} seconds. Your points were returned.`,
            },
          });
          throw new UnrecoverableError('timeout');
        }
        const retryable = error instanceof ProviderError && error.retryable;
        const attemptsLeft = (job.opts.attempts ?? 1) - attempt;
        if (retryable && attemptsLeft > 0) {
          log.warn({ err: error, attempt, attemptsLeft }, 'retryable provider error; will retry');
          await settled();
          await generations.markRetrying(id, errorCode(error));
          throw error;
        }
        log.warn({ err: error, attempt }, 'generation failed');
        await end({
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
      } finally {
        clearTimeout(timer);
      }

      const outputs: StoredOutput[] = [];
      const failedOutputs: { index: number; code: string; message: string }[] = [];
      for (const [index, result] of results.entries()) {
        if (!result.ok) {
          failedOutputs.push({ index, code: result.code, message: result.message });
          continue;
        }
        outputs.push(await store(media, id, index, result));
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
      return { status: final.status as ProcessResult['status'] };
    }
  };
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
