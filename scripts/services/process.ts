import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A server this project started; `stop` ends it by its own PID only. */
export interface RunningService {
  url: string;
  pid: number;
  /** What was chosen, for the one log line that explains it. */
  description: string;
  stop(): Promise<void>;
}

export type Log = (line: string) => void;

export function which(command: string): string | undefined {
  const result = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  const path = result.stdout.trim();
  return result.status === 0 && path !== '' ? path : undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function canConnect(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

/** Polls until the port accepts connections or the child exits. */
export async function waitForPort(
  child: ChildProcess,
  host: string,
  port: number,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | null | undefined;
  child.once('exit', (code) => {
    exited = code;
  });
  while (Date.now() < deadline) {
    if (exited !== undefined)
      throw new Error(`${what} exited with code ${String(exited)} before it was ready`);
    if (await canConnect(host, port)) return;
    await sleep(50);
  }
  throw new Error(`${what} did not accept connections on ${host}:${port} within ${timeoutMs} ms`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sends SIGTERM to a PID we started and waits for it to go, then SIGKILL as a last resort. */
export async function stopPid(pid: number, timeoutMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await sleep(50);
  }
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

export function spawnServer(
  command: string,
  args: string[],
  options: { detached: boolean; logFile?: number },
): ChildProcess {
  const stdio =
    options.logFile === undefined
      ? (['ignore', 'pipe', 'pipe'] as const)
      : (['ignore', options.logFile, options.logFile] as const);
  const child = spawn(command, args, { stdio: [...stdio], detached: options.detached });
  if (!child.pid) throw new Error(`could not start ${command}`);
  return child;
}
