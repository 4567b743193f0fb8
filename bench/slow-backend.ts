import { fork, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

/**
 * A slow fal-like backend on 127.0.0.1 for `bench/inflight.ts`: fal's queue API as
 * `FalProvider` speaks it (submit `POST /{owner}/{app}[/...]`, poll
 * `GET /{owner}/{app}/requests/{id}/status`, fetch `GET /{owner}/{app}/requests/{id}`, cancel
 * `PUT .../cancel`), where every job is done a random 20-40 s (by default) after its submit,
 * or after its start when jobs are held in the backend's queue until the bench releases them.
 * Nothing runs while a job "generates": its end time is drawn at submit and compared with the
 * clock when it is polled, so a thousand jobs cost no CPU between polls. A status poll answers
 * IN_QUEUE first, then IN_PROGRESS with a tqdm-style log line whose percent follows the clock
 * (so the bot's progress path carries real changes), then COMPLETED. The result is one tiny PNG
 * served under /files/. Every call wants `Authorization: Key <key>`.
 *
 * `forkSlowBackend` runs it in a child process of its own, so that its memory and event loop
 * are not the measured process's (a real backend is elsewhere too); the times it records are
 * wall-clock milliseconds (`performance.timeOrigin + performance.now()`), comparable across the
 * two processes.
 */

/** How long the jobs submitted from now on take. */
export interface SlowTiming {
  /** Shortest and longest time a job takes, from its submit (ms). */
  minMs: number;
  maxMs: number;
  /**
   * Burst: every job ends at this wall-clock time (ms) instead (or at its submit, if later),
   * so that all results are ready at once.
   */
  endAt?: number | undefined;
  /**
   * Jobs wait in the backend's queue (polls answer IN_QUEUE) until `release`, and take their
   * time from then: a backend busy with other work, and a way to have every job of a phase in
   * flight at once however long submitting them took.
   */
  held?: boolean | undefined;
}

export interface SlowBackendOptions extends SlowTiming {
  /** The API key the bench gave the provider; never printed. */
  key: string;
}

/** One job as the backend saw it (wall-clock ms). */
export interface SlowJob {
  id: string;
  prompt: string;
  submittedAt: number;
  /** When it left the backend's queue (its submit, unless it was held). */
  startedAt: number;
  /** When the job is done: from then on a poll answers COMPLETED. */
  doneAt: number;
  /** The first poll that was answered COMPLETED. */
  completedSeenAt?: number;
  /** The result (the JSON with the file URL) was fetched. */
  resultAt?: number;
  /** The output file was downloaded. */
  fileAt?: number;
  polls: number;
  cancelled: boolean;
}

export interface SlowBackendStats {
  jobs: SlowJob[];
  requests: Record<'submit' | 'status' | 'result' | 'file' | 'cancel' | 'denied' | 'other', number>;
  /** Largest number of connections open at once. */
  peakConnections: number;
  /** The backend process's own peak RSS (bytes), sampled every second. */
  peakRss: number;
}

const now = (): number => performance.timeOrigin + performance.now();
/** The start and end of a held job: later than any clock reading. */
const HELD = Number.MAX_SAFE_INTEGER;

const noRequests = (): SlowBackendStats['requests'] => ({
  submit: 0,
  status: 0,
  result: 0,
  file: 0,
  cancel: 0,
  denied: 0,
  other: 0,
});

class SlowBackend {
  readonly #options: SlowBackendOptions;
  #timing: SlowTiming;
  readonly #jobs = new Map<string, SlowJob>();
  #requests = noRequests();
  /** Jobs submitted before this (wall-clock ms) belong to an earlier phase. */
  #phaseStart = 0;
  /** Jobs waiting in the queue for `release`. */
  #held: SlowJob[] = [];
  #png = Buffer.alloc(0);
  #server: Server | undefined;
  #connections = 0;
  #peakConnections = 0;
  #peakRss = 0;
  #sampler: NodeJS.Timeout | undefined;
  #next = 0;

  constructor(options: SlowBackendOptions) {
    this.#options = options;
    this.#timing = options;
  }

  /**
   * A new phase of the bench: jobs submitted from now on take `timing`, and the stats count
   * from now on (the jobs of earlier phases still answer, but are no longer reported).
   */
  reset(timing: SlowTiming): void {
    this.#timing = timing;
    this.#phaseStart = now();
    this.#requests = noRequests();
    this.#peakConnections = this.#connections;
    this.#peakRss = process.memoryUsage().rss;
  }

  async start(): Promise<string> {
    this.#png = await sharp({
      create: { width: 8, height: 8, channels: 3, background: '#3366cc' },
    })
      .png()
      .toBuffer();
    const server = createServer((req, res) => {
      this.#handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    // Polls come about once a second per job: keep their connections open between them.
    server.keepAliveTimeout = 30_000;
    server.on('connection', (socket) => {
      this.#connections += 1;
      this.#peakConnections = Math.max(this.#peakConnections, this.#connections);
      socket.once('close', () => {
        this.#connections -= 1;
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    this.#server = server;
    const sample = (): void => {
      this.#peakRss = Math.max(this.#peakRss, process.memoryUsage().rss);
    };
    sample();
    this.#sampler = setInterval(sample, 1000);
    this.#sampler.unref();
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** When a job that starts at `start` is done. */
  #doneAt(start: number): number {
    const { minMs, maxMs, endAt } = this.#timing;
    return endAt === undefined
      ? start + minMs + Math.random() * (maxMs - minMs)
      : Math.max(start, endAt);
  }

  /**
   * Every held job starts now (a cancelled one stays done), and jobs submitted from now on
   * start at once; `endAt`, if given, is when they all end.
   */
  release(endAt: number | undefined): void {
    const t = now();
    this.#timing = { ...this.#timing, held: false, ...(endAt === undefined ? {} : { endAt }) };
    for (const job of this.#held) {
      job.startedAt = t;
      if (!job.cancelled) job.doneAt = this.#doneAt(t);
    }
    this.#held = [];
  }

  stats(): SlowBackendStats {
    return {
      jobs: [...this.#jobs.values()].filter((job) => job.submittedAt >= this.#phaseStart),
      requests: { ...this.#requests },
      peakConnections: this.#peakConnections,
      peakRss: this.#peakRss,
    };
  }

  async stop(): Promise<void> {
    clearInterval(this.#sampler);
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res
      .writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      })
      .end(text);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const t = now();

    // The file URLs the results name carry no key (like fal's CDN URLs).
    const file = /^\/files\/([^/]+)\.png$/.exec(path);
    if (method === 'GET' && file) {
      this.#requests.file += 1;
      const job = this.#jobs.get(file[1] ?? '');
      if (job) job.fileAt ??= t;
      res
        .writeHead(200, { 'content-type': 'image/png', 'content-length': this.#png.length })
        .end(this.#png);
      return;
    }
    if (req.headers.authorization !== `Key ${this.#options.key}`) {
      this.#requests.denied += 1;
      this.#json(res, 401, { detail: 'No user found for Key ID and Secret' });
      return;
    }
    const base = `http://${req.headers.host ?? '127.0.0.1'}`;
    const request = /^\/([^/]+\/[^/]+)\/requests\/([^/]+)(\/status|\/cancel)?$/.exec(path);
    if (request) {
      const [, app, id, tail] = request;
      const job = this.#jobs.get(id ?? '');
      if (!job) {
        this.#json(res, 404, { detail: 'Request not found' });
        return;
      }
      const responseUrl = `${base}/${app}/requests/${job.id}`;
      const done = t >= job.doneAt;
      const queued = t < job.startedAt;
      if (method === 'GET' && tail === '/status') {
        this.#requests.status += 1;
        job.polls += 1;
        if (done) {
          job.completedSeenAt ??= t;
          this.#json(res, 200, {
            status: 'COMPLETED',
            logs: [{ message: '100%|##########| 4/4 [00:20<00:00]' }],
            response_url: responseUrl,
          });
        } else if (job.polls === 1 || queued) {
          this.#json(res, 202, {
            status: 'IN_QUEUE',
            queue_position: 0,
            response_url: responseUrl,
          });
        } else {
          const percent = Math.floor(((t - job.startedAt) / (job.doneAt - job.startedAt)) * 100);
          this.#json(res, 202, {
            status: 'IN_PROGRESS',
            logs: [
              { message: `${percent}%|#####     | ${Math.floor(percent / 25)}/4 [00:10<00:10]` },
            ],
            response_url: responseUrl,
          });
        }
        return;
      }
      if (method === 'GET' && tail === undefined) {
        this.#requests.result += 1;
        if (!done) {
          this.#json(res, 400, { detail: 'Request is still in progress' });
          return;
        }
        job.resultAt ??= t;
        this.#json(res, 200, {
          images: [{ url: `${base}/files/${job.id}.png`, content_type: 'image/png' }],
          seed: 42,
          has_nsfw_concepts: [false],
        });
        return;
      }
      if (method === 'PUT' && tail === '/cancel') {
        this.#requests.cancel += 1;
        if (done) {
          this.#json(res, 400, { status: 'ALREADY_COMPLETED' });
          return;
        }
        job.cancelled = true;
        job.startedAt = Math.min(job.startedAt, t);
        job.doneAt = t;
        this.#json(res, 202, { status: 'CANCELLATION_REQUESTED' });
        return;
      }
    }
    if (method === 'POST' && /^\/[^/]+\/[^/]+(?:\/[^/]+)*$/.test(path)) {
      this.#requests.submit += 1;
      let prompt = '';
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { prompt?: unknown };
        if (typeof body.prompt === 'string') prompt = body.prompt;
      } catch {
        this.#json(res, 422, { detail: 'body is not JSON' });
        return;
      }
      const app = path.slice(1).split('/').slice(0, 2).join('/');
      this.#next += 1;
      const id = `req-${String(this.#next).padStart(6, '0')}`;
      const held = this.#timing.held === true;
      const job: SlowJob = {
        id,
        prompt,
        submittedAt: t,
        startedAt: held ? HELD : t,
        doneAt: held ? HELD : this.#doneAt(t),
        polls: 0,
        cancelled: false,
      };
      this.#jobs.set(id, job);
      if (held) this.#held.push(job);
      const responseUrl = `${base}/${app}/requests/${id}`;
      this.#json(res, 200, {
        request_id: id,
        response_url: responseUrl,
        status_url: `${responseUrl}/status`,
        cancel_url: `${responseUrl}/cancel`,
        queue_position: 0,
      });
      return;
    }
    this.#requests.other += 1;
    this.#json(res, 404, { detail: 'not found' });
  }
}

// ---------------------------------------------------------------------------------------
// Run in a child process, driven over IPC.

type ToChild =
  | { type: 'start'; options: SlowBackendOptions }
  | { type: 'stats' }
  | { type: 'reset'; timing: SlowTiming }
  | { type: 'release'; endAt?: number | undefined }
  | { type: 'stop' };
type FromChild =
  | { type: 'ready'; url: string }
  | { type: 'stats'; stats: SlowBackendStats }
  | { type: 'reset' }
  | { type: 'released' }
  | { type: 'stopped' }
  | { type: 'error'; message: string };

export interface SlowBackendHandle {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `127.0.0.1:<port>`, for the download policy's loopback exemption. */
  host: string;
  pid: number;
  /** What the backend saw since it started or since the last `reset`. */
  stats(): Promise<SlowBackendStats>;
  /** Starts a new phase (see `SlowBackend.reset`). */
  reset(timing: SlowTiming): Promise<void>;
  /** Starts every held job (see `SlowBackend.release`). */
  release(endAt?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the backend in a child process (the same loader as this one: tsx). */
export async function forkSlowBackend(options: SlowBackendOptions): Promise<SlowBackendHandle> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--slow-backend-child'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = (type: FromChild['type'], timeoutMs = 30_000): Promise<FromChild> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`slow backend: no "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (message: FromChild): void => {
        if (message.type === 'error') {
          cleanup();
          reject(new Error(`slow backend: ${message.message}`));
        } else if (message.type === type) {
          cleanup();
          resolve(message);
        }
      };
      const onExit = (code: number | null): void => {
        cleanup();
        reject(new Error(`slow backend exited (${code ?? 'signal'}) before "${type}"`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const send = (message: ToChild): void => {
    child.send(message);
  };
  const ready = next('ready');
  send({ type: 'start', options });
  const { url } = (await ready) as Extract<FromChild, { type: 'ready' }>;
  let stopped = false;
  return {
    url,
    host: new URL(url).host,
    pid: child.pid ?? 0,
    async stats() {
      const reply = next('stats');
      send({ type: 'stats' });
      return ((await reply) as Extract<FromChild, { type: 'stats' }>).stats;
    },
    async reset(timing) {
      const reply = next('reset');
      send({ type: 'reset', timing });
      await reply;
    },
    async release(endAt) {
      const reply = next('released');
      send({ type: 'release', endAt });
      await reply;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      try {
        send({ type: 'stop' });
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      }
    },
  };
}

async function runChild(): Promise<void> {
  let backend: SlowBackend | undefined;
  const reply = (message: FromChild): void => {
    process.send?.(message);
  };
  process.on('message', (message: ToChild) => {
    void (async () => {
      try {
        if (message.type === 'start') {
          backend = new SlowBackend(message.options);
          reply({ type: 'ready', url: await backend.start() });
        } else if (message.type === 'stats') {
          if (backend) reply({ type: 'stats', stats: backend.stats() });
        } else if (message.type === 'reset') {
          backend?.reset(message.timing);
          reply({ type: 'reset' });
        } else if (message.type === 'release') {
          backend?.release(message.endAt);
          reply({ type: 'released' });
        } else {
          await backend?.stop();
          reply({ type: 'stopped' });
          process.disconnect();
          process.exit(0);
        }
      } catch (error) {
        reply({ type: 'error', message: error instanceof Error ? error.message : String(error) });
      }
    })();
  });
  // The bench went away (killed, crashed): so does its backend.
  process.once('disconnect', () => process.exit(0));
}

if (process.argv.includes('--slow-backend-child') && process.send) await runChild();
