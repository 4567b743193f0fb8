import { Command, InvalidArgumentError, Option } from 'commander';
import {
  commandOptions,
  type CommandDefinition,
  type OptionSpec,
} from '../../../commands/index.js';
import { parseWholeNumber } from '../../core/numbers.js';

/** A parser for a whole number, naming the option as typed in a refusal. */
export function wholeNumber(name: string) {
  return (value: string): number => {
    const n = parseWholeNumber(value.trim());
    if (n === undefined)
      throw new InvalidArgumentError(`${name} must be a whole number (got "${value}").`);
    return n;
  };
}

function num(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n))
      throw new InvalidArgumentError(`${name} must be a number (got "${value}").`);
    return n;
  };
}

/** A value parser for an option's type, naming it as typed in a refusal. */
function parserFor(o: OptionSpec, name: string): ((value: string) => number) | undefined {
  if (o.type === 'integer') return wholeNumber(name);
  if (o.type === 'number') return num(name);
  return undefined;
}

function flagToken(flag: string): string {
  return flag.length === 1 ? `-${flag}` : `--${flag}`;
}

/** One commander option per flag name (`-m` and `--model` alike), all filling `o.key`. */
function flagOptions(o: OptionSpec): Option[] {
  const names = [...(o.syntax.flags ?? [])];
  // On the console an optional positional may also be named: `history --page 2`.
  if (o.syntax.positional && !o.required && !names.includes(o.key)) names.push(o.key);
  return names.map((flag, i) => {
    const option = new Option(`${flagToken(flag)} <${o.key}>`, o.description);
    option.attributeName = () => `${o.key}:${flag}`;
    const parse = parserFor(o, flagToken(flag));
    if (parse) option.argParser(parse);
    // A value outside the choices is the command's to refuse, in its own words.
    // Aliases are shown once, with the first name.
    if (i > 0) option.hideHelp();
    return option;
  });
}

export type ChatRunner = (
  command: CommandDefinition,
  raw: Record<string, unknown>,
) => Promise<void>;

/**
 * A chat command as a console subcommand, derived from its declaration: positionals and
 * the rest of the line as arguments, flags as options (types checked as they are parsed),
 * attached images left out (the console has none).
 */
export function addChatCommand(program: Command, command: CommandDefinition, run: ChatRunner) {
  const options = commandOptions(command).filter((o) => !o.syntax.attached);
  const sub = program.command(command.name).description(command.description);
  const args = options.filter((o) => o.syntax.positional || o.syntax.rest);
  // Positionals first, then the rest of the line (commander wants a variadic last).
  args.sort((a, b) => Number(a.syntax.rest === true) - Number(b.syntax.rest === true));
  for (const o of args) {
    const name = o.syntax.rest ? `${o.key}...` : o.key;
    const parse = o.syntax.rest ? undefined : parserFor(o, o.key);
    const spec = o.required ? `<${name}>` : `[${name}]`;
    if (parse) sub.argument(spec, o.description, parse);
    else sub.argument(spec, o.description);
  }
  for (const o of options) for (const option of flagOptions(o)) sub.addOption(option);
  sub.action(async (...received: unknown[]) => {
    const self = received.at(-1);
    if (!(self instanceof Command)) throw new Error('commander passed no command');
    const raw: Record<string, unknown> = {};
    args.forEach((o, i) => {
      const value: unknown = self.processedArgs[i];
      if (value === undefined) return;
      raw[o.key] = Array.isArray(value) ? value.join(' ') : value;
    });
    for (const [attribute, value] of Object.entries(self.opts())) {
      const key = attribute.split(':')[0] ?? attribute;
      if (value !== undefined) raw[key] = value;
    }
    await run(command, raw);
  });
}
