import sharp from 'sharp';
import { ApplicationCommandOptionType } from 'discord-api-types/v10';
import { describe, expect, it } from 'vitest';
import { COMMANDS, findAction, findCommand, generationButtons } from '../../commands/index.js';
import { actionData } from '../../src/core/buttons.js';
import { fitAttachment } from '../../src/platforms/discord/fit-attachment.js';
import { isDiscordModerator } from '../../src/platforms/discord/moderators.js';
import { optionKey, slashCommand } from '../../src/platforms/discord/slash-commands.js';

describe('Discord slash commands from the command schemas', () => {
  const all = COMMANDS.map((c) => slashCommand(c, { aspectRatios: ['1:1', '16:9'] }));

  it('follows Discord naming and length rules for every command and option', () => {
    for (const c of all) {
      expect(c.name).toMatch(/^[a-z0-9_-]{1,32}$/);
      expect(c.description.length).toBeGreaterThan(0);
      expect(c.description.length).toBeLessThanOrEqual(100);
      const options = c.options ?? [];
      expect(options.length).toBeLessThanOrEqual(25);
      const firstOptional = options.findIndex((o) => !o.required);
      if (firstOptional >= 0)
        expect(options.slice(firstOptional).every((o) => !o.required)).toBe(true);
      for (const o of options) {
        expect(o.name).toMatch(/^[a-z0-9_-]{1,32}$/);
        expect(o.description.length).toBeLessThanOrEqual(100);
      }
    }
  });

  it('maps types, bounds, choices and the Discord-specific options', () => {
    const generate = all.find((c) => c.name === 'generate');
    const option = (name: string) => generate?.options?.find((o) => o.name === name);
    expect(option('negative_prompt')).toMatchObject({
      type: ApplicationCommandOptionType.String,
      max_length: 1000,
    });
    expect(option('steps')).toMatchObject({
      type: ApplicationCommandOptionType.Integer,
      min_value: 1,
    });
    expect(option('steps')).not.toHaveProperty('max_value');
    expect(option('guidance')).toMatchObject({
      type: ApplicationCommandOptionType.Number,
      min_value: 0,
    });
    expect(option('seed')).toMatchObject({ min_value: 0, max_value: 4294967295 });
    expect(option('aspect_ratio')).toMatchObject({
      choices: [
        { name: '1:1', value: '1:1' },
        { name: '16:9', value: '16:9' },
      ],
    });
    expect(option('model')).toMatchObject({ autocomplete: true });
    expect(option('model')).not.toHaveProperty('choices');
    expect(option('image')?.type).toBe(ApplicationCommandOptionType.Attachment);
    const history = all.find((c) => c.name === 'history');
    expect(history?.options?.find((o) => o.name === 'status')).toMatchObject({
      choices: expect.arrayContaining([{ name: 'failed', value: 'failed' }]) as unknown,
    });
  });

  it('maps option names back to the schema keys', () => {
    const generate = findCommand('generate');
    if (!generate) throw new Error('no generate');
    expect(optionKey(generate, 'negative_prompt')).toBe('negativePrompt');
    expect(optionKey(generate, 'aspect_ratio')).toBe('aspectRatio');
    expect(optionKey(generate, 'bogus')).toBeUndefined();
  });
});

describe('Button data (Discord custom ids, Telegram callback data)', () => {
  const named = (data: string) => {
    const found = findAction(data);
    return found ? { action: found.action.name, args: found.args } : undefined;
  };

  it('round-trips the ids the bot makes', () => {
    const [cancel] = generationButtons('k3v9q2m7x1c8ab', ['cancel']);
    expect(named(cancel!.data)).toEqual({ action: 'cancel', args: { id: 'k3v9q2m7x1c8ab' } });
    expect(named(actionData('history', [3, 'failed', '123456789012345678']) ?? '')).toEqual({
      action: 'history',
      args: { page: '3', status: 'failed', for: '123456789012345678' },
    });
    expect(named(actionData('history', [1, undefined, '123456789012345678']) ?? '')).toMatchObject({
      args: { status: undefined },
    });
  });

  it('reads the buttons of messages posted before the command layer', () => {
    expect(named('gen:reroll:k3v9q2m7x1c8ab')).toEqual({
      action: 'reroll',
      args: { id: 'k3v9q2m7x1c8ab' },
    });
    expect(named('hist:123456789012345678:3:failed')).toEqual({
      action: 'history',
      args: { page: '3', status: 'failed', for: '123456789012345678' },
    });
    expect(named('d:k3v9q2m7x1c8ab')).toEqual({
      action: 'details',
      args: { id: 'k3v9q2m7x1c8ab' },
    });
    expect(named('h:2:-:42')).toEqual({
      action: 'history',
      args: { page: '2', status: undefined, for: '42' },
    });
  });

  it('refuses forged or malformed ids', () => {
    for (const forged of [
      'gen:cancel:../../x',
      'gen:delete:k3v9q2m7x1c8ab',
      'hist:123:0:-',
      'hist:123:2:everything',
      'history:2:-:../x',
      `gen:reroll:${'a'.repeat(40)}`,
      'cancel:k3v9q2m7x1c8ab:extra',
      '',
    ])
      expect(named(forged)).toBeUndefined();
  });
});

describe('Discord moderators', () => {
  const config = {
    moderators: ['1'],
    moderatorRoles: ['r1'],
    manageGuildModerates: false,
    guildIds: ['g1'],
  };
  const at = { guildId: 'g1' };
  const manageGuild = 1n << 5n;

  it('accepts named users and named roles only, unless Manage Server is allowed', () => {
    expect(
      isDiscordModerator(config, {
        userId: '1',
        roles: [],
        permissions: undefined,
        guildId: undefined,
      }),
    ).toBe(true);
    expect(isDiscordModerator(config, { userId: '2', roles: ['r1'], permissions: 0n, ...at })).toBe(
      true,
    );
    expect(
      isDiscordModerator(config, { userId: '2', roles: ['r2'], permissions: manageGuild, ...at }),
    ).toBe(false);
    expect(
      isDiscordModerator(
        { ...config, manageGuildModerates: true },
        { userId: '2', roles: [], permissions: manageGuild, ...at },
      ),
    ).toBe(true);
    expect(
      isDiscordModerator(
        { ...config, manageGuildModerates: true },
        { userId: '2', roles: [], permissions: 1n << 3n, ...at },
      ),
    ).toBe(false);
    // Manage Server in a guild the operator did not name (someone's own server) counts for nothing.
    expect(
      isDiscordModerator(
        { ...config, manageGuildModerates: true },
        { userId: '2', roles: [], permissions: manageGuild, guildId: 'elsewhere' },
      ),
    ).toBe(false);
  });
});

describe('fitting outputs under the upload limit', () => {
  /** Pseudo-random pixels (a fixed LCG): incompressible enough to need re-encoding. */
  const bytes = (n: number) => {
    let x = 12345;
    return Buffer.from(
      Array.from({ length: n }, () => {
        x = (x * 1103515245 + 12345) % 2147483648;
        return (x >>> 15) & 0xff;
      }),
    );
  };
  const noisy = (w: number, h: number) =>
    sharp(bytes(w * h * 3), { raw: { width: w, height: h, channels: 3 } });

  it('leaves a file that fits alone', async () => {
    const png = await noisy(32, 32).png().toBuffer();
    const fitted = await fitAttachment(png, 'image/png', png.length);
    expect(fitted).toEqual({ data: png, mime: 'image/png', reencoded: false });
  });

  it('re-encodes a still as JPEG under the limit', async () => {
    const png = await noisy(256, 256).png().toBuffer();
    const fitted = await fitAttachment(png, 'image/png', 10_000);
    expect(png.length).toBeGreaterThan(10_000);
    expect(fitted?.mime).toBe('image/jpeg');
    expect(fitted?.data.length).toBeLessThanOrEqual(10_000);
  });

  it('shrinks an animation and keeps it animated', async () => {
    const frames = 4;
    const gif = await sharp(bytes(128 * 128 * frames * 4), {
      raw: { width: 128, height: 128 * frames, channels: 4, pageHeight: 128 },
    })
      .gif()
      .toBuffer();
    const fitted = await fitAttachment(gif, 'image/gif', Math.floor(gif.length / 2));
    expect(fitted?.mime).toBe('image/gif');
    expect(fitted?.data.length).toBeLessThanOrEqual(gif.length / 2);
    expect((await sharp(fitted?.data).metadata()).pages).toBe(frames);
  });

  it('gives up on what cannot fit, so the member is told instead', async () => {
    const png = await noisy(64, 64).png().toBuffer();
    expect(await fitAttachment(png, 'image/png', 100)).toBeUndefined();
    expect(await fitAttachment(Buffer.alloc(1000), 'video/mp4', 10)).toBeUndefined();
  });
});
