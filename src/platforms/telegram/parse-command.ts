import { findCommand, parseLine, tokenize } from '../../../commands/index.js';
import { UserError } from '../../core/errors.js';

export { tokenize };

/**
 * The text after a Telegram command as the command's raw options, by the grammar every
 * typed surface shares (commands/line-grammar.ts). `replyAuthor` is the id of the member the
 * message replies to.
 */
export function parseCommandText(
  name: string,
  text: string,
  replyAuthor?: string,
): Record<string, unknown> {
  const command = findCommand(name);
  if (!command) throw new UserError('unknown_command', `Unknown command /${name}. Try /help.`);
  return parseLine(command, text, { replyAuthor });
}
