import { resolveButton, type ActionInvocation } from './actions.js';
import { balance } from './balance.js';
import { cancel } from './cancel.js';
import type { ActionDefinition, CommandDefinition } from './command.js';
import { generate } from './generate.js';
import { grant } from './grant.js';
import { createHelp } from './help.js';
import { history } from './history.js';
import { models } from './models.js';
import { queue } from './queue.js';
import { revoke } from './revoke.js';

export { actionButton, executeAction, quickRefusal, type ActionInvocation } from './actions.js';
export { generationButtons } from './generation-actions.js';
export {
  executeCommand,
  parseInvocation,
  type ActionDefinition,
  type CommandDefinition,
  type CommandResult,
  type CommandServices,
  type OptionSyntax,
} from './command.js';
export { commandOptions, inputSchema, type OptionSpec } from './options.js';
export { parseLine, tokenize, typedUsage } from './line-grammar.js';

const list: CommandDefinition[] = [];
const help = createHelp(() => list);

/**
 * Every command, in the order /help shows them. A command is its file and one line here;
 * every surface (Discord, Telegram, the console) derives its form from the definition.
 */
export const COMMANDS: readonly CommandDefinition[] = list;
list.push(generate, history, queue, balance, cancel, models, help, grant, revoke);

/** Every button any command's answers carry. */
export const ACTIONS: readonly ActionDefinition[] = COMMANDS.flatMap((c) => c.actions ?? []);

export function findCommand(name: string): CommandDefinition | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** The action a button's data stands for (buttons of older releases included). */
export function findAction(data: string): ActionInvocation | undefined {
  return resolveButton(ACTIONS, data);
}
