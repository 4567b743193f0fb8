import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProgressEvent } from '../../src/core/progress.js';
import type { ProviderOutputOk } from '../../src/core/provider.js';
import type { DownloadPolicy } from '../../src/providers/http/download.js';
import { HordeProvider } from '../../src/providers/remote/horde.js';
import { samplePng, type FakeBackend } from '../fakes/providers/fake-backend.js';
import { fakeHorde } from '../fakes/providers/horde.js';
import { ALL_SCENARIOS, contractSuite, directJob } from '../support/provider-contract.js';

contractSuite({
  provider: 'horde',
  fake: fakeHorde,
  create: (b, download) =>
    new HordeProvider({
      apiUrl: `${b.url}/api`,
      apiKey: 'horde_test_key',
      download,
      pollIntervalMs: 20,
    }),
  scenarios: ALL_SCENARIOS,
  createCall: ['POST', /\/v2\/generate\/async$/],
  cancelCall: ['DELETE', /\/generate\/status\//],
  progress: 'queue',
  model: { ref: 'stable_diffusion' },
});

/** The adapter on its own, for what the pipeline does not show: the request it sends. */
describe('horde adapter (requests)', () => {
  const ASYNC = /^\/api\/v2\/generate\/async$/;
  const CANCEL = /^\/api\/v2\/generate\/status\/[^/]+$/;
  let backend: FakeBackend;
  let censoring: FakeBackend;
  let faulting: FakeBackend;
  let impossible: FakeBackend;

  beforeAll(async () => {
    [backend, censoring, faulting, impossible] = await Promise.all([
      fakeHorde(),
      fakeHorde({ outcome: 'censored' }),
      fakeHorde({ outcome: 'faulted' }),
      fakeHorde({ outcome: 'impossible' }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([backend, censoring, faulting, impossible].map((b) => b?.stop()));
  });

  const job = directJob('horde', 'stable_diffusion');

  function run(
    b: FakeBackend,
    j: ReturnType<typeof job>,
    opts: { apiKey?: string | undefined; signal?: AbortSignal } = {},
  ) {
    const apiKey = 'apiKey' in opts ? opts.apiKey : 'horde_test_key';
    const events: ProgressEvent[] = [];
    const download: DownloadPolicy = {
      maxBytes: 1024 * 1024,
      allowPrivate: false,
      allowHosts: [b.host],
    };
    const provider = new HordeProvider({
      apiUrl: `${b.url}/api`,
      apiKey,
      download,
      pollIntervalMs: 20,
    });
    const signal = opts.signal ?? new AbortController().signal;
    const result = provider.generate(j, { signal, onProgress: (e) => events.push(e) });
    return { result, events };
  }

  it('sends the documented async body and headers, and reports the queue', async () => {
    backend.reset('success');
    const { result, events } = run(backend, job());
    const outputs = (await result) as ProviderOutputOk[];
    const [call] = backend.calls('POST', ASYNC);
    expect(call?.headers.apikey).toBe('horde_test_key');
    expect(call?.headers['client-agent']).toMatch(/^[^:]+:[^:]+:.+$/);
    expect(call?.body).toEqual({
      prompt: 'a lighthouse at dusk ### blurry',
      params: { width: 512, height: 768, steps: 12, cfg_scale: 5.5, seed: '42', n: 1 },
      models: ['stable_diffusion'],
      nsfw: false,
      censor_nsfw: true,
      r2: true,
    });
    expect(outputs).toHaveLength(1);
    expect(outputs[0]).toMatchObject({
      ok: true,
      mime: 'image/png',
      width: 32,
      height: 32,
      seed: 42,
    });
    expect(events).toContainEqual(expect.objectContaining({ queuePosition: 3, etaSeconds: 20 }));
    expect(events.some((e) => /worker/.test(e.message ?? ''))).toBe(true);
    // /status (heavy, rate limited at the horde) only once /check says done.
    expect(backend.calls('GET', /\/generate\/status\//)).toHaveLength(1);
    expect(backend.calls('GET', /\/generate\/check\//).length).toBeGreaterThanOrEqual(3);
  });

  it('sends the anonymous key without one, and no models for "any"', async () => {
    backend.reset('success');
    await run(backend, job({ ref: 'any' }, { negativePrompt: undefined }), { apiKey: undefined })
      .result;
    const [call] = backend.calls('POST', ASYNC);
    expect(call?.headers.apikey).toBe('0000000000');
    expect(call?.body).toMatchObject({ prompt: 'a lighthouse at dusk', models: [] });
  });

  it('sends img2img with the source image in base64', async () => {
    backend.reset('success');
    const png = await samplePng(16, '#ff0000');
    const image = { data: png, mime: 'image/png', width: 16, height: 16 };
    const outputs = await run(backend, job({}, {}, [image])).result;
    expect(outputs).toHaveLength(1);
    const [call] = backend.calls('POST', ASYNC);
    expect(call?.body).toMatchObject({
      source_image: png.toString('base64'),
      source_processing: 'img2img',
      params: { denoising_strength: 0.6 },
    });
  });

  // With a fixed seed and n > 1 the horde gives every image that same seed unless
  // `seed_variation` is sent ("if passed with multiple n, the provided seed will be
  // incremented every time by this value").
  it('gives each image of a batch its own seed', async () => {
    backend.reset('success');
    const outputs = (await run(backend, job({}, { count: 2 })).result) as ProviderOutputOk[];
    expect(outputs).toHaveLength(2);
    expect(new Set(outputs.map((o) => o.seed)).size).toBe(2);
  });

  it('refuses when the workers censored every image', async () => {
    censoring.reset('success');
    await expect(run(censoring, job()).result).rejects.toMatchObject({
      code: 'provider_refused',
      retryable: false,
    });
  });

  it('fails when the horde faults the request', async () => {
    faulting.reset('success');
    const result = run(faulting, job()).result;
    await expect(result).rejects.toMatchObject({ code: 'provider_failed' });
    await expect(result).rejects.toThrow(/faulted/);
  });

  it('fails at once when no worker can serve the request', async () => {
    impossible.reset('success');
    const result = run(impossible, job()).result;
    await expect(result).rejects.toMatchObject({ code: 'provider_failed' });
    await expect(result).rejects.toThrow(/no horde worker/);
  });

  // Giving up on an is_possible=false request (or on any other error while polling) must
  // withdraw it, or a worker may still pick it up and spend the key's kudos.
  it('withdraws a request it gives up on', async () => {
    impossible.reset('success');
    await run(impossible, job()).result.catch(() => undefined);
    await expect.poll(() => impossible.calls('DELETE', CANCEL).length, { timeout: 1000 }).toBe(1);
  });

  it('cancels the request at the horde when the generation is aborted', async () => {
    backend.reset('timeout');
    const controller = new AbortController();
    const { result } = run(backend, job(), { signal: controller.signal });
    await expect.poll(() => backend.calls('GET', /\/generate\/check\//).length).toBeGreaterThan(1);
    controller.abort(new Error('cancelled'));
    await expect(result).rejects.toThrow('cancelled');
    await expect.poll(() => backend.calls('DELETE', CANCEL).length).toBe(1);
  });
});
