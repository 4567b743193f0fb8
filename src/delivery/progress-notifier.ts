import { LRUCache } from 'lru-cache';
import { platformOf, type GenerationService } from '../generation/generation-service.js';
import type { Logger } from '../logger.js';
import type { ProgressPayload } from '../queue/contracts.js';
import type { ProgressChannel } from '../queue/progress-channel.js';
import { viewOf } from './progress-view.js';
import type { DeliverySink } from './sink.js';

export interface ProgressNotifierDeps {
  progress: ProgressChannel;
  generations: GenerationService;
  sinks: readonly DeliverySink[];
  logger: Logger;
}

/**
 * Relays workers' progress (the progress channel) to the adapter of the platform each
 * generation came from. Progress is best effort: a missed update is replaced by the next one,
 * and the final state arrives through `deliveries`.
 */
export class ProgressNotifier {
  readonly #deps: ProgressNotifierDeps;
  #subscription: { close(): Promise<void> } | undefined;

  constructor(deps: ProgressNotifierDeps) {
    this.#deps = deps;
  }

  async start(): Promise<void> {
    const sinks = new Map(this.#deps.sinks.map((s) => [s.platform, s]));
    this.#sinks = sinks;
    if (sinks.size === 0) return;
    this.#subscription = await this.#deps.progress.subscribe((payload) => {
      this.#relay(payload, sinks).catch((error: unknown) =>
        this.#deps.logger.warn(
          { err: error, generationId: payload.generationId },
          'progress relay failed',
        ),
      );
    }, this.#deps.logger);
  }

  /** Generations seen running here: a queue position for one of them is stale. */
  readonly #running = new LRUCache<string, true>({ max: 20_000 });
  #sinks = new Map<string, DeliverySink>();

  /** Shows a generation's place in the queue (QueueWatch), unless it has started since. */
  async show(payload: ProgressPayload): Promise<void> {
    if (this.#running.has(payload.generationId)) return;
    await this.#relay(payload, this.#sinks);
  }

  async #relay(payload: ProgressPayload, sinks: Map<string, DeliverySink>): Promise<void> {
    if (payload.status !== 'queued') this.#running.set(payload.generationId, true);
    // The event carries ids and progress only; the origin (with any credentials) and what
    // the status message shows come from the card this process keeps per generation, read
    // from MongoDB at most once. A delivered generation has no card: late events drop.
    const card = await this.#deps.generations.card(payload.generationId);
    if (!card) return;
    const sink = sinks.get(platformOf(card.origin));
    if (!sink) return;
    const status = card.summary.status;
    if (status === 'completed' || status === 'failed' || status === 'cancelled') return;
    await sink.showProgress(card.origin, viewOf(card.summary, payload));
  }

  async close(): Promise<void> {
    await this.#subscription?.close();
    this.#subscription = undefined;
  }
}
