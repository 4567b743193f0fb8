import { UserError } from '../src/core/errors.js';
import { parseWholeNumber } from '../src/core/numbers.js';
import type { CommandDefinition } from './command.js';
import { commandOptions, flagToken, typedUsage, type OptionSpec } from './options.js';

/**
 * The grammar of a command typed as one line (Telegram; any text surface), derived from the
 * command's declaration: `/generate a red fox --model fast --ar 16:9 --seed 7`. Positional
 * options take the leading words in order, flags (`--name value`, `-n value`) go anywhere,
 * and the rest of the words fill the command's `rest` option. Its refusals end with the
 * command's usage (`typedUsage`, derived from the same declaration).
 */

// The usage lives beside the options it is derived from (commands/options.ts), where the
// command layer reads it too; it is re-exported here for the commands' public list.
export { typedUsage };

/** Splits on spaces, keeping "quoted phrases" (straight or curly quotes) together. */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const re = /"([^"]*)"|“([^”]*)”|(\S+)/g;
  for (const m of text.matchAll(re)) tokens.push(m[1] ?? m[2] ?? m[3] ?? '');
  return tokens;
}

const NUMBER = /^-?\d+(\.\d+)?$/;

/** The number a word spells for a numeric option (a whole one for an integer), if it does. */
function numberIn(raw: string, option: OptionSpec): number | undefined {
  if (option.type === 'integer') return parseWholeNumber(raw);
  return NUMBER.test(raw) ? Number(raw) : undefined;
}

function fits(raw: string, option: OptionSpec): boolean {
  if (option.type !== 'integer' && option.type !== 'number') return true;
  return numberIn(raw, option) !== undefined;
}

export interface LineContext {
  /** The platform id of the member the message replies to, for options filled from a reply. */
  replyAuthor?: string | undefined;
}

/**
 * Turns the text after a command into raw options for the command's own validation. An
 * unknown option or a value of the wrong form is refused here, naming it and showing the
 * right form; everything else is the command's schema's to judge.
 */
export function parseLine(
  command: CommandDefinition,
  text: string,
  context: LineContext = {},
): Record<string, unknown> {
  const options = commandOptions(command).filter((o) => !o.syntax.attached);
  const usage = typedUsage(command);
  const positionals = options.filter((o) => o.syntax.positional);
  const rest = options.find((o) => o.syntax.rest);
  const flags = options.flatMap((o) => (o.syntax.flags ?? []).map((flag) => ({ flag, o })));

  const convert = (raw: string, o: OptionSpec, name: string, example: string) => {
    if (o.type === 'boolean') {
      const yes = /^(true|yes|on)$/i.test(raw);
      if (!yes && !/^(false|no|off)$/i.test(raw))
        throw new UserError(
          'invalid_input',
          `${name} is yes or no (got "${raw}"), e.g. ${example}. Usage: ${usage}`,
        );
      return yes;
    }
    if (o.type !== 'integer' && o.type !== 'number') return raw;
    const value = numberIn(raw, o);
    if (value === undefined) {
      const what = o.type === 'integer' ? 'a whole number' : 'a number';
      throw new UserError(
        'invalid_input',
        `${name} must be ${what} (got "${raw}"), e.g. ${example}. Usage: ${usage}`,
      );
    }
    return value;
  };

  const tokens = tokenize(text);
  const raw: Record<string, unknown> = {};
  const words: string[] = [];
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i] ?? '';
    const name = /^--?([a-z][a-z-]*)$/i.exec(token)?.[1]?.toLowerCase();
    if (name === undefined || /^-?\d/.test(token)) {
      words.push(token);
      continue;
    }
    const found = flags.find((f) => f.flag === name);
    if (!found) {
      const known = flags.map((f) => flagToken(f.flag));
      const hint = known.length > 0 ? ` Options: ${known.join(', ')}.` : '';
      throw new UserError(
        'invalid_input',
        `Unknown option ${token} for /${command.name}.${hint} Usage: ${usage}`,
      );
    }
    const example = `${flagToken(found.flag)} ${found.o.syntax.example ?? '…'}`;
    const value = tokens[i + 1];
    if (value === undefined || /^--[a-z]/i.test(value))
      throw new UserError(
        'invalid_input',
        `${token} needs a value, e.g. ${example}. Usage: ${usage}`,
      );
    raw[found.o.key] = convert(value, found.o, token, example);
    i += 1;
  }
  fillFromReply(positionals, words, context.replyAuthor);
  positionals.forEach((o, index) => {
    const word = words.shift();
    if (word === undefined) return;
    const sample = positionals
      .slice(0, index + 1)
      .map((p) => p.syntax.example ?? p.key)
      .join(' ');
    raw[o.key] = convert(word, o, o.key, `/${command.name} ${sample}`);
  });
  if (rest && words.length > 0 && raw[rest.key] === undefined) raw[rest.key] = words.join(' ');
  else if (words.length > 0 && !rest)
    throw new UserError(
      'invalid_input',
      `/${command.name} does not take "${words.join(' ')}". Usage: ${usage}`,
    );
  return raw;
}

/**
 * On a reply, the replied-to member fills the positional declared `fromReply` when the
 * words start with what belongs after it: `/grant 50 welcome` answering Bob is
 * `/grant <Bob> 50 welcome`, while `/grant 107 50` still names member 107.
 */
function fillFromReply(positionals: OptionSpec[], words: string[], author: string | undefined) {
  const index = positionals.findIndex((o) => o.syntax.fromReply);
  const next = positionals[index + 1];
  if (author === undefined || index !== 0 || !next || next.type === 'string') return;
  const [first, second] = words;
  if (first !== undefined && fits(first, next) && (second === undefined || !fits(second, next)))
    words.unshift(author);
}
