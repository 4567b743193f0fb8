import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ACTIONS,
  COMMANDS,
  commandOptions,
  findAction,
  findCommand,
  inputSchema,
  parseInvocation,
  parseLine,
  typedUsage,
} from '../../commands/index.js';
import { defineCommand } from '../../commands/command.js';
import { actionData } from '../../src/core/buttons.js';
import type { ChatContext } from '../../src/core/chat.js';
import { addChatCommand } from '../../src/platforms/console/chat-commands.js';
import { slashCommand } from '../../src/platforms/discord/slash-commands.js';
import { parseCommandText } from '../../src/platforms/telegram/parse-command.js';

describe('command declarations', () => {
  it.each(COMMANDS.map((c) => [c.name, c] as const))(
    '/%s declares a well-formed syntax',
    (_, command) => {
      const options = commandOptions(command);
      const keys = Object.keys(command.options.shape);
      expect(Object.keys(command.syntax).every((k) => keys.includes(k))).toBe(true);
      expect(options.filter((o) => o.syntax.rest).length).toBeLessThanOrEqual(1);
      const flags = options.flatMap((o) => o.syntax.flags ?? []);
      expect(new Set(flags).size).toBe(flags.length);
      for (const flag of flags) expect(flag).toMatch(/^[a-z][a-z-]*$/);
      for (const o of options) {
        expect(o.syntax.rest && o.syntax.positional).toBeFalsy();
        // An option a typed surface cannot give is either attached or has a default.
        const typed = o.syntax.rest || o.syntax.positional || (o.syntax.flags?.length ?? 0) > 0;
        if (!typed && !o.syntax.attached) expect(o.required).toBe(false);
      }
    },
  );

  it('gives every command a JSON schema of its input, without attached images', () => {
    for (const command of COMMANDS) {
      const schema = inputSchema(command);
      expect(schema).toMatchObject({ type: 'object', title: command.name });
      // Every option a typed surface takes is in it, and nothing else.
      const typed = commandOptions(command)
        .filter((o) => !o.syntax.attached)
        .map((o) => o.key)
        .sort();
      expect(Object.keys(schema.properties ?? {}).sort()).toEqual(typed);
    }
    const generate = inputSchema(findCommand('generate')!);
    expect(Object.keys(generate.properties ?? {})).not.toContain('inputImages');
    expect(generate.required).toEqual(['prompt']);
    expect(generate.properties?.count).toMatchObject({ type: 'integer', minimum: 1, maximum: 4 });
    expect(inputSchema(findCommand('grant')!).required).toEqual(['member', 'points']);
    expect(inputSchema(findCommand('history')!).properties?.status).toMatchObject({
      enum: expect.arrayContaining(['failed', 'completed']) as unknown,
    });
  });

  it('never takes an attached option from raw input', () => {
    const ctx: ChatContext = {
      platform: 'console',
      actor: {
        identity: { platform: 'console', id: 'eve' },
        displayName: 'eve',
        isModerator: false,
      },
      invocationKey: 'k',
      resolveMember: async () => undefined,
    };
    const forged = [{ fileId: 'someone-elses', mime: 'image/png', width: 8, height: 8 }];
    const input = parseInvocation(findCommand('generate')!, ctx, {
      prompt: 'x',
      inputImages: forged,
    });
    expect(input).not.toHaveProperty('inputImages');
  });

  it('keeps every button within Telegram callback data limits, and reads it back', () => {
    // The longest arguments each action's schema accepts, from the platforms' ids.
    const longest: Record<string, (string | number)[]> = {
      cancel: ['a'.repeat(32)],
      stop: ['a'.repeat(32)],
      reroll: ['a'.repeat(32)],
      details: ['a'.repeat(32)],
      history: [99_999, 'processing', '9'.repeat(20)],
    };
    for (const action of ACTIONS) {
      const args = longest[action.name];
      expect(args, `a longest case for ${action.name}`).toBeDefined();
      const data = actionData(action.name, args ?? []);
      expect(data, `${action.name} fits in a button`).toBeDefined();
      expect(findAction(data ?? '')?.action.name).toBe(action.name);
    }
    // A console name can be longer than any chat id: its page buttons are left out.
    expect(actionData('history', [2, 'processing', 'n'.repeat(60)])).toBeUndefined();
  });

  it('names every command as Telegram accepts, and never takes a console option name', () => {
    const consoleOptions = ['as', 'json', 'key', 'wait', 'out', 'help', 'h', 'version', 'V'];
    for (const command of COMMANDS) {
      expect(command.name).toMatch(/^[a-z0-9_]{1,32}$/);
      for (const alias of command.aliases ?? []) expect(alias).toMatch(/^[a-z0-9_]{1,32}$/);
      for (const o of commandOptions(command))
        for (const flag of o.syntax.flags ?? []) expect(consoleOptions).not.toContain(flag);
    }
  });

  it('derives a usage that reads as the form to type, for every command', () => {
    expect(Object.fromEntries(COMMANDS.map((c) => [c.name, typedUsage(c)]))).toEqual({
      generate: '/generate <prompt> [--model id] [--ar w:h] [--seed n] [--count 1-4] [--neg text]',
      history: '/history [page] [--status completed|failed|cancelled]',
      queue: '/queue',
      balance: '/balance',
      cancel: '/cancel <generation id>',
      models: '/models',
      help: '/help',
      grant: '/grant <user id, or reply to them> <points> [reason]',
      revoke: '/revoke <user id, or reply to them> <points> [reason]',
    });
  });

  it('gives every addressee action the member it was made for', () => {
    for (const action of ACTIONS.filter((a) => a.who === 'addressee'))
      expect(action.args).toContain('for');
    for (const action of ACTIONS.filter((a) => a.who === 'owner' || a.who === 'owner-or-moderator'))
      expect(action.subject, `${action.name} names its generation`).toBeDefined();
  });
});

describe('the replied-to member of /grant and /revoke', () => {
  it.each([
    ['points and a reason', '50 event prize', { member: '42', points: 50, reason: 'event prize' }],
    ['points alone', '50', { member: '42', points: 50 }],
    ['a member named anyway', '123456789 50', { member: '123456789', points: 50 }],
    [
      'a member and a reason',
      '123456789 50 late',
      { member: '123456789', points: 50, reason: 'late' },
    ],
  ])('%s', (_, text, raw) => {
    expect(parseCommandText(findCommand('grant')!, text, '42')).toEqual(raw);
    expect(parseCommandText(findCommand('revoke')!, text, '42')).toEqual(raw);
  });

  it('fills nothing without a reply', () => {
    expect(() => parseCommandText(findCommand('grant')!, '50 event prize')).toThrow(
      /^points must be a whole number \(got "event"\)/,
    );
  });
});

describe('a new command works on every surface from its declaration alone', () => {
  const echo = defineCommand({
    name: 'echo',
    description: 'Say it back',
    options: z.object({
      times: z.int().min(1).max(3).default(1).describe('How often'),
      loud: z.boolean().optional().describe('Shout'),
      words: z.string().min(1).describe('What to say'),
    }),
    syntax: {
      times: { positional: true, example: '2' },
      loud: { flags: ['loud', 'l'], example: 'true' },
      words: { rest: true, example: 'hello there' },
    },
    role: 'member',
    examples: ['/echo 2 hello'],
    run: async (_ctx, input) => ({ text: input.words, data: { ...input } }),
  });

  it('is a Discord slash command', () => {
    const slash = slashCommand(echo);
    expect(slash.name).toBe('echo');
    expect(slash.options?.map((o) => [o.name, o.required])).toEqual([
      ['words', true],
      ['times', false],
      ['loud', false],
    ]);
  });

  it('is typed on Telegram', () => {
    expect(parseLine(echo, '3 hello there')).toEqual({ times: 3, words: 'hello there' });
    expect(parseLine(echo, '1 hi -l yes')).toEqual({ times: 1, loud: true, words: 'hi' });
    expect(() => parseLine(echo, '1 hi --loud maybe')).toThrow(
      /--loud is yes or no \(got "maybe"\)/,
    );
    expect(typedUsage(echo)).toBe('/echo [times] <words> [--loud yes|no]');
    expect(() => parseLine(echo, 'x --bogus 1')).toThrow(/Unknown option --bogus for \/echo/);
  });

  it('is a console subcommand', async () => {
    const program = new Command('t').exitOverride();
    const seen: Record<string, unknown>[] = [];
    addChatCommand(program, echo, async (_c, raw) => {
      seen.push(raw);
    });
    await program.parseAsync(['echo', '2', 'hello', 'there'], { from: 'user' });
    expect(seen).toEqual([{ times: 2, words: 'hello there' }]);
  });
});
