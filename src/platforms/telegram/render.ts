import { generationButtons } from '../../../commands/index.js';
import { buttonText, type ButtonRef } from '../../core/buttons.js';
import type { GenerationSummary } from '../../generation/summary.js';
import { progressBar, waitText, type ProgressView } from '../../delivery/progress-view.js';
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

/** How a status message starts, so a pressed message can be told to be one. */
export const STATUS_MARK = '🎨';

/** Buttons as an inline keyboard, three a row; the button data is the callback data. */
export function keyboardOf(buttons: readonly ButtonRef[]): InlineKeyboard {
  const rows: InlineKeyboard = [];
  for (let i = 0; i < buttons.length; i += 3)
    rows.push(buttons.slice(i, i + 3).map((b) => ({ text: buttonText(b), callback_data: b.data })));
  return rows;
}

/** The member's status message: what, for how much, and how far along. */
export function renderStatus(view: ProgressView): TelegramText {
  const head = `${STATUS_MARK} ${clip(view.prompt, 200)}\n${view.model} · ${view.price} points · ${view.generationId}`;
  let line: string;
  switch (view.status) {
    case 'pending':
      line = 'Accepted…';
      break;
    case 'queued':
      line = view.message?.startsWith('retrying')
        ? 'Retrying soon…'
        : `Queued${waitText(view) ? ` · ${waitText(view)}` : ''}`;
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
  const keyboard = keyboardOf(generationButtons(view.generationId, view.actions));
  return { text: `${head}\n${line}`, keyboard };
}

export function renderCaption(generation: GenerationSummary): string {
  return clip(
    `${clip(generation.prompt, CAPTION_PROMPT)}\n${generation.model} · seed ${generation.seed}`,
    1024,
  );
}
