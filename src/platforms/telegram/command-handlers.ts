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
  /** Whether this process is the first to see the event (a redelivery is dropped). */
  firstDelivery(ctx: Context): Promise<boolean>;
}

/**
 * Shows what a command or button answered: a generation in the status message it opened,
 * else the text (and buttons) as a reply, privately when the command or answer is private.
 */
export async function showResult(
  deps: HandlerDeps,
  ctx: Context,
  invocation: TelegramInvocation,
  result: CommandResult,
  privately: boolean,
): Promise<void> {
  if (invocation.status && result.generation) {
    // Queued and held from here on: a failed edit must not tell the member it failed.
    await deps.sink
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
  if (privately || result.private) await deps.replies.answerPrivately(ctx, result.text, keyboard);
  else await deps.replies.reply(ctx, result.text, keyboard);
}

/**
 * A refusal or failure: in the status message when one was opened (the member is looking
 * at it), else as an answer where the command's answer would have gone.
 */
export async function showFailure(
  deps: HandlerDeps,
  ctx: Context,
  invocation: TelegramInvocation,
  error: unknown,
  privately: boolean,
): Promise<void> {
  const text = `⚠️ ${memberMessage(error)}`;
  try {
    if (invocation.status) await deps.replies.edit(ctx, invocation.status, text);
    else if (privately) await deps.replies.answerPrivately(ctx, text);
    else await deps.replies.reply(ctx, text);
  } catch (e) {
    deps.log.warn({ err: e }, 'could not answer');
  }
}

function handler(deps: HandlerDeps, command: CommandDefinition) {
  return async (ctx: Context & { match: string }): Promise<void> => {
    if (!(await deps.firstDelivery(ctx))) return;
    const invocation = new TelegramInvocation(deps, ctx);
    try {
      const author = ctx.msg?.reply_to_message?.from?.id;
      const raw = parseCommandText(
        command,
        ctx.match,
        author === undefined ? undefined : String(author),
      );
      const chat = await invocation.chatContext();
      const result = await executeCommand(command, chat, raw, deps.services);
      await showResult(deps, ctx, invocation, result, command.private === true);
    } catch (error) {
      // A refusal is the member's to read; its cause (a download that failed) is kept for debugging.
      if (error instanceof UserError)
        deps.log.debug({ err: error, command: command.name }, 'refused');
      else deps.log.error({ err: error, command: command.name }, 'command failed');
      await showFailure(deps, ctx, invocation, error, command.private === true);
    }
  };
}

/**
 * Every command of `commands/` as a Telegram command (`/generate a fox --ar 16:9`, also
 * `/generate@thisbot` in groups), with its aliases; the grammar is derived from its options.
 */
export function commandHandlers(deps: HandlerDeps): Composer<Context> {
  const composer = new Composer<Context>();
  for (const command of COMMANDS)
    composer.command([command.name, ...(command.aliases ?? [])], handler(deps, command));
  composer.on('message:text', async (ctx) => {
    if (ctx.chat.type === 'private' && !ctx.msg.text.startsWith('/')) {
      await deps.replies.reply(
        ctx,
        'Send /generate followed by what you want to see, e.g. /generate a red fox in the snow. /help lists everything.',
      );
    }
  });
  return composer;
}
