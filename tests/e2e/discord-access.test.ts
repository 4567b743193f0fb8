import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InteractionContextType,
  InteractionResponseType,
  MessageFlags,
} from 'discord-api-types/v10';
import type { DiscordConfig } from '../../src/config.js';
import { NOT_IN_DMS, NOT_IN_THIS_SERVER } from '../../src/platforms/discord/access.js';
import {
  createDiscordAdapter,
  type DiscordAdapter,
} from '../../src/platforms/discord/discord-bot.js';
import { FakeDiscord, type FakeInteraction, type Member } from '../fakes/discord/fake-discord.js';
import { until } from '../support/until.js';
import { createTestApp, testModel, type TestApp } from '../support/app.js';

/**
 * Where the bot answers on Discord, against the loopback Discord: with DISCORD_GUILD_IDS set
 * an interaction from any other server gets a short refusal for the member alone and nothing
 * runs; with DISCORD_ALLOW_DMS=false a direct message is refused the same way.
 */
const GUILD = '300000000000000001';
const OTHER_GUILD = '300000000000000002';
const CHANNEL = '400000000000000001';
const ELSEWHERE = '400000000000000002';
const member = (n: number): Member => ({
  id: `1100000000000000${String(n).padStart(2, '0')}`,
  name: `m${n}`,
});

describe('Discord: where the bot answers', () => {
  let fake: FakeDiscord;
  let app: TestApp;
  let adapter: DiscordAdapter;

  const config: DiscordConfig = {
    token: '',
    apiUrl: undefined,
    guildIds: [GUILD],
    moderators: [],
    moderatorRoles: [],
    manageGuildModerates: false,
    priorityRoles: [],
    allowDms: false,
  };

  const accountOf = (who: Member) => app.economy.findAccount({ platform: 'discord', id: who.id });

  /** The interaction's first response, once it came. */
  const responseOf = (i: FakeInteraction) => until('a response', () => i.response);

  beforeAll(async () => {
    fake = await FakeDiscord.start({ heartbeatIntervalMs: 1000 });
    app = await createTestApp({ models: [testModel('t-fast')] });
    adapter = createDiscordAdapter({
      config: { ...config, token: fake.token, apiUrl: fake.apiUrl },
      services: app.services,
      media: app.media,
      redis: app.redis,
      keys: app.keys,
      logger: app.logger,
      policy: { minIntervalMs: 50, window: { count: 20, windowMs: 1000 } },
    });
    await app.startDelivery([adapter.sink]);
    await app.startWorkers();
    await adapter.start();
  });

  afterAll(async () => {
    await adapter?.stop();
    await app?.conn.dropDatabase();
    await app?.close();
    await fake?.stop();
  });

  it('answers in its own server, with commands offered there only', async () => {
    const commands = fake.guildCommands.get(GUILD) ?? [];
    expect(commands.map((c) => c.name)).toContain('generate');
    for (const c of commands) expect(c.contexts).toEqual([InteractionContextType.Guild]);
    const i = fake.slash('balance', {}, member(1), { channelId: CHANNEL, guildId: GUILD });
    await until('an answer', () => (fake.original(i)?.embeds.length ?? 0) > 0);
    expect(i.response?.type).toBe(InteractionResponseType.DeferredChannelMessageWithSource);
  });

  it('refuses a slash command from another server for the member alone, and runs nothing', async () => {
    const stranger = member(2);
    const before = await app.collections.Generation.countDocuments();
    const i = fake.slash('generate', { prompt: 'a fox', model: 't-fast' }, stranger, {
      channelId: ELSEWHERE,
      guildId: OTHER_GUILD,
    });
    const response = await responseOf(i);
    expect(response.type).toBe(InteractionResponseType.ChannelMessageWithSource);
    expect(response.data?.content).toBe(NOT_IN_THIS_SERVER);
    expect(response.data?.flags).toBe(MessageFlags.Ephemeral);
    expect(response.data?.allowed_mentions).toEqual({ parse: [] });
    expect(await accountOf(stranger)).toBeUndefined();
    expect(await app.collections.Generation.countDocuments()).toBe(before);
  });

  it('refuses a button press and offers no choices to type from another server', async () => {
    const owner = member(3);
    const own = fake.slash('history', {}, owner, { channelId: CHANNEL, guildId: GUILD });
    await until('an answer', () => (fake.original(own)?.embeds.length ?? 0) > 0);
    const elsewhere = { channelId: ELSEWHERE, guildId: OTHER_GUILD };
    const pressed = fake.press(own.originalId ?? '', 'cancel:k3v9q2m7x1c8ab', member(4), elsewhere);
    const refusal = await responseOf(pressed);
    expect(refusal.data?.content).toBe(NOT_IN_THIS_SERVER);
    expect(refusal.data?.flags).toBe(MessageFlags.Ephemeral);

    const typed = fake.autocomplete(
      'generate',
      { prompt: 'x', model: 't-' },
      'model',
      member(4),
      elsewhere,
    );
    const choices = await responseOf(typed);
    expect(choices.type).toBe(InteractionResponseType.ApplicationCommandAutocompleteResult);
    expect(choices.data?.choices).toEqual([]);
  });

  it('refuses a direct message when DISCORD_ALLOW_DMS is false', async () => {
    const loner = member(5);
    const i = fake.slash('balance', {}, loner, { channelId: '400000000000000009' });
    const response = await responseOf(i);
    expect(response.data?.content).toBe(NOT_IN_DMS);
    expect(response.data?.flags).toBe(MessageFlags.Ephemeral);
    expect(await accountOf(loner)).toBeUndefined();
  });
});
