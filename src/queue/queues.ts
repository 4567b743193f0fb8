import {
  Queue,
  QueueEvents,
  type Job,
  type JobsOptions,
  type QueueOptions as BullQueueOptions,
} from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { isReportedConnectionError } from './redis.js';
import { addDelivery } from './delivery-streams.js';
import type { RedisKeys } from './keys.js';
import {
  DELIVERIES_QUEUE,
  deliveryJobSchema,
  GENERATE_JOB,
  generationJobSchema,
  generationQueueName,
  type DeliveryJob,
  type GenerationJob,
  type GenerationJobResult,
  type GenerationQueue,
} from './contracts.js';

export interface QueueOptions {
  /** Every key's prefix; BullMQ's queues are named under it too. */
  keys: RedisKeys;
  logger: Logger;
  attempts: number;
  backoffMs: number;
}

/** Eight tries over about a minute and a half (the delay doubles, to at most 30 s). */
export const DEFAULT_DELIVERY_RETRY = { attempts: 8, backoffMs: 1000 };

/** The producer connection is not connected: the job was not (and will not be) added. */
export class QueueUnavailableError extends Error {
  override readonly name = 'QueueUnavailableError';
}

/** The custom backoff type whose strategy honours a provider's Retry-After. */
export const PROVIDER_BACKOFF = 'provider';

/**
 * The producer side: queues are created lazily, share one connection, and every payload is
 * validated against its job schema before it is added.
 */
export class Queues {
  readonly #connection: Redis;
  readonly #listener: Redis;
  readonly #options: QueueOptions;
  readonly #generationQueues = new Map<string, GenerationQueue>();
  readonly #otherQueues = new Map<string, Queue>();
  /** A producer command timed out; set until the connection is ready again. */
  #silent = false;

  /**
   * `producer` fails fast when Redis is unreachable (adding, looking up, removing jobs);
   * `listener` waits through reconnects (QueueEvents).
   */
  constructor(producer: Redis, listener: Redis, options: QueueOptions) {
    this.#connection = producer;
    this.#listener = listener;
    this.#options = options;
  }

  get keyPrefix(): string {
    return this.#options.keys.keyPrefix;
  }

  /**
   * Refuses at once while the producer connection is not ready. Without this a command
   * would still fail at once (no offline queue), but a queue created while Redis is away
   * waits inside BullMQ for the connection to come back before its first command, holding
   * the member's /generate for as long as the outage lasts.
   */
  #connected(): void {
    const status = this.#connection.status;
    if (status !== 'ready')
      throw new QueueUnavailableError(`the Redis producer connection is ${status}`);
    if (this.#silent)
      throw new QueueUnavailableError('Redis stopped answering; the producer is reconnecting');
  }

  /**
   * Runs a producer call. A command that timed out means Redis stopped answering on this
   * socket (a frozen host, a half-open connection): the connection is dropped and
   * reconnected, and until Redis answers again every call is refused by `#connected`
   * instead of each waiting out its own timeout.
   */
  async #produce<T>(call: () => Promise<T>): Promise<T> {
    this.#connected();
    try {
      return await call();
    } catch (error) {
      if (error instanceof Error && error.message === 'Command timed out' && !this.#silent) {
        this.#options.logger.warn(
          { connection: 'producer' },
          'redis stopped answering; reconnecting the producer connection',
        );
        // Refused from now until the new connection is ready (its old status may still
        // read `ready` until the socket's close is processed).
        this.#silent = true;
        this.#connection.once('ready', () => {
          this.#silent = false;
        });
        this.#connection.disconnect(true);
      }
      throw error;
    }
  }

  /** Runs `call` on the producer connection, refused at once while Redis is away. */
  produce<T>(call: (connection: Redis) => Promise<T>): Promise<T> {
    return this.#produce(() => call(this.#connection));
  }

  /**
   * A queue from `cache`, made with `make` on first use. Checked in the same tick as the
   * Queue's creation, whose set-up then finds the connection ready and does not wait for it.
   */
  #cached<Q extends Queue>(
    cache: Map<string, Q>,
    name: string,
    make: (name: string, options: BullQueueOptions) => Q,
  ): Q {
    const known = cache.get(name);
    if (known) return known;
    this.#connected();
    const { logger } = this.#options;
    const prefix = this.keyPrefix;
    const created = make(name, {
      connection: this.#connection,
      prefix,
      // Progress events (some with a small preview) are best effort: keep the stream short.
      streams: { events: { maxLen: 2000 } },
    });
    created.on('error', (error: Error) => {
      // The connection has logged it already, once per outage.
      if (!isReportedConnectionError(error))
        logger.warn({ err: error, queue: name }, 'queue error');
    });
    // A set-up that failed (its first command timed out) leaves the Queue unusable for
    // good: forget it, so the next call makes a new one.
    created.waitUntilReady().catch((error: unknown) => {
      logger.debug(
        { err: error, queue: name },
        'queue set-up failed; the next call makes a new one',
      );
      if (cache.get(name) === created) cache.delete(name);
      created
        .close()
        .catch((e: unknown) =>
          logger.debug({ err: e, queue: name }, 'could not close a queue whose set-up failed'),
        );
    });
    cache.set(name, created);
    return created;
  }

  generation(provider: string): GenerationQueue {
    return this.#cached(
      this.#generationQueues,
      generationQueueName(provider),
      (name, options) =>
        new Queue<GenerationJob, GenerationJobResult, typeof GENERATE_JOB>(name, options),
    );
  }

  /** The BullMQ deliveries queue of the release before the delivery streams (drained). */
  legacyDeliveries(): Queue {
    return this.#cached(
      this.#otherQueues,
      DELIVERIES_QUEUE,
      (name, options) => new Queue(name, options),
    );
  }

  /**
   * Adds the job with `jobId = generation id`: adding it again (a replay, the reconciler)
   * is a no-op while the first one exists.
   */
  async enqueueGeneration(
    payload: GenerationJob,
    order: { priority?: number; lifo?: boolean } = {},
  ): Promise<Job> {
    const data = generationJobSchema.parse(payload);
    const options: JobsOptions = {
      jobId: data.generationId,
      ...(order.priority ? { priority: order.priority } : {}),
      ...(order.lifo ? { lifo: true } : {}),
      attempts: this.#options.attempts,
      backoff: { type: PROVIDER_BACKOFF, delay: this.#options.backoffMs },
      removeOnComplete: { age: 24 * 3600, count: 5000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 5000 },
    };
    return this.#produce(() => this.generation(data.provider).add(GENERATE_JOB, data, options));
  }

  /**
   * Queues a finished generation's delivery on its platform's delivery stream (see
   * delivery/delivery-stream.ts); a second call for the same generation within a day is a
   * no-op. The console follows its own generations: nothing is queued for it.
   */
  async enqueueDelivery(payload: DeliveryJob): Promise<boolean> {
    const data = deliveryJobSchema.parse(payload);
    if (data.v !== 2) throw new Error('deliveries are queued in the v2 shape');
    if (data.platform === 'console') return false;
    return this.#produce(() => addDelivery(this.#connection, this.#options.keys, data));
  }

  /** Whether a delivery was queued for the generation (within the last day). */
  async deliveryQueued(generationId: string): Promise<boolean> {
    const key = this.#options.keys.deliveryMarker(generationId);
    return (await this.#produce(() => this.#connection.exists(key))) === 1;
  }

  /**
   * Ids of a provider's jobs that failed in (fromMs, toMs], from BullMQ's failed set (scored
   * by when they failed): the reconciler's frequent sweep looks only at these.
   */
  async failedBetween(provider: string, fromMs: number, toMs: number): Promise<string[]> {
    const key = this.generation(provider).toKey('failed');
    return this.#produce(() => this.#connection.zrangebyscore(key, `(${fromMs}`, toMs));
  }

  /** A QueueEvents listener for a provider's queue; the caller closes it. */
  events(provider: string): QueueEvents {
    return new QueueEvents(generationQueueName(provider), {
      connection: this.#listener,
      prefix: this.keyPrefix,
    });
  }

  async close(): Promise<void> {
    const queues = [...this.#generationQueues.values(), ...this.#otherQueues.values()];
    await Promise.all(queues.map((q) => q.close()));
    this.#generationQueues.clear();
    this.#otherQueues.clear();
  }
}
