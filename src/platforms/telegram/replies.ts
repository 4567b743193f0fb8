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

/** How an answer is posted. */
export interface AnswerOptions {
  keyboard?: InlineKeyboard;
  /**
   * An answer the member can ask for again (/help, /balance, a pointer to a private answer):
   * it gives way when the chat's queue is full. A refusal, a result or anything about a
   * generation never is.
   */
  chatter?: boolean;
}

/**
 * Answers to the member who sent a command or pressed a button, every write through the
 * outbox (Telegram's per-chat limits): a reply in the chat, a private answer, an edit of the
 * message a button is on, a callback answer. Each write is queued at once; the promise
 * returned settles when it went out, gave way or failed (logged here, never rejected), so a
 * handler leaves it unawaited and never waits for a chat's pace.
 */
export class TelegramReplies {
  constructor(
    private readonly outbox: Outbox,
    private readonly log: Logger,
  ) {}

  /** Queues a reply in the chat the command or press came from. */
  reply(ctx: Context, text: string, options: AnswerOptions = {}): Promise<void> {
    return this.#replied(ctx, text, options).then(
      () => undefined,
      (error: unknown) => this.log.warn({ err: error, chat: ctx.chat?.id }, 'could not answer'),
    );
  }

  /**
   * An answer for the member alone. In a private chat it is a reply. Asked in a group, it is
   * never posted there: it goes to the member's private chat with the bot, and the group
   * gets one short line saying so, or, when the member has not started the bot (Telegram
   * lets a bot write only to people who have), how to start it.
   */
  answerPrivately(ctx: Context, text: string, options: AnswerOptions = {}): Promise<void> {
    const from = ctx.from;
    if (!from || ctx.chat?.type === 'private') return this.reply(ctx, text, options);
    const write = () =>
      ctx.api.sendMessage(from.id, clip(text, TELEGRAM_TEXT_LIMIT), markup(options.keyboard ?? []));
    const chat = String(from.id);
    const sent =
      options.chatter === true
        ? this.outbox.sendChatter(chat, write)
        : this.outbox.send(chat, write).then(() => true);
    return sent.then(
      async (delivered) => {
        if (delivered && !ctx.callbackQuery)
          await this.reply(ctx, 'I sent you the answer in a private message.', { chatter: true });
      },
      (error: unknown) => {
        if (!isPermanentTelegramError(error)) {
          this.log.warn({ err: error, chat: ctx.chat?.id }, 'could not answer privately');
          return undefined;
        }
        this.log.debug({ err: error }, 'cannot write to the member privately');
        return this.reply(
          ctx,
          `That answer is private. Open a chat with @${ctx.me.username} and press Start, then ask again there or here.`,
          { chatter: options.chatter === true },
        );
      },
    );
  }

  /** Queues a message's new text (and keyboard); the last edit of a message always lands. */
  edit(
    ctx: Context,
    message: { chatId: number; messageId: number },
    text: string,
    keyboard: InlineKeyboard = [],
  ): Promise<void> {
    const chat = String(message.chatId);
    return this.outbox
      .edit(
        chat,
        `${chat}:${message.messageId}`,
        clip(text, TELEGRAM_TEXT_LIMIT),
        (t) => ctx.api.editMessageText(message.chatId, message.messageId, t, markup(keyboard)),
        { final: true },
      )
      .catch((error: unknown) =>
        this.log.warn({ err: error, chat: message.chatId }, 'could not edit the message'),
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

  #replied(ctx: Context, text: string, options: AnswerOptions): Promise<unknown> {
    const chat = String(ctx.chat?.id ?? '');
    const write = () =>
      ctx.reply(clip(text, TELEGRAM_TEXT_LIMIT), {
        ...markup(options.keyboard ?? []),
        ...(ctx.msg
          ? {
              reply_parameters: {
                message_id: ctx.msg.message_id,
                allow_sending_without_reply: true,
              },
            }
          : {}),
      });
    return options.chatter === true
      ? this.outbox.sendChatter(chat, write)
      : this.outbox.send(chat, write);
  }
}
