import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProgressEvent } from '../../src/core/progress.js';
import type { ProviderOutputOk } from '../../src/core/provider.js';
import type { DownloadPolicy } from '../../src/providers/http/download.js';
import { A1111Provider } from '../../src/providers/remote/a1111.js';
import { fakeA1111 } from '../fakes/providers/a1111.js';
import { samplePng, type FakeBackend } from '../fakes/providers/fake-backend.js';
import { ALL_SCENARIOS, contractSuite, directJob } from '../support/provider-contract.js';

// A1111 has no content refusal, and answers with base64 images rather than URLs.
contractSuite({
  provider: 'a1111',
  fake: fakeA1111,
  create: (b, download) => new A1111Provider({ apiUrl: b.url, download, pollIntervalMs: 20 }),
  scenarios: ALL_SCENARIOS.filter((s) => s !== 'refusal' && s !== 'private-redirect'),
  createCall: ['POST', /\/sdapi\/v1\/txt2img$/],
  cancelCall: ['POST', /\/sdapi\/v1\/interrupt$/],
  progress: 'percent',
});

/** The adapter on its own, for what the pipeline does not show: the request it sends. */
describe('a1111 adapter (requests)', () => {
  let backend: FakeBackend;
  let authed: FakeBackend;

  beforeAll(async () => {
    backend = await fakeA1111();
    authed = await fakeA1111({ apiAuth: 'bot:p@ss word' });
  });

  afterAll(async () => {
    await backend?.stop();
    await authed?.stop();
  });

  const download = (b: FakeBackend): DownloadPolicy => ({
    maxBytes: 1024 * 1024,
    allowPrivate: false,
    allowHosts: [b.host],
  });

  const job = directJob('a1111', 'sd_xl_base_1.0.safetensors', { count: 2 });

  function run(b: FakeBackend, j: ReturnType<typeof job>, apiUrl = b.url, signal?: AbortSignal) {
    const events: ProgressEvent[] = [];
    const previews: { data: Uint8Array; mime: string }[] = [];
    const provider = new A1111Provider({ apiUrl, download: download(b), pollIntervalMs: 20 });
    const result = provider.generate(j, {
      signal: signal ?? new AbortController().signal,
      onProgress: (e) => events.push(e),
      onPreview: (image) => previews.push(image),
    });
    return { result, events, previews };
  }

  it('sends the documented txt2img body and reads seeds from info', async () => {
    backend.reset('success');
    const { result, events, previews } = run(backend, job());
    const outputs = (await result) as ProviderOutputOk[];
    // Progress is asked for our own task (force_task_id), with the live image every third poll.
    const polls = backend.requests.filter((r) => r.path === '/internal/progress');
    expect(polls.length).toBeGreaterThanOrEqual(3);
    expect(
      polls.every((r) => (r.body as { id_task?: string }).id_task === 'task(genbot-g1-1)'),
    ).toBe(true);
    expect(previews.length).toBeGreaterThan(0);
    expect(previews[0]?.mime).toBe('image/png');
    const [call] = backend.calls('POST', /^\/sdapi\/v1\/txt2img$/);
    expect((call?.body as { force_task_id?: string }).force_task_id).toBe('task(genbot-g1-1)');
    expect(call?.body).toMatchObject({
      prompt: 'a lighthouse at dusk',
      negative_prompt: 'blurry',
      seed: 42,
      width: 512,
      height: 768,
      steps: 12,
      cfg_scale: 5.5,
      batch_size: 2,
      n_iter: 1,
      override_settings: { sd_model_checkpoint: 'sd_xl_base_1.0.safetensors' },
    });
    expect(outputs).toHaveLength(2);
    expect(outputs.map((o) => o.seed)).toEqual([42, 43]);
    expect(outputs[0]).toMatchObject({ ok: true, mime: 'image/png', width: 32, height: 32 });
    const mid = events.filter((e) => (e.percent ?? 0) > 0 && (e.percent ?? 0) < 100);
    expect(mid.length).toBeGreaterThan(0);
    // Per-task progress has a fraction and an ETA (step counts only come server-wide).
    expect(mid.some((e) => e.etaSeconds !== undefined)).toBe(true);
    expect(backend.calls('POST', /^\/internal\/progress$/).length).toBeGreaterThan(0);
  });

  it('keeps the loaded checkpoint when the ref is "default"', async () => {
    backend.reset('success');
    await run(backend, job({ ref: 'default' }, { count: 1 })).result;
    const [call] = backend.calls('POST', /^\/sdapi\/v1\/txt2img$/);
    expect(call?.body).not.toHaveProperty('override_settings');
  });

  it('sends img2img with the input image as base64', async () => {
    backend.reset('success');
    const png = await samplePng(16, '#ff0000');
    const image = { data: png, mime: 'image/png', width: 16, height: 16 };
    const outputs = await run(backend, job({}, { count: 1 }, [image])).result;
    expect(outputs).toHaveLength(1);
    expect(backend.calls('POST', /^\/sdapi\/v1\/txt2img$/)).toHaveLength(0);
    const [call] = backend.calls('POST', /^\/sdapi\/v1\/img2img$/);
    expect(call?.body).toMatchObject({
      init_images: [png.toString('base64')],
      denoising_strength: 0.6,
    });
  });

  it('sends --api-auth credentials from the URL as HTTP Basic', async () => {
    authed.reset('success');
    const url = new URL(authed.url);
    url.username = 'bot';
    url.password = encodeURIComponent('p@ss word');
    const outputs = await run(authed, job({}, { count: 1 }), url.toString()).result;
    expect(outputs).toHaveLength(1);
    const [call] = authed.calls('POST', /^\/sdapi\/v1\/txt2img$/);
    expect(call?.headers.authorization).toBe(
      `Basic ${Buffer.from('bot:p@ss word').toString('base64')}`,
    );
  });

  it('is refused without the --api-auth credentials', async () => {
    authed.reset('success');
    await expect(run(authed, job({}, { count: 1 })).result).rejects.toMatchObject({
      code: 'provider_unavailable',
      retryable: false,
    });
  });

  it('interrupts the backend when the generation is cancelled', async () => {
    backend.reset('timeout');
    const controller = new AbortController();
    const { result } = run(backend, job({}, { count: 1 }), backend.url, controller.signal);
    result.catch(() => undefined);
    await expect.poll(() => backend.calls('POST', /^\/sdapi\/v1\/txt2img$/).length).toBe(1);
    controller.abort(new Error('cancelled'));
    await expect(result).rejects.toThrow('cancelled');
    await expect.poll(() => backend.calls('POST', /^\/sdapi\/v1\/interrupt$/).length).toBe(1);
  });

  it('cancelling while queued behind another job leaves that job alone', async () => {
    // The first job runs until it is interrupted, so the second surely waits behind it.
    backend.reset('timeout');
    const firstCancel = new AbortController();
    const first = run(backend, job({}, { count: 1 }), backend.url, firstCancel.signal);
    await expect.poll(() => first.events.some((e) => e.percent !== undefined)).toBe(true);
    backend.scenario = 'success';
    const secondCancel = new AbortController();
    const second = run(
      backend,
      { ...job({}, { count: 1 }), generationId: 'g2' },
      backend.url,
      secondCancel.signal,
    );
    await expect
      .poll(() => second.events.some((e) => e.message === 'queued at Automatic1111'))
      .toBe(true);
    secondCancel.abort(new Error('cancelled'));
    await expect(second.result).rejects.toThrow();
    // It asked whether its task was running before interrupting, and it was not.
    await expect
      .poll(() =>
        backend.requests.some(
          (r) =>
            r.path === '/internal/progress' &&
            (r.body as { id_task?: string; live_preview?: boolean }).id_task ===
              'task(genbot-g2-1)' &&
            (r.body as { live_preview?: boolean }).live_preview === false,
        ),
      )
      .toBe(true);
    expect(backend.calls('POST', /^\/sdapi\/v1\/interrupt$/)).toHaveLength(0);
    // Cancelling the running one does interrupt it.
    firstCancel.abort(new Error('cancelled'));
    await expect(first.result).rejects.toThrow();
    await expect.poll(() => backend.calls('POST', /^\/sdapi\/v1\/interrupt$/).length).toBe(1);
  });

  it('falls back to the server-wide progress on builds without /internal/progress', async () => {
    const legacy = await fakeA1111({ legacy: true });
    try {
      legacy.reset('success');
      const { result, events, previews } = run(legacy, job({}, { count: 1 }));
      await result;
      expect(legacy.calls('GET', /^\/sdapi\/v1\/progress$/).length).toBeGreaterThan(0);
      expect(events.some((e) => e.steps === 12 && e.step !== undefined)).toBe(true);
      expect(previews[0]?.mime).toBe('image/png');
    } finally {
      await legacy.stop();
    }
  });
});
