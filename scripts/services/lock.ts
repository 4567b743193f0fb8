import {
  closeSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isSameProcess, processStartTime, type Log } from './process.js';

interface Owner {
  pid: number;
  /** /proc start time, so a PID reused by another program is not taken for the owner. */
  startTime?: number;
}

/** Calls in this process queue here first: the lock file names a PID, and ours is the same. */
const inProcess = new Map<string, Promise<void>>();

export interface LockOptions {
  log: Log;
  /** How long to wait for a live owner before giving up (starting services builds Go code). */
  timeoutMs?: number;
  pollMs?: number;
}

/**
 * Takes an exclusive lock across processes: a file created with O_EXCL that holds the owner's
 * PID. A lock whose owner has died is stale and is taken over; a live owner is waited for, up
 * to `timeoutMs`. Returns the release function.
 */
export async function acquireLock(path: string, options: LockOptions): Promise<() => void> {
  const previous = inProcess.get(path) ?? Promise.resolve();
  let releaseLocal!: () => void;
  const mine = new Promise<void>((resolve) => {
    releaseLocal = resolve;
  });
  const queued = previous.then(() => mine);
  inProcess.set(path, queued);
  const done = (): void => {
    releaseLocal();
    if (inProcess.get(path) === queued) inProcess.delete(path);
  };
  await previous;
  try {
    const releaseFile = await acquireFile(path, options);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      releaseFile();
      done();
    };
  } catch (error) {
    done();
    throw error;
  }
}

async function acquireFile(path: string, options: LockOptions): Promise<() => void> {
  const timeoutMs = options.timeoutMs ?? 10 * 60_000;
  const pollMs = options.pollMs ?? 100;
  const me: Owner = { pid: process.pid };
  const start = processStartTime(process.pid);
  if (start !== undefined) me.startTime = start;
  const deadline = Date.now() + timeoutMs;
  let waitingFor: number | undefined;

  for (;;) {
    if (tryCreate(path, me)) {
      return () => {
        // Remove it only while it is still ours.
        if (sameOwner(readOwner(path), me)) unlinkSync(path);
      };
    }
    const owner = readOwner(path);
    if (owner === 'missing') continue;
    if (owner === 'unreadable') {
      // Created but not written yet, or garbage: wait a moment before calling it stale.
      if (ageMs(path) < 5_000) {
        await sleep(pollMs);
        continue;
      }
    } else if (owner.pid !== process.pid && isSameProcess(owner.pid, owner.startTime)) {
      if (waitingFor !== owner.pid) {
        options.log(`waiting for pid ${owner.pid}, which is starting the local services (${path})`);
        waitingFor = owner.pid;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `gave up after ${Math.round(timeoutMs / 1000)} s waiting for pid ${owner.pid}, which holds ${path}; if no genbot process is starting services, delete that file`,
        );
      }
      await sleep(pollMs);
      continue;
    }
    breakStale(path, owner, options.log);
  }
}

function tryCreate(path: string, me: Owner): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, `${JSON.stringify(me)}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

function readOwner(path: string): Owner | 'missing' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<Owner>;
    if (typeof parsed.pid === 'number' && Number.isInteger(parsed.pid) && parsed.pid > 0) {
      return parsed.startTime === undefined
        ? { pid: parsed.pid }
        : { pid: parsed.pid, startTime: parsed.startTime };
    }
  } catch {
    // fall through
  }
  return 'unreadable';
}

function sameOwner(a: ReturnType<typeof readOwner>, b: ReturnType<typeof readOwner>): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return a.pid === b.pid && a.startTime === b.startTime;
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Takes a stale lock away without a window in which a fresh one could be deleted: move it
 * aside (atomic), check that what was moved is the stale one, and put it back if it is not.
 */
function breakStale(path: string, stale: Owner | 'unreadable', log: Log): void {
  const aside = `${path}.stale-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = readOwner(aside);
  if (sameOwner(moved, stale)) {
    unlinkSync(aside);
    log(
      typeof stale === 'string'
        ? `removed an unreadable lock file (${path})`
        : `removed a stale lock left by pid ${stale.pid}, which is no longer running (${path})`,
    );
    return;
  }
  // Another process replaced the stale lock in between: give its lock back.
  try {
    linkSync(aside, path);
  } catch {
    // A third one got in first; it holds the lock now.
  }
  unlinkSync(aside);
}
