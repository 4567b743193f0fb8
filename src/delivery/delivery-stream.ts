import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import { deliveryJobSchema, type DeliveryJob } from '../queue/contracts.js';
import { DELIVERY_GROUP as GROUP } from '../queue/delivery-streams.js';
import type { RedisKeys } from '../queue/keys.js';
import { isConnectionError } from '../queue/redis.js';

/**
 * Finished generations on their way to the chats: one Redis stream per platform, read by the
 * bot processes of that platform as one consumer group. A worker adds an entry (one script
 * call: the entry and a one-day marker that makes adding it again a no-op); a bot reads
 * entries in batches, delivers each, and acknowledges them in batches. An entry stays
 * pending until acknowledged, so a bot that dies mid-delivery leaves it to be claimed by
 * another (or by itself after a restart) once it has been idle `RECLAIM_IDLE_MS`: delivery
 * is at least once and survives restarts of either side, like the BullMQ queue it replaces,
 * at about a third of its Redis commands per result.
 */

/** XREADGROUP's answer: per stream, its entries as [id, [field, value, ...]]; null: none. */
const readReplySchema = z
  .array(z.tuple([z.string(), z.array(z.tuple([z.string(), z.array(z.string())]))]))
  .nullable();

/**
 * XAUTOCLAIM's answer: the next cursor and the entries claimed (fields null for an entry
 * trimmed away meanwhile); Redis 7 adds the ids it deleted, not needed here.
 */
const autoclaimReplySchema = z
  .tuple([z.string(), z.array(z.tuple([z.string(), z.array(z.string()).nullable()]))])
  .rest(z.unknown());

/** An entry pending this long with no progress is taken over (its consumer is gone). */
export const RECLAIM_IDLE_MS = 60_000;
const RECLAIM_EVERY_MS = 15_000;
/** How long a read waits for new entries before it looks again (and sees a close). */
const BLOCK_MS = 2_000;
/**
 * Under load, results arrive one at a time and each read would take one: after a read that
 * found some, but fewer than there is room for, the next waits this long, so it takes what
 * arrived meanwhile in one call (a result waits at most this much longer). Acknowledgements
 * are sent together within the same window.
 */
export const BATCH_WINDOW_MS = 20;

export interface DeliveryStreamOptions {
  /** A connection of the app's; the consumer reads on a duplicate of it (reads block). */
  connection: Redis;
  keys: RedisKeys;
  /** The platforms this process delivers to: it reads only their streams. */
  platforms: readonly string[];
  /** Hands one result to its platform; throws to have it retried. */
  deliver: (data: DeliveryJob) => Promise<unknown>;
  /** Out of tries: the result is dropped (the caller records and logs it). */
  onGiveUp: (data: DeliveryJob, error: unknown, attempts: number) => Promise<void>;
  logger: Logger;
  /** Deliveries in flight at once. */
  concurrency: number;
  /** Tries per result, and the first retry delay (doubling). */
  retry: { attempts: number; backoffMs: number };
  /** Idle time after which another consumer's pending entry is taken over (tests shorten). */
  reclaimIdleMs?: number;
  /** How often pending entries are looked at (tests shorten). */
  reclaimEveryMs?: number;
}

/** The bot side of the delivery streams: reads, delivers, retries, acknowledges. */
export class DeliveryStreamConsumer {
  readonly #o: DeliveryStreamOptions;
  readonly #reader: Redis;
  readonly #keys: string[];
  readonly #consumer = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  /** Entries this process is delivering or will retry (not to be claimed again here). */
  readonly #local = new Set<string>();
  readonly #acks = new Map<string, string[]>();
  #ackTimer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  #slotFreed: (() => void) | undefined;
  #pauseEnded: (() => void) | undefined;
  #stopped = false;
  #loop: Promise<void> | undefined;
  #reclaimTimer: NodeJS.Timeout | undefined;
  readonly #running = new Set<Promise<void>>();
  readonly #retryTimers = new Set<NodeJS.Timeout>();

  constructor(options: DeliveryStreamOptions) {
    this.#o = options;
    this.#reader = options.connection.duplicate();
    // The reader blocks; its errors while Redis is away are the connection's to report.
    this.#reader.on('error', (error: Error) =>
      options.logger.debug({ err: error }, 'delivery reader lost Redis'),
    );
    this.#keys = options.platforms.map((p) => options.keys.deliveryStream(p));
  }

  async start(): Promise<void> {
    await this.#createGroups();
    if (this.#keys.length === 0) return;
    this.#loop = this.#readLoop();
    this.#reclaimTimer = setInterval(() => {
      this.#reclaim().catch((error: unknown) =>
        this.#o.logger.warn({ err: error }, 'could not claim pending deliveries'),
      );
    }, this.#o.reclaimEveryMs ?? RECLAIM_EVERY_MS);
    this.#reclaimTimer.unref();
    // Entries a previous run of a bot left pending are looked at once at start-up too.
    void this.#reclaim().catch((error: unknown) =>
      this.#o.logger.warn({ err: error }, 'could not claim pending deliveries'),
    );
  }

  /** The consumer group of every stream read here (made once; again after Redis lost it). */
  async #createGroups(): Promise<void> {
    for (const key of this.#keys) {
      try {
        // From the start of the stream: results that finished while no bot ran are kept.
        await this.#o.connection.xgroup('CREATE', key, GROUP, '0', 'MKSTREAM');
      } catch (error) {
        if (!(error instanceof Error) || !error.message.includes('BUSYGROUP')) throw error;
      }
    }
  }

  async #readLoop(): Promise<void> {
    while (!this.#stopped) {
      if (this.#inFlight >= this.#o.concurrency)
        await new Promise<void>((resolve) => (this.#slotFreed = resolve));
      if (this.#stopped) break;
      let batch: z.output<typeof readReplySchema>;
      try {
        const reply = await this.#reader.xreadgroup(
          'GROUP',
          GROUP,
          this.#consumer,
          'COUNT',
          this.#o.concurrency - this.#inFlight,
          'BLOCK',
          BLOCK_MS,
          'STREAMS',
          ...this.#keys,
          ...this.#keys.map(() => '>'),
        );
        batch = readReplySchema.parse(reply);
      } catch (error) {
        if (this.#stopped) break;
        if (error instanceof Error && error.message.startsWith('NOGROUP')) {
          // Redis lost the stream and its group (a restart without persistence, a flush):
          // made again, deliveries flow on (those in the lost stream went with it).
          this.#o.logger.warn('the delivery stream was gone from Redis; reading it anew');
          await this.#createGroups().catch((e: unknown) =>
            this.#o.logger.warn({ err: e }, 'could not make the delivery group again'),
          );
          continue;
        }
        if (!isConnectionError(error))
          this.#o.logger.warn({ err: error }, 'could not read deliveries');
        // Waits out the outage without spinning (the reader reconnects on its own).
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
      let found = 0;
      for (const [key, entries] of batch ?? [])
        for (const [id, fields] of entries) {
          this.#start(key, id, fields, 0);
          found += 1;
        }
      // Entries are coming in one by one: let a few gather for the next read.
      if (found > 0 && this.#inFlight < this.#o.concurrency && !this.#stopped)
        await this.#pause(BATCH_WINDOW_MS);
    }
  }

  /** Waits `ms`, or less when the consumer closes meanwhile. */
  async #pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#pauseEnded = undefined;
        resolve();
      }, ms);
      this.#pauseEnded = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Takes over entries left pending by consumers that are gone (or by this one, restarted). */
  async #reclaim(): Promise<void> {
    for (const key of this.#keys) {
      let cursor = '0-0';
      do {
        if (this.#stopped) return;
        const reply = await this.#o.connection.xautoclaim(
          key,
          GROUP,
          this.#consumer,
          this.#o.reclaimIdleMs ?? RECLAIM_IDLE_MS,
          cursor,
          'COUNT',
          50,
        );
        const [next, entries] = autoclaimReplySchema.parse(reply);
        cursor = next;
        for (const [id, fields] of entries) {
          if (this.#local.has(`${key} ${id}`)) continue;
          this.#o.logger.info({ entry: id }, 'took over a delivery another bot left unfinished');
          this.#start(key, id, fields ?? [], 0);
        }
      } while (cursor !== '0-0');
    }
  }

  #start(key: string, id: string, fields: string[], attempt: number): void {
    const local = `${key} ${id}`;
    this.#local.add(local);
    this.#inFlight += 1;
    const run = this.#run(key, id, fields, attempt).finally(() => {
      this.#inFlight -= 1;
      this.#running.delete(run);
      const freed = this.#slotFreed;
      this.#slotFreed = undefined;
      freed?.();
    });
    this.#running.add(run);
  }

  async #run(key: string, id: string, fields: string[], attempt: number): Promise<void> {
    const local = `${key} ${id}`;
    const raw = fields[0] === 'd' ? fields[1] : undefined;
    let data: DeliveryJob | undefined;
    try {
      data = deliveryJobSchema.parse(JSON.parse(raw ?? 'null'));
    } catch (error) {
      // Trimmed away (the stream keeps its newest entries) or not ours: nothing to deliver.
      this.#o.logger.warn({ err: error, entry: id }, 'delivery entry unreadable; dropped');
      this.#local.delete(local);
      this.#ack(key, id);
      return;
    }
    try {
      await this.#o.deliver(data);
      this.#local.delete(local);
      this.#ack(key, id);
    } catch (error) {
      const tries = attempt + 1;
      if (tries >= this.#o.retry.attempts || this.#stopped) {
        if (this.#stopped) {
          // Left pending: the next bot (or this one, restarted) takes it over.
          this.#o.logger.debug(
            { err: error, generationId: data.generationId, attempt: tries },
            'delivery failed while stopping; left for the next bot',
          );
          this.#local.delete(local);
          return;
        }
        await this.#o.onGiveUp(data, error, tries);
        this.#local.delete(local);
        this.#ack(key, id);
        return;
      }
      this.#o.logger.warn(
        { err: error, generationId: data.generationId, attempt: tries },
        'delivery attempt failed',
      );
      const timer = setTimeout(
        () => {
          this.#retryTimers.delete(timer);
          if (this.#stopped) {
            this.#local.delete(local);
            return;
          }
          // Claimed again to this consumer, which resets its idle time: nobody takes over
          // a delivery that is only waiting for its retry.
          this.#o.connection
            .xclaim(key, GROUP, this.#consumer, 0, id, 'JUSTID')
            .catch((e: unknown) =>
              this.#o.logger.debug({ err: e, entry: id }, 'could not refresh a retried delivery'),
            )
            .finally(() => this.#start(key, id, fields, tries));
        },
        // Below the take-over idle time, so a waiting retry is never taken over.
        Math.min(
          this.#o.retry.backoffMs * 2 ** attempt,
          (this.#o.reclaimIdleMs ?? RECLAIM_IDLE_MS) / 2,
        ),
      );
      this.#retryTimers.add(timer);
    }
  }

  #ack(key: string, id: string): void {
    const ids = this.#acks.get(key) ?? [];
    ids.push(id);
    this.#acks.set(key, ids);
    // Acknowledged together: one XACK for whatever finished within the batch window.
    this.#ackTimer ??= setTimeout(() => {
      this.#ackTimer = undefined;
      void this.#flushAcks();
    }, BATCH_WINDOW_MS);
  }

  async #flushAcks(): Promise<void> {
    const all = [...this.#acks.entries()];
    this.#acks.clear();
    await Promise.all(
      all.map(([key, ids]) =>
        this.#o.connection.xack(key, GROUP, ...ids).catch((error: unknown) =>
          // Unacknowledged entries are delivered again after RECLAIM_IDLE_MS: at least once.
          this.#o.logger.warn(
            { err: error, entries: ids.length },
            'could not acknowledge deliveries',
          ),
        ),
      ),
    );
  }

  /** Stops reading, waits for deliveries in progress, acknowledges them. */
  async close(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#reclaimTimer);
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    this.#slotFreed?.();
    this.#pauseEnded?.();
    // The blocked read ends with the connection.
    this.#reader.disconnect();
    await this.#loop;
    await Promise.all([...this.#running]);
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    await this.#flushAcks();
  }
}
