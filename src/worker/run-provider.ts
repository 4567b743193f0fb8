import { UnrecoverableError } from 'bullmq';
import { ProviderError, errorCode, memberMessage } from '../core/errors.js';
import { extensionFor } from '../core/media.js';
import type { ModelSpec } from '../core/model-spec.js';
import type { FailedOutput, StoredOutput } from '../core/outputs.js';
import type { ProviderOutput, ProviderOutputOk } from '../core/provider.js';
import type { MediaStore } from '../store/media-store.js';
import type { End, JobRun, ProcessResult } from './job-run.js';
import type { ProgressPublisher } from './progress-publisher.js';
import type { RunningMark } from './running-mark.js';

/** Why the provider's signal fired: a member's cancel, or the model's time limit. */
class TimeoutAbort extends Error {
  override readonly name = 'TimeoutAbort';
}

export interface GenerateContext {
  /** The job's signal: fires when the member cancels. */
  signal: AbortSignal | undefined;
  progress: ProgressPublisher;
  mark: RunningMark;
  end: End;
}

/** Runs the provider within the model's time limit and ends the generation with what it made. */
export async function generate(
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
    if (ctx.signal?.aborted) return await endCancelledWhileRunning(run, model, ctx.end);
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

/**
 * A run stopped after its backend started it. It counts against the member's day either way;
 * on a backend that cannot stop the work (and bills it), its full price is charged, as the
 * member was told before cancelling (see `Catalog.chargesStoppedRuns`).
 */
function stoppedRun(run: JobRun, model: ModelSpec): { charged: boolean; points: string } {
  const charged = run.deps.catalog.chargesStoppedRuns(model);
  return {
    charged,
    points: charged
      ? `Its backend cannot stop a run once it has started, so its ${run.data.price} points were charged.`
      : 'Your points were returned.',
  };
}

async function endCancelledWhileRunning(
  run: JobRun,
  model: ModelSpec,
  end: End,
): Promise<ProcessResult> {
  const stopped = stoppedRun(run, model);
  run.log.info({ charged: stopped.charged }, 'generation cancelled while running');
  await end({
    outcome: 'cancelled',
    error: { code: 'cancelled', message: `The generation was cancelled. ${stopped.points}` },
    stopped: { charged: stopped.charged },
  });
  return { status: 'cancelled' };
}

async function endTimedOut(run: JobRun, model: ModelSpec, end: End): Promise<never> {
  const stopped = stoppedRun(run, model);
  run.log.warn(
    { timeoutSeconds: model.timeoutSeconds, charged: stopped.charged },
    'generation timed out',
  );
  await end({
    outcome: 'failed',
    error: {
      code: 'timeout',
      message: `The generator took longer than ${model.timeoutSeconds} seconds. ${stopped.points}`,
    },
    stopped: { charged: stopped.charged },
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
    await deps.generations.markRetrying(id, errorCode(error), ctx.mark.status());
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
