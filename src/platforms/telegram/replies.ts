import type { Context } from 'grammy';
import { clip } from '../../core/text.js';
import type { Outbox } from '../../delivery/outbox.js';
import type { Logger } from '../../logger.js';
import type { InlineKeyboard } from './render.js';
import { isPermanentTelegramError, markup } from './telegram-sink.js';

/** Telegram's limit for a message's text, in UTF-16 code units. */
export const TELEGRAM_TEXT_LIMIT = 4096;
/** Telegram's limit for the text of a callback answer (a toast or an alert). */
export const CALLBACK_ANSWER_LIMIT = 200;

/**
 * Answers to the member who sent a command or pressed a button, every write through the
 * outbox (Telegram's per-chat limits): a reply in the chat, a private answer, an edit of the
 * message a button is on, a callback answer.
 */
export class TelegramReplies {
  constructor(
    private readonly outbox: Outbox,
    private readonly log: Logger,
  ) {}

  reply(ctx: Context, text: string, keyboard: InlineKeyboard = []): Promise<unknown> {
    const chat = String(ctx.chat?.id ?? '');
    return this.outbox.send(chat, () =>
      ctx.reply(clip(text, TELEGRAM_TEXT_LIMIT), {
        ...markup(keyboard),
        ...(ctx.msg
          ? {
              reply_parameters: {
                message_id: ctx.msg.message_id,
                allow_sending_without_reply: true,
              },
            }
          : {}),
      }),
    );
  }

  /**
   * An answer for the member alone. In a private chat it is a reply. Asked in a group, it is
   * never posted there: it goes to the member's private chat with the bot, and the group
   * gets one short line saying so, or, when the member has not started the bot (Telegram
   * lets a bot write only to people who have), how to start it.
   */
  async answerPrivately(ctx: Context, text: string, keyboard: InlineKeyboard = []): Promise<void> {
    const from = ctx.from;
    if (!from || ctx.chat?.type === 'private') {
      await this.reply(ctx, text, keyboard);
      return;
    }
    try {
      await this.outbox.send(String(from.id), () =>
        ctx.api.sendMessage(from.id, clip(text, TELEGRAM_TEXT_LIMIT), markup(keyboard)),
      );
    } catch (error) {
      if (!isPermanentTelegramError(error)) throw error;
      this.log.debug({ err: error }, 'cannot write to the member privately');
      await this.reply(
        ctx,
        `That answer is private. Open a chat with @${ctx.me.username} and press Start, then ask again there or here.`,
      );
      return;
    }
    if (ctx.callbackQuery) return;
    await this.reply(ctx, 'I sent you the answer in a private message.');
  }

  /** Replaces a message's text (and keyboard); the last edit of a message always lands. */
  edit(
    ctx: Context,
    message: { chatId: number; messageId: number },
    text: string,
    keyboard: InlineKeyboard = [],
  ): Promise<void> {
    const chat = String(message.chatId);
    return this.outbox.edit(
      chat,
      `${chat}:${message.messageId}`,
      clip(text, TELEGRAM_TEXT_LIMIT),
      (t) => ctx.api.editMessageText(message.chatId, message.messageId, t, markup(keyboard)),
      { final: true },
    );
  }

  /** Answers a button press: a toast, or an alert the member must dismiss. */
  answerCallback(ctx: Context, text?: string, alert = false): Promise<unknown> {
    return ctx
      .answerCallbackQuery(
        text ? { text: clip(text, CALLBACK_ANSWER_LIMIT), show_alert: alert } : {},
      )
      .catch((e: unknown) => this.log.warn({ err: e }, 'answerCallbackQuery failed'));
  }
}
