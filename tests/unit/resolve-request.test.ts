import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import {
  generationRequestSchema,
  resolveRequest,
  sizeForAspectRatio,
} from '../../src/core/generation-request.js';
import { modelSpecSchema } from '../../src/core/model-spec.js';

const model = modelSpecSchema.parse({
  id: 'sd',
  name: 'sd',
  provider: 'local',
  ref: 'sd',
  kind: 'image',
  capabilities: { img2img: false, negativePrompt: true },
  limits: { maxWidth: 1024, maxHeight: 1024, maxSteps: 50, maxCount: 4 },
  defaults: { width: 512, height: 512, steps: 20, guidance: 7 },
});
const seed = () => 1234;
const resolve = (raw: Record<string, unknown>) =>
  resolveRequest(model, generationRequestSchema.parse(raw), seed);

describe('resolving a request against a model', () => {
  it('fills in the model defaults and a seed', () => {
    expect(resolve({ prompt: 'a fox' })).toEqual({
      prompt: 'a fox',
      model: 'sd',
      width: 512,
      height: 512,
      steps: 20,
      guidance: 7,
      seed: 1234,
      count: 1,
      inputImages: [],
    });
  });

  it('turns an aspect ratio into a size near the default pixel count, within limits', () => {
    const wide = sizeForAspectRatio(model, '16:9');
    expect(wide.width / wide.height).toBeCloseTo(16 / 9, 1);
    expect(wide.width % 8).toBe(0);
    expect(wide.width).toBeLessThanOrEqual(1024);
    expect(resolve({ prompt: 'x', aspectRatio: '9:16' }).height).toBeGreaterThan(512);
  });

  it.each([
    [{ prompt: 'x', width: 2048 }, /2048x512 is larger than sd allows/],
    [{ prompt: 'x', width: 510 }, /multiples of 8/],
    [
      { prompt: 'x', aspectRatio: '16:9', width: 512 },
      /either an aspect ratio or a width and height/,
    ],
    [{ prompt: 'x', steps: 51 }, /Steps must be between 1 and 50/],
    [{ prompt: 'x', seconds: 3 }, /still images/],
    [
      { prompt: 'x', inputImages: [{ fileId: 'f', mime: 'image/png', width: 8, height: 8 }] },
      /does not take an input image/,
    ],
  ])('refuses %o with a clear message', (raw, message) => {
    expect(() => resolve(raw)).toThrow(UserError);
    expect(() => resolve(raw)).toThrow(message);
  });

  it('keeps a given seed', () => {
    expect(resolve({ prompt: 'x', seed: 0 }).seed).toBe(0);
  });
});
