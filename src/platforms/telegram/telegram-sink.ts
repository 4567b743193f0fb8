import type { Origin, TelegramOrigin } from '../../core/origin.js';
import { GrammyError, InputFile, type Api } from 'grammy';
import { extensionFor } from '../../core/media.js';
import type { InputMediaPhoto } from 'grammy/types';
import type { ProgressView } from '../../delivery/progress-view.js';
import type { Outbox } from '../../delivery/outbox.js';
import type { DeliverySink } from '../../delivery/sink.js';
import type { GenerationSummary } from '../../generation/summary.js';
import type { Logger } from '../../logger.js';
import type { MediaStore } from '../../store/media-store.js';
import { renderCaption, renderStatus, type InlineKeyboard } from './render.js';

export type { TelegramOrigin };

function asOrigin(origin: Origin): TelegramOrigin | undefined {
  return origin.platform === 'telegram' ? origin : undefined;
}

/** Whether Telegram refused an edit because nothing changed, which is not a failure. */
export function isNotModified(error: unknown): boolean {
  return (
    error instanceof GrammyError &&
    error.error_code === 400 &&
    /message is not modified/i.test(error.description)
  );
}

/**
 * Whether Telegram refused a write for good: a 400 (the request itself is wrong, e.g. the
 * message is gone or can no longer be edited) or a 403 (the bot was blocked or removed).
 * Retrying those only delays everything behind them in the chat.
 */
export function isPermanentTelegramError(error: unknown): boolean {
  return error instanceof GrammyError && (error.error_code === 400 || error.error_code === 403);
}

/** The wait Telegram asked for, when an error is its rate limit (429 with retry_after). */
export function telegramRetryAfterMs(error: unknown): number | undefined {
  return error instanceof GrammyError && error.error_code === 429
    ? (error.parameters.retry_after ?? 1) * 1000
    : undefined;
}

/**
 * Shows progress by editing the member's status message and delivers results as a photo,
 * an animation or a media group, every call through the outbox so each chat's limits hold.
 */
export class TelegramSink implements DeliverySink {
  readonly platform = 'telegram';

  constructor(
    private readonly api: Api,
    private readonly outbox: Outbox,
    private readonly media: MediaStore,
    private readonly logger: Logger,
  ) {}

  editStatus(origin: TelegramOrigin, view: ProgressView): Promise<void> {
    const chat = String(origin.chatId);
    return this.outbox.edit(
      chat,
      `${chat}:${origin.messageId}`,
      renderStatus(view),
      (r) => this.api.editMessageText(origin.chatId, origin.messageId, r.text, markup(r.keyboard)),
      { final: view.final },
    );
  }

  async showProgress(rawOrigin: Origin, view: ProgressView): Promise<void> {
    const origin = asOrigin(rawOrigin);
    if (origin) await this.editStatus(origin, view);
  }

  async deliver(
    rawOrigin: Origin,
    generation: GenerationSummary,
    view: ProgressView,
  ): Promise<void> {
    const origin = asOrigin(rawOrigin);
    if (!origin) return;
    // The final status edit is scheduled at once, but the media never waits for it: a status
    // message that cannot be edited (deleted, too old) must not keep a paid result from the
    // member. Its outcome is settled after the media went out.
    const status = this.editStatus(origin, view).then(
      () => undefined,
      (error: unknown) => error,
    );
    if (generation.status === 'completed' && generation.outputs.length > 0)
      await this.#sendOutputs(origin, generation, view);
    const failed = await status;
    if (failed !== undefined)
      this.logger.error(
        { err: failed, generationId: generation.id },
        'the final status edit failed; the result was delivered without it',
      );
  }

  async #sendOutputs(
    origin: TelegramOrigin,
    generation: GenerationSummary,
    view: ProgressView,
  ): Promise<void> {
    const chat = String(origin.chatId);
    // "sending a photo…" while the files are read and uploaded; best effort, not a message.
    const action = generation.outputs.some(
      (o) => o.mime === 'image/gif' || o.mime.startsWith('video/'),
    )
      ? 'upload_video'
      : 'upload_photo';
    void this.api
      .sendChatAction(origin.chatId, action)
      .catch((error: unknown) =>
        this.logger.debug({ err: error, generationId: generation.id }, 'chat action failed'),
      );
    const files = await Promise.all(
      generation.outputs.map(async (o) => ({
        output: o,
        file: new InputFile(
          await this.media.get(o.fileId),
          `${generation.id}-${o.index + 1}.${extensionFor(o.mime)}`,
        ),
      })),
    );
    const caption = renderCaption(generation);
    const reply = {
      reply_parameters: { message_id: origin.messageId, allow_sending_without_reply: true },
    };
    const stills = files.filter(
      (f) => f.output.mime !== 'image/gif' && !f.output.mime.startsWith('video/'),
    );
    const moving = files.filter((f) => !stills.includes(f));
    if (stills.length > 1) {
      const group: InputMediaPhoto[] = stills.map((f, i) => ({
        type: 'photo',
        media: f.file,
        ...(i === 0 ? { caption } : {}),
      }));
      await this.outbox.send(chat, () => this.api.sendMediaGroup(origin.chatId, group, reply));
    } else if (stills[0]) {
      const only = stills[0];
      await this.outbox.send(chat, () =>
        this.api.sendPhoto(origin.chatId, only.file, {
          caption,
          ...reply,
          ...markup(resultKeyboard(view)),
        }),
      );
    }
    for (const f of moving) {
      await this.outbox.send<unknown>(chat, () =>
        f.output.mime.startsWith('video/')
          ? this.api.sendVideo(origin.chatId, f.file, {
              caption,
              ...reply,
              ...markup(resultKeyboard(view)),
            })
          : this.api.sendAnimation(origin.chatId, f.file, {
              caption,
              ...reply,
              ...markup(resultKeyboard(view)),
            }),
      );
    }
  }
}

function resultKeyboard(view: ProgressView): InlineKeyboard {
  return renderStatus(view).keyboard;
}

export function markup(keyboard: InlineKeyboard): {
  reply_markup?: { inline_keyboard: InlineKeyboard };
} {
  return keyboard.length > 0 ? { reply_markup: { inline_keyboard: keyboard } } : {};
}
