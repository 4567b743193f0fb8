import { Composer, type Context } from 'grammy';
import type { Chat } from 'grammy/types';
import type { TelegramConfig } from '../../config.js';
import type { Logger } from '../../logger.js';
import type { CommandThrottle } from './command-limits.js';
import type { TelegramReplies } from './replies.js';

/** What a group the operator did not list is told before the bot leaves it. */
export const NOT_IN_THIS_GROUP = 'This bot is not available in this group, so it is leaving.';

/** What a private chat is told when the operator keeps the bot to its groups. */
export const NOT_IN_PRIVATE = 'This bot answers only in the groups it serves; ask there.';

/** Where the bot answers, from TELEGRAM_ALLOWED_CHATS and TELEGRAM_ALLOW_PRIVATE. */
export interface ChatRules {
  /** Groups (and private chats) named by the operator; empty: every group. */
  listed: ReadonlySet<string>;
  /** Whether private chats that are not listed are answered. */
  privateChats: boolean;
}

/** The rules of a configuration; the admin groups always count as listed. */
export function chatRules(
  config: Pick<TelegramConfig, 'allowedChats' | 'allowPrivate' | 'adminGroups'>,
): ChatRules {
  const allowed = config.allowedChats ?? [];
  return {
    listed: new Set(allowed.length > 0 ? [...allowed, ...config.adminGroups] : []),
    privateChats: config.allowPrivate ?? true,
  };
}

/**
 * Whether an update from this chat is answered. A button press in a private chat always is:
 * the bot wrote its message there itself (a private answer to a command asked in a group).
 */
export function isAnswered(rules: ChatRules, chat: Chat | undefined, press: boolean): boolean {
  if (!chat) return rules.listed.size === 0;
  if (rules.listed.has(String(chat.id))) return true;
  if (chat.type === 'private') return press || rules.privateChats;
  return rules.listed.size === 0;
}

export interface ChatAccessDeps {
  config: Pick<TelegramConfig, 'allowedChats' | 'allowPrivate' | 'adminGroups'>;
  replies: TelegramReplies;
  log: Logger;
  /** The command limits: a private chat's refusals count against its member's. */
  throttle: Pick<CommandThrottle, 'admit'>;
}

/**
 * Keeps the bot to the chats the operator named, before any other handler sees an update
 * (messages and button presses alike). A private chat gets one sentence saying where to ask
 * (within the member's command limit); a group gets one sentence and the bot leaves it.
 * Nothing is waited for: the sentence and the leave are queued, and a burst from one group
 * says it once.
 */
export function chatAccess(deps: ChatAccessDeps): Composer<Context> {
  const rules = chatRules(deps.config);
  const composer = new Composer<Context>();
  const leaving = new Set<number>();
  composer.use(async (ctx, next) => {
    const chat = ctx.chat;
    if (isAnswered(rules, chat, ctx.callbackQuery !== undefined)) return next();
    deps.log.info(
      { chat: chat?.id, type: chat?.type },
      'refused an update from a chat not allowed',
    );
    if (!chat || chat.type === 'private') {
      const admission = await deps.throttle.admit(String(ctx.from?.id), undefined);
      const text = admission.admitted ? NOT_IN_PRIVATE : admission.answer;
      if (text !== undefined) void refuse(deps, ctx, text);
      return;
    }
    if (leaving.has(chat.id)) return;
    leaving.add(chat.id);
    void refuse(deps, ctx, NOT_IN_THIS_GROUP)
      .then(() => ctx.api.leaveChat(chat.id))
      .catch((error: unknown) =>
        deps.log.warn({ err: error, chat: chat.id }, 'could not leave a chat not allowed'),
      )
      .finally(() => leaving.delete(chat.id));
  });
  return composer;
}

/** One sentence where the member looks: the press's toast, or a reply queued in the chat. */
async function refuse(deps: ChatAccessDeps, ctx: Context, text: string): Promise<void> {
  if (ctx.callbackQuery) {
    await deps.replies.answerCallback(ctx, text, true);
    return;
  }
  if (!ctx.chat) return;
  await deps.replies.reply(ctx, text).catch((error: unknown) => {
    deps.log.warn({ err: error, chat: ctx.chat?.id }, 'could not refuse');
  });
}
