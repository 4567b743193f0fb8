import type { Provider, ProviderJob, ProviderRunContext } from '../../src/core/provider.js';
import { LocalProvider } from '../../src/providers/local/local-provider.js';

/**
 * The local backend, with runs the test lets go: each run records when it started, then
 * waits until `releaseOne` (the oldest waiting, or the next to start) or `openAll`.
 */
export class GatedBackend implements Provider {
  readonly id = 'local';
  readonly label = 'gated test backend';
  readonly #local = new LocalProvider();
  /** Generation ids in the order their runs started. */
  readonly started: string[] = [];
  readonly #gates: (() => void)[] = [];
  #open = false;
  #free = 0;

  /** Every run, waiting or to come, goes through. */
  openAll(): void {
    this.#open = true;
    for (const release of this.#gates.splice(0)) release();
  }

  /** From now on every run waits again until it is let go. */
  hold(): void {
    this.#open = false;
    this.#free = 0;
  }

  /** Lets the oldest waiting run (or the next to start) finish. */
  releaseOne(): void {
    const gate = this.#gates.shift();
    if (gate) gate();
    else this.#free += 1;
  }

  async generate(job: ProviderJob, ctx: ProviderRunContext) {
    this.started.push(job.generationId);
    if (this.#free > 0) this.#free -= 1;
    else if (!this.#open) await new Promise<void>((resolve) => this.#gates.push(resolve));
    return this.#local.generate(job, ctx);
  }
}
