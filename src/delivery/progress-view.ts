import type { GenerationStatus } from '../core/status.js';
import type { GenerationSummary } from '../generation/summary.js';
import type { ProgressPayload } from '../queue/contracts.js';

/**
 * What a member's status message shows, independent of the platform: Discord turns it into
 * an embed with buttons, Telegram into text with an inline keyboard, the console into a line.
 */
export interface ProgressView {
  generationId: string;
  status: GenerationStatus;
  model: string;
  prompt: string;
  price: number;
  captured: number;
  count: number;
  percent?: number;
  step?: number;
  steps?: number;
  queuePosition?: number;
  /** Seconds until it should be done (while it waits: estimated from the queue). */
  etaSeconds?: number;
  /** While it waits: seconds until it should start. */
  startsInSeconds?: number;
  message?: string;
  /** The latest preview (base64 JPEG), while running. */
  preview?: string;
  error?: string;
  outputs: number;
  failedOutputs: number;
  /** Buttons the platform should offer now. */
  actions: ('cancel' | 'reroll' | 'details')[];
  final: boolean;
}

/**
 * The view of a generation about to be submitted: what, on which model, for how much. The
 * price is a pure quote, so the first status message can carry it before anything is held.
 */
export function pendingView(p: {
  generationId: string;
  model: string;
  prompt: string;
  price: number;
  count: number;
}): ProgressView {
  return {
    ...p,
    status: 'pending',
    captured: 0,
    outputs: 0,
    failedOutputs: 0,
    actions: [],
    final: false,
  };
}

export function viewOf(summary: GenerationSummary, progress?: ProgressPayload): ProgressView {
  const final =
    summary.status === 'completed' || summary.status === 'failed' || summary.status === 'cancelled';
  const view: ProgressView = {
    generationId: summary.id,
    status: final ? summary.status : (progress?.status ?? summary.status),
    model: summary.model,
    prompt: summary.prompt,
    price: summary.price,
    captured: summary.captured,
    count: summary.count,
    outputs: summary.outputs.length,
    failedOutputs: summary.failedOutputs.length,
    actions: final
      ? summary.status === 'completed'
        ? ['reroll', 'details']
        : ['reroll']
      : ['cancel'],
    final,
  };
  if (!final && progress) {
    if (progress.percent !== undefined) view.percent = progress.percent;
    if (progress.step !== undefined) view.step = progress.step;
    if (progress.steps !== undefined) view.steps = progress.steps;
    if (progress.queuePosition !== undefined) view.queuePosition = progress.queuePosition;
    if (progress.etaSeconds !== undefined) view.etaSeconds = progress.etaSeconds;
    if (progress.startsInSeconds !== undefined) view.startsInSeconds = progress.startsInSeconds;
    if (progress.message !== undefined) view.message = progress.message;
    if (progress.preview !== undefined) view.preview = progress.preview;
  }
  if (!final && !progress && summary.queuePosition !== undefined)
    view.queuePosition = summary.queuePosition;
  if (final && summary.status === 'completed') view.percent = 100;
  if (summary.error && summary.status !== 'completed') view.error = summary.error.message;
  return view;
}

/** What a waiting generation's status says when its wait cannot be estimated yet. */
export const NO_ESTIMATE = 'no estimate yet';

/** A duration as a member reads it: `about 40 s`, `about 3 min`. */
function about(seconds: number): string {
  return seconds < 90 ? `about ${Math.max(1, seconds)} s` : `about ${Math.round(seconds / 60)} min`;
}

/**
 * Where a waiting generation stands, in words: its place in the queue and when it should
 * start and be done, or that there is no estimate yet (nothing measured, no worker serving).
 */
export function waitText(view: ProgressView): string | undefined {
  if (view.status !== 'queued' || view.queuePosition === undefined) return undefined;
  const place = `position ${view.queuePosition}`;
  if (view.startsInSeconds === undefined || view.etaSeconds === undefined)
    return view.message === NO_ESTIMATE ? `${place} · ${NO_ESTIMATE}` : place;
  return `${place} · ${waitWords(view.startsInSeconds, view.etaSeconds)}`;
}

/** `starts in about 40 s, done in about 55 s` (or `starts next, ...`). */
export function waitWords(startsInSeconds: number, doneInSeconds: number): string {
  const start = startsInSeconds === 0 ? 'starts next' : `starts in ${about(startsInSeconds)}`;
  return `${start}, done in ${about(doneInSeconds)}`;
}

const BAR_WIDTH = 20;

export function progressBar(percent: number, width = BAR_WIDTH): string {
  const filled = Math.round((Math.min(100, Math.max(0, percent)) / 100) * width);
  return `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
}

/** The plain-text form of a view, used by the console and as the Telegram message body. */
export function renderText(view: ProgressView): string {
  const head = `${view.generationId} [${view.model}]`;
  switch (view.status) {
    case 'pending':
      return `${head} accepted, price ${view.price} points`;
    case 'queued':
      return `${head} queued${waitText(view) ? ` (${waitText(view)})` : ''}, price ${view.price} points${view.message && !waitText(view) ? ` - ${view.message}` : ''}`;
    case 'processing': {
      const pct = view.percent ?? 0;
      const steps = view.step !== undefined && view.steps ? ` step ${view.step}/${view.steps}` : '';
      return `${head} ${progressBar(pct)} ${pct}%${steps}`;
    }
    case 'completed': {
      const partial =
        view.failedOutputs > 0
          ? ` (${view.failedOutputs} of ${view.count} failed; charged ${view.captured} of ${view.price})`
          : ` (charged ${view.captured} points)`;
      return `${head} done: ${view.outputs} ${view.outputs === 1 ? 'output' : 'outputs'}${partial}`;
    }
    case 'failed':
      return `${head} failed: ${view.error ?? 'unknown error'}`;
    case 'cancelled':
      return `${head} cancelled; ${view.price} points returned`;
  }
}
