import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderLogger } from '../../src/providers/provider-module.js';
import type { DownloadPolicy } from '../../src/providers/http/download.js';
import { A1111Provider } from '../../src/providers/remote/a1111.js';
import { ComfyUiProvider } from '../../src/providers/remote/comfyui/comfyui.js';
import { FakeBackend, samplePng } from '../fakes/providers/fake-backend.js';
import { directJob } from '../support/provider-contract.js';

/** A logger that keeps what it was told, by level. */
function recordingLogger(): ProviderLogger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  return {
    lines,
    debug: (_fields, message) => lines.push({ level: 'debug', message }),
    warn: (_fields, message) => lines.push({ level: 'warn', message }),
  };
}

/**
 * Progress and previews come over side channels (a poll next to a blocking call, a
 * WebSocket). When one of them fails, the run goes on and the failure is logged: it is
 * neither fatal nor silent.
 */
describe('a failing progress side channel', () => {
  let backend: FakeBackend;

  beforeAll(async () => {
    backend = await new FakeBackend().start();
    const png = await samplePng(32);
    backend
      // A1111: the blocking call takes a moment; its progress endpoint answers nonsense.
      .route('POST', /^\/sdapi\/v1\/txt2img$/, async () => {
        await delay(150);
        return { json: { images: [png.toString('base64')], info: '{"all_seeds":[7]}' } };
      })
      .route('POST', /^\/internal\/progress$/, () => ({ json: { progress: 'half' } }))
      // ComfyUI: queued once the socket has had time to deliver its message, then done.
      .route('POST', /^\/prompt$/, async () => {
        await delay(100);
        return { json: { prompt_id: 'p1', number: 1 } };
      })
      .route('GET', /^\/history\/p1$/, () => ({
        json: {
          p1: {
            outputs: { '9': { images: [{ filename: 'out.png', subfolder: '', type: 'output' }] } },
            status: { status_str: 'success', completed: true, messages: [] },
          },
        },
      }))
      .route('GET', /^\/view$/, () => ({ raw: png, headers: { 'content-type': 'image/png' } }));
    backend.wss.on('connection', (ws) => ws.send('this is not JSON'));
  });

  afterAll(async () => {
    await backend?.stop();
  });

  const download = (): DownloadPolicy => ({
    maxBytes: 1024 * 1024,
    allowPrivate: false,
    allowHosts: [backend.host],
  });
  const ctx = () => ({ signal: AbortSignal.timeout(10_000), onProgress: () => undefined });

  it('logs a failed A1111 progress poll at debug and still delivers the image', async () => {
    const logger = recordingLogger();
    const a1111 = new A1111Provider({
      apiUrl: backend.url,
      download: download(),
      pollIntervalMs: 20,
      logger,
    });
    const outputs = await a1111.generate(directJob('a1111', 'default')(), ctx());
    expect(outputs).toMatchObject([{ ok: true, seed: 7 }]);
    expect(logger.lines).toContainEqual({
      level: 'debug',
      message: 'an A1111 progress poll failed; the next one is tried',
    });
  });

  it('logs an unreadable ComfyUI WebSocket message at debug and still delivers the image', async () => {
    const logger = recordingLogger();
    const comfy = new ComfyUiProvider({
      apiUrl: backend.url,
      download: download(),
      pollIntervalMs: 20,
      logger,
    });
    const outputs = await comfy.generate(directJob('comfyui', 'model.safetensors')(), ctx());
    expect(outputs).toMatchObject([{ ok: true, mime: 'image/png' }]);
    expect(logger.lines).toContainEqual({
      level: 'debug',
      message: 'ignored a ComfyUI WebSocket message that is not JSON',
    });
  });
});
