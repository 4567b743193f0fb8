import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApplicationCommandOptionType,
  InteractionResponseType,
  MessageFlags,
  type APIButtonComponentWithCustomId,
} from 'discord-api-types/v10';
import type { DiscordConfig } from '../../src/config.js';
import {
  createDiscordAdapter,
  type DiscordAdapter,
} from '../../src/platforms/discord/discord-bot.js';
import {
  FakeDiscord,
  type FakeInteraction,
  type Member,
  type MessageVersion,
  type Place,
} from '../fakes/discord/fake-discord.js';
import { until } from '../support/until.js';
import { createTestApp, testModel, type TestApp } from '../support/app.js';

/**
 * The real discord.js Client, logged in through its public API against a loopback Discord
 * (REST and gateway). The fake enforces Discord's documented rules: first response within
 * 3 s, token expiry, upload size, message limits, 429s on chosen buckets.
 */
const GUILD = '300000000000000001';
const CHANNEL = '400000000000000001';
const MOD_ROLE = '500000000000000001';
const place: Place = { channelId: CHANNEL, guildId: GUILD };
const member = (n: number, extra: Partial<Member> = {}): Member => ({
  id: `1000000000000000${String(n).padStart(2, '0')}`,
  name: `member${n}`,
  ...extra,
});
const MANAGE_GUILD = String(1n << 5n);

const title = (v: MessageVersion | undefined) => v?.embeds[0]?.title ?? '';
const text = (v: MessageVersion | undefined) =>
  `${v?.content ?? ''} ${v?.embeds.map((e) => `${e.title ?? ''} ${e.description ?? ''}`).join(' ') ?? ''}`;
const buttons = (v: MessageVersion | undefined): APIButtonComponentWithCustomId[] =>
  ((v?.components ?? []) as { components: APIButtonComponentWithCustomId[] }[]).flatMap(
    (row) => row.components,
  );
const generationId = (v: MessageVersion | undefined) => v?.embeds[0]?.footer?.text ?? '';

describe('Discord adapter', () => {
  let fake: FakeDiscord;
  let app: TestApp;
  let adapter: DiscordAdapter;
  const config: DiscordConfig = {
    token: '',
    apiUrl: undefined,
    guildIds: [],
    moderators: [],
    moderatorRoles: [MOD_ROLE],
    manageGuildModerates: false,
    priorityRoles: [],
  };

  async function fund(who: Member, points: number): Promise<void> {
    const accountId = await app.economy.ensureAccount({ platform: 'discord', id: who.id });
    await app.economy.grant({
      accountId,
      amount: points,
      key: `fund-${who.id}-${points}-${Date.now()}-${Math.random()}`,
      actor: 'test',
      reason: 'test',
    });
  }

  async function balance(who: Member) {
    const accountId = await app.economy.findAccount({ platform: 'discord', id: who.id });
    return accountId ? app.economy.balance(accountId) : { available: 0, held: 0 };
  }

  /** The original reply once it reached a final state (Done, Failed, Cancelled). */
  const finalOf = (i: FakeInteraction, ms?: number) =>
    until(
      'a final reply',
      () => {
        const v = fake.original(i);
        return ['Done', 'Failed', 'Cancelled'].includes(title(v)) ? v : undefined;
      },
      ms,
    );

  /** The ephemeral follow-up an error became. */
  const followUpOf = (i: FakeInteraction) =>
    until('an ephemeral follow-up', () => {
      const id = i.followUps[0];
      const m = id ? fake.messages.get(id) : undefined;
      return m ? { message: m, version: m.versions.at(-1) } : undefined;
    });

  /** The first answer of an ephemeral command, once it is filled in. */
  const answerOf = (i: FakeInteraction) =>
    until('an answer', () => {
      const v = fake.original(i);
      return v && v.embeds.length > 0 ? v : undefined;
    });

  beforeAll(async () => {
    fake = await FakeDiscord.start({ heartbeatIntervalMs: 1000 });
    app = await createTestApp({
      models: [
        testModel(
          't-steps',
          { stepDelayMs: 60 },
          { defaults: { width: 64, height: 64, steps: 6, guidance: 5 } },
        ),
        testModel('t-fast'),
        testModel(
          't-big',
          {},
          {
            limits: { maxWidth: 512, maxHeight: 512, maxSteps: 60 },
            defaults: { width: 512, height: 512, steps: 2, guidance: 5 },
          },
        ),
        testModel(
          't-slow',
          { stepDelayMs: 100 },
          { defaults: { width: 64, height: 64, steps: 40, guidance: 5 } },
        ),
        testModel(
          't-preview',
          { stepDelayMs: 400, previews: true },
          { defaults: { width: 64, height: 64, steps: 6, guidance: 5 } },
        ),
        testModel(
          't-remix',
          {},
          {
            capabilities: { img2img: true },
            limits: { maxWidth: 256, maxHeight: 256, maxSteps: 60, maxInputImages: 1 },
          },
        ),
      ],
    });
    adapter = createDiscordAdapter({
      config: { ...config, token: fake.token, apiUrl: fake.apiUrl },
      services: app.services,
      media: app.media,
      redis: app.redis,
      keys: app.keys,
      logger: app.logger,
      policy: { minIntervalMs: 50, window: { count: 20, windowMs: 1000 } },
      attachmentHosts: [new URL(fake.cdnUrl).host],
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

  it('logs in over the gateway and registers slash commands built from the command schemas', () => {
    expect(fake.identifies).toBe(1);
    const names = fake.globalCommands.map((c) => c.name);
    expect(names).toEqual([
      'generate',
      'history',
      'queue',
      'balance',
      'cancel',
      'models',
      'help',
      'grant',
      'revoke',
    ]);
    const generate = fake.globalCommands.find((c) => c.name === 'generate');
    const options = generate?.options ?? [];
    expect(options[0]).toMatchObject({ name: 'prompt', required: true, max_length: 1000 });
    expect(options.find((o) => o.name === 'model')).toMatchObject({ autocomplete: true });
    expect(options.find((o) => o.name === 'count')).toMatchObject({
      type: ApplicationCommandOptionType.Integer,
      min_value: 1,
      max_value: 4,
    });
    expect(options.find((o) => o.name === 'image')?.type).toBe(
      ApplicationCommandOptionType.Attachment,
    );
    expect(options.find((o) => o.name === 'aspect_ratio')).toHaveProperty('choices');
    const grant = fake.globalCommands.find((c) => c.name === 'grant');
    expect(grant?.options?.find((o) => o.name === 'member')?.type).toBe(
      ApplicationCommandOptionType.User,
    );
  });

  it('autocompletes model ids from the catalog', async () => {
    const i = fake.autocomplete(
      'generate',
      { prompt: 'x', model: 'slo' },
      'model',
      member(1),
      place,
    );
    await until('autocomplete answer', () => i.response);
    expect(i.response?.type).toBe(InteractionResponseType.ApplicationCommandAutocompleteResult);
    const choices = (i.response?.data?.choices ?? []) as { value: string }[];
    expect(choices.map((c) => c.value)).toEqual(['t-slow']);
  });

  it('generates: deferred at once, progress edits in an embed, then the image attached with Reroll and Details', async () => {
    const alice = member(1);
    await fund(alice, 50);
    const i = fake.slash('generate', { prompt: 'a red fox', model: 't-steps' }, alice, place);
    const done = await finalOf(i);
    expect(i.response?.type).toBe(InteractionResponseType.DeferredChannelMessageWithSource);
    expect((i.response?.at ?? Infinity) - i.dispatchedAt).toBeLessThan(3000);
    expect(i.refused).toEqual([]);

    const versions = fake.messages.get(i.originalId ?? '')?.versions ?? [];
    const generating = versions.filter((v) => title(v) === 'Generating');
    expect(generating.length).toBeGreaterThan(0);
    expect(text(generating.at(-1))).toMatch(/█+░*` \d+%/);
    expect(buttons(generating[0]).map((b) => b.label)).toEqual(['Cancel']);
    expect(done.embeds[0]?.fields?.find((f) => f.name === 'Price')?.value).toBe('4 points');

    expect(title(done)).toBe('Done');
    expect(done.attachments).toHaveLength(1);
    expect(done.attachments[0]?.type).toBe('image/png');
    expect(done.attachments[0]?.head.startsWith('89504e47')).toBe(true);
    expect(done.embeds[0]?.image?.url).toBe(`attachment://${done.attachments[0]?.name}`);
    expect(buttons(done).map((b) => b.label)).toEqual(['Reroll', 'Details']);
    expect(await balance(alice)).toEqual({ available: 50 - 4, held: 0 });
  });

  it('shows prompts and names as typed: links, mentions and markdown escaped, and no message mentions anyone', async () => {
    const nina = member(24);
    const mod = member(25, { roles: [MOD_ROLE] });
    await fund(nina, 50);
    const start = fake.calls.length;
    const prompt =
      '[free nitro](https://evil.example/claim) or [this](https://evil.example/2) <@100000000000000001> @everyone **bold** _it_\n> quoted\n# heading';
    const i = fake.slash('generate', { prompt, model: 't-fast' }, nina, place);
    const done = await finalOf(i);
    const shown = done.embeds[0]?.description ?? '';
    expect(shown).toContain('\\[free nitro](https://evil.example/claim)');
    expect(shown).toContain('or \\[this](https://evil.example/2)');
    expect(shown).toContain('\\<@100000000000000001>');
    expect(shown).toContain('\\*\\*bold\\*\\* \\_it\\_');
    expect(shown).toContain('\n\\> quoted\n\\# heading');

    const details = buttons(done).find((b) => b.label === 'Details');
    const card = await answerOf(
      fake.press(i.originalId ?? '', details?.custom_id ?? '', nina, place),
    );
    expect(card.embeds[0]?.description).toContain('\\[free nitro](https://evil.example/claim)');
    const history = await answerOf(fake.slash('history', {}, nina, place));
    expect(text(history)).toContain('\\[free nitro](https://evil.example/claim)');

    // A member's name is shown as typed too.
    const named = { id: member(26).id, username: 'x', discriminator: '0', avatar: null };
    const granted = fake.slash('grant', { member: named.id, points: 5 }, mod, place, {
      users: [{ ...named, global_name: '[mod](https://evil.example) **boss**' }],
    });
    expect(text(await answerOf(granted))).toContain(
      'to \\[mod](https://evil.example) \\*\\*boss\\*\\*;',
    );

    // Every message the bot wrote (not the bare deferrals) says it mentions nobody.
    const writes = fake.calls
      .slice(start)
      .filter(
        (c) =>
          (c.method === 'PATCH' || c.method === 'POST') &&
          !c.route.endsWith('/callback') &&
          c.route !== '/users/@me/channels',
      );
    expect(writes.length).toBeGreaterThan(3);
    for (const c of writes) expect(c.body?.allowed_mentions, c.route).toEqual({ parse: [] });
  });

  it('shows a backend preview in the embed while it runs, replaced by the result', async () => {
    const lee = member(21);
    await fund(lee, 50);
    const i = fake.slash('generate', { prompt: 'a misty harbour', model: 't-preview' }, lee, place);
    const done = await finalOf(i);
    const versions = fake.messages.get(i.originalId ?? '')?.versions ?? [];
    const previewing = versions.find((v) => v.attachments.some((a) => a.name === 'preview.jpg'));
    expect(previewing, 'a progress edit with the preview').toBeDefined();
    expect(
      previewing?.attachments.find((a) => a.name === 'preview.jpg')?.head.startsWith('ffd8ff'),
    ).toBe(true);
    expect(previewing?.embeds[0]?.image?.url).toBe('attachment://preview.jpg');
    expect(title(previewing)).toBe('Generating');
    expect(done.attachments.map((a) => a.name)).toEqual([`${generationId(done)}-1.png`]);
  });

  it('rerolls from the button: a new reply with a new image, charged again', async () => {
    const bob = member(2);
    await fund(bob, 40);
    const first = fake.slash('generate', { prompt: 'a lighthouse', model: 't-fast' }, bob, place);
    const done = await finalOf(first);
    const reroll = buttons(done).find((b) => b.label === 'Reroll');
    // Someone else's Reroll would be charged to them: refused, privately, and nothing changes.
    const stranger = member(23);
    await fund(stranger, 40);
    const refused = fake.press(first.originalId ?? '', reroll?.custom_id ?? '', stranger, place);
    const refusal = await followUpOf(refused);
    expect(refusal.message.flags).toBe(MessageFlags.Ephemeral);
    expect(text(refusal.version)).toMatch(/ is member2's; only they can reroll it\.$/);
    expect(await balance(stranger)).toEqual({ available: 40, held: 0 });
    expect(
      await app.collections.Generation.countDocuments({ requestedBy: 'discord:' + stranger.id }),
    ).toBe(0);

    const again = fake.press(first.originalId ?? '', reroll?.custom_id ?? '', bob, place);
    const second = await finalOf(again);
    expect(title(second)).toBe('Done');
    expect(generationId(second)).not.toBe(generationId(done));
    expect(second.attachments).toHaveLength(1);
    expect(await balance(bob)).toEqual({ available: 40 - 2 * 4, held: 0 });

    const details = buttons(done).find((b) => b.label === 'Details');
    const shown = fake.press(first.originalId ?? '', details?.custom_id ?? '', bob, place);
    const answer = await answerOf(shown);
    expect(fake.messages.get(shown.originalId ?? '')?.flags).toBe(MessageFlags.Ephemeral);
    expect(title(answer)).toBe(`Generation ${generationId(done)}`);
  });

  it('cancels for the owner; a stranger is refused and nothing changes', async () => {
    const carol = member(3);
    const stranger = member(4);
    await fund(carol, 100);
    const i = fake.slash('generate', { prompt: 'a slow castle', model: 't-slow' }, carol, place);
    const running = await until('a Cancel button', () => {
      const v = fake.original(i);
      return buttons(v).some((b) => b.label === 'Cancel') ? v : undefined;
    });
    const cancel = buttons(running).find((b) => b.label === 'Cancel')?.custom_id ?? '';

    const refused = fake.press(i.originalId ?? '', cancel, stranger, place);
    const refusal = await answerOf(refused);
    expect(fake.messages.get(refused.originalId ?? '')?.flags).toBe(MessageFlags.Ephemeral);
    expect(text(refusal).trim()).toBe(
      `Generation ${generationId(running)} is member3's; only they or a moderator can cancel it.`,
    );
    expect((await balance(carol)).held).toBeGreaterThan(0);

    const pressed = fake.press(i.originalId ?? '', cancel, carol, place);
    const answer = await answerOf(pressed);
    expect(text(answer)).toMatch(/cancel/i);
    const final = await finalOf(i);
    expect(title(final)).toBe('Cancelled');
    expect(await balance(carol)).toEqual({ available: 100, held: 0 });
  });

  it("lets a moderator cancel someone else's generation", async () => {
    const owner = member(17);
    const mod = member(18, { roles: [MOD_ROLE] });
    await fund(owner, 100);
    const i = fake.slash('generate', { prompt: 'a slow tower', model: 't-slow' }, owner, place);
    const running = await until('a Cancel button', () => {
      const v = fake.original(i);
      return buttons(v).some((b) => b.label === 'Cancel') ? v : undefined;
    });
    const cancel = buttons(running).find((b) => b.label === 'Cancel')?.custom_id ?? '';
    const pressed = fake.press(i.originalId ?? '', cancel, mod, place);
    expect(text(await answerOf(pressed))).toMatch(/cancel/i);
    expect(title(await finalOf(i))).toBe('Cancelled');
    expect(await balance(owner)).toEqual({ available: 100, held: 0 });
  });

  it('pages /history with buttons, privately; forged or foreign buttons are refused politely', async () => {
    const dave = member(5);
    await fund(dave, 100);
    for (let n = 0; n < 6; n += 1) {
      const i = fake.slash('generate', { prompt: `picture ${n}`, model: 't-fast' }, dave, place);
      await finalOf(i);
    }
    const h = fake.slash('history', {}, dave, place);
    const page1 = await answerOf(h);
    expect(fake.messages.get(h.originalId ?? '')?.flags).toBe(MessageFlags.Ephemeral);
    expect(title(page1), text(page1)).toBe('History · page 1 of 2');
    const older = buttons(page1).find((b) => b.label === 'Older');
    expect(older).toBeDefined();

    const next = fake.press(h.originalId ?? '', older?.custom_id ?? '', dave, place);
    await until('page 2', () => title(fake.original(h)) === 'History · page 2 of 2');
    expect(next.response?.type).toBe(InteractionResponseType.DeferredMessageUpdate);
    expect(text(fake.original(h))).toContain('picture 0');

    const foreign = fake.press(h.originalId ?? '', older?.custom_id ?? '', member(6), place);
    await until('a refusal', () => foreign.response);
    expect(String(foreign.response?.data?.content)).toMatch(/someone else/);
    const forged = fake.press(h.originalId ?? '', 'gen:cancel:../../etc', dave, place);
    await until('a refusal', () => forged.response);
    expect(String(forged.response?.data?.content)).toMatch(/no longer valid/);
    expect(forged.response?.data?.flags).toBe(MessageFlags.Ephemeral);
  });

  it('answers /queue privately, derived from its declaration, and lists it in /help', async () => {
    const quinn = member(30);
    const q = fake.slash('queue', {}, quinn, place);
    const answer = await answerOf(q);
    expect(fake.messages.get(q.originalId ?? '')?.flags).toBe(MessageFlags.Ephemeral);
    expect(text(answer)).toContain('Queues:\nlocal: ');
    expect(text(answer)).toContain('You have nothing waiting or running.');
    const help = await answerOf(fake.slash('help', {}, quinn, place));
    expect(text(help)).toContain('/queue - What runs and waits');
  });

  it('refuses a generation without enough points: private message, nothing held, nothing queued', async () => {
    const erin = member(7);
    await fund(erin, 3);
    const before = await app.collections.Generation.countDocuments();
    const i = fake.slash('generate', { prompt: 'a castle', model: 't-fast' }, erin, place);
    const { message, version } = await followUpOf(i);
    expect(message.flags).toBe(MessageFlags.Ephemeral);
    expect(text(version)).toMatch(/points/);
    expect(fake.messages.get(i.originalId ?? '')?.deleted).toBe(true);
    expect(await balance(erin)).toEqual({ available: 3, held: 0 });
    expect(await app.collections.Generation.countDocuments()).toBe(before);
  });

  it('names a bad option and changes nothing', async () => {
    const frank = member(8);
    await fund(frank, 50);
    const i = fake.slash(
      'generate',
      { prompt: 'a tree', model: 't-fast', width: 100, height: 64 },
      frank,
      place,
    );
    const { version } = await followUpOf(i);
    expect(text(version)).toMatch(/multiples of/);
    const unknown = fake.slash('generate', { prompt: 'a tree', model: 'nope' }, frank, place);
    const { version: v2 } = await followUpOf(unknown);
    expect(text(v2)).toMatch(/nope/);
    expect(await balance(frank)).toEqual({ available: 50, held: 0 });
  });

  it('refuses an input image for a model that cannot use it, before downloading or holding', async () => {
    const gina = member(9);
    await fund(gina, 50);
    const png = await sharp({
      create: { width: 8, height: 8, channels: 3, background: '#f00' },
    })
      .png()
      .toBuffer();
    const upload = fake.upload(png, 'in.png', 'image/png');
    const calls = fake.calls.length;
    const i = fake.slash(
      'generate',
      { prompt: 'like this', model: 't-fast', image: upload.id },
      gina,
      place,
      { attachments: [upload] },
    );
    const { version } = await followUpOf(i);
    expect(text(version)).toMatch(/does not take an input image/);
    expect(fake.calls.slice(calls).some((c) => c.path.includes('/cdn/'))).toBe(false);
    expect(await balance(gina)).toEqual({ available: 50, held: 0 });
  });

  it('gives an attached image to a model that takes one, re-encoded and stored', async () => {
    const ivy = member(19);
    await fund(ivy, 50);
    const red = await sharp({
      create: { width: 300, height: 200, channels: 3, background: '#ff0000' },
    })
      .jpeg()
      .toBuffer();
    const upload = fake.upload(red, 'red.jpg', 'image/jpeg');
    const i = fake.slash(
      'generate',
      { prompt: 'make it abstract', model: 't-remix', image: upload.id },
      ivy,
      place,
      { attachments: [upload] },
    );
    const done = await finalOf(i);
    expect(title(done)).toBe('Done');
    expect(fake.calls.some((c) => c.path.includes(`/cdn/attachments/${upload.id}/`))).toBe(true);
    const stored = await app.collections.Generation.findById(generationId(done)).lean();
    const input = (stored?.request as { inputImages?: unknown[] } | undefined)?.inputImages?.[0];
    expect(input).toMatchObject({ mime: 'image/png', width: 300, height: 200 });
    // The output was made from the member's (red) picture.
    const output = await app.media.get(stored?.outputs[0]?.fileId ?? '');
    const { channels } = await sharp(output).stats();
    expect(channels[0]?.mean ?? 0).toBeGreaterThan((channels[2]?.mean ?? 0) + 40);
  });

  it('refuses an attachment that is not an image, before holding anything', async () => {
    const jay = member(20);
    await fund(jay, 50);
    const upload = fake.upload(Buffer.from('%PDF-1.4 not an image'), 'doc.pdf', 'application/pdf');
    const i = fake.slash(
      'generate',
      { prompt: 'like this', model: 't-remix', image: upload.id },
      jay,
      place,
      { attachments: [upload] },
    );
    const { version } = await followUpOf(i);
    expect(text(version)).toMatch(/not an image/);
    expect(await balance(jay)).toEqual({ available: 50, held: 0 });
  });

  it('lets moderators grant and revoke; others are refused', async () => {
    const mod = member(10, { roles: [MOD_ROLE] });
    const plain = member(11, { permissions: MANAGE_GUILD });
    const target = member(12);
    const granted = fake.slash(
      'grant',
      { member: target.id, points: 25, reason: 'event prize' },
      mod,
      place,
      {
        users: [
          {
            id: target.id,
            username: target.name,
            discriminator: '0',
            global_name: null,
            avatar: null,
          },
        ],
      },
    );
    const answer = await answerOf(granted);
    expect(text(answer)).toMatch(/Granted 25/);
    expect(await balance(target)).toEqual({ available: 25, held: 0 });

    const refused = fake.slash('revoke', { member: target.id, points: 5 }, plain, place);
    const { version } = await followUpOf(refused);
    expect(text(version)).toMatch(/Only moderators/);
    expect(await balance(target)).toEqual({ available: 25, held: 0 });
  });

  it('fits outputs under the interaction upload limit by re-encoding them', async () => {
    const hana = member(13);
    await fund(hana, 50);
    const limit = fake.attachmentSizeLimit;
    fake.attachmentSizeLimit = 20_000;
    const i = fake.slash('generate', { prompt: 'a detailed city', model: 't-big' }, hana, place);
    fake.attachmentSizeLimit = limit;
    const done = await finalOf(i);
    const stored = await app.collections.Generation.findById(generationId(done)).lean();
    expect(stored?.outputs[0]?.bytes).toBeGreaterThan(20_000);
    expect(done.attachments).toHaveLength(1);
    expect(done.attachments[0]?.size).toBeLessThanOrEqual(20_000);
    expect(done.attachments[0]?.type).toBe('image/jpeg');
    expect(text(done)).toMatch(/re-encoded/);
  });

  it('still delivers the final state when Discord refuses the upload as too large', async () => {
    const max = member(22);
    await fund(max, 50);
    const limit = fake.attachmentSizeLimit;
    // The interaction promises the usual limit, but the upload meets a lower one (413/40005).
    const i = fake.slash('generate', { prompt: 'a field of poppies', model: 't-fast' }, max, place);
    fake.attachmentSizeLimit = 100;
    try {
      const done = await finalOf(i);
      expect(title(done)).toBe('Done');
      expect(done.attachments).toEqual([]);
      expect(text(done)).toMatch(/too large for this channel/);
      expect(fake.calls.some((c) => c.interactionId === i.id && c.status === 413)).toBe(true);
      expect(await balance(max)).toEqual({ available: 50 - 4, held: 0 });
    } finally {
      fake.attachmentSizeLimit = limit;
    }
  });

  it('finishes a job that outlives its interaction token in a channel message', async () => {
    const ivan = member(14);
    await fund(ivan, 100);
    fake.tokenTtlMs = 1500;
    const i = fake.slash('generate', { prompt: 'a long voyage', model: 't-slow' }, ivan, place);
    fake.tokenTtlMs = 15 * 60_000;
    const continued = await until('a channel message with the result', () =>
      fake
        .channelMessages(CHANNEL)
        .find(
          (m) =>
            title(m.versions.at(-1)) === 'Done' && m.versions.at(-1)?.content.includes(ivan.id),
        ),
    );
    const last = continued.versions.at(-1);
    expect(last?.content).toContain(`<@${ivan.id}>`);
    // It pings the member who asked, and nobody else.
    const posted = fake.calls.find(
      (c) => c.method === 'POST' && c.route === `/channels/:channel/messages` && c.status === 200,
    );
    expect(posted?.body?.allowed_mentions).toEqual({ parse: [], users: [ivan.id] });
    expect(last?.attachments).toHaveLength(1);
    expect(generationId(last)).toBe(generationId(fake.original(i)));
    expect(fake.calls.some((c) => c.interactionId === i.id && c.status === 401)).toBe(true);
    expect((await balance(ivan)).held).toBe(0);
  });

  it('continues in a DM when the channel is gone too', async () => {
    const jane = member(15);
    await fund(jane, 100);
    const gone = '400000000000000099';
    fake.tokenTtlMs = 1500;
    const i = fake.slash('generate', { prompt: 'a quiet lake', model: 't-slow' }, jane, {
      channelId: gone,
      guildId: GUILD,
    });
    fake.tokenTtlMs = 15 * 60_000;
    fake.deletedChannels.add(gone);
    const dm = await until('a DM channel', () => fake.dmChannels.get(jane.id));
    const done = await until('the result in a DM', () =>
      fake.channelMessages(dm).find((m) => title(m.versions.at(-1)) === 'Done'),
    );
    expect(done.versions.at(-1)?.attachments).toHaveLength(1);
    expect(generationId(done.versions.at(-1))).toBe(generationId(fake.original(i)));
  });

  // A correctness test, not a load test: how long deferrals take under load is measured by
  // `npm run bench:discord` (bench/discord.ts). The fake still refuses a first response
  // later than Discord's 3 s; a burst this size is answered well within it on a busy machine.
  it('defers every interaction of a burst arriving at once, and answers every one', async () => {
    const members = Array.from({ length: 10 }, (_, n) => member(30 + n));
    await Promise.all(members.map((m) => fund(m, 100)));
    const start = fake.calls.length;
    const burst = Array.from({ length: 30 }, (_, n) => {
      const who = members[n % members.length] ?? member(30);
      if (n % 5 < 2)
        return fake.slash('generate', { prompt: `burst ${n}`, model: 't-fast' }, who, place);
      return fake.slash(n % 5 === 2 ? 'history' : 'balance', {}, who, place);
    });
    await until(
      'every interaction answered or refused',
      () => burst.every((i) => i.response || i.refused.length > 0),
      30_000,
    );
    // None came too late (10062) or twice (40060), and each first response was a deferral:
    // the bot acknowledges before it does any other work.
    expect(burst.flatMap((i) => i.refused)).toEqual([]);
    expect(burst.map((i) => i.response?.type)).toEqual(
      burst.map(() => InteractionResponseType.DeferredChannelMessageWithSource),
    );
    const generations = burst.filter((_, n) => n % 5 < 2);
    await until(
      'every generation finished in its reply',
      () => generations.every((i) => title(fake.original(i)) === 'Done'),
      60_000,
    );
    await until(
      'every other answer filled in',
      () => burst.every((i) => (fake.original(i)?.embeds.length ?? 0) > 0),
      30_000,
    );
    expect(fake.calls.slice(start).filter((c) => c.status >= 400)).toEqual([]);
    for (const m of members) expect((await balance(m)).held).toBe(0);
    // The gateway connection stayed healthy through the burst: heartbeats go on.
    await until('a heartbeat', () => fake.heartbeats > 0);
  });

  it('honours an injected 429 on the reply edits: delayed, nothing lost', async () => {
    const kim = member(16);
    await fund(kim, 50);
    fake.rateLimit('PATCH /webhooks/:app/:token/messages/@original', 2, 400);
    const i = fake.slash('generate', { prompt: 'a windmill', model: 't-steps' }, kim, place);
    const done = await finalOf(i);
    expect(done.attachments).toHaveLength(1);
    const limited = fake.calls.filter((c) => c.limited);
    expect(limited).toHaveLength(2);
    const after = fake.calls.filter(
      (c) =>
        c.interactionId === i.id &&
        c.method === 'PATCH' &&
        c.status === 200 &&
        c.at > (limited[1]?.at ?? 0),
    );
    expect(after.length).toBeGreaterThan(0);
    expect(after[0]!.at - limited[1]!.at).toBeGreaterThanOrEqual(350);
    expect(await balance(kim)).toEqual({ available: 50 - 4, held: 0 });
  });

  it('registers the commands per guild when guild ids are configured', async () => {
    const second = createDiscordAdapter({
      config: { ...config, token: fake.token, apiUrl: fake.apiUrl, guildIds: [GUILD] },
      services: app.services,
      media: app.media,
      redis: app.redis,
      keys: app.keys,
      logger: app.logger,
    });
    try {
      await second.start();
      expect(fake.guildCommands.get(GUILD)?.map((c) => c.name)).toContain('generate');
      expect(
        fake.calls.some(
          (c) => c.method === 'PUT' && c.route === '/applications/:app/guilds/:guild/commands',
        ),
      ).toBe(true);
    } finally {
      await second.stop();
    }
  });
});
