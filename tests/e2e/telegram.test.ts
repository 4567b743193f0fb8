import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelegramConfig } from '../../src/config.js';
import {
  createTelegramAdapter,
  type TelegramAdapter,
} from '../../src/platforms/telegram/telegram-bot.js';
import { freePort } from '../../scripts/services/process.js';
import { FakeTelegram, type RecordedCall } from '../fakes/telegram/fake-telegram.js';
import { until } from '../support/until.js';
import { createTestApp, testModel, waitForStatus, type TestApp } from '../support/app.js';
import { GenerationIds } from '../../src/generation/ids.js';

/**
 * The real grammY bot, in webhook mode, against a loopback Telegram (telegram-test-api plus
 * the methods it lacks). Telegram's per-chat limits are scaled down 20x (a minute becomes
 * 3 s) in both the bot's policy and the fake's enforcement, so the group test runs in seconds.
 */
const WINDOW_MS = 3000;
const POLICY = {
  private: { minIntervalMs: 50, window: { count: 60, windowMs: WINDOW_MS } },
  group: { minIntervalMs: 50, window: { count: 20, windowMs: WINDOW_MS } },
};
// A webhook secret the configuration would accept (32 characters at least).
const SECRET = 'test-secret-0123456789abcdef0123456789';
const MOD = 900;
const GROUP_ADMIN = 777;
const ADMIN_GROUP = -200;

describe('Telegram adapter', () => {
  let fake: FakeTelegram;
  let app: TestApp;
  let adapter: TelegramAdapter;
  let webhookUrl: string;

  const member = (id: number, chatId = id, type: 'private' | 'group' = 'private') =>
    fake.client({
      userId: id,
      chatId,
      type,
      firstName: `user${id}`,
      userName: `user${id}`,
      chatTitle: 'test group',
    });

  async function fund(userId: number, points: number): Promise<void> {
    const accountId = await app.economy.ensureAccount({ platform: 'telegram', id: String(userId) });
    await app.economy.grant({
      accountId,
      amount: points,
      key: `fund-${userId}-${points}-${Date.now()}`,
      actor: 'test',
      reason: 'test',
    });
  }

  async function balance(userId: number) {
    const accountId = await app.economy.findAccount({ platform: 'telegram', id: String(userId) });
    return accountId ? app.economy.balance(accountId) : { available: 0, held: 0 };
  }

  async function command(
    client: ReturnType<typeof member>,
    text: string,
    extra: Record<string, unknown> = {},
  ) {
    await client.sendCommand(client.makeCommand(text, extra));
  }

  async function press(
    client: ReturnType<typeof member>,
    data: string,
    chatId: number,
    messageId: number,
  ) {
    await client.sendCallback(
      client.makeCallbackQuery(data, {
        message: {
          message_id: messageId,
          chat: { id: chatId, type: chatId < 0 ? 'group' : 'private' },
        },
      }),
    );
  }

  const writesTo = (chatId: number, method?: string): RecordedCall[] =>
    fake.calls.filter((c) => c.chatId === String(chatId) && (!method || c.method === method));

  const lastReply = (chatId: number) =>
    writesTo(chatId, 'sendMessage').at(-1)?.body.text as string | undefined;

  /** The status message of the newest generation in a chat, once it exists. */
  const statusMessageId = async (chatId: number, after = 0): Promise<number> => {
    const call = await until('a status message', () =>
      writesTo(chatId, 'sendMessage').find(
        (c, i) => i >= after && String(c.body.text).startsWith('🎨') && c.result !== undefined,
      ),
    );
    return (call.result as { message_id: number }).message_id;
  };

  const generationIdOf = (text: string): string => /· ([a-z0-9]{14})\n/.exec(text)?.[1] ?? '';

  beforeAll(async () => {
    fake = await FakeTelegram.start();
    fake.groupLimit = { count: 20, windowMs: WINDOW_MS };
    fake.admins.set(String(ADMIN_GROUP), new Set([GROUP_ADMIN]));
    app = await createTestApp({
      models: [
        testModel(
          't-steps',
          { stepDelayMs: 60 },
          { defaults: { width: 64, height: 64, steps: 6, guidance: 5 } },
        ),
        testModel(
          't-loop',
          { format: 'gif', frames: 3 },
          { kind: 'video', defaults: { width: 64, height: 64, steps: 2, guidance: 0, seconds: 1 } },
        ),
        testModel(
          't-slow',
          { stepDelayMs: 100 },
          { defaults: { width: 64, height: 64, steps: 50, guidance: 5 } },
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
    const port = await freePort();
    webhookUrl = `http://127.0.0.1:${port}/telegram`;
    const config: TelegramConfig = {
      token: fake.token,
      apiRoot: fake.apiRoot,
      mode: 'webhook',
      webhook: { url: webhookUrl, secret: SECRET, host: '127.0.0.1', port },
      moderators: [String(MOD)],
      adminGroups: [String(ADMIN_GROUP)],
    };
    adapter = createTelegramAdapter({
      config,
      services: app.services,
      media: app.media,
      redis: app.redis,
      keys: app.keys,
      logger: app.logger,
      policy: POLICY,
    });
    await app.startDelivery([adapter.sink]);
    await app.startWorkers();
    // The moderator and the group's admin have opened a chat with the bot: their menus there
    // can be published.
    fake.started.add(String(MOD));
    fake.started.add(String(GROUP_ADMIN));
    await adapter.start();
  });

  afterAll(async () => {
    await adapter?.stop();
    await app?.conn.dropDatabase();
    await app?.close();
    await fake?.stop();
  });

  it('publishes its commands and registers the webhook with the secret', () => {
    expect(fake.myCommands.map((c) => c.command)).toEqual([
      'generate',
      'history',
      'queue',
      'balance',
      'cancel',
      'models',
      'help',
    ]);
    expect(fake.webhook).toEqual({ url: webhookUrl, secret: SECRET });
  });

  it('shows moderators their commands in their own chat and to the admins of the admin group only', () => {
    const names = (scope: string) => fake.commandMenus.get(scope)?.map((c) => c.command);
    expect(names('default')).not.toContain('grant');
    expect(names(`chat:${MOD}`)).toEqual(expect.arrayContaining(['generate', 'grant', 'revoke']));
    expect(names(`chat_administrators:${ADMIN_GROUP}`)).toEqual(
      expect.arrayContaining(['generate', 'grant', 'revoke']),
    );
    expect(names(`chat:${GROUP_ADMIN}`)).toEqual(expect.arrayContaining(['grant', 'revoke']));
    expect([...fake.commandMenus.keys()].sort()).toEqual(
      [
        'default',
        `chat:${MOD}`,
        `chat:${GROUP_ADMIN}`,
        `chat_administrators:${ADMIN_GROUP}`,
      ].sort(),
    );
  });

  it('rejects webhook requests without the secret token', async () => {
    const update = JSON.stringify({
      update_id: 1,
      message: { message_id: 1, date: 0, chat: { id: 1, type: 'private' }, text: '/balance' },
    });
    const none = await fetch(webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: update,
    });
    const wrong = await fetch(webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': 'nope' },
      body: update,
    });
    expect(none.status).toBe(401);
    expect(wrong.status).toBe(401);
  });

  it('generates: a status message edited with progress, then the photo with Reroll and Details', async () => {
    await fund(101, 50);
    const alice = member(101);
    await command(alice, '/generate a red fox in the snow --model t-steps --seed 7');
    const statusId = await statusMessageId(101);
    const photo = await until('the photo', () =>
      writesTo(101, 'sendPhoto').find((c) => c.status === 200),
    );
    expect(photo.files).toHaveLength(1);
    expect(photo.files[0]!.head).toBe('89504e470d0a1a0a'); // PNG signature
    expect(photo.files[0]!.name).toMatch(/\.png$/);
    expect(photo.files[0]!.size).toBeGreaterThan(100);
    expect(String(photo.body.caption)).toContain('a red fox in the snow');
    expect(String(photo.body.caption)).toContain('seed 7');
    const buttons = (
      photo.body.reply_markup as { inline_keyboard: { text: string; callback_data: string }[][] }
    ).inline_keyboard[0]!;
    expect(buttons.map((b) => b.text)).toEqual(['🎲 Reroll', 'Details']);

    const edits = writesTo(101, 'editMessageText').filter(
      (c) => Number(c.body.message_id) === statusId,
    );
    expect(edits.some((c) => /\d+% · step \d\/6/.test(String(c.body.text)))).toBe(true);
    expect(edits.some((c) => JSON.stringify(c.body.reply_markup).includes('Cancel'))).toBe(true);
    await until('the final status', () =>
      fake.messageText(101, statusId)?.includes('Done · charged 4 points'),
    );
    expect(await balance(101)).toEqual({ available: 46, held: 0 });

    // Reroll: the same request with a new seed, a new generation, charged again.
    const before = writesTo(101, 'sendPhoto').filter((c) => c.status === 200).length;
    const first = generationIdOf(fake.messageText(101, statusId) ?? '');
    await press(alice, buttons[0]!.callback_data, 101, statusId);
    const second = await until(
      'the rerolled photo',
      () => writesTo(101, 'sendPhoto').filter((c) => c.status === 200)[before],
    );
    expect(String(second.body.caption)).toContain('a red fox in the snow');
    const seed = /seed (\d+)$/.exec(String(second.body.caption))?.[1];
    expect(seed).toBeDefined();
    expect(seed).not.toBe('7');
    const rerolled = await app.collections.Generation.find({ requestedBy: 'telegram:101' }).lean();
    expect(rerolled.map((g) => g._id)).toContain(first);
    expect(rerolled).toHaveLength(2);
    expect(await balance(101)).toEqual({ available: 42, held: 0 });
    // The press is answered before the new status message waits for the chat's pace.
    const answered = fake.calls.findIndex(
      (c) => c.method === 'answerCallbackQuery' && c.body.text === 'Rerolling…',
    );
    const newStatus = fake.calls.findIndex(
      (c, i) =>
        i > answered &&
        c.method === 'sendMessage' &&
        c.chatId === '101' &&
        String(c.body.text).startsWith('🎨'),
    );
    expect(answered).toBeGreaterThanOrEqual(0);
    expect(newStatus).toBeGreaterThan(answered);
  });

  it('delivers several images as one media group and an animation as an animation', async () => {
    await fund(110, 50);
    const ivy = member(110);
    await command(ivy, '/generate two foxes --model t-steps --count 2');
    const group = await until('the media group', () =>
      writesTo(110, 'sendMediaGroup').find((c) => c.status === 200),
    );
    expect(group.files).toHaveLength(2);
    for (const f of group.files) expect(f.head).toBe('89504e470d0a1a0a');
    await command(ivy, '/generate a looping wave --model t-loop');
    const animation = await until('the animation', () =>
      writesTo(110, 'sendAnimation').find((c) => c.status === 200),
    );
    expect(Buffer.from(animation.files[0]!.head, 'hex').subarray(0, 6).toString()).toBe('GIF89a');
    expect(fake.callsTo('sendChatAction', 110).map((c) => c.body.action)).toEqual(
      expect.arrayContaining(['upload_photo', 'upload_video']),
    );
  });

  it('cancels a running generation from its Cancel button and returns the points', async () => {
    await fund(102, 20);
    const bob = member(102);
    await command(bob, '/generate a slow castle --model t-slow');
    const statusId = await statusMessageId(102);
    const running = await until('progress in the status message', () => {
      const text = fake.messageText(102, statusId);
      return text && /%/.test(text) ? text : undefined;
    });
    const id = generationIdOf(running);
    expect(id).toMatch(/^[a-z0-9]{14}$/);
    await press(bob, `c:${id}`, 102, statusId);
    await until('the cancelled status', () =>
      fake.messageText(102, statusId)?.includes('Cancelled'),
    );
    // The result goes out before the status is written (a crash between the two is then
    // repaired by the reconciler): the generation is cancelled a moment later, if not yet.
    expect((await waitForStatus(app, id)).status).toBe('cancelled');
    expect(await balance(102)).toEqual({ available: 20, held: 0 });
    expect(writesTo(102, 'sendPhoto')).toHaveLength(0);
  });

  it('pages /history with buttons that edit the same message, for its owner only', async () => {
    await fund(103, 100);
    for (let i = 0; i < 6; i += 1) {
      const { generation } = await app.generations.submit({
        requester: {
          identity: { platform: 'telegram', id: '103' },
          displayName: 'carol',
          isModerator: false,
        },
        invocationKey: `history-${i}`,
        origin: { platform: 'console' },
        request: { prompt: `picture ${i}`, model: 't-steps' },
      });
      expect(generation.status).toBe('queued');
    }
    const carol = member(103);
    await command(carol, '/history');
    const page = await until('the history page', () =>
      writesTo(103, 'sendMessage').find((c) => String(c.body.text).includes('page 1 of 2')),
    );
    const next = (
      page.body.reply_markup as { inline_keyboard: { text: string; callback_data: string }[][] }
    ).inline_keyboard[0]![0]!;
    expect(next.text).toBe('Older ▶');
    const pageId = await until(
      'the page message id',
      () => (page.result as { message_id?: number } | undefined)?.message_id,
    );
    await press(carol, next.callback_data, 103, pageId);
    await until('page 2 in the same message', () =>
      fake.messageText(103, pageId)?.includes('page 2 of 2'),
    );

    const stranger = member(104);
    await press(stranger, next.callback_data, 103, pageId);
    const answer = await until('the refusal', () =>
      fake
        .callsTo('answerCallbackQuery')
        .find((c) => String(c.body.text).includes("someone else's history")),
    );
    expect(answer.body.show_alert).toBe(true);
  });

  it('tells a member without enough points the price and their balance', async () => {
    const dan = member(105);
    await command(dan, '/generate a fox --model t-steps');
    await until('the refusal', () =>
      writesTo(105, 'editMessageText').find(
        (c) =>
          String(c.body.text) === '⚠️ Not enough points: this costs 4 and you have 0 available.',
      ),
    );
    expect(await app.collections.Generation.countDocuments({ requestedBy: 'telegram:105' })).toBe(
      0,
    );
  });

  it('refuses a photo reply for a model without image input before holding anything', async () => {
    await fund(109, 20);
    fake.files.set('photo-1', Buffer.from('not needed'));
    const hank = member(109);
    await command(hank, '/generate make it blue --model t-steps', {
      reply_to_message: {
        message_id: 1,
        date: 0,
        chat: { id: 109, type: 'private' },
        from: { id: 109, is_bot: false, first_name: 'hank' },
        photo: [{ file_id: 'photo-1', file_unique_id: 'p1', width: 64, height: 64 }],
      },
    });
    await until(
      'the refusal',
      () =>
        lastReply(109) ===
        '⚠️ t-steps does not take an input image. Pick a model that does (see /models), or leave the image out.',
    );
    expect(fake.callsTo('getFile')).toHaveLength(0);
    expect(await balance(109)).toEqual({ available: 20, held: 0 });
  });

  it('gives a replied-to photo to a model that takes one', async () => {
    await fund(110, 20);
    const png = await sharp({
      create: { width: 120, height: 80, channels: 3, background: '#00ff00' },
    })
      .png()
      .toBuffer();
    fake.files.set('photo-2', png);
    const ivy = member(110);
    await command(ivy, '/generate make it abstract --model t-remix', {
      reply_to_message: {
        message_id: 1,
        date: 0,
        chat: { id: 110, type: 'private' },
        from: { id: 110, is_bot: false, first_name: 'ivy' },
        photo: [{ file_id: 'photo-2', file_unique_id: 'p2', width: 120, height: 80 }],
      },
    });
    await until('the photo', () => writesTo(110, 'sendPhoto')[0]);
    expect(fake.callsTo('getFile')).toHaveLength(1);
    const stored = await app.collections.Generation.findOne({
      requestedBy: { $regex: '' },
      model: 't-remix',
    }).lean();
    expect(
      (stored?.request as { inputImages?: unknown[] } | undefined)?.inputImages?.[0],
    ).toMatchObject({
      mime: 'image/png',
      width: 120,
      height: 80,
    });
    expect((await balance(110)).held).toBe(0);
  });

  it('answers /queue, derived from its declaration, and lists it in /help', async () => {
    const quinn = member(130);
    await command(quinn, '/queue');
    await until('the queue', () => lastReply(130)?.startsWith('Queues:\n'));
    expect(lastReply(130)).toContain('You have nothing waiting or running.');
    await command(quinn, '/help');
    await until('help', () => lastReply(130)?.includes('/queue - What runs and waits'));
  });

  it('names a bad option and shows the right form', async () => {
    const eve = member(106);
    await command(eve, '/generate a fox --colour red');
    await until('unknown option', () =>
      lastReply(106)?.startsWith(
        '⚠️ Unknown option --colour for /generate. Options: --model, -m, --ar',
      ),
    );
    await command(eve, '/generate a fox --seed abc');
    await until(
      'bad value',
      () =>
        lastReply(106) ===
        '⚠️ --seed must be a whole number (got "abc"), e.g. --seed 7. Usage: /generate <prompt> [--model id] [--ar w:h] [--seed n] [--count 1-4] [--neg text]',
    );
  });

  it('lets moderators grant (named ids and admins of the named group) and refuses everyone else', async () => {
    const mod = member(MOD);
    await command(mod, '/grant 107 50 welcome gift');
    await until(
      'grant reply',
      () => lastReply(MOD) === 'Granted 50 points to 107; they now have 50 available.',
    );
    const admin = member(GROUP_ADMIN);
    await command(admin, '/grant 107 5');
    await until(
      'admin grant reply',
      () => lastReply(GROUP_ADMIN) === 'Granted 5 points to 107; they now have 55 available.',
    );
    const frank = member(107);
    await command(frank, '/grant 107 1000');
    await until('refusal', () => lastReply(107) === '⚠️ Only moderators can use /grant.');
    expect(await balance(107)).toEqual({ available: 55, held: 0 });
  });

  it('answers /generate@thisbot in a group and ignores commands for other bots', async () => {
    const group = -300;
    await fund(108, 20);
    const grace = member(108, group, 'group');
    await command(grace, '/generate@OtherBot a fox');
    await command(grace, '/models@TestNameBot');
    await until('models reply', () => lastReply(108)?.startsWith('Models'));
    expect(
      writesTo(group, 'sendMessage').filter((c) => String(c.body.text).startsWith('🎨')),
    ).toHaveLength(0);
  });

  it('keeps private answers out of a group: a direct message, or how to start the bot', async () => {
    const group = -310;
    await fund(111, 20);
    const hank = member(111, group, 'group');
    await command(hank, '/balance');
    await until('how to start the bot', () =>
      lastReply(group)?.startsWith('That answer is private. Open a chat with @'),
    );
    expect(
      writesTo(group, 'sendMessage').some((c) => String(c.body.text).includes('20 points')),
    ).toBe(false);
    // Once the member has started the bot, the answer goes to the private chat.
    await command(member(111), '/start');
    await until('help in private', () => lastReply(111)?.startsWith('Generate images'));
    await command(hank, '/balance');
    await until('balance in private', () =>
      lastReply(111)?.startsWith('You have 20 points available'),
    );
    await until(
      'a pointer in the group',
      () => lastReply(group) === 'I sent you the answer in a private message.',
    );
    expect(
      writesTo(group, 'sendMessage').some((c) => String(c.body.text).includes('20 points')),
    ).toBe(false);
  });

  /** Posts an update to the bot's webhook as Telegram would (the fake is bypassed). */
  async function deliverUpdate(update: Record<string, unknown>): Promise<number> {
    const response = await fetch(webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET },
      body: JSON.stringify(update),
    });
    await response.text();
    return response.status;
  }

  function commandUpdate(
    updateId: number,
    messageId: number,
    userId: number,
    text: string,
    date = Math.floor(Date.now() / 1000),
  ): Record<string, unknown> {
    const name = text.split(' ')[0] ?? text;
    fake.started.add(String(userId));
    return {
      update_id: updateId,
      message: {
        message_id: messageId,
        date,
        chat: { id: userId, type: 'private', first_name: `user${userId}` },
        from: { id: userId, is_bot: false, first_name: `user${userId}` },
        text,
        entities: [{ offset: 0, length: name.length, type: 'bot_command' }],
      },
    };
  }

  const statusMessages = (chatId: number) =>
    writesTo(chatId, 'sendMessage').filter((c) => String(c.body.text).startsWith('🎨'));

  it('delivers the photo and a valid final status when an emoji sits where text is clipped', async () => {
    await fund(112, 50);
    // The status head clips the prompt at 200 UTF-16 units and the caption at 300: put a
    // two-unit emoji across each cut.
    const prompt = `${'x'.repeat(198)}🦊${'y'.repeat(98)}🦊 in the snow`;
    await command(member(112), `/generate ${prompt} --model t-steps`);
    const statusId = await statusMessageId(112);
    await until('the photo', () => writesTo(112, 'sendPhoto').find((c) => c.status === 200));
    await until('the final status', () =>
      fake.messageText(112, statusId)?.includes('Done · charged 4 points'),
    );
    expect(writesTo(112).filter((c) => c.status === 400)).toEqual([]);
    expect(await balance(112)).toEqual({ available: 46, held: 0 });
  });

  it('delivers the photo even when its status message can no longer be edited', async () => {
    await fund(118, 50);
    const allow = fake.refuse('editMessageText', 118, 'message to edit not found');
    try {
      await command(member(118), '/generate an uneditable fox --model t-steps');
      const photo = await until('the photo', () =>
        writesTo(118, 'sendPhoto').find((c) => c.status === 200),
      );
      expect(String(photo.body.caption)).toContain('an uneditable fox');
      // A refused edit is not retried: one try each, and nothing queued behind it waits.
      const refusedFinal = writesTo(118, 'editMessageText').filter((c) =>
        String(c.body.text).includes('Done'),
      );
      expect(refusedFinal).toHaveLength(1);
      expect(await balance(118)).toEqual({ available: 46, held: 0 });
    } finally {
      allow();
    }
  });

  it('posts one status message for an update delivered twice, and makes one generation', async () => {
    await fund(113, 50);
    const update = commandUpdate(70_001, 9_001, 113, '/generate one fox --model t-steps');
    const statuses = await Promise.all([deliverUpdate(update), deliverUpdate(update)]);
    expect(statuses).toEqual([200, 200]);
    await until('the photo', () => writesTo(113, 'sendPhoto').find((c) => c.status === 200));
    await deliverUpdate(update);
    expect(statusMessages(113)).toHaveLength(1);
    // The first message already carries the price.
    expect(String(statusMessages(113)[0]?.body.text)).toContain('· 4 points ·');
    expect(await app.collections.Generation.countDocuments({ requestedBy: 'telegram:113' })).toBe(
      1,
    );
    expect(writesTo(113, 'sendPhoto').filter((c) => c.status === 200)).toHaveLength(1);
  });

  it('keys a message by chat and message id, so a restarted update_id is a new event', async () => {
    await fund(114, 50);
    await deliverUpdate(commandUpdate(5, 9_101, 114, '/generate first --model t-steps'));
    await until('the first photo', () => writesTo(114, 'sendPhoto').find((c) => c.status === 200));
    // Telegram may number updates from scratch again; the same update_id is another message.
    await deliverUpdate(commandUpdate(5, 9_102, 114, '/generate second --model t-steps'));
    await until(
      'the second photo',
      () => writesTo(114, 'sendPhoto').filter((c) => c.status === 200).length === 2 || undefined,
    );
    const prompts = (await app.collections.Generation.find({ requestedBy: 'telegram:114' }).lean())
      .map((g) => (g.request as { prompt: string }).prompt)
      .sort();
    expect(prompts).toEqual(['first', 'second']);
  });

  it('finds the generation an older release made for an update sent before the upgrade', async () => {
    await fund(115, 50);
    const botId = adapter.bot.botInfo.id;
    const oldKey = `telegram:${botId}:update:80001`;
    const { generation: made } = await app.generations.submit({
      requester: {
        identity: { platform: 'telegram', id: '115' },
        displayName: 'user115',
        isModerator: false,
      },
      invocationKey: oldKey,
      origin: { platform: 'console' },
      request: { prompt: 'made before the upgrade', model: 't-steps' },
    });
    // The older release stored it under the unkeyed id of its key (releases before 0.2).
    const generation = { id: new GenerationIds(Buffer.alloc(32)).unkeyedIdFor(oldKey) };
    const generations = app.conn.db!.collection<{ _id: string }>('generations');
    const raw = await generations.findOne({ _id: made.id });
    await generations.insertOne({ ...raw!, _id: generation.id });
    await generations.deleteOne({ _id: made.id });
    const sentBefore = Math.floor(Date.now() / 1000) - 3600;
    await deliverUpdate(
      commandUpdate(
        80_001,
        9_201,
        115,
        '/generate made before the upgrade --model t-steps',
        sentBefore,
      ),
    );
    await until('the status message', () => statusMessages(115)[0]);
    const status = statusMessages(115)[0]!;
    const statusId = (status.result as { message_id: number }).message_id;
    await until(
      'the old generation shown',
      () => generationIdOf(fake.messageText(115, statusId) ?? '') === generation.id || undefined,
    );
    expect(await app.collections.Generation.countDocuments({ requestedBy: 'telegram:115' })).toBe(
      1,
    );
  });

  it("refuses someone else's Reroll and Cancel with an alert that says whose it is", async () => {
    await fund(116, 50);
    const owner = member(116);
    await command(owner, '/generate a slow comet --model t-slow');
    const statusId = await statusMessageId(116);
    const running = await until('progress', () => {
      const text = fake.messageText(116, statusId);
      return text && /%/.test(text) ? text : undefined;
    });
    const id = generationIdOf(running);
    const stranger = member(117);
    await press(stranger, `r:${id}`, 116, statusId);
    await press(stranger, `c:${id}`, 116, statusId);
    const alerts = await until('two alerts', () => {
      const found = fake
        .callsTo('answerCallbackQuery')
        .filter((c) => String(c.body.text).startsWith(`Generation ${id} is user116's`));
      return found.length === 2 ? found : undefined;
    });
    expect(alerts.map((c) => c.body.text).sort()).toEqual([
      `Generation ${id} is user116's; only they can reroll it.`,
      `Generation ${id} is user116's; only they or a moderator can cancel it.`,
    ]);
    expect(alerts.every((c) => c.body.show_alert === true)).toBe(true);
    expect(await app.economy.findAccount({ platform: 'telegram', id: '117' })).toBeUndefined();
    expect(await app.collections.Generation.countDocuments({ requestedBy: 'telegram:117' })).toBe(
      0,
    );
    await press(owner, `c:${id}`, 116, statusId);
    await until('cancelled', () => fake.messageText(116, statusId)?.includes('Cancelled'));
    expect(await balance(116)).toEqual({ available: 50, held: 0 });
  });

  it('runs ten jobs at once in one group within 20 writes a minute, through injected 429s, delivering every result', async () => {
    const group = -500;
    const users = Array.from({ length: 10 }, (_, i) => 200 + i);
    for (const u of users) await fund(u, 20);
    fake.failNext('editMessageText', 2, 1, group);
    fake.failNext('sendPhoto', 1, 1, group);
    await Promise.all(
      users.map((u) =>
        command(member(u, group, 'group'), `/generate group picture ${u} --model t-steps`),
      ),
    );
    await until(
      'ten photos',
      () => writesTo(group, 'sendPhoto').filter((c) => c.status === 200).length === 10 || false,
      60_000,
    );
    const ids = await until(
      'ten finished',
      () => {
        const done = lastIds(group);
        return done.length === 10 ? done : undefined;
      },
      30_000,
    );
    for (const id of ids) expect((await waitForStatus(app, id)).status).toBe('completed');
    // Each member's first status message already showed the price.
    const firsts = writesTo(group, 'sendMessage').filter((c) =>
      String(c.body.text).startsWith('🎨'),
    );
    expect(firsts).toHaveLength(10);
    for (const c of firsts) expect(String(c.body.text)).toContain('· 4 points ·');

    const ok = writesTo(group).filter((c) => c.status === 200 && c.method !== 'sendChatAction');
    for (const c of ok) {
      const inWindow = ok.filter((d) => d.at > c.at - WINDOW_MS && d.at <= c.at).length;
      expect(inWindow).toBeLessThanOrEqual(20);
    }
    expect(writesTo(group).filter((c) => c.limited)).toEqual([]);
    expect(writesTo(group).filter((c) => c.status === 429)).toHaveLength(3);
    for (const u of users) expect(await balance(u)).toEqual({ available: 16, held: 0 });
  }, 120_000);

  function lastIds(chatId: number): string[] {
    const ids = new Set<string>();
    for (let id = 1; id < 10_000; id += 1) {
      const text = fake.messageText(chatId, id);
      if (text?.includes('Done · charged')) ids.add(generationIdOf(text));
    }
    return [...ids];
  }
});
