import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * What a contract test asks of a backend. Each adapter's fake replays the documented
 * request and response shapes of its API and bends them to the scenario.
 */
export type Scenario =
  | 'success'
  | 'unauthorized'
  | 'refusal'
  | 'rate-limited'
  | 'error-then-success'
  | 'timeout'
  | 'malformed'
  | 'oversized'
  | 'private-redirect';

export interface Recorded {
  method: string;
  path: string;
  at: number;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface Reply {
  status?: number;
  json?: unknown;
  raw?: string | Buffer;
  headers?: Record<string, string>;
  /** Never answer (until the client gives up). */
  hang?: boolean;
}

type Handler = (req: Recorded, url: URL) => Reply | Promise<Reply>;

/** A PNG that sharp can read, so outputs have real sizes. */
export async function samplePng(size = 32, color = '#3366cc'): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: color } })
    .png()
    .toBuffer();
}

/**
 * A loopback HTTP (and WebSocket) server for one backend's fake: routes, recorded requests,
 * files under /files/, an output that redirects to a private address (a second server that
 * counts any hit), and the common error injections on the "create" call.
 */
export class FakeBackend {
  scenario: Scenario = 'success';
  readonly requests: Recorded[] = [];
  readonly files = new Map<string, { type: string; data: Buffer }>();
  /** Requests that reached the private address an output redirected to. */
  secretHits = 0;
  readonly #routes: { method: string; path: RegExp; handler: Handler }[] = [];
  readonly #server: Server;
  readonly #secret: Server;
  readonly wss = new WebSocketServer({ noServer: true });
  #port = 0;
  #secretPort = 0;
  #creates = 0;
  #hanging: ServerResponse[] = [];

  constructor() {
    this.#server = createServer((req, res) => {
      void this.#handle(req, res);
    });
    this.#server.on('upgrade', (req, socket, head) =>
      this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req)),
    );
    this.#secret = createServer((_req, res) => {
      this.secretHits += 1;
      res.writeHead(200, { 'content-type': 'image/png' }).end('secret');
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => this.#secret.listen(0, '127.0.0.1', () => r()));
    this.#port = (this.#server.address() as AddressInfo).port;
    this.#secretPort = (this.#secret.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    this.#server.closeAllConnections();
    this.#secret.closeAllConnections();
    await Promise.all([
      new Promise<void>((r) => this.#server.close(() => r())),
      new Promise<void>((r) => this.#secret.close(() => r())),
    ]);
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get host(): string {
    return `127.0.0.1:${this.#port}`;
  }

  reset(scenario: Scenario): void {
    this.scenario = scenario;
    this.requests.length = 0;
    this.secretHits = 0;
    this.#creates = 0;
  }

  route(method: string, path: RegExp, handler: Handler): this {
    this.#routes.push({ method, path, handler });
    return this;
  }

  calls(method: string, path: RegExp): Recorded[] {
    return this.requests.filter((r) => r.method === method && path.test(r.path));
  }

  /**
   * The URL of an output as the scenario wants it: a real PNG, a file over the size limit,
   * or one that redirects to a private address.
   */
  async outputUrl(name: string, color = '#3366cc'): Promise<string> {
    if (this.scenario === 'private-redirect') return `${this.url}/files/redirect-${name}`;
    if (this.scenario === 'oversized') {
      const png = await samplePng(8);
      this.files.set(name, {
        type: 'image/png',
        data: Buffer.concat([png, Buffer.alloc(3 * 1024 * 1024)]),
      });
    } else {
      this.files.set(name, { type: 'image/png', data: await samplePng(32, color) });
    }
    return `${this.url}/files/${name}`;
  }

  /** Output bytes for APIs that answer with base64 instead of a URL. */
  async outputBytes(color = '#3366cc'): Promise<Buffer> {
    if (this.scenario === 'oversized')
      return Buffer.concat([await samplePng(8), Buffer.alloc(3 * 1024 * 1024)]);
    return samplePng(32, color);
  }

  /**
   * The common injections on a call that starts work: 401, 429 with Retry-After (once), a
   * 500 (once), a body that is not JSON. Undefined when the call should go on normally.
   */
  injectOnCreate(errorBody: (message: string) => unknown): Reply | undefined {
    this.#creates += 1;
    switch (this.scenario) {
      case 'unauthorized':
        return { status: 401, json: errorBody('Invalid API token') };
      case 'rate-limited':
        return this.#creates === 1
          ? { status: 429, json: errorBody('Too many requests'), headers: { 'retry-after': '1' } }
          : undefined;
      case 'error-then-success':
        return this.#creates === 1
          ? { status: 500, json: errorBody('Internal server error') }
          : undefined;
      case 'malformed':
        return { status: 200, raw: '{"id": "abc", "status": <html>oops' };
      default:
        return undefined;
    }
  }

  sockets(): Set<WebSocket> {
    return this.wss.clients;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = text;
    if ((req.headers['content-type'] ?? '').includes('json') && text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    const recorded: Recorded = {
      method: req.method ?? 'GET',
      path: url.pathname,
      at: Date.now(),
      headers: req.headers,
      body,
    };
    this.requests.push(recorded);
    if (url.pathname.startsWith('/files/')) {
      const name = url.pathname.slice('/files/'.length);
      if (name.startsWith('redirect-')) {
        res
          .writeHead(302, { location: `http://127.0.0.1:${this.#secretPort}/latest/meta-data` })
          .end();
        return;
      }
      const file = this.files.get(name);
      if (!file) {
        res.writeHead(404).end();
        return;
      }
      res
        .writeHead(200, { 'content-type': file.type, 'content-length': file.data.length })
        .end(file.data);
      return;
    }
    const route = this.#routes.find(
      (r) => r.method === recorded.method && r.path.test(url.pathname),
    );
    if (!route) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"detail":"not found"}');
      return;
    }
    const reply = await route.handler(recorded, url);
    if (reply.hang) {
      this.#hanging.push(res);
      return;
    }
    const headers = {
      ...(reply.json !== undefined ? { 'content-type': 'application/json' } : {}),
      ...reply.headers,
    };
    res.writeHead(reply.status ?? 200, headers);
    res.end(reply.json !== undefined ? JSON.stringify(reply.json) : reply.raw);
  }
}
