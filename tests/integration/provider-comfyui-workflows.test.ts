import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComfyUiProvider } from '../../src/providers/remote/comfyui/comfyui.js';
import { FakeBackend, samplePng } from '../fakes/providers/fake-backend.js';
import { directJob } from '../support/provider-contract.js';

/**
 * ComfyUI models name workflow files, which the adapter keeps parsed: in a bounded cache, so
 * however many files the catalog names, only the most recently used few stay in memory.
 */
describe('ComfyUI workflow files', () => {
  let backend: FakeBackend;
  let dir = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'genbot-workflows-'));
    backend = await new FakeBackend().start();
    const png = await samplePng(32);
    backend
      .route('POST', /^\/prompt$/, () => ({ json: { prompt_id: 'p1', number: 1 } }))
      .route('GET', /^\/history\/p1$/, () => ({
        json: {
          p1: {
            outputs: { '9': { images: [{ filename: 'out.png', subfolder: '', type: 'output' }] } },
            status: { status_str: 'success', completed: true, messages: [] },
          },
        },
      }))
      .route('GET', /^\/view$/, () => ({ raw: png, headers: { 'content-type': 'image/png' } }));
  });

  afterAll(async () => {
    await backend?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const workflow = (prefix: string) =>
    JSON.stringify({
      '9': { class_type: 'SaveImage', inputs: { filename_prefix: prefix, text: '{{prompt}}' } },
    });

  it('keeps the most recently used ones parsed and reads an evicted one again', async () => {
    for (const name of ['a', 'b', 'c']) await writeFile(join(dir, `${name}.json`), workflow(name));
    const comfy = new ComfyUiProvider({
      apiUrl: backend.url,
      download: { maxBytes: 1024 * 1024, allowPrivate: false, allowHosts: [backend.host] },
      workflowsDir: dir,
      workflowCacheEntries: 2,
      pollIntervalMs: 20,
      socketOpenMs: 50,
    });
    const job = directJob('comfyui', 'sdxl.safetensors');
    /** Runs the model whose workflow is `file`, and says which prefix ComfyUI was sent. */
    const sent = async (file: string) => {
      backend.reset('success');
      await comfy.generate(job({ options: { workflowFile: file } }), {
        signal: AbortSignal.timeout(10_000),
        onProgress: () => undefined,
      });
      const body = backend.calls('POST', /^\/prompt$/)[0]?.body as {
        prompt: Record<string, { inputs: { filename_prefix: string } }>;
      };
      return body.prompt['9']?.inputs.filename_prefix;
    };

    expect(await sent('a.json')).toBe('a');
    await writeFile(join(dir, 'a.json'), workflow('a-edited'));
    // Still parsed from the first read.
    expect(await sent('a.json')).toBe('a');
    expect(await sent('b.json')).toBe('b');
    expect(await sent('c.json')).toBe('c');
    // Two entries: c and b pushed a out, so it is read again, edit and all.
    expect(await sent('a.json')).toBe('a-edited');
  });
});
