import { balance } from './balance.js';
import { cancel } from './cancel.js';
import type { CommandDefinition } from './command.js';
import { generate } from './generate.js';
import { grant } from './grant.js';
import { createHelp } from './help.js';
import { history } from './history.js';
import { models } from './models.js';
import { revoke } from './revoke.js';

export {
  cancelOutcome,
  GENERATION_ACTIONS,
  prepareGenerationAction,
  type GenerationActionName,
  type PreparedAction,
} from './generation-actions.js';
export {
  executeCommand,
  parseInvocation,
  type CommandDefinition,
  type CommandResult,
  type CommandServices,
} from './command.js';

const list: CommandDefinition[] = [];
const help = createHelp(() => list);

/** Every chat command, in the order /help shows them. */
export const COMMANDS: readonly CommandDefinition[] = list;
list.push(generate, history, balance, cancel, models, help, grant, revoke);

export function findCommand(name: string): CommandDefinition | undefined {
  return COMMANDS.find((c) => c.name === name);
}
