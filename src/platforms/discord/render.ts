import {
  ButtonStyle,
  ComponentType,
  type APIActionRowComponent,
  type APIButtonComponentWithCustomId,
  type APIEmbed,
} from 'discord-api-types/v10';
import { chargeLabel } from '../../../commands/format.js';
import { generationButtons } from '../../../commands/index.js';
import type { ButtonRef } from '../../core/buttons.js';
import type { GenerationStatus } from '../../core/status.js';
import { clip, oneLine } from '../../core/text.js';
import { progressBar, waitText, type ProgressView } from '../../delivery/progress-view.js';
import type { HistoryPage } from '../../generation/generation-service.js';
import type { GenerationSummary } from '../../generation/summary.js';
import { asTyped, asTypedWithin } from './plain-text.js';

export type ButtonRow = APIActionRowComponent<APIButtonComponentWithCustomId>;

/** What one Discord message shows: embeds and button rows (files are added by the sink). */
export interface DiscordView {
  content?: string;
  embeds: APIEmbed[];
  components: ButtonRow[];
}

const COLORS: Record<GenerationStatus, number> = {
  pending: 0x95a5a6,
  queued: 0x95a5a6,
  processing: 0x3498db,
  completed: 0x2ecc71,
  failed: 0xe74c3c,
  cancelled: 0x7f8c8d,
};

function statusLine(view: ProgressView): { title: string; line: string } {
  switch (view.status) {
    case 'pending':
      return { title: 'Accepted', line: 'Getting ready…' };
    case 'queued':
      return view.message?.startsWith('retrying')
        ? { title: 'Retrying soon', line: 'The generator had a hiccup; trying again shortly.' }
        : {
            title: 'Queued',
            line: waitText(view) ?? 'Waiting for a generator',
          };
    case 'processing': {
      const pct = view.percent ?? 0;
      const steps =
        view.step !== undefined && view.steps ? ` · step ${view.step}/${view.steps}` : '';
      const bar = progressBar(pct, 16).replace(/#/g, '█').replace(/-/g, '░');
      return { title: 'Generating', line: `\`${bar}\` ${pct}%${steps}` };
    }
    case 'completed':
      return {
        title: 'Done',
        line:
          view.failedOutputs > 0
            ? `${view.outputs} of ${view.count} made · charged ${view.captured} of ${view.price} points`
            : `Charged ${view.captured} points`,
      };
    case 'failed':
      return {
        title: 'Failed',
        // The failure's own words already say what happened to the points.
        line: view.error
          ? asTypedWithin(view.error, 1000)
          : `Something went wrong. Your ${view.price} points were returned.`,
      };
    case 'cancelled':
      return { title: 'Cancelled', line: `${view.price} points returned` };
  }
}

/** The member's status message: an embed with status, progress bar, queue position and price. */
export function renderProgress(view: ProgressView, imageName?: string): DiscordView {
  const { title, line } = statusLine(view);
  const fields = [
    { name: 'Model', value: view.model, inline: true },
    { name: 'Price', value: `${view.price} points`, inline: true },
  ];
  if (view.etaSeconds !== undefined && !view.final && view.status !== 'queued')
    fields.push({ name: 'Wait', value: `about ${Math.ceil(view.etaSeconds)} s`, inline: true });
  const embed: APIEmbed = {
    title,
    // The prompt shows as typed: at most 1000 characters, 2000 once escaped.
    description: `${line}\n\n${asTypedWithin(view.prompt, 2000)}`,
    color: COLORS[view.status],
    fields,
    footer: { text: view.generationId },
    ...(imageName ? { image: { url: `attachment://${imageName}` } } : {}),
  };
  return {
    embeds: [embed],
    components: buttonRows(generationButtons(view.generationId, view.actions)),
  };
}

const STYLES: Record<
  ButtonRef['style'],
  ButtonStyle.Primary | ButtonStyle.Secondary | ButtonStyle.Danger
> = {
  primary: ButtonStyle.Primary,
  secondary: ButtonStyle.Secondary,
  danger: ButtonStyle.Danger,
};

/** Buttons in action rows of five (Discord's limit a row); the button data is the custom id. */
export function buttonRows(buttons: readonly ButtonRef[]): ButtonRow[] {
  const rows: ButtonRef[][] = [];
  // Discord takes at most five rows of five.
  for (let i = 0; i < Math.min(buttons.length, 25); i += 5) rows.push(buttons.slice(i, i + 5));
  return rows.map((row): ButtonRow => ({
    type: ComponentType.ActionRow,
    components: row.map((b): APIButtonComponentWithCustomId => ({
      type: ComponentType.Button,
      custom_id: b.data,
      label: b.label,
      style: STYLES[b.style],
      ...(b.emoji ? { emoji: { name: b.emoji } } : {}),
    })),
  }));
}

/**
 * A plain answer (balance, models, help, grants, refusals): one embed. Its text is plain
 * (commands write no markdown) and may quote members, so it shows exactly as written.
 */
export function renderText(
  text: string,
  options: { title?: string; error?: boolean } = {},
): DiscordView {
  return {
    embeds: [
      {
        ...(options.title ? { title: options.title } : {}),
        description: asTypedWithin(text, 4000),
        color: options.error ? 0xe67e22 : 0x5865f2,
      },
    ],
    components: [],
  };
}

export function renderHistory(
  text: string,
  page: HistoryPage,
  buttons: readonly ButtonRef[],
): DiscordView {
  const header = text.split('\n')[0] ?? '';
  const body = page.items.map((g) => {
    const when = `<t:${Math.floor(Date.parse(g.createdAt) / 1000)}:R>`;
    const charge = chargeLabel(g);
    return `\`${g.id}\` **${g.status}** · ${g.model} · ${charge} · ${when}\n${asTyped(clip(oneLine(g.prompt), 80))}`;
  });
  return {
    embeds: [
      {
        title: page.total === 0 ? 'History' : `History · page ${page.page} of ${page.pages}`,
        description: page.total === 0 ? asTypedWithin(header, 4000) : clip(body.join('\n\n'), 4000),
        color: 0x5865f2,
        ...(page.total > 0 ? { footer: { text: `${page.total} generations in all` } } : {}),
      },
    ],
    components: buttonRows(buttons),
  };
}

export function renderDetails(g: GenerationSummary): DiscordView {
  return {
    embeds: [
      {
        title: `Generation ${g.id}`,
        description: asTypedWithin(g.prompt, 4000),
        color: COLORS[g.status],
        fields: [
          { name: 'Model', value: g.model, inline: true },
          { name: 'Size', value: `${g.width}x${g.height}`, inline: true },
          { name: 'Seed', value: String(g.seed), inline: true },
          { name: 'Status', value: g.status, inline: true },
          { name: 'Price', value: `${g.price} (charged ${g.captured})`, inline: true },
          {
            name: 'Outputs',
            value: `${g.outputs.length}/${g.count}${g.failedOutputs.length ? ` (${g.failedOutputs.length} failed)` : ''}`,
            inline: true,
          },
        ],
        timestamp: g.createdAt,
      },
    ],
    components: [],
  };
}
