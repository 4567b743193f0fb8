import type { App } from '../../app.js';
import type { CommandResult } from '../../../commands/index.js';
import { viewOf, renderText } from '../../delivery/progress-view.js';
import type { GenerationSummary } from '../../generation/summary.js';
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
    error?: { code: string; message: string };
  };
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/**
 * Submits a generation and follows it to the end: progress from the progress channel as it
 * arrives, job events to look again,
 * the final state from MongoDB. If no worker serves the model's queue, one runs in this
 * process for the duration, so the console works without `npm run dev`.
 */
export async function waitForGeneration(
  app: App,
  options: {
    submit: () => Promise<CommandResult>;
    model: string | undefined;
    outDir: string;
    onProgress: (line: string) => void;
    onNote: (line: string) => void;
  },
): Promise<WaitResult> {
  const provider = app.catalog.get(options.model).provider;
  const events = app.queues.events(provider);
  await events.waitUntilReady();
  try {
    if ((await app.queues.generation(provider).getWorkersCount()) === 0) {
      options.onNote(
        `no worker serves the ${provider} queue; running one in this process (start one with npm run dev)`,
      );
      await app.startWorkers();
    }
    // Listening before the submit: no progress of this generation can come before it.
    let first: GenerationSummary | undefined;
    let lastLine = '';
    const progress = await app.progress.subscribe((payload) => {
      if (!first || payload.generationId !== first.id) return;
      const line = renderText(viewOf({ ...first, status: 'processing' }, payload));
      if (line !== lastLine) options.onProgress(line);
      lastLine = line;
    }, app.logger);
    let final: GenerationSummary;
    try {
      const submitted = await options.submit();
      first = submitted.generation;
      if (!first) throw new Error('generate returned no generation');
      options.onProgress(renderText(viewOf(first)));
      final = await untilTerminal(app, first.id, events);
    } finally {
      await progress.close();
    }
    options.onProgress(renderText(viewOf(final)));
    const outputs =
      final.status === 'completed' ? await saveOutputs(app.media, final, options.outDir) : [];
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
  } finally {
    await events.close();
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
          if (!done && TERMINAL.has(s.status)) {
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
