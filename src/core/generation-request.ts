import { z } from 'zod';
import { UserError } from './errors.js';
import type { ModelSpec } from './model-spec.js';
import { characterCount } from './text.js';

export const MAX_PROMPT_LENGTH = 1000;
export const MAX_COUNT = 4;
export const MAX_SEED = 2 ** 32 - 1;

/** A reference to an input image that a platform adapter stored before the command ran. */
export const inputImageRefSchema = z.object({
  /** GridFS file id of the stored, re-encoded input. */
  fileId: z.string().min(1),
  mime: z.string().min(1),
  width: z.int().positive(),
  height: z.int().positive(),
});
export type InputImageRef = z.output<typeof inputImageRefSchema>;

/**
 * What a member asked for, before the model fills in defaults. Every message here is what
 * the member reads, so each names the option and the form that works.
 */
export const generationRequestSchema = z.object({
  prompt: z
    .string({ error: 'A prompt is required: describe what to generate.' })
    .trim()
    .min(1, {
      error: 'The prompt is empty: describe what to generate, e.g. "a red fox in the snow".',
    })
    .refine((text) => characterCount(text) <= MAX_PROMPT_LENGTH, {
      error: (iss) => tooLong('prompt', iss.input),
    })
    .meta({ maxLength: MAX_PROMPT_LENGTH }),
  negativePrompt: z
    .string()
    .trim()
    .refine((text) => characterCount(text) <= MAX_PROMPT_LENGTH, {
      error: (iss) => tooLong('negative prompt', iss.input),
    })
    .meta({ maxLength: MAX_PROMPT_LENGTH })
    .optional(),
  model: z.string().trim().min(1).max(64).optional(),
  aspectRatio: z
    .string()
    .regex(/^\d{1,2}:\d{1,2}$/, { error: 'The aspect ratio looks like 16:9.' })
    .optional(),
  width: z.int({ error: 'Width is a whole number of pixels.' }).positive().optional(),
  height: z.int({ error: 'Height is a whole number of pixels.' }).positive().optional(),
  // The upper bound depends on the model: resolveRequest checks it and names the range.
  steps: z
    .int({ error: 'Steps is a whole number, e.g. 20.' })
    .min(1, {
      error: (iss) =>
        `Steps must be at least 1 (got ${String(iss.input)}); each model's range is shown by /models.`,
    })
    .optional(),
  guidance: z.number({ error: 'Guidance is a number.' }).min(0).optional(),
  seed: z
    .int({ error: 'The seed is a whole number.' })
    .min(0, { error: `The seed is between 0 and ${MAX_SEED}.` })
    .max(MAX_SEED, { error: `The seed is between 0 and ${MAX_SEED}.` })
    .optional(),
  count: z
    .int({ error: `Count is a whole number from 1 to ${MAX_COUNT}.` })
    .min(1, { error: `Count is a whole number from 1 to ${MAX_COUNT}.` })
    .max(MAX_COUNT, { error: `Count is a whole number from 1 to ${MAX_COUNT}.` })
    .optional(),
  seconds: z.number().positive().optional(),
  inputImages: z.array(inputImageRefSchema).max(4).optional(),
});

export type GenerationRequestInput = z.input<typeof generationRequestSchema>;
export type GenerationRequest = z.output<typeof generationRequestSchema>;

/**
 * Prompt lengths count characters as Unicode code points: an accented letter is one, most
 * emoji are one, and a few combined emoji (flags, families) are several.
 */
function tooLong(what: string, text: unknown): string {
  const count = typeof text === 'string' ? characterCount(text) : 0;
  return `The ${what} is too long (${count} characters); the limit is ${MAX_PROMPT_LENGTH}. Characters are Unicode code points: a combined emoji such as a flag counts as several.`;
}

/** A request with every value decided: what the provider runs and what the price is for. */
export const resolvedRequestSchema = z.object({
  prompt: z
    .string()
    .min(1)
    .refine((text) => characterCount(text) <= MAX_PROMPT_LENGTH),
  negativePrompt: z
    .string()
    .refine((text) => characterCount(text) <= MAX_PROMPT_LENGTH)
    .optional(),
  model: z.string().min(1),
  width: z.int().positive(),
  height: z.int().positive(),
  steps: z.int().positive(),
  guidance: z.number().min(0),
  seed: z.int().min(0).max(MAX_SEED),
  count: z.int().min(1).max(MAX_COUNT),
  seconds: z.number().positive().optional(),
  inputImages: z.array(inputImageRefSchema).default([]),
});
export type ResolvedRequest = z.output<typeof resolvedRequestSchema>;

/**
 * A resolved request as stored (a generation's document, a queued job): its shape alone.
 * The limits are the submit's to enforce; what was accepted stays readable when a later
 * release changes them (a smaller count limit, a shorter prompt limit).
 */
export const storedRequestSchema = z.object({
  prompt: z.string(),
  negativePrompt: z.string().optional(),
  model: z.string(),
  width: z.number(),
  height: z.number(),
  steps: z.number(),
  guidance: z.number(),
  seed: z.number(),
  count: z.number(),
  seconds: z.number().optional(),
  inputImages: z.array(inputImageRefSchema).default([]),
}) satisfies z.ZodType<ResolvedRequest, unknown>;

function parseRatio(ratio: string): [number, number] {
  const [a, b] = ratio.split(':').map(Number);
  if (!a || !b)
    throw new UserError(
      'invalid_input',
      `The aspect ratio "${ratio}" is not valid; use a form like 16:9.`,
    );
  return [a, b];
}

function roundTo(value: number, multiple: number): number {
  return Math.max(multiple, Math.round(value / multiple) * multiple);
}

/** What a member reads when they send an image to a model that cannot use one. */
export function inputImageRefusal(modelId: string): string {
  return `${modelId} does not take an input image. Pick a model that does (see /models), or leave the image out.`;
}

/** Width and height for an aspect ratio at about the model's default pixel count. */
export function sizeForAspectRatio(
  model: ModelSpec,
  ratio: string,
): { width: number; height: number } {
  const [a, b] = parseRatio(ratio);
  const area = model.defaults.width * model.defaults.height;
  let width = Math.sqrt((area * a) / b);
  let height = (width * b) / a;
  const shrink = Math.min(1, model.limits.maxWidth / width, model.limits.maxHeight / height);
  width *= shrink;
  height *= shrink;
  const m = model.limits.sizeMultiple;
  return {
    width: Math.min(roundTo(width, m), model.limits.maxWidth - (model.limits.maxWidth % m)),
    height: Math.min(roundTo(height, m), model.limits.maxHeight - (model.limits.maxHeight % m)),
  };
}

type Fail = (message: string) => never;

/**
 * Checks a request against one model's limits and fills in its defaults. Pure: the random
 * seed comes from the caller so the same inputs always resolve the same way.
 */
export function resolveRequest(
  model: ModelSpec,
  request: GenerationRequest,
  randomSeed: () => number,
): ResolvedRequest {
  const fail: Fail = (message) => {
    throw new UserError('invalid_input', message, { details: { model: model.id } });
  };
  const { width, height } = resolveSize(model, request, fail);
  const { steps, guidance } = resolveSampling(model, request, fail);
  const count = request.count ?? 1;
  if (count > model.limits.maxCount)
    fail(`${model.id} makes at most ${model.limits.maxCount} at a time (asked for ${count}).`);
  if (
    request.negativePrompt !== undefined &&
    request.negativePrompt !== '' &&
    !model.capabilities.negativePrompt
  ) {
    fail(`${model.id} does not take a negative prompt.`);
  }
  if (request.seed !== undefined && !model.capabilities.seed)
    fail(`${model.id} does not take a seed.`);
  const inputImages = request.inputImages ?? [];
  checkInputImages(model, inputImages.length);
  const seconds = resolveSeconds(model, request, fail);

  const resolved: ResolvedRequest = {
    prompt: request.prompt,
    model: model.id,
    width,
    height,
    steps,
    guidance,
    seed: request.seed ?? randomSeed(),
    count,
    inputImages,
  };
  if (request.negativePrompt) resolved.negativePrompt = request.negativePrompt;
  if (seconds !== undefined) resolved.seconds = seconds;
  return resolved;
}

/**
 * Refuses input images a model cannot take (any, or this many). Checked from the count alone,
 * so a surface can refuse before it downloads anything.
 */
export function checkInputImages(model: ModelSpec, count: number): void {
  const refuse = (message: string): never => {
    throw new UserError('invalid_input', message, { details: { model: model.id } });
  };
  if (count > 0 && !model.capabilities.img2img) refuse(inputImageRefusal(model.id));
  if (count > model.limits.maxInputImages && model.capabilities.img2img)
    refuse(`${model.id} takes at most ${model.limits.maxInputImages} input image(s).`);
}

/** Width and height: asked, from an aspect ratio, or the model's default; within its limits. */
function resolveSize(
  model: ModelSpec,
  request: GenerationRequest,
  fail: Fail,
): { width: number; height: number } {
  const { limits } = model;
  if (
    request.aspectRatio !== undefined &&
    (request.width !== undefined || request.height !== undefined)
  ) {
    fail('Give either an aspect ratio or a width and height, not both.');
  }
  let width = request.width ?? model.defaults.width;
  let height = request.height ?? model.defaults.height;
  if (request.aspectRatio !== undefined) {
    if (!limits.aspectRatios.includes(request.aspectRatio)) {
      fail(
        `${model.id} does not offer the aspect ratio ${request.aspectRatio}; use one of ${limits.aspectRatios.join(', ')}.`,
      );
    }
    ({ width, height } = sizeForAspectRatio(model, request.aspectRatio));
  }
  if (width > limits.maxWidth || height > limits.maxHeight) {
    fail(
      `${width}x${height} is larger than ${model.id} allows (at most ${limits.maxWidth}x${limits.maxHeight}).`,
    );
  }
  if (width < limits.minWidth || height < limits.minHeight) {
    fail(
      `${width}x${height} is smaller than ${model.id} allows (at least ${limits.minWidth}x${limits.minHeight}).`,
    );
  }
  if (width % limits.sizeMultiple !== 0 || height % limits.sizeMultiple !== 0) {
    fail(`Width and height must be multiples of ${limits.sizeMultiple} for ${model.id}.`);
  }
  return { width, height };
}

/** Steps and guidance: asked (when the model takes them) or its defaults, within its range. */
function resolveSampling(
  model: ModelSpec,
  request: GenerationRequest,
  fail: Fail,
): { steps: number; guidance: number } {
  const { limits, capabilities } = model;
  const steps = request.steps ?? model.defaults.steps;
  if (request.steps !== undefined && !capabilities.steps)
    fail(`${model.id} does not take a number of steps.`);
  if (steps < limits.minSteps || steps > limits.maxSteps) {
    fail(
      `Steps must be between ${limits.minSteps} and ${limits.maxSteps} for ${model.id} (got ${steps}).`,
    );
  }
  const guidance = request.guidance ?? model.defaults.guidance;
  if (request.guidance !== undefined && !capabilities.guidance)
    fail(`${model.id} does not take a guidance value.`);
  if (guidance < limits.minGuidance || guidance > limits.maxGuidance) {
    fail(
      `Guidance must be between ${limits.minGuidance} and ${limits.maxGuidance} for ${model.id} (got ${guidance}).`,
    );
  }
  return { steps, guidance };
}

/** A video's length (asked or the model's default, within its range); none for a still. */
function resolveSeconds(
  model: ModelSpec,
  request: GenerationRequest,
  fail: Fail,
): number | undefined {
  const { limits } = model;
  if (model.kind !== 'video') {
    if (request.seconds !== undefined)
      fail(`${model.id} makes still images; a length in seconds only applies to video models.`);
    return undefined;
  }
  const seconds = request.seconds ?? model.defaults.seconds;
  if (seconds === undefined) return undefined;
  if (limits.maxSeconds !== undefined && seconds > limits.maxSeconds) {
    fail(`${model.id} makes clips of at most ${limits.maxSeconds} seconds (asked for ${seconds}).`);
  }
  if (limits.minSeconds !== undefined && seconds < limits.minSeconds) {
    fail(
      `${model.id} makes clips of at least ${limits.minSeconds} seconds (asked for ${seconds}).`,
    );
  }
  return seconds;
}
