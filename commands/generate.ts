import { z } from 'zod';
import { generationRequestSchema, resolveRequest } from '../src/core/generation-request.js';
import { quote } from '../src/core/pricing.js';
import { pendingView } from '../src/delivery/progress-view.js';
import { generationIdFor } from '../src/generation/ids.js';
import { originOf } from '../src/core/chat.js';
import { defineCommand } from './command.js';
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
  role: 'member',
  usage: '/generate <prompt> [--model id] [--ar 16:9] [--seed n] [--count 1-4] [--neg text]',
  examples: [
    '/generate a red fox in the snow',
    '/generate a lighthouse at dusk --model local-canvas --ar 16:9 --count 2',
  ],
  preview(ctx, input, { catalog }) {
    const model = catalog.get(input.model);
    // The seed does not change the price; the real one is drawn at submit.
    const request = resolveRequest(model, input, () => 0);
    return pendingView({
      generationId: generationIdFor(ctx.invocationKey),
      model: model.id,
      prompt: request.prompt,
      price: quote(model, request).total,
      count: request.count,
    });
  },
  async run(ctx, input, { generations }) {
    const { generation, duplicate } = await generations.submit({
      requester: ctx.actor,
      invocationKey: ctx.invocationKey,
      legacyInvocation: ctx.legacyInvocation,
      origin: originOf(ctx),
      request: input,
    });
    const where = generation.queuePosition
      ? `, position ${generation.queuePosition} in the queue`
      : '';
    const text = duplicate
      ? `Already working on this request: ${describeGeneration(generation)}`
      : `Queued ${generation.id} on ${generation.model} for ${generation.price} points${where}.`;
    return { text, data: { generation, duplicate }, generation };
  },
});
