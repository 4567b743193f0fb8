import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  fstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  realpathSync,
} from 'node:fs';
import { createServer, Socket } from 'node:net';
import { basename } from 'node:path';
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

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When the process started (clock ticks since boot, Linux), so a PID the system has since given
 * to another program is not mistaken for ours. Undefined where /proc is not available.
 */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses; fields after it are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

/** Is this PID still the process that was recorded (same start time when both are known)? */
export function isSameProcess(pid: number, startTime: number | undefined): boolean {
  if (!isAlive(pid)) return false;
  if (startTime === undefined) return true;
  const now = processStartTime(pid);
  return now === undefined || now === startTime;
}

/** Sends SIGTERM to a PID we started and waits for it to go, then SIGKILL as a last resort. */
export async function stopPid(pid: number, timeoutMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** The last `maxLines` lines of a file from byte `from` on (what one server wrote this run). */
export function readTail(path: string, from = 0, maxLines = 15, maxBytes = 16_384): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    const start = Math.max(from, size - maxBytes);
    const buffer = Buffer.alloc(Math.max(0, size - start));
    readSync(fd, buffer, 0, buffer.length, start);
    return lastLines(buffer.toString('utf8'), maxLines);
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function lastLines(text: string, maxLines: number): string {
  return text
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .slice(-maxLines)
    .join('\n');
}

export interface StartServerOptions {
  command: string;
  args: string[];
  /** What it is, for messages: `redis-server`, `embedded FerretDB`. */
  what: string;
  host?: string;
  port: number;
  /** Persistent services outlive this process: own process group, output to `logPath`. */
  detached: boolean;
  /** Append the server's stdout and stderr here (persistent mode); else they are kept in memory. */
  logPath?: string;
  timeoutMs?: number;
  /** Called as soon as the server has a PID, before it is ready (so a crash leaves a record). */
  onSpawn?(pid: number): void;
}

/**
 * Starts a server and waits until its port accepts connections. If it exits first, or is not
 * ready in time, it is stopped and the error carries the last lines of its own output.
 */
export async function startServer(options: StartServerOptions): Promise<{ pid: number }> {
  const host = options.host ?? '127.0.0.1';
  const timeoutMs = options.timeoutMs ?? 30_000;
  let tail = '';
  let logFd: number | undefined;
  let logStart = 0;
  if (options.logPath !== undefined) {
    logFd = openSync(options.logPath, 'a');
    logStart = fstatSync(logFd).size;
  }
  let child: ChildProcess;
  try {
    child = spawn(options.command, options.args, {
      stdio: logFd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', logFd, logFd],
      detached: options.detached,
    });
  } finally {
    // The child has its own copy of the descriptor.
    if (logFd !== undefined) closeSync(logFd);
  }
  // Keep only the end of what it prints, and keep reading so a chatty server never blocks.
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-16_384);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const output = (): string =>
    options.logPath !== undefined ? readTail(options.logPath, logStart) : lastLines(tail, 15);
  const withOutput = (message: string): Error => {
    const text = output();
    return new Error(
      text === ''
        ? `${message}; it printed nothing`
        : `${message}. Its last output${options.logPath ? ` (${options.logPath})` : ''}:\n${text}`,
    );
  };

  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    });
  });
  const spawned = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid ?? 0));
    child.once('error', (error) =>
      reject(new Error(`could not start ${options.what} (${options.command}): ${error.message}`)),
    );
  });
  options.onSpawn?.(spawned);

  const deadline = Date.now() + timeoutMs;
  while (exit === undefined && Date.now() < deadline) {
    if (await canConnect(host, options.port)) {
      if (exit !== undefined) break;
      if (options.detached) child.unref();
      return { pid: spawned };
    }
    await Promise.race([sleep(50), exited]);
  }
  if (exit !== undefined) {
    // Let the last output reach the pipe or the log file before reading it.
    const stdout = child.stdout;
    if (stdout && !stdout.closed)
      await new Promise<void>((resolve) => child.once('close', resolve));
    throw withOutput(
      `${options.what} exited with ${exit.code === null ? `signal ${String(exit.signal)}` : `code ${exit.code}`} before it was ready`,
    );
  }
  await stopPid(spawned);
  throw withOutput(
    `${options.what} did not accept connections on ${host}:${options.port} within ${timeoutMs} ms, so it was stopped`,
  );
}

/**
 * Servers of ours still running on a data directory, found without any record of them (Linux
 * /proc): FerretDB and mongod name the directory on their command line; redis-server rewrites
 * its command line but runs inside its `--dir`.
 */
export function findServersOnDir(kind: 'redis' | 'mongo', dir: string): number[] {
  if (process.platform !== 'linux') return [];
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return [];
  }
  const names = kind === 'redis' ? ['redis-server'] : ['ferretdb', 'mongod'];
  const found: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const program = basename(argv[0] ?? '').split(' ')[0] ?? '';
      if (!names.includes(comm) && !names.includes(program)) continue;
      const namesDir = argv.includes(dir) || argv.includes(real);
      let inDir = false;
      if (kind === 'redis') {
        try {
          inDir = readlinkSync(`/proc/${pid}/cwd`) === real;
        } catch {
          inDir = false;
        }
      }
      if (namesDir || inDir) found.push(pid);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** Polls until the port accepts connections or the child exits (for callers that spawn their own). */
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

/** Spawns a server with its output piped (and unread) or sent to a log file descriptor. */
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
