import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Servers a test owns outright, on a port it chooses: started, stopped (by the PID it
 * started), paused and restarted on the same port, so a test can take Redis or MongoDB away
 * from a running app and give it back. Loopback only.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = new Socket();
    const end = (ok: boolean): void => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(1000, () => end(false));
    socket.once('error', () => end(false));
    socket.connect(port, '127.0.0.1', () => end(true));
  });
}

function which(command: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path !== '' ? path : undefined;
}

export interface OwnedServer {
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** SIGTERM to our PID; resolves once it has exited. */
  stop(): Promise<void>;
  /** SIGSTOP: the socket stays open, nothing answers (a frozen host). */
  pause(): void;
  /** SIGCONT after `pause`. */
  resume(): void;
}

async function startOwned(
  command: string,
  args: string[],
  port: number,
  url: string,
  cleanup: () => void,
): Promise<OwnedServer> {
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  let gone = false;
  void exited.then(() => {
    gone = true;
    cleanup();
  });
  const pid = child.pid ?? 0;
  // Waiting for a server to accept connections is waiting for an event we cannot subscribe to.
  for (let tries = 0; !(await accepts(port)); tries += 1) {
    if (gone || tries > 600) {
      if (!gone) process.kill(pid, 'SIGKILL');
      throw new Error(`${command} did not start on port ${port}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url,
    pid,
    async stop() {
      if (gone) return;
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGTERM');
      await exited;
    },
    pause: () => {
      if (!gone) process.kill(pid, 'SIGSTOP');
    },
    resume: () => {
      if (!gone) process.kill(pid, 'SIGCONT');
    },
  };
}

/** A redis-server of the test's own (no persistence) on `port`, a free one by default. */
export async function startOwnedRedis(port?: number): Promise<OwnedServer> {
  const binary = which('redis-server');
  if (!binary) throw new Error('redis-server is not installed');
  const p = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'genbot-owned-redis-'));
  const args = ['--port', String(p), '--bind', '127.0.0.1', '--dir', dir];
  args.push('--save', '', '--appendonly', 'no');
  return startOwned(binary, args, p, `redis://127.0.0.1:${p}`, () =>
    rmSync(dir, { recursive: true, force: true }),
  );
}

/** A MongoDB-protocol server of the test's own: mongod if on the PATH, else the FerretDB helper. */
export async function startOwnedMongo(port?: number): Promise<OwnedServer> {
  const p = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'genbot-owned-mongo-'));
  const mongod = which('mongod');
  const [binary, args] = mongod
    ? [mongod, ['--port', String(p), '--bind_ip', '127.0.0.1', '--dbpath', dir, '--quiet']]
    : [
        join(ROOT, 'tools', 'ferretdb', 'bin', 'ferretdb'),
        ['-listen', `127.0.0.1:${p}`, '-dir', dir],
      ];
  return startOwned(binary, args, p, `mongodb://127.0.0.1:${p}/`, () =>
    rmSync(dir, { recursive: true, force: true }),
  );
}
