import type { HistoryPage } from '../../generation/generation-service.js';
import type { GenerationSummary } from '../../generation/summary.js';
import { progressBar, type ProgressView } from '../../delivery/progress-view.js';
import { clip } from '../../core/text.js';

export interface InlineButton {
  text: string;
  callback_data: string;
}
export type InlineKeyboard = InlineButton[][];

export interface TelegramText {
  text: string;
  keyboard: InlineKeyboard;
}

const CAPTION_PROMPT = 300;

/** Callback data: short (Telegram allows 64 bytes) and parsed back by `parseCallback`. */
export const callbackData = {
  cancel: (id: string) => `c:${id}`,
  reroll: (id: string) => `r:${id}`,
  details: (id: string) => `d:${id}`,
  history: (page: number, status: string | undefined, userId: string) =>
    `h:${page}:${status ?? '-'}:${userId}`,
};

export type Callback =
  | { kind: 'cancel' | 'reroll' | 'details'; id: string }
  | { kind: 'history'; page: number; status: string | undefined; userId: string };

export function parseCallback(data: string): Callback | undefined {
  const simple = /^([crd]):([a-z0-9]{8,32})$/.exec(data);
  if (simple) {
    const kind = ({ c: 'cancel', r: 'reroll', d: 'details' } as const)[
      simple[1] as 'c' | 'r' | 'd'
    ];
    return { kind, id: simple[2] ?? '' };
  }
  const history = /^h:(\d{1,5}):([a-z]+|-):(\d{1,20})$/.exec(data);
  if (history) {
    return {
      kind: 'history',
      page: Number(history[1]),
      status: history[2] === '-' ? undefined : history[2],
      userId: history[3] ?? '',
    };
  }
  return undefined;
}

/** The member's status message: what, for how much, and how far along. */
export function renderStatus(view: ProgressView): TelegramText {
  const head = `🎨 ${clip(view.prompt, 200)}\n${view.model} · ${view.price} points · ${view.generationId}`;
  let line: string;
  switch (view.status) {
    case 'pending':
      line = 'Accepted…';
      break;
    case 'queued':
      line = view.message?.startsWith('retrying')
        ? 'Retrying soon…'
        : `Queued${view.queuePosition ? ` · position ${view.queuePosition}` : ''}`;
      break;
    case 'processing': {
      const pct = view.percent ?? 0;
      const steps =
        view.step !== undefined && view.steps ? ` · step ${view.step}/${view.steps}` : '';
      line = `${progressBar(pct, 12).replace(/#/g, '▓').replace(/-/g, '░')} ${pct}%${steps}`;
      break;
    }
    case 'completed':
      line =
        view.failedOutputs > 0
          ? `Done: ${view.outputs} of ${view.count} made · charged ${view.captured} of ${view.price} points`
          : `Done · charged ${view.captured} points`;
      break;
    case 'failed':
      line = `Failed: ${view.error ?? 'unknown error'}`;
      break;
    case 'cancelled':
      line = `Cancelled · ${view.price} points returned`;
      break;
  }
  const keyboard: InlineKeyboard = [];
  const row: InlineButton[] = [];
  if (view.actions.includes('cancel'))
    row.push({ text: 'Cancel', callback_data: callbackData.cancel(view.generationId) });
  if (view.actions.includes('reroll'))
    row.push({ text: '🎲 Reroll', callback_data: callbackData.reroll(view.generationId) });
  if (view.actions.includes('details'))
    row.push({ text: 'Details', callback_data: callbackData.details(view.generationId) });
  if (row.length > 0) keyboard.push(row);
  return { text: `${head}\n${line}`, keyboard };
}

export function renderCaption(generation: GenerationSummary): string {
  return clip(
    `${clip(generation.prompt, CAPTION_PROMPT)}\n${generation.model} · seed ${generation.seed}`,
    1024,
  );
}

export function renderDetails(g: GenerationSummary): string {
  const lines = [
    `Generation ${g.id}`,
    `Prompt: ${g.prompt}`,
    `Model: ${g.model} · ${g.width}x${g.height} · seed ${g.seed}`,
    `Status: ${g.status} · price ${g.price} · charged ${g.captured}`,
    `Outputs: ${g.outputs.length}/${g.count}${g.failedOutputs.length ? ` (${g.failedOutputs.length} failed)` : ''}`,
    `Created: ${g.createdAt.replace('T', ' ').slice(0, 19)} UTC`,
  ];
  return clip(lines.join('\n'), 4000);
}

export function historyKeyboard(page: HistoryPage, userId: string): InlineKeyboard {
  const row: InlineButton[] = [];
  if (page.page > 1)
    row.push({
      text: '◀ Newer',
      callback_data: callbackData.history(page.page - 1, page.status, userId),
    });
  if (page.page < page.pages)
    row.push({
      text: 'Older ▶',
      callback_data: callbackData.history(page.page + 1, page.status, userId),
    });
  return row.length > 0 ? [row] : [];
}
