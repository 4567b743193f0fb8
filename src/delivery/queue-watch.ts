import type { GenerationService } from '../generation/generation-service.js';
import type { QueueBoard } from '../generation/queue-board.js';
import type { Logger } from '../logger.js';
import type { ProgressPayload } from '../queue/contracts.js';
import type { ProgressNotifier } from './progress-notifier.js';
import { NO_ESTIMATE } from './progress-view.js';

/** How often the positions of waiting generations are looked at again. */
export const QUEUE_WATCH_MS = 3000;

/**
 * Keeps the status messages of this process's waiting generations up to date: their place
 * in their provider's queue and when they should start and be done, looked at every few
 * seconds and shown only when it changed, through the notifier and the outbox (which keeps
 * to each platform's pace and lets a final result go first). A generation that has started
 * or ended drops out; its worker's progress takes over.
 */
export class QueueWatch {
  readonly #shown = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;

  constructor(
    private readonly deps: {
      generations: GenerationService;
      board: QueueBoard;
      notifier: ProgressNotifier;
      logger: Logger;
      intervalMs?: number;
    },
  ) {}

  start(): void {
    this.#timer = setInterval(() => {
      this.#ticking ??= this.tick()
        .catch((error: unknown) =>
          this.deps.logger.warn({ err: error }, 'could not update queue positions'),
        )
        .finally(() => {
          this.#ticking = undefined;
        });
    }, this.deps.intervalMs ?? QUEUE_WATCH_MS);
    this.#timer.unref();
  }

  /** One look at every waiting generation of this process. */
  async tick(): Promise<void> {
    const { generations, board, notifier } = this.deps;
    // What a provider's estimate needs is read once per look, not once per generation.
    const capacity = new Map<string, ReturnType<QueueBoard['capacity']>>();
    for (const [id, { provider, model }] of generations.waitingHere()) {
      const position = await board.position(provider, id);
      if (position === undefined) {
        generations.notWaiting(id);
        this.#shown.delete(id);
        continue;
      }
      let known = capacity.get(provider);
      if (!known) capacity.set(provider, (known = board.capacity(provider)));
      const wait = board.estimate(await known, model, position);
      const payload: ProgressPayload = {
        generationId: id,
        status: 'queued',
        attempt: 1,
        queuePosition: position,
        ...(wait
          ? { startsInSeconds: wait.startsInSeconds, etaSeconds: wait.doneInSeconds }
          : { message: NO_ESTIMATE }),
      };
      const key = JSON.stringify(payload);
      if (this.#shown.get(id) === key) continue;
      this.#shown.set(id, key);
      await notifier.show(payload);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#ticking;
  }
}
