import type { z } from 'zod';
import type { Catalog } from '../src/catalog/catalog.js';
import type { ChatContext } from '../src/core/chat.js';
import { UserError } from '../src/core/errors.js';
import { zodToUserError } from '../src/core/validation.js';
import type { Economy } from '../src/economy/ledger.js';
import type { GenerationService, HistoryPage } from '../src/generation/generation-service.js';
import type { GenerationSummary } from '../src/generation/summary.js';
import type { ProgressView } from '../src/delivery/progress-view.js';

/** What commands may use. Built by the composition root; commands never construct services. */
export interface CommandServices {
  generations: GenerationService;
  economy: Economy;
  catalog: Catalog;
}

/** A command's answer, for every surface: text for chat, data for `--json` and buttons. */
export interface CommandResult {
  text: string;
  data: Record<string, unknown>;
  /** Shown only to the member (ephemeral on Discord). */
  private?: boolean;
  generation?: GenerationSummary;
  history?: HistoryPage;
}

export type Role = 'member' | 'moderator';

export interface CommandDefinition<S extends z.ZodObject = z.ZodObject> {
  name: string;
  description: string;
  /** Options with per-option descriptions; adapters build slash commands and flags from it. */
  options: S;
  role: Role;
  /**
   * The answer is for the member alone: ephemeral on Discord; on Telegram, sent as a direct
   * message when asked in a group (never posted to the group).
   */
  private?: boolean;
  /**
   * For a command that starts a generation: what its status message shows before anything
   * is submitted (the price is a pure quote). Surfaces that must post the status message
   * first (Telegram) show this, so the very first message already carries the price. Throws
   * the same refusal `run` would for an unknown model or bad options.
   */
  preview?(ctx: ChatContext, input: z.output<S>, services: CommandServices): ProgressView;
  /** Shown by /help and in error messages: the form that works. */
  usage: string;
  examples: readonly string[];
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
  const parsed = command.options.safeParse(rawOptions);
  if (!parsed.success) {
    const error = zodToUserError(parsed.error);
    throw new UserError('invalid_input', `${error.message} Usage: ${command.usage}`, {
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

/**
 * Runs a command for an adapter: checks the role, validates the raw options into the
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
