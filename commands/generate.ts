import { z } from 'zod';
import { statusOrigin } from '../src/core/chat.js';
import { checkInputImages, generationRequestSchema } from '../src/core/generation-request.js';
import { withInputImages } from '../src/core/prepared-request.js';
import { defineCommand } from './command.js';
import { GENERATION_ACTIONS } from './generation-actions.js';
import { describeGeneration } from './format.js';

const r = generationRequestSchema.shape;

export const generateOptions = z.object({
  prompt: r.prompt.describe('What to generate'),
  model: r.model.describe('Model id (see /models); the default model when left out'),
  negativePrompt: r.negativePrompt.describe('What to keep out of the image'),
  aspectRatio: r.aspectRatio.describe('Aspect ratio such as 1:1, 16:9 or 9:16'),
  width: r.width.describe('Width in pixels (instead of an aspect ratio)'),
  height: r.height.describe('Height in pixels (instead of an aspect ratio)'),
  steps: r.steps.describe('Sampling steps; more is slower and costs more'),
  guidance: r.guidance.describe('How closely to follow the prompt'),
  seed: r.seed.describe('Seed for a repeatable result'),
  count: r.count.describe('How many images, 1 to 4'),
  seconds: r.seconds.describe('Length of a video or animation, in seconds'),
  inputImages: r.inputImages.describe('Input images (added by the platform from attachments)'),
});

export const generate = defineCommand({
  name: 'generate',
  description: 'Generate an image or animation from a prompt',
  options: generateOptions,
  syntax: {
    prompt: { rest: true, example: 'a red fox' },
    model: { flags: ['model', 'm'], example: 'local-sketch', picks: 'model' },
    aspectRatio: { flags: ['ar'], example: '16:9', picks: 'aspect-ratio' },
    seed: { flags: ['seed'], example: '7' },
    count: { flags: ['count', 'n'], example: '2' },
    negativePrompt: { flags: ['neg'], example: 'blurry' },
    steps: { flags: ['steps'], example: '20', inUsage: false },
    guidance: { flags: ['guidance', 'cfg'], example: '7', inUsage: false },
    width: { flags: ['width'], example: '768', inUsage: false },
    height: { flags: ['height'], example: '512', inUsage: false },
    seconds: { flags: ['seconds'], example: '2', inUsage: false },
    inputImages: { attached: true },
  },
  role: 'member',
  examples: [
    '/generate a red fox in the snow',
    '/generate a lighthouse at dusk --model local-canvas --ar 16:9 --count 2',
  ],
  actions: GENERATION_ACTIONS,
  async run(ctx, input, { generations }) {
    // Resolved and priced once: a bad option is refused here, before any image is
    // downloaded, and the price the status message shows is the one held.
    let prepared = generations.prepare(input);
    const attached = ctx.attachments?.count ?? 0;
    if (ctx.attachments && attached > 0) {
      checkInputImages(prepared.model, attached);
      prepared = withInputImages(prepared, await ctx.attachments.store());
    }
    const origin = await statusOrigin(ctx, {
      generationId: generations.idFor(ctx.invocationKey),
      model: prepared.model.id,
      prompt: prepared.request.prompt,
      price: prepared.price,
      count: prepared.request.count,
    });
    const { generation, duplicate } = await generations.submitPrepared(
      {
        requester: ctx.actor,
        invocationKey: ctx.invocationKey,
        legacyInvocation: ctx.legacyInvocation,
        origin,
      },
      prepared,
    );
    const where = generation.queuePosition
      ? `, position ${generation.queuePosition} in the queue`
      : '';
    const text = duplicate
      ? `Already working on this request: ${describeGeneration(generation)}`
      : `Queued ${generation.id} on ${generation.model} for ${generation.price} points${where}.`;
    return { text, data: { generation, duplicate }, generation };
  },
});
