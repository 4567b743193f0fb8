import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireLock } from './lock.js';
import { startMongo } from './mongo.js';
import {
  canConnect,
  findServersOnDir,
  isSameProcess,
  processStartTime,
  stopPid,
  type Log,
  type RunningService,
} from './process.js';
import { startRedis } from './redis.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where persistent mode keeps its data and records: GENBOT_STATE_DIR, else .genbot/. */
export function stateDirFor(env: Record<string, string | undefined>): string {
  return env.GENBOT_STATE_DIR ? resolve(env.GENBOT_STATE_DIR) : join(ROOT, '.genbot');
}

export interface Services {
  redisUrl: string;
  mongodbUri: string;
  /** Stops what this call started (ephemeral mode only; persistent services keep running). */
  stop(): Promise<void>;
}

type Kind = 'redis' | 'mongo';

interface SavedService {
  url: string;
  pid: number;
  /** /proc start time of `pid`, so a reused PID is not taken for ours. */
  startTime?: number;
}
type SavedState = Partial<Record<Kind, SavedService>>;

export interface ProvisionOptions {
  env: Record<string, string | undefined>;
  mode: 'ephemeral' | 'persistent';
  /** What was done: started, installed, built, waited for, stopped. */
  log: Log;
  /**
   * What was merely chosen (reusing running services, URLs from the environment). Defaults to
   * `log`; the CLI passes a no-op so that a call that starts nothing prints nothing.
   */
  note?: Log;
  /** Persistent mode's directory (default: GENBOT_STATE_DIR, else .genbot/). */
  stateDir?: string;
  /** How long to wait for another process that is starting the same services. */
  lockTimeoutMs?: number;
}

const file = (stateDir: string): string => join(stateDir, 'services.json');
/** The lock one provisioning at a time holds (exported for tests). */
export const lockFile = (stateDir: string): string => join(stateDir, 'provision.lock');
const dataDir = (stateDir: string, kind: Kind): string => join(stateDir, kind);

function readState(stateDir: string): SavedState {
  try {
    return JSON.parse(readFileSync(file(stateDir), 'utf8')) as SavedState;
  } catch {
    return {};
  }
}

/** Written whole and renamed into place, so a reader never sees half a file. */
function writeState(stateDir: string, state: SavedState): void {
  const tmp = `${file(stateDir)}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, file(stateDir));
}

function record(pid: number, url: string): SavedService {
  const startTime = processStartTime(pid);
  return startTime === undefined ? { url, pid } : { url, pid, startTime };
}

async function reachable(saved: SavedService): Promise<boolean> {
  const url = new URL(saved.url);
  return canConnect(url.hostname, Number(url.port));
}

/**
 * Finds or starts Redis and a MongoDB-protocol server, in this order:
 * REDIS_URL / MONGODB_URI when set; else (persistent mode) the ones a previous `npm run dev`
 * left running; else new ones on free loopback ports.
 *
 * - `ephemeral`: data in a temp dir, stopped by `stop()` (tests).
 * - `persistent`: data in .genbot/, left running for the next run and the CLI (dev). One
 *   process at a time provisions (a lock file in the state dir); the others wait for it and
 *   then reuse what it started.
 *
 * If anything fails, what this call started is stopped again.
 */
export async function provisionServices(options: ProvisionOptions): Promise<Services> {
  const { env, mode, log } = options;
  const note = options.note ?? log;
  /** The URL the environment gives for a service, if any (said in one line). */
  const configured = (kind: Kind): string | undefined => {
    const variable = kind === 'redis' ? 'REDIS_URL' : 'MONGODB_URI';
    const url = env[variable];
    if (url) note(`${kind}: using ${variable} from the environment`);
    return url;
  };
  const mayInstall = env.GENBOT_NO_INSTALL !== '1';

  if (env.REDIS_URL && env.MONGODB_URI) {
    note('redis: using REDIS_URL from the environment');
    note('mongo: using MONGODB_URI from the environment');
    return { redisUrl: env.REDIS_URL, mongodbUri: env.MONGODB_URI, stop: async () => {} };
  }

  if (mode === 'ephemeral') {
    const root = mkdtempSync(join(tmpdir(), 'genbot-services-'));
    const started: RunningService[] = [];
    const stopAll = async (): Promise<void> => {
      await Promise.all(started.map((s) => s.stop()));
      rmSync(root, { recursive: true, force: true });
    };
    try {
      const urls: Partial<Record<Kind, string>> = {};
      for (const kind of ['redis', 'mongo'] as const) {
        const fromEnv = configured(kind);
        if (fromEnv) {
          urls[kind] = fromEnv;
          continue;
        }
        const service = await start(kind, dataDir(root, kind), false, mayInstall, log);
        started.push(service);
        log(`${kind}: ${service.description}`);
        urls[kind] = service.url;
      }
      return { redisUrl: urls.redis!, mongodbUri: urls.mongo!, stop: stopAll };
    } catch (error) {
      await stopAll();
      throw error;
    }
  }

  const stateDir = options.stateDir ?? stateDirFor(env);
  mkdirSync(stateDir, { recursive: true });
  const release = await acquireLock(lockFile(stateDir), {
    log: (line) => log(`services: ${line}`),
    ...(options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs }),
  });
  const started: { kind: Kind; service: RunningService }[] = [];
  const saved = readState(stateDir);
  try {
    const urls: Partial<Record<Kind, string>> = {};
    for (const kind of ['redis', 'mongo'] as const) {
      const fromEnv = configured(kind);
      if (fromEnv) {
        urls[kind] = fromEnv;
        continue;
      }
      const previous = saved[kind];
      if (previous && isSameProcess(previous.pid, previous.startTime)) {
        if (await reachable(previous)) {
          note(
            `${kind}: reusing the local server started earlier (${previous.url}, pid ${previous.pid})`,
          );
          urls[kind] = previous.url;
          continue;
        }
        // Ours (recorded) but not answering: it would hold the data directory.
        await stopPid(previous.pid);
        log(`${kind}: stopped pid ${previous.pid}, started earlier but not answering`);
      }
      delete saved[kind];
      writeState(stateDir, saved);
      // A crashed run may have left servers on this data directory that no record names;
      // two servers on one directory corrupt it.
      const dir = dataDir(stateDir, kind);
      for (const pid of findServersOnDir(kind, dir)) {
        await stopPid(pid);
        log(`${kind}: stopped pid ${pid}, a leftover server on ${dir}`);
      }
      const service = await start(kind, dir, true, mayInstall, log, (pid, url) => {
        // Recorded before it is ready, so a crash right now still leaves its PID behind.
        saved[kind] = record(pid, url);
        writeState(stateDir, saved);
      });
      started.push({ kind, service });
      log(`${kind}: ${service.description}`);
      urls[kind] = service.url;
    }
    return { redisUrl: urls.redis!, mongodbUri: urls.mongo!, stop: async () => {} };
  } catch (error) {
    for (const { kind, service } of started) {
      await service.stop();
      log(`${kind}: stopped pid ${service.pid} again, since starting the services failed`);
    }
    // A server that failed to start was stopped by startServer; forget it and what we stopped.
    const current = readState(stateDir);
    for (const kind of ['redis', 'mongo'] as const) {
      const entry = current[kind];
      if (entry && !isSameProcess(entry.pid, entry.startTime)) delete current[kind];
    }
    writeState(stateDir, current);
    throw error;
  } finally {
    release();
  }
}

function start(
  kind: Kind,
  dir: string,
  persistent: boolean,
  mayInstall: boolean,
  log: Log,
  onSpawn?: (pid: number, url: string) => void,
): Promise<RunningService> {
  const common = { dir, log, persistent, ...(onSpawn ? { onSpawn } : {}) };
  return kind === 'redis'
    ? startRedis({ ...common, mayInstall })
    : startMongo({ ...common, mayInstall });
}

/**
 * Stops the services persistent runs left behind: the PIDs services.json records, and any
 * server of ours still running on the state dir's data directories (a crashed or concurrent
 * run may have left one that no record names). Only those processes, by PID.
 */
export async function stopPersistentServices(
  log: Log,
  options: { env?: Record<string, string | undefined>; stateDir?: string } = {},
): Promise<void> {
  const stateDir = options.stateDir ?? stateDirFor(options.env ?? process.env);
  mkdirSync(stateDir, { recursive: true });
  const release = await acquireLock(lockFile(stateDir), {
    log: (line) => log(`services: ${line}`),
  });
  try {
    const saved = readState(stateDir);
    let stopped = 0;
    for (const kind of ['redis', 'mongo'] as const) {
      const service = saved[kind];
      if (service && isSameProcess(service.pid, service.startTime)) {
        await stopPid(service.pid);
        log(`${kind}: stopped pid ${service.pid}`);
        stopped += 1;
      }
      const dir = dataDir(stateDir, kind);
      for (const pid of findServersOnDir(kind, dir)) {
        await stopPid(pid);
        log(`${kind}: stopped pid ${pid}, a leftover server on ${dir}`);
        stopped += 1;
      }
    }
    rmSync(file(stateDir), { force: true });
    if (stopped === 0) log('services: nothing was running');
  } finally {
    release();
  }
}
