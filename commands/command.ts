import type { z } from 'zod';
import type { Catalog } from '../src/catalog/catalog.js';
import type { ButtonLook, ButtonRef } from '../src/core/buttons.js';
import type { ChatContext } from '../src/core/chat.js';
import { UserError } from '../src/core/errors.js';
import { zodToUserError } from '../src/core/validation.js';
import type { Economy } from '../src/economy/ledger.js';
import type { GenerationService, HistoryPage } from '../src/generation/generation-service.js';
import type { QueueBoard } from '../src/generation/queue-board.js';
import type { GenerationSummary } from '../src/generation/summary.js';
import { typedUsage, type CommandSignature, type OptionSyntax } from './options.js';

export type { OptionSyntax };

/** What commands may use. Built by the composition root; commands never construct services. */
export interface CommandServices {
  generations: GenerationService;
  economy: Economy;
  catalog: Catalog;
  queueBoard: QueueBoard;
}

/**
 * A command's answer, for every surface: `text` is always a complete answer (the console
 * prints it, chat sends it); `data` is the same as JSON; the rest lets a richer surface show
 * more (an embed, buttons).
 */
export interface CommandResult {
  text: string;
  data: Record<string, unknown>;
  /** Shown only to the member (ephemeral on Discord, a direct message on Telegram). */
  private?: boolean;
  /**
   * The generation the command started or acted on. When the invocation opened a status
   * message (`ctx.openStatus`), the surface shows this generation's state there.
   */
  generation?: GenerationSummary;
  /** Show `generation` as its details card rather than as text. */
  details?: boolean;
  history?: HistoryPage;
  /** Buttons under the answer (history pages). */
  buttons?: readonly ButtonRef[];
}

export type Role = 'member' | 'moderator';

/** Who may press an action's button. */
export type ActionRule =
  /** Anyone who sees it: the answer is private and shows only what is public already. */
  | 'anyone'
  /** The member the button was made for (its `for` argument is their platform id). */
  | 'addressee'
  /**
   * Anyone, for a generation asked for where others could see it; for one asked for in a
   * private chat, its owner or a moderator (a forged button elsewhere finds nothing to show).
   */
  | 'anyone-where-public'
  /** The member whose generation it is. */
  | 'owner'
  /** The owner, or a moderator. */
  | 'owner-or-moderator';

/**
 * A follow-up a command owns, offered as a button (Reroll, Details, Cancel, history pages).
 * Its arguments are the button's data after its name, strictly parsed.
 */
export interface ActionDefinition<A extends z.ZodObject = z.ZodObject> {
  name: string;
  /** Argument names in the order the button data carries them. */
  args: readonly (keyof z.input<A> & string)[];
  schema: A;
  who: ActionRule;
  /** For the `addressee` rule: the refusal a press by anyone else gets. */
  notForYou?: string;
  /**
   * How a surface answers a press: a new public message (a generation's status), privately
   * to whoever pressed, or by replacing the message the button is on.
   */
  answer: 'public' | 'private' | 'update';
  /** How its button looks where a command's answer or a status message offers it. */
  button?: ButtonLook;
  /** What a press of a `public` action says at once, once it is allowed (`Rerolling…`). */
  acknowledgement?: string;
  /** For `owner` rules: the generation the arguments name (a UserError if there is none). */
  subject?(args: z.output<A>, services: CommandServices): Promise<GenerationSummary>;
  run(
    ctx: ChatContext,
    args: z.output<A>,
    services: CommandServices,
    subject: GenerationSummary | undefined,
  ): Promise<CommandResult>;
}

/**
 * A command: its signature (name, description, options and how they are typed, from which
 * every surface derives its form and the usage), who may run it, and what it does.
 */
export interface CommandDefinition<
  S extends z.ZodObject = z.ZodObject,
> extends CommandSignature<S> {
  /** Other names a typed command answers to (Telegram's `/start` is /help); never published. */
  aliases?: readonly string[];
  role: Role;
  /**
   * The services it reads, when not all of them: a surface may open only those (the console
   * answers /help and /models without Redis or MongoDB).
   */
  uses?: readonly (keyof CommandServices)[];
  /**
   * The answer is for the member alone: ephemeral on Discord; on Telegram, sent as a direct
   * message when asked in a group (never posted to the group).
   */
  private?: boolean;
  /** Shown by /help beside the usage (`typedUsage`, derived from the signature). */
  examples: readonly string[];
  /** The buttons this command's answers carry. */
  actions?: readonly ActionDefinition[];
  run(ctx: ChatContext, input: z.output<S>, services: CommandServices): Promise<CommandResult>;
}

/**
 * Checks the role and validates the raw options into the command's input (a bad option
 * becomes one clear sentence with the usage). Nothing is written.
 */
export function parseInvocation(
  command: CommandDefinition,
  ctx: ChatContext,
  rawOptions: Record<string, unknown>,
): Record<string, unknown> {
  if (command.role === 'moderator' && !ctx.actor.isModerator) {
    throw new UserError('forbidden', `Only moderators can use /${command.name}.`);
  }
  // Attached options are filled by the command from `ctx.attachments`, never from raw input.
  const typed = Object.fromEntries(
    Object.entries(rawOptions).filter(([key]) => !command.syntax[key]?.attached),
  );
  const parsed = command.options.safeParse(typed);
  if (!parsed.success) {
    const error = zodToUserError(parsed.error);
    throw new UserError('invalid_input', `${error.message} Usage: ${typedUsage(command)}`, {
      details: error.details,
    });
  }
  return parsed.data;
}

export function defineCommand<S extends z.ZodObject>(
  definition: CommandDefinition<S>,
): CommandDefinition<S> {
  return definition;
}

export function defineAction<A extends z.ZodObject>(
  definition: ActionDefinition<A>,
): ActionDefinition<A> {
  return definition;
}

/**
 * Runs a command for a surface: checks the role, validates the raw options into the
 * command's input (a bad option becomes one clear sentence), then runs it.
 */
export async function executeCommand(
  command: CommandDefinition,
  ctx: ChatContext,
  rawOptions: Record<string, unknown>,
  services: CommandServices,
): Promise<CommandResult> {
  return command.run(ctx, parseInvocation(command, ctx, rawOptions), services);
}
