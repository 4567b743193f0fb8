import { Composer, type Context } from 'grammy';
import {
  executeAction,
  findAction,
  type ActionInvocation,
  type CommandResult,
} from '../../../commands/index.js';
import { errorCode, memberMessage, UserError } from '../../core/errors.js';
import { showResult, type HandlerDeps } from './command-handlers.js';
import { TelegramInvocation } from './invocation.js';
import { keyboardOf, renderDetails } from './render.js';

/** How a press is answered on Telegram, by what the action declares. */
async function answerPress(
  deps: HandlerDeps,
  ctx: Context,
  invocation: TelegramInvocation,
  pressed: ActionInvocation,
  result: CommandResult,
): Promise<void> {
  const { replies } = deps;
  switch (pressed.action.answer) {
    case 'public':
      await replies.answerCallback(ctx);
      await showResult(deps, ctx, invocation, result, false);
      return;
    case 'update': {
      await replies.answerCallback(ctx);
      const message = ctx.callbackQuery?.message;
      if (message)
        await replies.edit(
          ctx,
          { chatId: message.chat.id, messageId: message.message_id },
          result.text,
          keyboardOf(result.buttons ?? []),
        );
      return;
    }
    case 'private':
      if (result.details && result.generation) {
        await replies.answerCallback(ctx);
        await replies.answerPrivately(ctx, renderDetails(result.generation));
      } else {
        // A short private answer is the press's own toast.
        await replies.answerCallback(ctx, result.text);
      }
      return;
  }
}

/**
 * Button presses (callback queries): the command layer resolves the data to an action and
 * checks who may press it; a refusal is an alert that says why.
 */
export function buttonHandlers(deps: HandlerDeps): Composer<Context> {
  const composer = new Composer<Context>();
  composer.on('callback_query:data', async (ctx) => {
    const pressed = findAction(ctx.callbackQuery.data);
    if (!pressed) {
      await deps.replies.answerCallback(ctx, 'This button is no longer valid.');
      return;
    }
    if (!(await deps.firstDelivery(ctx))) return;
    const invocation = new TelegramInvocation(deps, ctx);
    try {
      const result = await executeAction(pressed, await invocation.chatContext(), deps.services);
      await answerPress(deps, ctx, invocation, pressed, result);
    } catch (error) {
      if (error instanceof UserError)
        deps.log.debug({ err: error, action: pressed.action.name }, 'refused');
      else deps.log.error({ err: error, action: pressed.action.name }, 'button failed');
      if (invocation.status)
        await deps.replies
          .edit(ctx, invocation.status, `⚠️ ${memberMessage(error)}`)
          .catch((e: unknown) => deps.log.warn({ err: e }, 'could not show the failure'));
      await deps.replies.answerCallback(ctx, memberMessage(error), errorCode(error) !== 'internal');
    }
  });
  return composer;
}
