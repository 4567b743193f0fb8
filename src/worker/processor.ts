import { UnrecoverableError, type Job } from 'bullmq';
import sharp from 'sharp';
import { extensionFor } from '../core/media.js';
import { ProviderError, errorCode, memberMessage } from '../core/errors.js';
import type { ProgressEvent } from '../core/progress.js';
import type { ProviderOutputOk } from '../core/provider.js';
import { isTerminal } from '../core/status.js';
import type { Catalog } from '../catalog/catalog.js';
import type { GenerationService, StoredOutput } from '../generation/generation-service.js';
import type { Logger } from '../logger.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { generationJobSchema, type ProgressPayload } from '../queue/contracts.js';
import type { MediaStore } from '../store/media-store.js';

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
}

export interface ProcessResult {
  status: 'completed' | 'failed' | 'cancelled';
}

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
    job: Job,
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

    const doc = await generations.find(id);
    if (!doc) throw new UnrecoverableError(`generation ${id} does not exist`);
    if (isTerminal(doc.status)) {
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
    if (doc.cancelRequested) {
      await generations.finish(id, {
        outcome: 'cancelled',
        error: {
          code: 'cancelled',
          message: memberMessage(
            new ProviderError('cancelled', { code: 'cancelled', retryable: false }),
          ),
        },
      });
      return { status: 'cancelled' };
    }

    const model = catalog.find(data.model);
    if (!model || !providers.has(model.provider)) {
      const error = {
        code: 'provider_unavailable',
        message: 'This model is no longer available. Your points were returned.',
      };
      await generations.finish(id, { outcome: 'failed', error });
      throw new UnrecoverableError(`model ${data.model} is not available in this worker`);
    }
    if (!(await generations.markProcessing(id, attempt))) {
      const current = await generations.find(id);
      return { status: (current?.status ?? 'failed') as ProcessResult['status'] };
    }

    let lastWrite = 0;
    let lastEvent: ProgressEvent = {};
    const publish = (event: ProgressEvent, force = false): void => {
      const now = Date.now();
      if (event.preview === undefined) lastEvent = event;
      if (!force && now - lastWrite < interval) return;
      lastWrite = now;
      const payload: ProgressPayload = {
        ...event,
        generationId: id,
        status: 'processing',
        attempt,
      };
      job
        .updateProgress(payload)
        .catch((error: unknown) => log.warn({ err: error }, 'progress update failed'));
    };
    publish({ percent: 0, message: attempt > 1 ? `attempt ${attempt}` : 'started' }, true);

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
        await generations.finish(id, {
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
        await generations.finish(id, {
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
        await generations.markRetrying(id, errorCode(error));
        throw error;
      }
      log.warn({ err: error, attempt }, 'generation failed');
      await generations.finish(id, {
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
    publish({ percent: 100, message: 'saving' }, true);
    if (outputs.length === 0) {
      const first = failedOutputs[0];
      await generations.finish(id, {
        outcome: 'failed',
        failedOutputs,
        error: {
          code: first?.code ?? 'provider_failed',
          message: 'The generator could not make any of the images. Your points were returned.',
        },
      });
      throw new UnrecoverableError('no outputs');
    }
    const final = await generations.finish(id, { outcome: 'completed', outputs, failedOutputs });
    return { status: final.status as ProcessResult['status'] };
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
