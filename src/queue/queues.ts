import { Queue, QueueEvents, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import {
  DELIVER_JOB,
  DELIVERIES_QUEUE,
  deliveryJobId,
  deliveryJobSchema,
  GENERATE_JOB,
  generationJobSchema,
  generationQueueName,
  type DeliveryJob,
  type GenerationJob,
} from './contracts.js';

export interface QueueOptions {
  prefix: string;
  logger: Logger;
  attempts: number;
  backoffMs: number;
  /**
   * Tries for a final delivery, and the first retry delay (doubling): bounded, so a result a
   * platform keeps refusing gives up (logged) instead of being retried for ever.
   */
  delivery?: { attempts: number; backoffMs: number };
}

/** Eight tries over about four minutes. */
export const DEFAULT_DELIVERY_RETRY = { attempts: 8, backoffMs: 1000 };

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
  readonly #queues = new Map<string, Queue>();

  /**
   * `producer` fails fast when Redis is unreachable (adding, looking up, removing jobs);
   * `listener` waits through reconnects (QueueEvents).
   */
  constructor(producer: Redis, listener: Redis, options: QueueOptions) {
    this.#connection = producer;
    this.#listener = listener;
    this.#options = options;
  }

  get prefix(): string {
    return this.#options.prefix;
  }

  #queue(name: string): Queue {
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: this.#connection,
        prefix: this.#options.prefix,
        // Progress events (some with a small preview) are best effort: keep the stream short.
        streams: { events: { maxLen: 2000 } },
      });
      queue.on('error', (error: Error) =>
        this.#options.logger.warn({ err: error, queue: name }, 'queue error'),
      );
      this.#queues.set(name, queue);
    }
    return queue;
  }

  generation(provider: string): Queue {
    return this.#queue(generationQueueName(provider));
  }

  deliveries(): Queue {
    return this.#queue(DELIVERIES_QUEUE);
  }

  /**
   * Adds the job with `jobId = generation id`: adding it again (a replay, the reconciler)
   * is a no-op while the first one exists.
   */
  async enqueueGeneration(payload: GenerationJob): Promise<Job> {
    const data = generationJobSchema.parse(payload);
    const options: JobsOptions = {
      jobId: data.generationId,
      attempts: this.#options.attempts,
      backoff: { type: PROVIDER_BACKOFF, delay: this.#options.backoffMs },
      removeOnComplete: { age: 24 * 3600, count: 5000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 5000 },
    };
    return this.generation(data.provider).add(GENERATE_JOB, data, options);
  }

  async enqueueDelivery(payload: DeliveryJob): Promise<Job> {
    const data = deliveryJobSchema.parse(payload);
    return this.deliveries().add(DELIVER_JOB, data, {
      jobId: deliveryJobId(data.generationId),
      attempts: (this.#options.delivery ?? DEFAULT_DELIVERY_RETRY).attempts,
      backoff: {
        type: 'exponential',
        delay: (this.#options.delivery ?? DEFAULT_DELIVERY_RETRY).backoffMs,
      },
      removeOnComplete: { age: 24 * 3600, count: 5000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 5000 },
    });
  }

  /** How many jobs wait before a newly added one: its position in the queue (1-based). */
  async waitingCount(provider: string): Promise<number> {
    return this.generation(provider).getWaitingCount();
  }

  /** A QueueEvents listener for a provider's queue; the caller closes it. */
  events(provider: string): QueueEvents {
    return new QueueEvents(generationQueueName(provider), {
      connection: this.#listener,
      prefix: this.#options.prefix,
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.#queues.values()].map((q) => q.close()));
    this.#queues.clear();
  }
}
