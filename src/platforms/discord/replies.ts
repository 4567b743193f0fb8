import { MessageFlags, type RepliableInteraction } from 'discord.js';
import type { CommandResult } from '../../../commands/index.js';
import { errorCode, memberMessage, UserError } from '../../core/errors.js';
import type { Outbox } from '../../delivery/outbox.js';
import { viewOf } from '../../delivery/progress-view.js';
import type { Logger } from '../../logger.js';
import type { DiscordOrigin, DiscordSink } from './discord-sink.js';
import { NO_MENTIONS } from './plain-text.js';
import {
  buttonRows,
  renderDetails,
  renderHistory,
  renderProgress,
  renderText,
  type DiscordView,
} from './render.js';

/** How a failure is shown, by how the interaction was acknowledged. */
export type FailureMode =
  /** The deferred reply is the member's alone: it becomes the error. */
  | 'private'
  /** The deferred reply is public: it is removed and the error follows up for the member alone. */
  | 'public'
  /** The button's message was kept (deferUpdate): the error follows up for the member alone. */
  | 'update';

/**
 * Writes to one interaction's reply, every one through the outbox keyed by the interaction
 * (Discord's edit limits), and the first state of a generation through the sink.
 */
export class DiscordReplies {
  constructor(
    private readonly outbox: Outbox,
    private readonly sink: DiscordSink,
    private readonly log: Logger,
  ) {}

  edit(interaction: RepliableInteraction, view: DiscordView): Promise<void> {
    return this.outbox.edit(
      `interaction:${interaction.id}`,
      'reply',
      view,
      (v) =>
        interaction.editReply({
          embeds: v.embeds,
          components: v.components,
          allowedMentions: NO_MENTIONS,
        }),
      { final: true },
    );
  }

  /**
   * What a command or button answered: a generation in the status it opened (queued and
   * held from here on, so a failed edit must not tell the member it failed), else the
   * answer as an embed.
   */
  async show(
    interaction: RepliableInteraction,
    result: CommandResult,
    status: DiscordOrigin | undefined,
  ): Promise<void> {
    const generation = result.generation;
    if (status && generation) {
      const view = viewOf(generation);
      await this.sink
        .write(
          status,
          generation.id,
          { view: renderProgress(view), files: [], replaceFiles: false },
          view.final,
        )
        .catch((error: unknown) =>
          this.log.warn(
            { err: error, generationId: generation.id },
            'could not show the first state',
          ),
        );
      return;
    }
    await this.edit(interaction, viewOfResult(result));
  }

  /** A refusal or failure, shown only to the member. */
  async fail(interaction: RepliableInteraction, error: unknown, mode: FailureMode): Promise<void> {
    // A refusal is the member's to read; its cause (a download that failed) is kept for debugging.
    if (error instanceof UserError) this.log.debug({ err: error }, 'refused');
    else this.log.error({ err: error }, 'discord interaction failed');
    const view = renderText(memberMessage(error), { error: true });
    try {
      if (mode === 'private') {
        await this.edit(interaction, view);
        return;
      }
      await this.outbox.send(`interaction:${interaction.id}`, async () => {
        if (mode === 'public')
          await interaction
            .deleteReply()
            .catch((e: unknown) => this.log.debug({ err: e }, 'the public reply was already gone'));
        await interaction.followUp({
          embeds: view.embeds,
          flags: MessageFlags.Ephemeral,
          allowedMentions: NO_MENTIONS,
        });
      });
    } catch (e) {
      this.log.warn({ err: e, code: errorCode(error) }, 'could not show an error to the member');
    }
  }
}

/** An answer as an embed: a history page, a details card or text, with its buttons. */
export function viewOfResult(result: CommandResult): DiscordView {
  if (result.history) return renderHistory(result.text, result.history, result.buttons ?? []);
  if (result.details && result.generation) return renderDetails(result.generation);
  return { ...renderText(result.text), components: buttonRows(result.buttons ?? []) };
}
