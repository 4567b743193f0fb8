import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProgressEvent } from '../../src/core/progress.js';
import type { ProviderOutputOk } from '../../src/core/provider.js';
import { fillTemplate } from '../../src/providers/http/template.js';
import { ComfyUiProvider } from '../../src/providers/remote/comfyui/comfyui.js';
import { fakeComfyUi } from '../fakes/providers/comfyui.js';
import { samplePng, type FakeBackend } from '../fakes/providers/fake-backend.js';
import { ALL_SCENARIOS, contractSuite, directJob } from '../support/provider-contract.js';

// ComfyUI has no content refusal, and it is a local backend (its outputs come from its own
// address, which the download policy lets through), so 'refusal' and 'private-redirect' do
// not apply. It has no authentication either: 'unauthorized' is a reverse proxy in front.
contractSuite({
  provider: 'comfyui',
  fake: fakeComfyUi,
  create: (b, download) => new ComfyUiProvider({ apiUrl: b.url, download, pollIntervalMs: 20 }),
  scenarios: ALL_SCENARIOS.filter((s) => s !== 'refusal' && s !== 'private-redirect'),
  createCall: ['POST', /^\/prompt$/],
  cancelCall: ['POST', /^\/interrupt$/],
  progress: 'percent',
  model: { ref: 'sd_xl_base_1.0.safetensors' },
});

type Workflow = Record<string, { class_type: string; inputs: Record<string, unknown> }>;

/** The adapter's built-in workflow, placeholders and all. */
async function defaultWorkflow(): Promise<Workflow> {
  const file = new URL('../../src/providers/remote/comfyui/default-workflow.json', import.meta.url);
  return JSON.parse(await readFile(file, 'utf8')) as Workflow;
}

/** The adapter on its own, for what the pipeline does not show: what it sends and reads. */
describe('comfyui adapter (requests)', () => {
  let backend: FakeBackend;
  /** The URL of every WebSocket opened to the fake. */
  const sockets: string[] = [];

  beforeAll(async () => {
    backend = await fakeComfyUi();
    backend.wss.on('connection', (_ws, req) => sockets.push(req.url ?? ''));
  });

  afterAll(async () => {
    await backend?.stop();
  });

  const job = directJob('comfyui', 'sd_xl_base_1.0.safetensors', { count: 2 });

  function run(j: ReturnType<typeof job>, signal?: AbortSignal) {
    const events: ProgressEvent[] = [];
    const previews: { data: Uint8Array; mime: string }[] = [];
    const provider = new ComfyUiProvider({
      apiUrl: backend.url,
      download: { maxBytes: 1024 * 1024, allowPrivate: false, allowHosts: [backend.host] },
      pollIntervalMs: 20,
    });
    const result = provider.generate(j, {
      signal: signal ?? new AbortController().signal,
      onProgress: (e) => events.push(e),
      onPreview: (image) => previews.push(image),
    });
    return { result, events, previews };
  }

  const api = async <T>(path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${backend.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  };
  const prompts = () => backend.calls('POST', /^\/prompt$/);

  it('queues the filled default workflow under its WebSocket client id and reads /history', async () => {
    backend.reset('success');
    sockets.length = 0;
    const { result, events, previews } = run(job());
    const outputs = (await result) as ProviderOutputOk[];

    const [call] = prompts();
    const body = call?.body as { prompt: Workflow; client_id: string };
    expect(body.prompt).toMatchObject({
      '3': {
        class_type: 'KSampler',
        inputs: { seed: 42, steps: 12, cfg: 5.5, model: ['4', 0], latent_image: ['5', 0] },
      },
      '4': { inputs: { ckpt_name: 'sd_xl_base_1.0.safetensors' } },
      '5': { inputs: { width: 512, height: 768, batch_size: 2 } },
      '6': { inputs: { text: 'a lighthouse at dusk' } },
      '7': { inputs: { text: 'blurry' } },
    });
    expect(sockets).toContain(`/ws?clientId=${encodeURIComponent(body.client_id)}`);

    expect(outputs).toHaveLength(2);
    expect(outputs.map((o) => o.seed)).toEqual([42, 43]);
    expect(outputs[0]).toMatchObject({ ok: true, mime: 'image/png', width: 32, height: 32 });
    const views = backend.calls('GET', /^\/view$/);
    expect(views).toHaveLength(2);

    // Queue position while it waited, then the sampler's steps from the WebSocket; the binary
    // preview frame sent half-way through is handed on as a JPEG, not read as a message.
    expect(previews.length).toBeGreaterThan(0);
    expect(previews[0]?.mime).toBe('image/jpeg');
    expect(
      Buffer.from(previews[0]?.data ?? [])
        .subarray(0, 3)
        .toString('hex'),
    ).toBe('ffd8ff');
    expect(events.some((e) => e.queuePosition === 1)).toBe(true);
    const steps = events.filter((e) => e.steps === 12);
    expect(steps.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(steps.every((e) => (e.percent ?? 0) > 0 && (e.percent ?? 0) < 100)).toBe(true);
  });

  it('fails without a retry when ComfyUI refuses the workflow (400 with node_errors)', async () => {
    backend.reset('success');
    const { result } = run(job({ ref: 'missing.safetensors' }, { count: 1 }));
    await expect(result).rejects.toMatchObject({
      code: 'provider_failed',
      retryable: false,
      message: expect.stringMatching(/HTTP 400: Prompt outputs failed validation/) as unknown,
    });
    expect(prompts()).toHaveLength(1);
    expect(backend.calls('GET', /^\/history\//)).toHaveLength(0);
  });

  // ComfyUI names the faulty input only in node_errors[id].errors[] ("Value not in list:
  // ckpt_name: 'missing.safetensors' not in [...]"); error.details is empty unless the output
  // node itself is at fault.
  it('says which input ComfyUI refused', async () => {
    backend.reset('success');
    const { result } = run(job({ ref: 'missing.safetensors' }, { count: 1 }));
    await expect(result).rejects.toThrow(/ckpt_name: 'missing.safetensors' not in/);
  });

  it('uploads the input image and names it in a LoadImage workflow', async () => {
    backend.reset('success');
    const template = await defaultWorkflow();
    const workflow: Workflow = {
      ...template,
      '5': { class_type: 'VAEEncode', inputs: { pixels: ['10', 0], vae: ['4', 2] } },
      '10': { class_type: 'LoadImage', inputs: { image: '{{input_image}}' } },
    };
    (workflow['3'] as Workflow[string]).inputs.denoise = 0.6;
    const png = await samplePng(16, '#ff0000');
    const image = { data: png, mime: 'image/png', width: 16, height: 16 };
    const outputs = await run(job({ options: { workflow } }, { count: 1 }, [image])).result;
    expect(outputs).toHaveLength(1);
    expect(backend.calls('POST', /^\/upload\/image$/)).toHaveLength(1);
    const body = prompts()[0]?.body as { prompt: Workflow };
    expect(body.prompt['10']?.inputs.image).toBe('genbot-g1.png');
  });

  describe('cancelling a prompt that waits behind another client’s', () => {
    let other = '';
    let otherAfterCancel: unknown;

    it('deletes it from the queue before it runs', async () => {
      // 'timeout': a running prompt samples one step and then waits to be interrupted.
      backend.reset('timeout');
      const filled = fillTemplate(await defaultWorkflow(), {
        prompt: 'someone else’s picture',
        negative_prompt: '',
        seed: 1,
        steps: 20,
        guidance: 7,
        width: 512,
        height: 512,
        count: 1,
        model: 'sd_xl_base_1.0.safetensors',
      });
      other = (await api<{ prompt_id: string }>('/prompt', { prompt: filled, client_id: 'other' }))
        .prompt_id;
      const running = async () =>
        (await api<{ queue_running: unknown[][] }>('/queue')).queue_running.map((i) => i[1]);
      await expect.poll(running).toEqual([other]);

      const controller = new AbortController();
      const { result } = run(job({}, { count: 1 }), controller.signal);
      result.catch(() => undefined);
      const pending = async () =>
        (await api<{ queue_pending: unknown[][] }>('/queue')).queue_pending.map((i) => i[1]);
      await expect.poll(async () => (await pending()).length).toBe(1);
      const ours = String((await pending())[0]);
      controller.abort(new Error('cancelled'));
      await expect(result).rejects.toThrow('cancelled');

      await expect.poll(() => backend.calls('POST', /^\/queue$/).length).toBe(1);
      expect(backend.calls('POST', /^\/queue$/)[0]?.body).toEqual({ delete: [ours] });
      expect(await pending()).toEqual([]);
      expect(await api(`/history/${ours}`)).toEqual({});
      // The fake acts on an interrupt as it records it, so once it is seen its effect is done.
      await expect.poll(() => backend.calls('POST', /^\/interrupt$/).length).toBe(1);
      otherAfterCancel = await running();
    });

    // An /interrupt without a body is global in ComfyUI ("Global interrupt (no prompt_id
    // specified)"): the adapter names its prompt so another client's run is left alone.
    it('leaves the other client’s running prompt alone', () => {
      expect(otherAfterCancel).toEqual([other]);
    });
  });
});
