import type { App } from '../../app.js';
import type { GenerationPreview } from '../../core/chat.js';
import type { GenerationError } from '../../core/outputs.js';
import { isTerminal } from '../../core/status.js';
import { viewOf, renderText } from '../../delivery/progress-view.js';
import type { GenerationSummary } from '../../generation/summary.js';
import type { ProgressPayload } from '../../queue/contracts.js';
import { saveOutputs, type SavedOutput } from './save-outputs.js';

export interface WaitResult {
  text: string;
  json: {
    id: string;
    status: string;
    price: number;
    captured: number;
    model: string;
    seed: number;
    outputs: SavedOutput[];
    error?: GenerationError;
  };
}

export interface FollowHooks {
  onProgress: (line: string) => void;
  onNote: (line: string) => void;
}

/**
 * Follows a generation to its end for `--wait`: progress from the progress channel as it
 * arrives, job events to look again, the final state from MongoDB. `open` runs when the
 * command opens the generation's status, before it is submitted, so no progress can come
 * before the console listens; if no worker serves the model's queue, one runs in this
 * process for the duration, so the console works without `npm run dev`.
 */
export class GenerationFollower {
  #first: GenerationSummary | undefined;
  /** Progress that came before the submit returned, shown once it has. */
  #early: ProgressPayload | undefined;
  #lastLine = '';

  private constructor(
    private readonly app: App,
    private readonly generationId: string,
    private readonly hooks: FollowHooks,
    private readonly events: ReturnType<App['queues']['events']>,
    private readonly progress: { close(): Promise<void> },
  ) {}

  static async open(
    app: App,
    preview: GenerationPreview,
    hooks: FollowHooks,
  ): Promise<GenerationFollower> {
    const provider = app.catalog.get(preview.model).provider;
    const events = app.queues.events(provider);
    try {
      await events.waitUntilReady();
      if ((await app.queues.generation(provider).getWorkersCount()) === 0) {
        hooks.onNote(
          `no worker serves the ${provider} queue; running one in this process (start one with npm run dev)`,
        );
        await app.startWorkers();
      }
      const made: { follower?: GenerationFollower } = {};
      const progress = await app.progress.subscribe((payload) => {
        if (made.follower) made.follower.#onProgress(payload);
      }, app.logger);
      made.follower = new GenerationFollower(app, preview.generationId, hooks, events, progress);
      return made.follower;
    } catch (error) {
      await events.close();
      throw error;
    }
  }

  #onProgress(payload: ProgressPayload): void {
    if (payload.generationId !== this.generationId) return;
    const first = this.#first;
    if (!first) {
      this.#early = payload;
      return;
    }
    const line = renderText(viewOf({ ...first, status: 'processing' }, payload));
    if (line !== this.#lastLine) this.hooks.onProgress(line);
    this.#lastLine = line;
  }

  /** Waits for the submitted generation to end and saves its outputs into `outDir`. */
  async follow(first: GenerationSummary, outDir: string): Promise<WaitResult> {
    this.#first = first;
    this.hooks.onProgress(renderText(viewOf(first)));
    if (this.#early) this.#onProgress(this.#early);
    const final = await untilTerminal(this.app, first.id, this.events);
    await this.close();
    this.hooks.onProgress(renderText(viewOf(final)));
    const outputs =
      final.status === 'completed' ? await saveOutputs(this.app.media, final, outDir) : [];
    const json: WaitResult['json'] = {
      id: final.id,
      status: final.status,
      price: final.price,
      captured: final.captured,
      model: final.model,
      seed: final.seed,
      outputs,
    };
    if (final.error && final.status !== 'completed') json.error = final.error;
    const text =
      final.status === 'completed'
        ? [
            `Saved ${outputs.length} file(s); charged ${final.captured} points:`,
            ...outputs.map(
              (o) => `  ${o.path} (${o.mime}, ${o.width}x${o.height}, ${o.bytes} bytes)`,
            ),
          ].join('\n')
        : (final.error?.message ?? `The generation ${final.status}.`);
    return { text, json };
  }

  #closed = false;

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.progress.close();
    await this.events.close();
  }
}

async function untilTerminal(
  app: App,
  id: string,
  events: ReturnType<App['queues']['events']>,
): Promise<GenerationSummary> {
  return new Promise<GenerationSummary>((resolve, reject) => {
    let done = false;
    const check = (): void => {
      if (done) return;
      app.generations
        .summary(id)
        .then((s) => {
          if (!done && isTerminal(s.status)) {
            done = true;
            clearInterval(timer);
            resolve(s);
          }
        })
        .catch((error: unknown) => {
          done = true;
          clearInterval(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        });
    };
    // Job events say "look now"; the slow poll covers a cancel of a queued job, which
    // removes the job without a completion event.
    events.on('completed', ({ jobId }: { jobId: string }) => jobId === id && check());
    events.on('failed', ({ jobId }: { jobId: string }) => jobId === id && check());
    const timer = setInterval(check, 1000);
    check();
  });
}
