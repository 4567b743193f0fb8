import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { GenerationService } from '../generation/generation-service.js';
import { summarize, type GenerationSummary } from '../generation/summary.js';
import { platformOf } from '../generation/generation-service.js';
import type { Logger } from '../logger.js';
import type { Origin } from '../core/origin.js';
import { DELIVERIES_QUEUE, deliveryJobSchema, type DeliveryJob } from '../queue/contracts.js';
import { DEFAULT_DELIVERY_RETRY } from '../queue/queues.js';
import { DeliveryStreamConsumer } from './delivery-stream.js';
import { isConnectionError } from '../queue/redis.js';
import { viewOf } from './progress-view.js';
import type { DeliverySink } from './sink.js';
import type { RedisKeys } from '../queue/keys.js';

/**
 * Deliveries in flight per bot process. A delivery is mostly waiting on the platform's API
 * (the outbox keeps within its rate limits), so many run at once: a burst of finished
 * generations reaches its chats as fast as the platform accepts them.
 */
export const DELIVERY_CONCURRENCY = 32;

/**
 * Delivers finished generations in the bot process: each is handed to the adapter of the
 * platform it came from. Results come from the platforms' delivery streams (see
 * delivery-stream.ts), and, until it is drained, from the BullMQ `deliveries` queue of the
 * release before. A failed delivery is retried, so a result is not lost to a platform hiccup
 * or a bot restart; one that keeps failing gives up with one error line.
 */
export interface DeliveryConsumerDeps {
  connection: Redis;
  keys: RedisKeys;
  generations: GenerationService;
  sinks: readonly DeliverySink[];
  logger: Logger;
  /** Deliveries handled at once (each waits on the platform; the outbox paces them). */
  concurrency?: number;
  /** Tries per result and the first retry delay (doubling). */
  retry?: { attempts: number; backoffMs: number };
}

export class DeliveryConsumer {
  readonly #deps: DeliveryConsumerDeps;
  readonly #sinks: Map<string, DeliverySink>;
  readonly #legacy: Worker;
  readonly #stream: DeliveryStreamConsumer;

  constructor(deps: DeliveryConsumerDeps) {
    this.#deps = deps;
    this.#sinks = new Map(deps.sinks.map((s) => [s.platform, s]));
    this.#stream = new DeliveryStreamConsumer({
      connection: deps.connection,
      keys: deps.keys,
      platforms: [...this.#sinks.keys()],
      deliver: (data) => this.#deliver(data),
      onGiveUp: (data, error, attempts) => this.#giveUp(data.generationId, error, attempts),
      logger: deps.logger,
      concurrency: deps.concurrency ?? DELIVERY_CONCURRENCY,
      retry: deps.retry ?? DEFAULT_DELIVERY_RETRY,
    });
    this.#legacy = this.#legacyWorker();
  }

  /** Hands one finished generation to its platform's adapter. */
  async #deliver(data: DeliveryJob): Promise<string> {
    const { generationId } = data;
    const { generations } = this.#deps;
    let platform: string;
    let generation: GenerationSummary;
    let origin: Origin | undefined;
    if (data.v === 2) {
      // The job carries the finished generation; only its origin (credentials included,
      // so never in Redis) is needed: remembered from the submit, or read once.
      ({ platform, generation } = data);
      if (!this.#sinks.has(platform)) return this.#noSink(generationId, platform);
      origin = (await generations.card(generationId))?.origin;
      if (!origin) return 'missing';
    } else {
      // A job queued by the release before: read the generation as it stands.
      const doc = await generations.find(generationId);
      origin = doc?.origin;
      if (!doc || !origin) return 'missing';
      platform = platformOf(origin);
      generation = summarize(doc);
      if (!this.#sinks.has(platform)) return this.#noSink(generationId, platform);
    }
    await this.#sinks.get(platform)!.deliver(origin, generation, viewOf(generation));
    // Done: the stream's acknowledgement is the record that it was delivered.
    generations.forgetCard(generationId);
    return 'delivered';
  }

  #noSink(generationId: string, platform: string): string {
    // The console waits for its own results; other platforms without an adapter in this
    // process have nowhere to go.
    this.#deps.logger.debug({ generationId, platform }, 'no delivery sink for this platform here');
    this.#deps.generations.forgetCard(generationId);
    return 'no-sink';
  }

  /**
   * Out of tries: say so once, naming the generation, and mark it so that neither a restart
   * nor the reconciler starts the same doomed delivery again.
   */
  async #giveUp(generationId: string | undefined, error: unknown, attempts: number) {
    const { logger, generations } = this.#deps;
    logger.error(
      { err: error, generationId, attempts },
      'delivery gave up: the platform kept refusing the result',
    );
    if (generationId)
      await generations
        .markDeliveryFailed(generationId)
        .catch((e: unknown) =>
          logger.error({ err: e, generationId }, 'could not record the failed delivery'),
        );
  }

  /**
   * The consumer of the BullMQ `deliveries` queue that the release before the delivery
   * streams wrote to (see "Compatibility" in docs/decisions.md).
   */
  #legacyWorker(): Worker {
    const { connection, keys, logger } = this.#deps;
    const worker = new Worker(
      DELIVERIES_QUEUE,
      (job: Job) => this.#deliver(deliveryJobSchema.parse(job.data)),
      { connection, prefix: keys.keyPrefix, concurrency: 4, name: 'genbot-delivery' },
    );
    worker.on('error', (error: Error) => {
      // A Redis outage is logged once by the connection itself (logOutages), not per retry.
      if (isConnectionError(error)) logger.debug({ err: error }, 'delivery lost Redis');
      else logger.error({ err: error }, 'delivery worker error');
    });
    worker.on('failed', (job: Job | undefined, error: Error) => {
      const generationId = deliveryJobSchema.safeParse(job?.data).data?.generationId;
      const attempts = job?.opts.attempts ?? 1;
      if (!job || job.attemptsMade < attempts) {
        logger.warn({ err: error, generationId, jobId: job?.id }, 'delivery attempt failed');
        return;
      }
      void this.#giveUp(generationId, error, attempts);
    });
    return worker;
  }

  async ready(): Promise<void> {
    await Promise.all([this.#stream.start(), this.#legacy.waitUntilReady()]);
  }

  async close(): Promise<void> {
    await Promise.all([this.#stream.close(), this.#legacy.close()]);
  }
}
