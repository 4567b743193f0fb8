import { setTimeout as delay } from 'node:timers/promises';
import sharp from 'sharp';
import { z } from 'zod';
import { ProviderError } from '../../core/errors.js';
import type {
  Provider,
  ProviderJob,
  ProviderOutput,
  ProviderRunContext,
} from '../../core/provider.js';
import { defineProvider } from '../provider-module.js';
import { drawAnimation, drawStill } from './draw.js';

/**
 * Settings of a `local` model in the catalog. Besides the look of the output they hold the
 * test knobs that let tests and demos exercise every failure path without a real backend.
 */
export const localModelOptionsSchema = z.object({
  /** Still format, or the container of an animation. */
  format: z.enum(['png', 'webp', 'gif']).default('png'),
  /** Frames of an animation; 0 or 1 makes a still image. */
  frames: z.int().min(0).max(120).default(0),
  frameDelayMs: z.int().min(10).max(5000).default(100),
  /** Pause per step, so progress is visible (and cancellable) in a demo. */
  stepDelayMs: z.int().min(0).max(60_000).default(0),
  /** Fail the whole run, not retryably, after this step. */
  failAfterStep: z.int().min(0).optional(),
  /** Outputs (0-based) that fail while the rest succeed. */
  failOutputs: z.array(z.int().min(0)).default([]),
  /** The first N attempts fail with a retryable error before any work. */
  retryableFailures: z.int().min(0).default(0),
  retryAfterMs: z.int().min(0).optional(),
  /** Send a small preview half way through, as backends with live previews do. */
  previews: z.boolean().default(false),
  /** Prompts containing any of these words are refused as a content-policy backend would. */
  refuseWords: z.array(z.string()).default([]),
});
export type LocalModelOptions = z.output<typeof localModelOptionsSchema>;

/**
 * Frames of an animation: as many as fill the seconds asked for (what the member pays for),
 * at the model's frame delay; `frames` when no length was asked.
 */
export function framesFor(job: ProviderJob, options: LocalModelOptions): number {
  const seconds = job.model.kind === 'video' ? job.request.seconds : undefined;
  if (seconds === undefined) return options.frames;
  return Math.min(120, Math.max(2, Math.round((seconds * 1000) / options.frameDelayMs)));
}

/** A preview is small: it only shows that something is happening. */
const PREVIEW_SIZE = 64;

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}

/**
 * The built-in demo provider: renders real images with sharp from the prompt and seed. It is
 * what a first run, the tests and the benchmarks use; it is not an AI model.
 */
export class LocalProvider implements Provider {
  readonly id = 'local';
  readonly label = 'Local demo renderer';

  async generate(job: ProviderJob, ctx: ProviderRunContext): Promise<ProviderOutput[]> {
    const options = localModelOptionsSchema.parse(job.model.options);
    failAsAsked(job, options);
    await runSteps(job, options, ctx);
    const outputs: ProviderOutput[] = [];
    for (let index = 0; index < job.request.count; index += 1) {
      if (ctx.signal.aborted) throw abortReason(ctx.signal);
      outputs.push(await renderOutput(job, options, index));
    }
    return outputs;
  }
}

/** The failures a test asks for before any work: a retryable one, or a refused word. */
function failAsAsked(job: ProviderJob, options: LocalModelOptions): void {
  if (job.attempt <= options.retryableFailures) {
    throw new ProviderError(`local: injected retryable failure on attempt ${job.attempt}`, {
      code: 'rate_limited',
      retryable: true,
      ...(options.retryAfterMs === undefined ? {} : { retryAfterMs: options.retryAfterMs }),
    });
  }
  const words = new Set(job.request.prompt.toLowerCase().match(/[a-z]+/g) ?? []);
  const refused = options.refuseWords.find((w) => words.has(w.toLowerCase()));
  if (refused !== undefined) {
    throw new ProviderError(`local: prompt refused for "${refused}"`, {
      code: 'provider_refused',
      retryable: false,
      userMessage: `The generator refused this prompt (it mentions "${refused}"). Your points were returned.`,
    });
  }
}

/** The steps, each reported (and paused, in a demo); a preview half way; a failure if asked. */
async function runSteps(
  job: ProviderJob,
  options: LocalModelOptions,
  ctx: ProviderRunContext,
): Promise<void> {
  const { request } = job;
  const { signal } = ctx;
  for (let step = 1; step <= request.steps; step += 1) {
    if (signal.aborted) throw abortReason(signal);
    if (options.stepDelayMs > 0) {
      try {
        await delay(options.stepDelayMs, undefined, { signal });
      } catch {
        throw abortReason(signal);
      }
    }
    ctx.onProgress({
      step,
      steps: request.steps,
      percent: Math.round((step / request.steps) * 100),
    });
    if (options.previews && ctx.onPreview && step === Math.ceil(request.steps / 2)) {
      const preview = await drawStill(
        { ...sceneOf(job, 0), width: PREVIEW_SIZE, height: PREVIEW_SIZE },
        'png',
      );
      ctx.onPreview({ data: preview.data, mime: preview.mime });
    }
    if (options.failAfterStep !== undefined && step >= options.failAfterStep) {
      throw new ProviderError(`local: injected failure after step ${step}`, {
        code: 'provider_failed',
        retryable: false,
        userMessage: `The generator failed at step ${step} of ${request.steps}. Your points were returned.`,
      });
    }
  }
}

/** What one output draws: the prompt and the model, at the request's size and seed. */
function sceneOf(job: ProviderJob, index: number) {
  const { request } = job;
  return {
    prompt: request.prompt,
    model: job.model.id,
    seed: request.seed,
    width: request.width,
    height: request.height,
    index,
  };
}

/** One output: a still or an animation, over the member's picture when one was given. */
async function renderOutput(
  job: ProviderJob,
  options: LocalModelOptions,
  index: number,
): Promise<ProviderOutput> {
  const { request } = job;
  if (options.failOutputs.includes(index))
    return {
      ok: false,
      code: 'provider_failed',
      message: `The generator could not make image ${index + 1}.`,
    };
  const scene = {
    ...sceneOf(job, index),
    prompt: request.negativePrompt
      ? `${request.prompt}\n${request.negativePrompt}`
      : request.prompt,
  };
  const drawn =
    options.frames > 1
      ? await drawAnimation(scene, {
          frames: framesFor(job, options),
          delayMs: options.frameDelayMs,
          ...(job.model.kind === 'video' && request.seconds !== undefined
            ? { durationMs: request.seconds * 1000 }
            : {}),
          format: options.format === 'png' ? 'gif' : options.format,
        })
      : await drawStill(scene, options.format === 'gif' ? 'png' : options.format);
  const input = job.inputImages[0];
  const seed = request.seed + index;
  if (!input || options.frames > 1) return { ok: true, ...drawn, seed };
  const data = await overInput(drawn.data, input.data, request);
  return { ok: true, ...drawn, data, mime: 'image/png', seed };
}

/** "Image to image" for the demo: the member's picture under a translucent drawing of the prompt. */
async function overInput(
  drawing: Uint8Array,
  input: Uint8Array,
  size: { width: number; height: number },
): Promise<Buffer> {
  const overlay = await sharp(drawing)
    .resize(size.width, size.height)
    .removeAlpha()
    .ensureAlpha(0.45)
    .png()
    .toBuffer();
  return sharp(input)
    .resize(size.width, size.height, { fit: 'cover' })
    .composite([{ input: overlay }])
    .png()
    .toBuffer();
}

/**
 * The demo renderer is always configured: it needs no variable, and a first run, the tests
 * and the benchmarks rely on it.
 */
export const localModule = defineProvider({
  id: 'local',
  env: z.object({}),
  defaults: {},
  settings: () => ({}),
  create: () => new LocalProvider(),
});
