import { describe, expect, it } from 'vitest';
import { modelSpecSchema } from '../../src/core/model-spec.js';
import { captureFor, quote } from '../../src/core/pricing.js';

const model = modelSpecSchema.parse({
  id: 'm',
  name: 'm',
  provider: 'local',
  ref: 'm',
  kind: 'image',
  limits: { maxWidth: 2048, maxHeight: 2048 },
  defaults: { width: 1000, height: 1000, steps: 20 },
  price: { base: 1, perImage: 2, perMegapixel: 3, perStep: 0.1 },
});

describe('price quotes', () => {
  it('adds base and, per image, image + megapixels + steps', () => {
    // 1 + 2 x (2 + 3 x 1 + 0.1 x 20) = 1 + 2 x 7 = 15
    expect(quote(model, { width: 1000, height: 1000, steps: 20, count: 2 }).total).toBe(15);
  });

  it('rounds up to whole points, without float noise adding one', () => {
    expect(quote(model, { width: 500, height: 500, steps: 1, count: 1 }).total).toBe(4); // 1 + 2 + 0.75 + 0.1 = 3.85
    const tenth = modelSpecSchema.parse({ ...model, price: { perStep: 0.1 } });
    expect(quote(tenth, { width: 64, height: 64, steps: 30, count: 1 }).total).toBe(3);
  });

  it('charges per second of video', () => {
    const video = modelSpecSchema.parse({
      ...model,
      kind: 'video',
      defaults: { ...model.defaults, seconds: 4 },
      price: { base: 5, perSecond: 2.5 },
    });
    expect(quote(video, { width: 64, height: 64, steps: 1, count: 1, seconds: 4 }).total).toBe(15);
  });

  it("captures the delivered share, rounding in the member's favour", () => {
    expect(captureFor(20, 2, 4)).toBe(10);
    expect(captureFor(7, 1, 2)).toBe(3);
    expect(captureFor(7, 2, 2)).toBe(7);
    expect(captureFor(7, 0, 2)).toBe(0);
  });
});
