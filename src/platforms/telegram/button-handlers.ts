import { Composer, type Context } from 'grammy';
import {
  executeAction,
  findAction,
  type ActionInvocation,
  type CommandResult,
} from '../../../commands/index.js';
import { errorCode, memberMessage, UserError } from '../../core/errors.js';
import { viewOf } from '../../delivery/progress-view.js';
import { showResult, type HandlerDeps } from './command-handlers.js';
import { TelegramInvocation } from './invocation.js';
import { keyboardOf, STATUS_MARK } from './render.js';

/** A callback query, answered once: Telegram keeps the button spinning until it is. */
class Press {
  #answered = false;

  constructor(
    private readonly deps: HandlerDeps,
    private readonly ctx: Context,
  ) {}

  answer(text?: string, alert = false): Promise<unknown> {
    if (this.#answered) return Promise.resolve();
    this.#answered = true;
    return this.deps.replies.answerCallback(this.ctx, text, alert);
  }
}

/**
 * A generation cancelled from its status message shows it there at once; its delivery
 * writes the same final state when it comes. Queued, not awaited.
 */
function showCancelled(deps: HandlerDeps, ctx: Context, result: CommandResult): void {
  const message = ctx.callbackQuery?.message;
  // Only a status message (not, say, a /queue answer with Cancel buttons) shows its state.
  const isStatus = message && 'text' in message && message.text?.startsWith(STATUS_MARK);
  if (!message || !isStatus || result.generation?.status !== 'cancelled') return;
  void deps.sink
    .editStatus(
      { platform: 'telegram', chatId: message.chat.id, messageId: message.message_id },
      viewOf(result.generation),
    )
    .catch((error: unknown) =>
      deps.log.warn(
        { err: error, generationId: result.generation?.id },
        'could not show the cancel',
      ),
    );
}

/**
 * How a press is answered on Telegram, by what the action declares. The press itself is
 * answered at once; messages are queued in the outbox, never awaited.
 */
async function answerPress(
  deps: HandlerDeps,
  ctx: Context,
  invocation: TelegramInvocation,
  press: Press,
  pressed: ActionInvocation,
  result: CommandResult,
): Promise<void> {
  const { replies } = deps;
  switch (pressed.action.answer) {
    case 'public':
      await press.answer();
      showResult(deps, ctx, invocation, result, false);
      return;
    case 'update': {
      await press.answer();
      const message = ctx.callbackQuery?.message;
      if (message)
        void replies.edit(
          ctx,
          { chatId: message.chat.id, messageId: message.message_id },
          result.text,
          keyboardOf(result.buttons ?? []),
        );
      return;
    }
    case 'private':
      if (result.details) {
        await press.answer();
        void replies.answerPrivately(ctx, result.text);
      } else {
        // A short private answer is the press's own toast.
        await press.answer(result.text);
      }
      showCancelled(deps, ctx, result);
      return;
  }
}

/** Runs a pressed action and answers it. Never rejects: a failure is shown and logged. */
async function runPress(
  deps: HandlerDeps,
  ctx: Context,
  invocation: TelegramInvocation,
  press: Press,
  pressed: ActionInvocation,
): Promise<void> {
  try {
    const result = await executeAction(pressed, await invocation.chatContext(), deps.services);
    await answerPress(deps, ctx, invocation, press, pressed, result);
  } catch (error) {
    if (error instanceof UserError)
      deps.log.debug({ err: error, action: pressed.action.name }, 'refused');
    else deps.log.error({ err: error, action: pressed.action.name }, 'button failed');
    if (invocation.status) {
      // The member looks at the status message: the failure is shown there, once.
      void deps.replies.edit(ctx, invocation.status, `⚠️ ${memberMessage(error)}`);
      await press.answer();
      return;
    }
    await press.answer(memberMessage(error), errorCode(error) !== 'internal');
  }
}

/**
 * Button presses (callback queries): the command layer resolves the data to an action and
 * checks who may press it; a refusal is an alert that says why. An action that opens a
 * status message acknowledges the press as it does (`Rerolling…`), so the button stops
 * spinning before the message waits for the chat's pace, and the handler goes no further
 * with it: the action goes on without holding the update once its status message is queued.
 */
export function buttonHandlers(deps: HandlerDeps): Composer<Context> {
  const composer = new Composer<Context>();
  composer.on('callback_query:data', async (ctx) => {
    const press = new Press(deps, ctx);
    const pressed = findAction(ctx.callbackQuery.data);
    if (!pressed) {
      await press.answer('This button is no longer valid.');
      return;
    }
    if (!(await deps.firstDelivery(ctx))) return;
    const invocation = new TelegramInvocation(deps, ctx);
    const statusQueued = new Promise<void>((resolve) => {
      invocation.beforeStatus = async () => {
        resolve();
        await press.answer(pressed.action.acknowledgement);
      };
    });
    await Promise.race([runPress(deps, ctx, invocation, press, pressed), statusQueued]);
  });
  return composer;
}
