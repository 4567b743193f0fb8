import type { WaitingGeneration } from '../generation/context.js';
import type { GenerationService } from '../generation/generation-service.js';
import type { ProviderCapacity, QueueBoard } from '../generation/queue-board.js';
import type { Logger } from '../logger.js';
import type { ProgressPayload } from '../queue/contracts.js';
import type { WaitEstimate } from '../queue/queue-estimates.js';
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

  /**
   * One look at every waiting generation of this process: one batched position look-up per
   * provider (see `QueueBoard.positions`), and what serves it read once.
   */
  async tick(): Promise<void> {
    const byProvider = new Map<string, [string, WaitingGeneration][]>();
    for (const entry of this.deps.generations.waitingHere()) {
      const provider = entry[1].provider;
      const list = byProvider.get(provider);
      if (list) list.push(entry);
      else byProvider.set(provider, [entry]);
    }
    for (const [provider, waiting] of byProvider) await this.#look(provider, waiting);
  }

  async #look(provider: string, waiting: [string, WaitingGeneration][]): Promise<void> {
    const { generations, board } = this.deps;
    const positions = await board.positions(
      provider,
      waiting.map(([id]) => id),
    );
    let capacity: Promise<ProviderCapacity> | undefined;
    for (const [i, [id, { model }]] of waiting.entries()) {
      const position = positions[i];
      if (position === undefined) {
        generations.notWaiting(id);
        this.#shown.delete(id);
        continue;
      }
      capacity ??= board.capacity(provider);
      await this.#show(id, position, board.estimate(await capacity, model, position));
    }
  }

  /** Shows a waiting generation's place and estimate, unless that is what it shows already. */
  async #show(id: string, position: number, wait: WaitEstimate | undefined): Promise<void> {
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
    if (this.#shown.get(id) === key) return;
    this.#shown.set(id, key);
    await this.deps.notifier.show(payload);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#ticking;
  }
}
