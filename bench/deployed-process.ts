import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { RoleOptions } from './deployed-roles.js';

/**
 * The parent's side of a child process of the deployed benchmark: forks deployed-child.ts
 * under tsx, starts its role, submits through it and stops it. Every child forked is
 * remembered until it exits, so that `killAllRoles` can end them by PID whatever happens to
 * the bench. The child's log (pino JSON on its stdout) is read: warnings and errors are
 * passed on to stderr and counted, the rest is dropped.
 */

export type ToChild =
  | { type: 'start'; options: RoleOptions }
  | { type: 'submit'; k: number; member: number }
  | { type: 'stop' };

export type FromChild =
  | { type: 'ready'; startMs: number; sinceSpawnMs: number }
  | { type: 'failed'; message: string }
  | { type: 'submitted'; k: number; ms: number; id?: string; error?: string }
  | { type: 'delivered'; id: string; ok: boolean }
  | { type: 'stopped'; ms: number };

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'deployed-child.ts');
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** How long a graceful stop may take before the child is killed. */
const STOP_TIMEOUT_MS = 60_000;
const START_TIMEOUT_MS = 600_000;

const live = new Set<ChildProcess>();

/** Ends every child still running, by PID (SIGKILL): for exits and signals. */
export function killAllRoles(): void {
  for (const child of live) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  live.clear();
}

export interface Submitted {
  ms: number;
  /** The generation's id (a job's, for raw BullMQ), as its delivery names it. */
  id?: string;
  error?: string;
}

/** Counts of what children logged at warn or above, by role. */
export const loggedProblems: Record<string, number> = {};

function readLog(
  child: ChildProcess,
  name: string,
  log: (line: string) => void,
  seen: (msg: string) => void,
): void {
  if (!child.stdout) return;
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    const msg = /"msg":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1];
    if (msg !== undefined) seen(msg);
    const level = /"level":(\d+)/.exec(line)?.[1];
    if (level === undefined || Number(level) < 40) return;
    loggedProblems[name] = (loggedProblems[name] ?? 0) + 1;
    let text = line;
    try {
      const entry = JSON.parse(line) as { msg?: string; err?: { message?: string } };
      text = [entry.msg, entry.err?.message].filter(Boolean).join(': ');
    } catch {
      // not JSON: passed on as it is
    }
    log(`${name} logged: ${text.slice(0, 300)}`);
  });
}

export class RoleProcess {
  readonly name: string;
  readonly pid: number;
  /** Fork to ready, as the parent saw it (ms). */
  readyMs = 0;
  /** The role's own start (connect, build, start), inside the child (ms). */
  startMs = 0;
  /** When each log message was first seen, ms since the fork. */
  readonly logged = new Map<string, number>();
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, (s: Submitted) => void>();
  #exited = false;

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.#child = child;
    this.pid = child.pid ?? 0;
  }

  /** Forks the child, starts its role and resolves once it takes work. */
  static async start(
    options: RoleOptions,
    name: string,
    onDelivered: (id: string, ok: boolean) => void,
    log: (line: string) => void,
  ): Promise<RoleProcess> {
    const at = performance.now();
    const child = fork(CHILD, [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    live.add(child);
    const p = new RoleProcess(name, child);
    readLog(child, name, log, (msg) => {
      if (!p.logged.has(msg)) p.logged.set(msg, performance.now() - at);
    });
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${name}: not ready within ${START_TIMEOUT_MS / 1000} s`)),
        START_TIMEOUT_MS,
      );
      child.on('message', (message: FromChild) => {
        switch (message.type) {
          case 'ready':
            clearTimeout(timer);
            p.readyMs = performance.now() - at;
            p.startMs = message.startMs;
            resolve();
            break;
          case 'failed':
            clearTimeout(timer);
            reject(new Error(`${name}: ${message.message}`));
            break;
          case 'submitted':
            p.#settle(message.k, message);
            break;
          case 'delivered':
            onDelivered(message.id, message.ok);
            break;
          case 'stopped':
            break;
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        p.#exited = true;
        live.delete(child);
        for (const k of [...p.#pending.keys()])
          p.#settle(k, { ms: 0, error: `${name} exited (${code ?? signal})` });
        reject(new Error(`${name} exited (${code ?? signal}) before it was ready`));
      });
    });
    p.#send({ type: 'start', options });
    try {
      await ready;
    } catch (error) {
      p.kill();
      throw error;
    }
    return p;
  }

  /** Ms since the fork when a message matching `pattern` was first logged (polls). */
  async whenLogged(pattern: RegExp, timeoutMs: number): Promise<number | undefined> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline && !this.#exited) {
      for (const [msg, at] of this.logged) if (pattern.test(msg)) return at;
      await new Promise((r) => setTimeout(r, 100));
    }
    return undefined;
  }

  #send(message: ToChild): void {
    if (!this.#exited) this.#child.send(message);
  }

  #settle(k: number, submitted: Submitted): void {
    const resolve = this.#pending.get(k);
    if (!resolve) return;
    this.#pending.delete(k);
    resolve(submitted);
  }

  /** Generation `k` for member `member`; the child's own timing of the submit. */
  submit(k: number, member: number): Promise<Submitted> {
    if (this.#exited) return Promise.resolve({ ms: 0, error: `${this.name} is not running` });
    return new Promise((resolve) => {
      this.#pending.set(k, resolve);
      this.#send({ type: 'submit', k, member });
    });
  }

  /** Stops the role gracefully and waits for the process to exit (killed after a minute). */
  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#send({ type: 'stop' });
    const timer = setTimeout(() => this.kill(), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (this.#exited || this.pid === 0) return;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}
