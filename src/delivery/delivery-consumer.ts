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
export class DeliveryConsumer {
  readonly #legacy: Worker;
  readonly #stream: DeliveryStreamConsumer;

  constructor(deps: {
    connection: Redis;
    keys: RedisKeys;
    generations: GenerationService;
    sinks: readonly DeliverySink[];
    logger: Logger;
    /** Deliveries handled at once (each waits on the platform; the outbox paces them). */
    concurrency?: number;
    /** Tries per result and the first retry delay (doubling). */
    retry?: { attempts: number; backoffMs: number };
  }) {
    const sinks = new Map(deps.sinks.map((s) => [s.platform, s]));
    const noSink = (generationId: string, platform: string): string => {
      // The console waits for its own results; other platforms without an adapter in this
      // process have nowhere to go.
      deps.logger.debug({ generationId, platform }, 'no delivery sink for this platform here');
      deps.generations.forgetCard(generationId);
      return 'no-sink';
    };
    const deliver = async (data: DeliveryJob): Promise<string> => {
      const { generationId } = data;
      let platform: string;
      let generation: GenerationSummary;
      let origin: Origin | undefined;
      if (data.v === 2) {
        // The job carries the finished generation; only its origin (credentials included,
        // so never in Redis) is needed: remembered from the submit, or read once.
        ({ platform, generation } = data);
        if (!sinks.has(platform)) return noSink(generationId, platform);
        origin = (await deps.generations.card(generationId))?.origin;
        if (!origin) return 'missing';
      } else {
        // A job queued by the release before: read the generation as it stands.
        const doc = await deps.generations.find(generationId);
        if (!doc) return 'missing';
        origin = doc.origin;
        if (!origin) return 'missing';
        platform = platformOf(origin);
        generation = summarize(doc);
        if (!sinks.has(platform)) return noSink(generationId, platform);
      }
      await sinks.get(platform)!.deliver(origin, generation, viewOf(generation));
      // Done: the completed job (kept a day) is the record that it was delivered.
      deps.generations.forgetCard(generationId);
      return 'delivered';
    };
    const giveUp = async (generationId: string | undefined, error: unknown, attempts: number) => {
      // Out of tries: say so once, naming the generation, and mark it so that neither a
      // restart nor the reconciler starts the same doomed delivery again.
      deps.logger.error(
        { err: error, generationId, attempts },
        'delivery gave up: the platform kept refusing the result',
      );
      if (generationId)
        await deps.generations
          .markDeliveryFailed(generationId)
          .catch((e: unknown) =>
            deps.logger.error({ err: e, generationId }, 'could not record the failed delivery'),
          );
    };
    const retry = deps.retry ?? DEFAULT_DELIVERY_RETRY;
    this.#stream = new DeliveryStreamConsumer({
      connection: deps.connection,
      keys: deps.keys,
      platforms: [...sinks.keys()],
      deliver,
      onGiveUp: (data, error, attempts) => giveUp(data.generationId, error, attempts),
      logger: deps.logger,
      concurrency: deps.concurrency ?? DELIVERY_CONCURRENCY,
      retry,
    });
    this.#legacy = new Worker(
      DELIVERIES_QUEUE,
      (job: Job) => deliver(deliveryJobSchema.parse(job.data)),
      {
        connection: deps.connection,
        prefix: deps.keys.keyPrefix,
        concurrency: 4,
        name: 'genbot-delivery',
      },
    );
    this.#legacy.on('error', (error: Error) => {
      // A Redis outage is logged once by the connection itself (logOutages), not per retry.
      if (isConnectionError(error)) deps.logger.debug({ err: error }, 'delivery lost Redis');
      else deps.logger.error({ err: error }, 'delivery worker error');
    });
    this.#legacy.on('failed', (job: Job | undefined, error: Error) => {
      const generationId = deliveryJobSchema.safeParse(job?.data).data?.generationId;
      const attempts = job?.opts.attempts ?? 1;
      if (!job || job.attemptsMade < attempts) {
        deps.logger.warn({ err: error, generationId, jobId: job?.id }, 'delivery attempt failed');
        return;
      }
      void giveUp(generationId, error, attempts);
    });
  }

  async ready(): Promise<void> {
    await Promise.all([this.#stream.start(), this.#legacy.waitUntilReady()]);
  }

  async close(): Promise<void> {
    await Promise.all([this.#stream.close(), this.#legacy.close()]);
  }
}
