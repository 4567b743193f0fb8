import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/core/errors.js';
import { modelSpecSchema, type ModelSpecInput } from '../../src/core/model-spec.js';
import type { ProgressEvent } from '../../src/core/progress.js';
import { LocalProvider } from '../../src/providers/local/local-provider.js';

const spec = (options: Record<string, unknown>, extra: Partial<ModelSpecInput> = {}) =>
  modelSpecSchema.parse({
    id: 'l',
    name: 'l',
    provider: 'local',
    ref: 'l',
    kind: 'image',
    limits: { maxWidth: 256, maxHeight: 256 },
    defaults: { width: 80, height: 64, steps: 3 },
    options,
    ...extra,
  });
const request = {
  prompt: 'a red fox',
  model: 'l',
  width: 80,
  height: 64,
  steps: 3,
  guidance: 5,
  seed: 9,
  count: 1,
  inputImages: [],
};
const run = (
  model: ReturnType<typeof spec>,
  overrides: Partial<typeof request & { seconds: number }> = {},
  attempt = 1,
  signal = new AbortController().signal,
) => {
  const events: ProgressEvent[] = [];
  const promise = new LocalProvider().generate(
    { generationId: 'g', model, request: { ...request, ...overrides }, inputImages: [], attempt },
    { signal, onProgress: (e) => events.push(e) },
  );
  return { promise, events };
};
const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('the local provider', () => {
  it('renders an animation as long as the seconds asked for (what the price counts)', async () => {
    const loop = spec(
      { format: 'gif', frames: 16, frameDelayMs: 125 },
      {
        kind: 'video',
        limits: { maxWidth: 256, maxHeight: 256, minSeconds: 1, maxSeconds: 4 },
        defaults: { width: 64, height: 64, steps: 1, seconds: 2 },
      },
    );
    for (const seconds of [1, 3]) {
      const [out] = await run(loop, { width: 64, height: 64, steps: 1, seconds }).promise;
      if (!out?.ok) throw new Error('no animation');
      const meta = await sharp(out.data, { animated: true }).metadata();
      const total = (meta.delay ?? []).reduce((a, b) => a + b, 0);
      expect(meta.pages).toBe(seconds * 8);
      expect(total).toBe(seconds * 1000);
    }
  });

  it('renders real PNGs of the asked size and reports each step', async () => {
    const { promise, events } = run(spec({}));
    const [out] = await promise;
    expect(out?.ok).toBe(true);
    if (!out?.ok) return;
    const meta = await sharp(out.data).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 80, height: 64 });
    expect(events.map((e) => e.step)).toEqual([1, 2, 3]);
    expect(events.at(-1)?.percent).toBe(100);
  });

  it('is deterministic in prompt, model and seed', async () => {
    const [a] = await run(spec({})).promise;
    const [b] = await run(spec({})).promise;
    const [c] = await run(spec({}), { seed: 10 }).promise;
    const [d] = await run(spec({}), { prompt: 'a blue whale' }).promise;
    if (!a?.ok || !b?.ok || !c?.ok || !d?.ok) throw new Error('expected images');
    expect(sha(a.data)).toBe(sha(b.data));
    expect(sha(c.data)).not.toBe(sha(a.data));
    expect(sha(d.data)).not.toBe(sha(a.data));
  });

  it('makes a multi-frame animated GIF', async () => {
    const [out] = await run(spec({ format: 'gif', frames: 5 })).promise;
    if (!out?.ok) throw new Error('expected an animation');
    expect(out.mime).toBe('image/gif');
    const meta = await sharp(out.data, { animated: true }).metadata();
    expect(meta.pages).toBe(5);
    expect(meta.pageHeight).toBe(64);
  });

  it('fails after the chosen step, not retryably', async () => {
    const { promise, events } = run(spec({ failAfterStep: 2 }));
    await expect(promise).rejects.toMatchObject({ retryable: false, code: 'provider_failed' });
    expect(events.map((e) => e.step)).toEqual([1, 2]);
  });

  it('fails retryably on the first attempts, with the asked wait, then succeeds', async () => {
    const model = spec({ retryableFailures: 1, retryAfterMs: 1500 });
    const first = run(model, {}, 1).promise;
    await expect(first).rejects.toBeInstanceOf(ProviderError);
    await expect(first).rejects.toMatchObject({ retryable: true, retryAfterMs: 1500 });
    const [out] = await run(model, {}, 2).promise;
    expect(out?.ok).toBe(true);
  });

  it('fails only the chosen outputs of a batch', async () => {
    const results = await run(spec({ failOutputs: [1] }), { count: 3 }).promise;
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
  });

  it('stops at once when aborted', async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled by test');
    const { promise, events } = run(
      spec({ stepDelayMs: 10_000 }),
      { steps: 50 },
      1,
      controller.signal,
    );
    controller.abort(reason);
    await expect(promise).rejects.toBe(reason);
    expect(events).toEqual([]);
  });
});
