import { Composer, type Context } from 'grammy';
import {
  COMMANDS,
  executeCommand,
  type CommandDefinition,
  type CommandResult,
  type CommandServices,
} from '../../../commands/index.js';
import { memberMessage, UserError } from '../../core/errors.js';
import { viewOf } from '../../delivery/progress-view.js';
import type { Logger } from '../../logger.js';
import type { CommandThrottle } from './command-limits.js';
import { TelegramInvocation, type InvocationDeps } from './invocation.js';
import { parseCommandText } from './parse-command.js';
import { keyboardOf } from './render.js';
import type { TelegramReplies } from './replies.js';
import type { TelegramSink } from './telegram-sink.js';

export interface HandlerDeps extends InvocationDeps {
  services: CommandServices;
  sink: TelegramSink;
  replies: TelegramReplies;
  log: Logger;
  /** How many commands a member and a group chat may send (one bot process's count). */
  throttle: CommandThrottle;
  /** Whether this process is the first to see the event (a redelivery is dropped). */
  firstDelivery(ctx: Context): Promise<boolean>;
}

/**
 * Shows what a command or button answered: a generation in the status message it opened,
 * else the text (and buttons) as a reply, privately when the command or answer is private.
 * Everything is queued in the outbox; nothing here waits for a chat's pace.
 */
export function showResult(
  deps: HandlerDeps,
  ctx: Context,
  invocation: TelegramInvocation,
  result: CommandResult,
  privately: boolean,
): void {
  if (invocation.status && result.generation) {
    // Queued and held from here on: a failed edit must not tell the member it failed.
    void deps.sink
      .editStatus(invocation.status, viewOf(result.generation))
      .catch((error: unknown) =>
        deps.log.warn(
          { err: error, generationId: result.generation?.id },
          'could not show the first state',
        ),
      );
    return;
  }
  const keyboard = keyboardOf(result.buttons ?? []);
  const isPrivate = privately || result.private === true;
  // A private answer that is not about a generation (/help, /balance, /history) can be
  // asked for again: it is chatter, and gives way when the chat's queue is full.
  const chatter = isPrivate && result.generation === undefined;
  if (isPrivate) void deps.replies.answerPrivately(ctx, result.text, { keyboard, chatter });
  else void deps.replies.reply(ctx, result.text, { keyboard });
}

/**
 * A refusal or failure: in the status message when one was opened (the member is looking
 * at it), else as an answer where the command's answer would have gone. Never chatter.
 */
export function showFailure(
  deps: HandlerDeps,
  ctx: Context,
  invocation: TelegramInvocation,
  error: unknown,
  privately: boolean,
): void {
  const text = `⚠️ ${memberMessage(error)}`;
  if (invocation.status) void deps.replies.edit(ctx, invocation.status, text);
  else if (privately) void deps.replies.answerPrivately(ctx, text);
  else void deps.replies.reply(ctx, text);
}

/**
 * Counts the command against its member's and its chat's limits. The first command over a
 * limit is answered once ("Slow down: ..."), as its own event; the rest are dropped unread.
 */
async function admitted(deps: HandlerDeps, ctx: Context): Promise<boolean> {
  const from = ctx.from;
  const chat = ctx.chat;
  if (!from || !chat) return true;
  const admission = await deps.throttle.admit(
    String(from.id),
    chat.type === 'private' ? undefined : String(chat.id),
  );
  if (admission.admitted) return true;
  deps.log.debug(
    { member: from.id, chat: chat.id, answered: admission.answer !== undefined },
    'command over the limit',
  );
  if (admission.answer !== undefined && (await deps.firstDelivery(ctx)))
    void deps.replies.reply(ctx, admission.answer);
  return false;
}

/** Runs a command and queues its answer. Never rejects: a failure is shown and logged. */
async function runCommand(
  deps: HandlerDeps,
  ctx: Context & { match: string },
  command: CommandDefinition,
  invocation: TelegramInvocation,
): Promise<void> {
  try {
    const author = ctx.msg?.reply_to_message?.from?.id;
    const raw = parseCommandText(
      command,
      ctx.match,
      author === undefined ? undefined : String(author),
    );
    const chat = await invocation.chatContext();
    const result = await executeCommand(command, chat, raw, deps.services);
    showResult(deps, ctx, invocation, result, command.private === true);
  } catch (error) {
    // A refusal is the member's to read; its cause (a download that failed) is kept for debugging.
    if (error instanceof UserError)
      deps.log.debug({ err: error, command: command.name }, 'refused');
    else deps.log.error({ err: error, command: command.name }, 'command failed');
    showFailure(deps, ctx, invocation, error, command.private === true);
  }
}

/**
 * The handler of one command. It holds its update (a slot of the runner, a webhook call)
 * only while the command works, never while a write waits for its chat's pace: answers are
 * queued, and a command that opens a status message goes on without the handler once that
 * message is queued (the message id it needs comes when the chat's turn does).
 */
function handler(deps: HandlerDeps, command: CommandDefinition) {
  return async (ctx: Context & { match: string }): Promise<void> => {
    if (!(await admitted(deps, ctx))) return;
    if (!(await deps.firstDelivery(ctx))) return;
    const invocation = new TelegramInvocation(deps, ctx);
    const statusQueued = new Promise<void>((resolve) => {
      invocation.beforeStatus = () => {
        resolve();
        return Promise.resolve();
      };
    });
    await Promise.race([runCommand(deps, ctx, command, invocation), statusQueued]);
  };
}

/** Plain text in a private chat: how to use the bot, counted like a command. */
async function hint(deps: HandlerDeps, ctx: Context): Promise<void> {
  if (ctx.chat?.type !== 'private' || ctx.msg?.text?.startsWith('/') !== false) return;
  if (!(await admitted(deps, ctx))) return;
  void deps.replies.reply(
    ctx,
    'Send /generate followed by what you want to see, e.g. /generate a red fox in the snow. /help lists everything.',
    { chatter: true },
  );
}

/**
 * Every command of `commands/` as a Telegram command (`/generate a fox --ar 16:9`, also
 * `/generate@thisbot` in groups), with its aliases; the grammar is derived from its options.
 * Each is counted against its member's and its chat's limits before anything else.
 */
export function commandHandlers(deps: HandlerDeps): Composer<Context> {
  const composer = new Composer<Context>();
  for (const command of COMMANDS)
    composer.command([command.name, ...(command.aliases ?? [])], handler(deps, command));
  composer.on('message:text', (ctx) => hint(deps, ctx));
  return composer;
}
