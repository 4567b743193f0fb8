import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { Reconciler, ReconcileReport } from './reconciler.js';
import type { RedisKeys } from '../queue/keys.js';

/** Deletes the lock only if it is still ours (it may have expired and been taken since). */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;

/**
 * How often a sweep is a full one (see `Reconciler.run`); the others look at failed jobs. A
 * full sweep reads whole collections on the embedded server (over a minute with 100k
 * generations on a busy 2-core machine), and what only it finds (a submit cut short before its
 * job, a lost document) is rare and also repaired at the restart of the process that crashed.
 */
export const FULL_SWEEP_MS = 60 * 60_000;

export interface ReconcileLoopOptions {
  reconciler: Reconciler;
  redis: Redis;
  keys: RedisKeys;
  logger: Logger;
  /** Time between sweeps; 0: none after the first. */
  intervalMs: number;
  graceMs: number;
  /** Time between full sweeps (default an hour). */
  fullEveryMs?: number;
}

/**
 * Runs the reconciler at start-up and then every `intervalMs`, in whichever process takes the
 * lock first: every bot and worker process runs this loop, one sweeps at a time across all of
 * them. A process that dies while sweeping leaves a lock that expires on its own, so held
 * points stuck by a crash are repaired within about two sweeps plus the grace period without
 * anyone restarting anything.
 */
export class ReconcileLoop {
  readonly #o: ReconcileLoopOptions;
  readonly #key: string;
  readonly #lockMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = false;
  #lastFull: number | undefined;
  /** The data epoch this process last saw in Redis (see `RedisKeys.dataEpoch`). */
  #epoch: string | undefined;
  /** When this process saw Redis come back without its data; cleared by the sweep after. */
  #lostAt: number | undefined;

  constructor(options: ReconcileLoopOptions) {
    this.#o = options;
    this.#key = options.keys.reconcileLock;
    // Long enough for a slow sweep; short enough that a dead holder is replaced soon.
    this.#lockMs = Math.max(60_000, options.intervalMs * 2);
  }

  /**
   * One sweep, if no other process is sweeping. Undefined: another process holds the lock.
   */
  async tick(): Promise<ReconcileReport | undefined> {
    await this.#noticeDataLoss();
    const token = randomBytes(12).toString('hex');
    const taken = await this.#o.redis.set(this.#key, token, 'PX', this.#lockMs, 'NX');
    if (taken !== 'OK') return undefined;
    try {
      // Full at this process's first sweep, at once after Redis lost its data, and then
      // hourly; frequent in between.
      const lostAt = this.#lostAt;
      const full =
        lostAt !== undefined ||
        this.#lastFull === undefined ||
        Date.now() - this.#lastFull >= (this.#o.fullEveryMs ?? FULL_SWEEP_MS);
      if (full) this.#lastFull = Date.now();
      const report = await this.#o.reconciler.run(this.#o.graceMs, {
        scope: full ? 'full' : 'recent',
        ...(lostAt === undefined ? {} : { lostAt }),
      });
      if (this.#lostAt === lostAt) this.#lostAt = undefined;
      return report;
    } finally {
      await this.#o.redis
        .eval(RELEASE, 1, this.#key, token)
        .catch((error: unknown) =>
          this.#o.logger.warn({ err: error }, 'could not release the reconcile lock; it expires'),
        );
    }
  }

  /**
   * One command a tick: sets the data epoch if it is missing, and reads it. A different epoch
   * than the one this process saw means Redis lost every key since (queued jobs, delivery
   * streams, member slots): the next sweep is a full one, at once, that does not wait out the
   * grace for generations whose job is gone.
   */
  async #noticeDataLoss(): Promise<void> {
    const fresh = randomBytes(12).toString('hex');
    const key = this.#o.keys.dataEpoch;
    // SET ... NX GET: the epoch there was (null: none, and ours is set now).
    const before = await this.#o.redis.call('SET', key, fresh, 'NX', 'GET');
    const epoch = typeof before === 'string' ? before : fresh;
    if (this.#epoch !== undefined && epoch !== this.#epoch) {
      this.#lostAt = Date.now();
      this.#o.logger.warn(
        'Redis lost its data (restarted without persistence, or flushed): repairing now',
      );
    }
    this.#epoch = epoch;
  }

  /**
   * Sweeps once now, then on the interval; the promise is the first sweep's report. Nothing
   * needs to wait for it: the first sweep is a full one, a minute with 100k ledger entries on
   * the embedded server, and a process takes work meanwhile (sweeps always run beside work).
   * A failed sweep is logged by the caller of this one and then by the loop; the loop goes on.
   */
  start(): Promise<ReconcileReport | undefined> {
    const first = this.tick();
    this.#running = first
      .catch(() => undefined)
      .finally(() => {
        this.#running = undefined;
        if (this.#o.intervalMs > 0 && !this.#stopped) this.#schedule();
      });
    return first;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#running = this.tick()
        .catch((error: unknown) => this.#o.logger.error({ err: error }, 'reconcile sweep failed'))
        .finally(() => {
          this.#running = undefined;
          if (!this.#stopped) this.#schedule();
        });
    }, this.#o.intervalMs);
    this.#timer.unref();
  }

  /** Stops the loop and waits for a sweep in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
