import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { GenerationService } from '../generation/generation-service.js';
import { summarize } from '../generation/summary.js';
import type { Logger } from '../logger.js';
import { DELIVERIES_QUEUE, deliveryJobSchema } from '../queue/contracts.js';
import { isConnectionError } from '../queue/redis.js';
import { viewOf } from './progress-view.js';
import type { DeliverySink } from './sink.js';

/**
 * Consumes the durable `deliveries` queue in the bot process: each finished generation is
 * handed to the adapter of the platform it came from. A failed delivery is retried by the
 * queue, so a result is not lost to a platform hiccup or a bot restart.
 */
export class DeliveryConsumer {
  readonly #worker: Worker;

  constructor(deps: {
    connection: Redis;
    prefix: string;
    generations: GenerationService;
    sinks: readonly DeliverySink[];
    logger: Logger;
  }) {
    const sinks = new Map(deps.sinks.map((s) => [s.platform, s]));
    this.#worker = new Worker(
      DELIVERIES_QUEUE,
      async (job: Job) => {
        const { generationId } = deliveryJobSchema.parse(job.data);
        const doc = await deps.generations.find(generationId);
        if (!doc) return 'missing';
        const origin = doc.origin as Record<string, unknown>;
        const platform = typeof origin.platform === 'string' ? origin.platform : '';
        const sink = sinks.get(platform);
        if (!sink) {
          // The console waits for its own results; other platforms without an adapter in
          // this process have nowhere to go.
          deps.logger.debug({ generationId, platform }, 'no delivery sink for this platform here');
          await deps.generations.markDelivered(generationId);
          return 'no-sink';
        }
        const summary = summarize(doc);
        await sink.deliver(origin, summary, viewOf(summary));
        await deps.generations.markDelivered(generationId);
        return 'delivered';
      },
      { connection: deps.connection, prefix: deps.prefix, concurrency: 4, name: 'genbot-delivery' },
    );
    this.#worker.on('error', (error: Error) => {
      // A Redis outage is logged once by the connection itself (logOutages), not per retry.
      if (isConnectionError(error)) deps.logger.debug({ err: error }, 'delivery lost Redis');
      else deps.logger.error({ err: error }, 'delivery worker error');
    });
    this.#worker.on('failed', (job: Job | undefined, error: Error) => {
      const generationId = deliveryJobSchema.safeParse(job?.data).data?.generationId;
      const attempts = job?.opts.attempts ?? 1;
      if (!job || job.attemptsMade < attempts) {
        deps.logger.warn({ err: error, generationId, jobId: job?.id }, 'delivery attempt failed');
        return;
      }
      // Out of tries: say so once, naming the generation, and mark it so that neither a
      // restart nor the reconciler starts the same doomed delivery again.
      deps.logger.error(
        { err: error, generationId, attempts },
        'delivery gave up: the platform kept refusing the result',
      );
      if (generationId)
        deps.generations
          .markDeliveryFailed(generationId)
          .catch((e: unknown) =>
            deps.logger.error({ err: e, generationId }, 'could not record the failed delivery'),
          );
    });
  }

  async ready(): Promise<void> {
    await this.#worker.waitUntilReady();
  }

  async close(): Promise<void> {
    await this.#worker.close();
  }
}
