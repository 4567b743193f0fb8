import { UserError } from '../../core/errors.js';

type ValueType = 'string' | 'int' | 'number';

interface FlagSpec {
  key: string;
  type: ValueType;
  example: string;
}

interface CommandSpec {
  /** Leading words taken in order, before the rest. */
  positional?: { key: string; type: ValueType; example: string }[];
  /** Where the remaining words go (joined with spaces). */
  rest?: string;
  flags?: Record<string, FlagSpec>;
  usage: string;
}

const GENERATE_FLAGS: Record<string, FlagSpec> = {
  model: { key: 'model', type: 'string', example: '--model local-sketch' },
  m: { key: 'model', type: 'string', example: '-m local-sketch' },
  ar: { key: 'aspectRatio', type: 'string', example: '--ar 16:9' },
  seed: { key: 'seed', type: 'int', example: '--seed 7' },
  count: { key: 'count', type: 'int', example: '--count 2' },
  n: { key: 'count', type: 'int', example: '-n 2' },
  neg: { key: 'negativePrompt', type: 'string', example: '--neg blurry' },
  steps: { key: 'steps', type: 'int', example: '--steps 20' },
  guidance: { key: 'guidance', type: 'number', example: '--guidance 7' },
  cfg: { key: 'guidance', type: 'number', example: '--cfg 7' },
  width: { key: 'width', type: 'int', example: '--width 768' },
  height: { key: 'height', type: 'int', example: '--height 512' },
  seconds: { key: 'seconds', type: 'number', example: '--seconds 2' },
};

const REASON: Record<string, FlagSpec> = {
  reason: { key: 'reason', type: 'string', example: '--reason "event prize"' },
};

export const TELEGRAM_COMMANDS: Record<string, CommandSpec> = {
  generate: {
    rest: 'prompt',
    flags: GENERATE_FLAGS,
    usage: '/generate a red fox --model local-sketch --ar 16:9 --seed 7 --count 2 --neg blurry',
  },
  history: {
    positional: [{ key: 'page', type: 'int', example: '/history 2' }],
    flags: { status: { key: 'status', type: 'string', example: '--status failed' } },
    usage: '/history [page] [--status completed|failed|cancelled]',
  },
  cancel: {
    positional: [{ key: 'id', type: 'string', example: '/cancel k3v9q2m7x1c8ab' }],
    usage: '/cancel <generation id>',
  },
  balance: { usage: '/balance' },
  models: { usage: '/models' },
  help: { usage: '/help' },
  grant: {
    positional: [
      { key: 'member', type: 'string', example: '/grant 123456789 100' },
      { key: 'points', type: 'int', example: '/grant 123456789 100' },
    ],
    rest: 'reason',
    flags: REASON,
    usage: '/grant <user id, or reply to them> <points> [reason]',
  },
  revoke: {
    positional: [
      { key: 'member', type: 'string', example: '/revoke 123456789 20' },
      { key: 'points', type: 'int', example: '/revoke 123456789 20' },
    ],
    rest: 'reason',
    flags: REASON,
    usage: '/revoke <user id, or reply to them> <points> [reason]',
  },
};

/** Splits on spaces, keeping "quoted phrases" (straight or curly quotes) together. */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const re = /"([^"]*)"|“([^”]*)”|(\S+)/g;
  for (const m of text.matchAll(re)) tokens.push(m[1] ?? m[2] ?? m[3] ?? '');
  return tokens;
}

function convert(
  raw: string,
  type: ValueType,
  name: string,
  example: string,
  usage: string,
): string | number {
  if (type === 'string') return raw;
  const ok = type === 'int' ? /^-?\d+$/.test(raw) : /^-?\d+(\.\d+)?$/.test(raw);
  if (!ok) {
    const what = type === 'int' ? 'a whole number' : 'a number';
    throw new UserError(
      'invalid_input',
      `${name} must be ${what} (got "${raw}"), e.g. ${example}. Usage: ${usage}`,
    );
  }
  return Number(raw);
}

/**
 * Turns the text after a command into raw options for the command's own validation:
 * `/generate a red fox --model fast --ar 16:9 --seed 7`. An unknown option or a value of the
 * wrong form is refused here, naming it and showing the right form.
 */
export function parseCommandText(command: string, text: string): Record<string, unknown> {
  const spec = TELEGRAM_COMMANDS[command];
  if (!spec) throw new UserError('unknown_command', `Unknown command /${command}. Try /help.`);
  const tokens = tokenize(text);
  const raw: Record<string, unknown> = {};
  const words: string[] = [];
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i] ?? '';
    const flag = /^--?([a-z][a-z-]*)$/i.exec(token)?.[1]?.toLowerCase();
    if (flag === undefined || /^-?\d/.test(token)) {
      words.push(token);
      continue;
    }
    const f = spec.flags?.[flag];
    if (!f) {
      const known = Object.keys(spec.flags ?? {}).map((k) => (k.length === 1 ? `-${k}` : `--${k}`));
      const hint = known.length > 0 ? ` Options: ${known.join(', ')}.` : '';
      throw new UserError(
        'invalid_input',
        `Unknown option ${token} for /${command}.${hint} Usage: ${spec.usage}`,
      );
    }
    const value = tokens[i + 1];
    if (value === undefined || /^--[a-z]/i.test(value)) {
      throw new UserError(
        'invalid_input',
        `${token} needs a value, e.g. ${f.example}. Usage: ${spec.usage}`,
      );
    }
    raw[f.key] = convert(value, f.type, token, f.example, spec.usage);
    i += 1;
  }
  for (const p of spec.positional ?? []) {
    const word = words.shift();
    if (word === undefined) break;
    raw[p.key] = convert(word, p.type, p.key, p.example, spec.usage);
  }
  if (spec.rest && words.length > 0 && raw[spec.rest] === undefined)
    raw[spec.rest] = words.join(' ');
  else if (words.length > 0 && !spec.rest) {
    throw new UserError(
      'invalid_input',
      `/${command} does not take "${words.join(' ')}". Usage: ${spec.usage}`,
    );
  }
  return raw;
}
