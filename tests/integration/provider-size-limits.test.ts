import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/core/errors.js';
import type { Provider, ProviderJob } from '../../src/core/provider.js';
import { downloadOutput } from '../../src/providers/http/download.js';
import type { ProviderLogger } from '../../src/providers/provider-module.js';
import { ComfyUiProvider } from '../../src/providers/remote/comfyui/comfyui.js';
import { OpenAiProvider } from '../../src/providers/remote/openai.js';
import { ReplicateProvider } from '../../src/providers/remote/replicate.js';
import { FakeBackend, samplePng } from '../fakes/providers/fake-backend.js';
import { directJob } from '../support/provider-contract.js';

const MiB = 1024 * 1024;
/** What the streaming server offers: far past every limit, so a reader that does not stop shows. */
const OFFERED = 128 * MiB;
/** Written by the time the reader hung up: its limit, plus what loopback socket buffers hold. */
const STOPPED_BY = 48 * MiB;

/**
 * A server that answers with `head`, then `OFFERED` bytes of `fill` as fast as the reader
 * takes them (no Content-Length, so only counting can stop it), then `tail`; it records how
 * much it had written when the reader hung up.
 */
class StreamingServer {
  written = 0;
  hungUp = false;
  readonly #server: Server;

  constructor(head: string, fill: string, tail: string) {
    this.#server = createServer((req, res) => {
      req.resume();
      void this.#stream(res, head, fill, tail);
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', () => r()));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  get host(): string {
    return `127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  async #stream(res: ServerResponse, head: string, fill: string, tail: string): Promise<void> {
    res.on('close', () => {
      this.hungUp = true;
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(head);
    const chunk = Buffer.alloc(64 * 1024, fill);
    while (this.written < OFFERED && !this.hungUp) {
      this.written += chunk.length;
      if (!res.write(chunk))
        await new Promise<void>((r) => {
          res.once('drain', r);
          res.once('close', r);
        });
    }
    if (!this.hungUp) res.end(tail);
  }
}

async function failure(run: Promise<unknown>): Promise<ProviderError> {
  const error: unknown = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert(error instanceof ProviderError, `expected a ProviderError, got ${String(error)}`);
  return error;
}

const ctx = () => ({ signal: AbortSignal.timeout(20_000), onProgress: () => undefined });

/**
 * Whatever a backend sends, the worker holds no more of it than a limit: API answers (10 MiB),
 * answers carrying base64 outputs (the outputs' limit, OUTPUT_MAX_MB, for each one asked for)
 * and downloads are counted as they stream and dropped as soon as they pass it.
 */
describe('size limits enforced while reading', () => {
  let server: StreamingServer | undefined;

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('refuses an oversized base64 output as too large, without reading it all', async () => {
    server = await new StreamingServer('{"created":1,"data":[{"b64_json":"', 'A', '"}]}').start();
    const openai = new OpenAiProvider({
      apiUrl: `${server.url}/v1`,
      apiKey: 'sk-test',
      download: { maxBytes: MiB, allowPrivate: false },
    });
    const job = directJob('openai', 'gpt-image-1', { width: 1024, height: 1024 })();
    const error = await failure(openai.generate(job, ctx()));
    expect(error).toMatchObject({ code: 'provider_failed', retryable: false });
    expect(error.userMessage).toMatch(/larger than the bot accepts \(1 MB\)/);
    await expect.poll(() => server?.hungUp).toBe(true);
    expect(server.written).toBeLessThan(STOPPED_BY);
  });

  it('refuses an API answer past 10 MiB as unreadable, without reading it all', async () => {
    server = await new StreamingServer(
      '{"id":"p1","status":"starting","logs":"',
      'x',
      '"}',
    ).start();
    const replicate = new ReplicateProvider({
      apiUrl: server.url,
      apiKey: 'r8_test',
      download: { maxBytes: MiB, allowPrivate: false },
    });
    const error = await failure(replicate.generate(directJob('replicate', 'owner/model')(), ctx()));
    expect(error).toMatchObject({ code: 'provider_failed', retryable: false });
    expect(error.message).toMatch(/larger than 10485760 bytes/);
    expect(error.userMessage).toMatch(/could not read/);
    await expect.poll(() => server?.hungUp).toBe(true);
    expect(server.written).toBeLessThan(STOPPED_BY);
  });

  it('refuses an output download that declares no length, as soon as it passes the limit', async () => {
    const png = await samplePng(8);
    server = await new StreamingServer(png.toString('latin1'), '\0', '').start();
    const error = await failure(
      downloadOutput(
        'X',
        `${server.url}/out.png`,
        { maxBytes: MiB, allowPrivate: false, allowHosts: [server.host] },
        AbortSignal.timeout(20_000),
      ),
    );
    expect(error.userMessage).toMatch(/larger than the bot accepts/);
    await expect.poll(() => server?.hungUp).toBe(true);
    expect(server.written).toBeLessThan(STOPPED_BY);
  });
});

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
 * ComfyUI's WebSocket is a side channel with a bounded message size (8 MiB; ws would take
 * 100 MiB): a longer message closes it, and the run goes on by polling /history.
 */
describe("ComfyUI's WebSocket message limit", () => {
  let backend: FakeBackend;
  /** Close codes the server saw, one per socket. */
  const closes: number[] = [];

  beforeAll(async () => {
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
    backend.wss.on('connection', (ws) => {
      ws.on('close', (code) => closes.push(code));
      ws.send(JSON.stringify({ type: 'status', data: { pad: 'x'.repeat(9 * MiB) } }));
    });
  });

  afterAll(async () => {
    await backend?.stop();
  });

  function comfy(logger: ProviderLogger): Provider {
    return new ComfyUiProvider({
      apiUrl: backend.url,
      download: { maxBytes: MiB, allowPrivate: false, allowHosts: [backend.host] },
      pollIntervalMs: 20,
      logger,
    });
  }

  it('closes the socket on a message over 8 MiB and still delivers by polling', async () => {
    const logger = recordingLogger();
    const job: ProviderJob = directJob('comfyui', 'sdxl.safetensors')();
    const outputs = await comfy(logger).generate(job, ctx());
    expect(outputs).toMatchObject([{ ok: true, mime: 'image/png' }]);
    // 1009: "message too big", sent by the client as it gave up on the socket.
    await expect.poll(() => closes).toEqual([1009]);
    expect(logger.lines).toContainEqual({
      level: 'warn',
      message: "ComfyUI's WebSocket failed: progress by polling only",
    });
  });
});
