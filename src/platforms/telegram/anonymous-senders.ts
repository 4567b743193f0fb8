import { Composer, type Context } from 'grammy';
import type { Chat, User } from 'grammy/types';
import { COMMANDS } from '../../../commands/index.js';
import type { Logger } from '../../logger.js';
import type { CommandThrottle } from './command-limits.js';
import type { TelegramReplies } from './replies.js';

/**
 * The stand-in users Telegram puts in `from` of a message posted on behalf of a chat, one id
 * for everybody who posts that way: GroupAnonymousBot (anonymous group administrators),
 * Channel_Bot (members posting as a channel) and Telegram's service account (posts forwarded
 * automatically from a linked channel).
 */
const STAND_IN_SENDERS: ReadonlySet<string> = new Set(['1087968824', '136817688', '777000']);

/** What a command posted anonymously or as a channel is answered. */
export const ANONYMOUS_COMMAND =
  "Anonymous and channel posts can't use the bot: switch off 'Remain anonymous' or post as yourself, then try again.";

/** What a moderator is told who names (or replies to) a message posted that way. */
export const ANONYMOUS_MEMBER =
  'That message was posted anonymously or as a channel, so it belongs to no member: ask them to post as themselves, then reply to that.';

/**
 * Whether a message was posted on behalf of a chat rather than by a member: anonymous
 * administrators and "send as channel" share one stand-in user across every group, so its id
 * names nobody and must never become an account.
 */
export function postedAsChat(
  message: { sender_chat?: Chat | undefined; from?: User | undefined } | undefined,
): boolean {
  if (!message) return false;
  return message.sender_chat !== undefined || isStandIn(String(message.from?.id ?? ''));
}

/** Whether a user id is one of Telegram's stand-ins for posts made on behalf of a chat. */
export function isStandIn(userId: string): boolean {
  return STAND_IN_SENDERS.has(userId);
}

export interface AnonymousSenderDeps {
  replies: TelegramReplies;
  log: Logger;
  /** The command limits: a chat posting anonymously counts as one member. */
  throttle: Pick<CommandThrottle, 'admit'>;
  /** Whether this process is the first to see the event (a redelivery is dropped). */
  firstDelivery(ctx: Context): Promise<boolean>;
}

/**
 * Refuses the bot's commands posted anonymously or as a channel before anything runs: the
 * refusal is a reply in the chat (never "privately", which would go to the stand-in), queued
 * without waiting for the chat's pace, and counted against the command limits (the posting
 * chat as the member) so a flood of them is not answered one by one. Everything else passes on.
 */
export function anonymousSenders(deps: AnonymousSenderDeps): Composer<Context> {
  const composer = new Composer<Context>();
  const names = COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])]);
  composer
    .filter((ctx) => postedAsChat(ctx.message))
    .command(names, async (ctx) => {
      const poster = ctx.message?.sender_chat?.id ?? ctx.from?.id;
      const group = ctx.chat.type === 'private' ? undefined : String(ctx.chat.id);
      const admission = await deps.throttle.admit(`chat:${poster}`, group);
      const text = admission.admitted ? `⚠️ ${ANONYMOUS_COMMAND}` : admission.answer;
      if (text === undefined || !(await deps.firstDelivery(ctx))) return;
      deps.log.debug({ chat: ctx.chat.id, poster }, 'refused a command posted on behalf of a chat');
      deps.replies
        .reply(ctx, text)
        .catch((error: unknown) => deps.log.warn({ err: error }, 'could not answer'));
    });
  return composer;
}
