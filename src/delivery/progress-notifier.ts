import type { QueueEvents } from 'bullmq';
import type { GenerationService } from '../generation/generation-service.js';
import { summarize } from '../generation/summary.js';
import type { Logger } from '../logger.js';
import { progressPayloadSchema } from '../queue/contracts.js';
import type { Queues } from '../queue/queues.js';
import { isConnectionError } from '../queue/redis.js';
import { viewOf } from './progress-view.js';
import type { DeliverySink } from './sink.js';

export interface ProgressNotifierDeps {
  queues: Queues;
  providers: readonly string[];
  generations: GenerationService;
  sinks: readonly DeliverySink[];
  logger: Logger;
}

/**
 * Relays workers' progress (BullMQ `updateProgress`, read through QueueEvents) to the
 * adapter of the platform each generation came from. Progress is best effort: a missed
 * update is replaced by the next one, and the final state arrives through `deliveries`.
 */
export class ProgressNotifier {
  readonly #events: QueueEvents[] = [];
  readonly #deps: ProgressNotifierDeps;

  constructor(deps: ProgressNotifierDeps) {
    this.#deps = deps;
  }

  async start(): Promise<void> {
    const sinks = new Map(this.#deps.sinks.map((s) => [s.platform, s]));
    if (sinks.size === 0) return;
    for (const provider of this.#deps.providers) {
      const events = this.#deps.queues.events(provider);
      events.on('progress', ({ jobId, data }: { jobId: string; data: unknown }) => {
        this.#relay(jobId, data, sinks).catch((error: unknown) =>
          this.#deps.logger.warn({ err: error, generationId: jobId }, 'progress relay failed'),
        );
      });
      events.on('error', (error: Error) => {
        // A Redis outage is logged once by the connection itself (logOutages), not per retry.
        if (isConnectionError(error)) this.#deps.logger.debug({ err: error }, 'events lost Redis');
        else this.#deps.logger.error({ err: error }, 'queue events error');
      });
      this.#events.push(events);
      await events.waitUntilReady();
    }
  }

  async #relay(jobId: string, data: unknown, sinks: Map<string, DeliverySink>): Promise<void> {
    const payload = progressPayloadSchema.safeParse(data);
    if (!payload.success) return;
    const doc = await this.#deps.generations.find(jobId);
    if (!doc) return;
    const origin = doc.origin as Record<string, unknown>;
    const sink = typeof origin.platform === 'string' ? sinks.get(origin.platform) : undefined;
    if (!sink) return;
    const summary = summarize(doc);
    if (
      summary.status === 'completed' ||
      summary.status === 'failed' ||
      summary.status === 'cancelled'
    )
      return;
    await sink.showProgress(origin, viewOf(summary, payload.data));
  }

  async close(): Promise<void> {
    await Promise.all(this.#events.map((e) => e.close()));
  }
}
