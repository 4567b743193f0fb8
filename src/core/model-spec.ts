import { z } from 'zod';

const aspectRatio = z
  .string()
  .regex(/^\d{1,2}:\d{1,2}$/, { error: 'aspect ratio looks like 16:9' });

/**
 * One entry of the model catalog. Operators write these in a JSON file; it is validated at
 * start-up so a typo stops the bot instead of surfacing as a member's failed generation.
 */
export const modelSpecSchema = z
  .object({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,47}$/, { error: 'model ids are lower-case, 1-48 chars' }),
    name: z.string().min(1),
    description: z.string().default(''),
    provider: z.string().min(1),
    /** The provider's own name for the model. */
    ref: z.string().min(1),
    kind: z.enum(['image', 'video']),
    /** Shown as a demo in /models (the built-in local renderer is not real AI). */
    demo: z.boolean().default(false),
    capabilities: z
      .object({
        negativePrompt: z.boolean().default(true),
        img2img: z.boolean().default(false),
        seed: z.boolean().default(true),
        steps: z.boolean().default(true),
        guidance: z.boolean().default(true),
      })
      .prefault({}),
    limits: z.object({
      minWidth: z.int().min(16).default(64),
      minHeight: z.int().min(16).default(64),
      maxWidth: z.int().min(16),
      maxHeight: z.int().min(16),
      /** Width and height are rounded to a multiple of this. */
      sizeMultiple: z.int().min(1).default(8),
      minSteps: z.int().min(1).default(1),
      maxSteps: z.int().min(1).default(50),
      minGuidance: z.number().min(0).default(0),
      maxGuidance: z.number().min(0).default(20),
      maxCount: z.int().min(1).max(4).default(4),
      minSeconds: z.number().positive().optional(),
      maxSeconds: z.number().positive().optional(),
      aspectRatios: z.array(aspectRatio).min(1).default(['1:1', '4:3', '3:4', '16:9', '9:16']),
      maxInputImages: z.int().min(0).max(4).default(0),
    }),
    defaults: z.object({
      width: z.int().positive(),
      height: z.int().positive(),
      steps: z.int().positive().default(20),
      guidance: z.number().min(0).default(7),
      seconds: z.number().positive().optional(),
    }),
    price: z
      .object({
        base: z.number().min(0).default(0),
        perMegapixel: z.number().min(0).default(0),
        perStep: z.number().min(0).default(0),
        perImage: z.number().min(0).default(0),
        perSecond: z.number().min(0).default(0),
      })
      .prefault({}),
    timeoutSeconds: z.number().positive().default(300),
    /** Provider-specific settings, such as the local provider's test knobs. */
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .superRefine((m, ctx) => {
    const issue = (message: string, path: (string | number)[]): void => {
      ctx.addIssue({ code: 'custom', message, path });
    };
    if (m.defaults.width > m.limits.maxWidth || m.defaults.width < m.limits.minWidth) {
      issue('default width is outside the limits', ['defaults', 'width']);
    }
    if (m.defaults.height > m.limits.maxHeight || m.defaults.height < m.limits.minHeight) {
      issue('default height is outside the limits', ['defaults', 'height']);
    }
    if (m.defaults.steps > m.limits.maxSteps || m.defaults.steps < m.limits.minSteps) {
      issue('default steps are outside the limits', ['defaults', 'steps']);
    }
    if (m.kind === 'video' && m.defaults.seconds === undefined) {
      issue('video models need a default length in seconds', ['defaults', 'seconds']);
    }
    if (m.kind === 'image' && m.defaults.seconds !== undefined) {
      issue('image models have no length in seconds', ['defaults', 'seconds']);
    }
  });

export type ModelSpec = z.output<typeof modelSpecSchema>;
export type ModelSpecInput = z.input<typeof modelSpecSchema>;
