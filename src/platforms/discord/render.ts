import {
  ButtonStyle,
  ComponentType,
  type APIActionRowComponent,
  type APIButtonComponentWithCustomId,
  type APIEmbed,
} from 'discord-api-types/v10';
import { chargeLabel } from '../../../commands/format.js';
import { GENERATION_STATUSES, type GenerationStatus } from '../../core/status.js';
import { clip, oneLine } from '../../core/text.js';
import { progressBar, type ProgressView } from '../../delivery/progress-view.js';
import type { HistoryPage } from '../../generation/generation-service.js';
import type { GenerationSummary } from '../../generation/summary.js';

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

/**
 * Custom ids of our buttons. Discord hands them back verbatim from any client, so each is
 * parsed strictly; anything else gets a polite refusal.
 */
export const customId = {
  cancel: (id: string) => `gen:cancel:${id}`,
  reroll: (id: string) => `gen:reroll:${id}`,
  details: (id: string) => `gen:details:${id}`,
  history: (userId: string, page: number, status: GenerationStatus | undefined) =>
    `hist:${userId}:${page}:${status ?? '-'}`,
};

export type ButtonAction =
  | { kind: 'cancel' | 'reroll' | 'details'; id: string }
  | { kind: 'history'; userId: string; page: number; status: GenerationStatus | undefined };

export function parseCustomId(id: string): ButtonAction | undefined {
  const gen = /^gen:(cancel|reroll|details):([a-z0-9]{8,32})$/.exec(id);
  if (gen) return { kind: gen[1] as 'cancel' | 'reroll' | 'details', id: gen[2] ?? '' };
  const hist = /^hist:(\d{1,20}):(\d{1,5}):([a-z]+|-)$/.exec(id);
  if (hist) {
    const status = hist[3] === '-' ? undefined : hist[3];
    if (status !== undefined && !(GENERATION_STATUSES as readonly string[]).includes(status))
      return undefined;
    const page = Number(hist[2]);
    if (page < 1) return undefined;
    return {
      kind: 'history',
      userId: hist[1] ?? '',
      page,
      status: status as GenerationStatus | undefined,
    };
  }
  return undefined;
}

function statusLine(view: ProgressView): { title: string; line: string } {
  switch (view.status) {
    case 'pending':
      return { title: 'Accepted', line: 'Getting ready…' };
    case 'queued':
      return view.message?.startsWith('retrying')
        ? { title: 'Retrying soon', line: 'The generator had a hiccup; trying again shortly.' }
        : {
            title: 'Queued',
            line: view.queuePosition
              ? `Position ${view.queuePosition} in the queue`
              : 'Waiting for a generator',
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
        line: view.error ?? `Something went wrong. Your ${view.price} points were returned.`,
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
  if (view.etaSeconds !== undefined && !view.final)
    fields.push({ name: 'Wait', value: `about ${Math.ceil(view.etaSeconds)} s`, inline: true });
  const embed: APIEmbed = {
    title,
    description: `${line}\n\n${clip(view.prompt, 1000)}`,
    color: COLORS[view.status],
    fields,
    footer: { text: view.generationId },
    ...(imageName ? { image: { url: `attachment://${imageName}` } } : {}),
  };
  const buttons: APIButtonComponentWithCustomId[] = [];
  if (view.actions.includes('cancel'))
    buttons.push(button('Cancel', customId.cancel(view.generationId), ButtonStyle.Danger));
  if (view.actions.includes('reroll'))
    buttons.push(button('Reroll', customId.reroll(view.generationId), ButtonStyle.Primary, '🎲'));
  if (view.actions.includes('details'))
    buttons.push(button('Details', customId.details(view.generationId), ButtonStyle.Secondary));
  return {
    embeds: [embed],
    components: buttons.length > 0 ? [{ type: ComponentType.ActionRow, components: buttons }] : [],
  };
}

function button(
  label: string,
  id: string,
  style: ButtonStyle.Primary | ButtonStyle.Secondary | ButtonStyle.Danger,
  emoji?: string,
): APIButtonComponentWithCustomId {
  return {
    type: ComponentType.Button,
    custom_id: id,
    label,
    style,
    ...(emoji ? { emoji: { name: emoji } } : {}),
  };
}

/** A plain answer (balance, models, help, grants): one embed, split into fields if long. */
export function renderText(
  text: string,
  options: { title?: string; error?: boolean } = {},
): DiscordView {
  return {
    embeds: [
      {
        ...(options.title ? { title: options.title } : {}),
        description: clip(text, 4000),
        color: options.error ? 0xe67e22 : 0x5865f2,
      },
    ],
    components: [],
  };
}

export function renderHistory(text: string, page: HistoryPage, userId: string): DiscordView {
  const lines = text.split('\n');
  const header = lines[0] ?? '';
  const body = page.items.map((g) => {
    const when = `<t:${Math.floor(Date.parse(g.createdAt) / 1000)}:R>`;
    const charge = chargeLabel(g);
    return `\`${g.id}\` **${g.status}** · ${g.model} · ${charge} · ${when}\n${clip(oneLine(g.prompt), 80)}`;
  });
  const buttons: APIButtonComponentWithCustomId[] = [];
  if (page.page > 1)
    buttons.push(
      button(
        'Newer',
        customId.history(userId, page.page - 1, page.status),
        ButtonStyle.Secondary,
        '◀',
      ),
    );
  if (page.page < page.pages)
    buttons.push(
      button(
        'Older',
        customId.history(userId, page.page + 1, page.status),
        ButtonStyle.Secondary,
        '▶',
      ),
    );
  return {
    embeds: [
      {
        title: page.total === 0 ? 'History' : `History · page ${page.page} of ${page.pages}`,
        description: clip(page.total === 0 ? header : body.join('\n\n'), 4000),
        color: 0x5865f2,
        ...(page.total > 0 ? { footer: { text: `${page.total} generations in all` } } : {}),
      },
    ],
    components: buttons.length > 0 ? [{ type: ComponentType.ActionRow, components: buttons }] : [],
  };
}

export function renderDetails(g: GenerationSummary): DiscordView {
  return {
    embeds: [
      {
        title: `Generation ${g.id}`,
        description: clip(g.prompt, 4000),
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
