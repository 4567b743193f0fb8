import { parseLine, tokenize, type CommandDefinition } from '../../../commands/index.js';

export { tokenize };

/**
 * The text after a Telegram command as the command's raw options, by the grammar every
 * typed surface shares (commands/line-grammar.ts). `command` is the one the bot matched;
 * `replyAuthor` is the id of the member the message replies to.
 */
export function parseCommandText(
  command: CommandDefinition,
  text: string,
  replyAuthor?: string,
): Record<string, unknown> {
  return parseLine(command, text, { replyAuthor });
}
