import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/core/errors.js';
import type { Provider, ProviderJob, ProviderOutputOk } from '../../src/core/provider.js';
import type { DownloadPolicy } from '../../src/providers/http/download.js';
import { A1111Provider } from '../../src/providers/remote/a1111.js';
import { ComfyUiProvider } from '../../src/providers/remote/comfyui/comfyui.js';
import { KieProvider } from '../../src/providers/remote/kie.js';
import { ReplicateProvider } from '../../src/providers/remote/replicate.js';
import { FakeBackend, samplePng } from '../fakes/providers/fake-backend.js';
import { directJob } from '../support/provider-contract.js';

/**
 * An answer that is JSON but not the shape the API documents is read through a schema where
 * it enters: the run fails as a malformed answer (not retried, the member told the generator
 * sent something the bot could not read), never with a TypeError from deep inside an adapter
 * and never with a wrong value carried on.
 */
describe('a malformed backend answer', () => {
  let backend: FakeBackend;
  /** What the next answer of each route is, set by each test. */
  const answers = new Map<string, unknown>();

  beforeAll(async () => {
    backend = await new FakeBackend().start();
    const answer = (name: string) => () => ({ json: answers.get(name) ?? {} });
    backend
      .route('POST', /^\/v1\/models\/.+\/predictions$/, answer('replicate-create'))
      .route('POST', /^\/api\/v1\/jobs\/createTask$/, answer('kie-create'))
      .route('GET', /^\/api\/v1\/jobs\/recordInfo$/, answer('kie-record'))
      .route('POST', /^\/sdapi\/v1\/txt2img$/, answer('a1111-txt2img'))
      .route('POST', /^\/internal\/progress$/, answer('a1111-progress'))
      .route('POST', /^\/prompt$/, answer('comfyui-prompt'))
      .route('GET', /^\/history\/.+$/, answer('comfyui-history'));
  });

  afterAll(async () => {
    await backend?.stop();
  });

  const download = (): DownloadPolicy => ({
    maxBytes: 1024 * 1024,
    allowPrivate: false,
    allowHosts: [backend.host],
  });

  function run(provider: Provider, job: ProviderJob) {
    return provider.generate(job, {
      signal: AbortSignal.timeout(10_000),
      onProgress: () => undefined,
    });
  }

  async function refusal(provider: Provider, job: ProviderJob): Promise<ProviderError> {
    const error: unknown = await run(provider, job).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ProviderError);
    assert(error instanceof ProviderError);
    expect(error).toMatchObject({ code: 'provider_failed', retryable: false });
    expect(error.userMessage).toMatch(/could not read/);
    return error;
  }

  it('refuses a Replicate prediction without its id', async () => {
    answers.set('replicate-create', { status: 'starting', output: null });
    const replicate = new ReplicateProvider({
      apiUrl: backend.url,
      apiKey: 'r8_test',
      download: download(),
      pollIntervalMs: 20,
    });
    const error = await refusal(replicate, directJob('replicate', 'owner/model')());
    expect(error.message).toMatch(/Replicate sent a malformed response: id:/);
  });

  it('refuses a Kie task answered without its taskId', async () => {
    answers.set('kie-create', { code: 200, msg: 'success', data: { id: 'task_1' } });
    const kie = new KieProvider({
      apiUrl: backend.url,
      apiKey: 'kie_test',
      download: download(),
      pollIntervalMs: 20,
    });
    const error = await refusal(kie, directJob('kie', 'google/imagen4-fast')());
    expect(error.message).toMatch(/Kie\.ai sent a malformed response: data\.taskId:/);
  });

  it('refuses a finished Kie task whose resultUrls is not a list of URLs', async () => {
    answers.set('kie-create', { code: 200, msg: 'success', data: { taskId: 'task_1' } });
    answers.set('kie-record', {
      code: 200,
      msg: 'success',
      data: {
        taskId: 'task_1',
        state: 'success',
        // One URL where a list is documented: read as is, it was a string sliced and mapped.
        resultJson: JSON.stringify({ resultUrls: `${backend.url}/files/out.png` }),
      },
    });
    const kie = new KieProvider({
      apiUrl: backend.url,
      apiKey: 'kie_test',
      download: download(),
      pollIntervalMs: 20,
    });
    const error = await refusal(kie, directJob('kie', 'google/imagen4-fast')());
    expect(error.message).toMatch(/Kie\.ai sent a malformed response: resultJson: resultUrls:/);
  });

  it('refuses a ComfyUI history entry whose output has no file name', async () => {
    answers.set('comfyui-prompt', { prompt_id: 'p1', number: 1 });
    answers.set('comfyui-history', {
      p1: {
        outputs: { '9': { images: [{ subfolder: '', type: 'output' }] } },
        status: { status_str: 'success', completed: true, messages: [] },
      },
    });
    const comfy = new ComfyUiProvider({
      apiUrl: backend.url,
      download: download(),
      pollIntervalMs: 20,
      socketOpenMs: 50,
    });
    const error = await refusal(comfy, directJob('comfyui', 'sd_xl_base_1.0.safetensors')());
    expect(error.message).toMatch(/ComfyUI sent a malformed response: p1\.outputs\.9\.images\.0/);
  });

  it("lets the request's seeds stand in when A1111's info names none it can read", async () => {
    const png = (await samplePng(32)).toString('base64');
    answers.set('a1111-txt2img', {
      images: [png],
      info: JSON.stringify({ all_seeds: ['not', 'numbers'], seed: 'x' }),
    });
    answers.set('a1111-progress', { active: false, queued: false, completed: true });
    const debug: string[] = [];
    const a1111 = new A1111Provider({
      apiUrl: backend.url,
      download: download(),
      pollIntervalMs: 20,
      logger: { debug: (_fields, message) => debug.push(message), warn: () => undefined },
    });
    const job = directJob('a1111', 'default')({}, { seed: 42 });
    const [output] = await run(a1111, job);
    expect(output).toMatchObject({ ok: true, seed: 42 } satisfies Partial<ProviderOutputOk>);
    expect(debug).toContain("A1111's info names no seeds; the request's seeds stand in");
  });
});
