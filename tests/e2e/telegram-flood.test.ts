import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelegramConfig } from '../../src/config.js';
import { OUTBOX_DEFAULTS } from '../../src/delivery/outbox.js';
import type { CommandLimits } from '../../src/platforms/telegram/command-limits.js';
import {
  createTelegramAdapter,
  type TelegramAdapter,
} from '../../src/platforms/telegram/telegram-bot.js';
import { freePort } from '../../scripts/services/process.js';
import { FakeTelegram, type RecordedCall } from '../fakes/telegram/fake-telegram.js';
import { until } from '../support/until.js';
import { createTestApp, testModel, type TestApp } from '../support/app.js';

/**
 * One member floods a group with thousands of commands while a member in a private chat
 * uses the bot, against a loopback Telegram that keeps Telegram's write limits. Time is
 * scaled down 6x in both the bot's pace and the fake's limits (a minute becomes 10 s); the
 * command limits keep their counts over a window longer than the test, so every count below
 * is exact. Figures are counted and ordered, never timed.
 */
const SCALE = 6;
const WINDOW_MS = 60_000 / SCALE;
/**
 * The bot's pace, scaled, with room to spare: the outbox counts a write when it starts, the
 * fake when it arrives, and on a busy machine a write that arrived late must not make the
 * next one look early.
 */
const INTERVAL_MS = (1000 / SCALE) * 1.5;
const POLICY_WINDOW_MS = WINDOW_MS * 1.2;
const POLICY = {
  private: { minIntervalMs: INTERVAL_MS, window: { count: 60, windowMs: POLICY_WINDOW_MS } },
  group: { minIntervalMs: INTERVAL_MS, window: { count: 20, windowMs: POLICY_WINDOW_MS } },
};
/** The defaults' counts (10 a member, 30 a group), over a window longer than the test. */
const LIMITS: CommandLimits = {
  member: { commands: 10, windowMs: 600_000 },
  chat: { commands: 30, windowMs: 600_000 },
};
const NO_LIMITS: CommandLimits = {
  member: { commands: 1_000_000, windowMs: 600_000 },
  chat: { commands: 1_000_000, windowMs: 600_000 },
};
/** How long a step may take on a busy machine; nothing waits for it without a reason. */
const PATIENCE_MS = 60_000;
const FLOOD = 3000;
const BATCH = 50;
const GROUP = -900;
const FLOODER = 601;
const GROUP_MEMBER = 602;
const BYSTANDERS = Array.from({ length: 25 }, (_, i) => 611 + i);
const SOLO = 700;

const SENT_PRIVATELY = 'I sent you the answer in a private message.';
const START_THE_BOT = 'That answer is private. Open a chat with @';
const HELP = 'Generate images';

/** The bot's log lines, as objects: the outbox says at debug what it dropped. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n'))
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** The bot against the fake Telegram, in one mode, with its own app, and what it logged. */
class Harness {
  fake!: FakeTelegram;
  app!: TestApp;
  adapter!: TelegramAdapter;
  logs: Record<string, unknown>[] = [];
  /** Members' messages sent so far; `taken` waits until the bot has taken them all. */
  #injected = 0;

  async start(mode: 'polling' | 'webhook', limits: CommandLimits): Promise<void> {
    this.fake = await FakeTelegram.start();
    this.fake.keepTelegramLimits(SCALE);
    this.app = await createTestApp({
      models: [
        testModel(
          't-steps',
          { stepDelayMs: 60 },
          { defaults: { width: 64, height: 64, steps: 6, guidance: 5 } },
        ),
      ],
    });
    const captured = capturedLogger();
    this.logs = captured.lines;
    const port = await freePort();
    const config: TelegramConfig = {
      token: this.fake.token,
      apiRoot: this.fake.apiRoot,
      mode,
      webhook:
        mode === 'webhook'
          ? { url: `http://127.0.0.1:${port}/telegram`, secret: 'flood', host: '127.0.0.1', port }
          : undefined,
      moderators: [],
      adminGroups: [],
    };
    this.adapter = createTelegramAdapter({
      config,
      services: this.app.services,
      media: this.app.media,
      redis: this.app.redis,
      keys: this.app.keys,
      logger: captured.logger,
      policy: POLICY,
      commandLimits: limits,
    });
    await this.app.startDelivery([this.adapter.sink]);
    await this.app.startWorkers();
    await this.adapter.start();
  }

  async stop(): Promise<void> {
    await this.adapter?.stop();
    await this.app?.conn.dropDatabase();
    await this.app?.close();
    await this.fake?.stop();
  }

  async fund(userId: number, points: number): Promise<void> {
    const identity = { platform: 'telegram', id: String(userId) } as const;
    const accountId = await this.app.economy.ensureAccount(identity);
    await this.app.economy.grant({
      accountId,
      amount: points,
      key: `fund-${userId}`,
      actor: 'test',
      reason: 'test',
    });
  }

  /** A member writing to the bot in `chatId` (their private chat by default). */
  member(id: number, chatId = id) {
    return this.fake.client({
      userId: id,
      chatId,
      type: chatId < 0 ? 'group' : 'private',
      firstName: `user${id}`,
      userName: `user${id}`,
      chatTitle: 'busy group',
    });
  }

  send(id: number, chatId: number, text: string): Promise<unknown> {
    this.#injected += 1;
    const client = this.member(id, chatId);
    return client.sendCommand(client.makeCommand(text));
  }

  /** telegram-test-api answers a member before the bot sees the message: wait for the bot. */
  taken(what: string): Promise<boolean> {
    return until(what, () => this.fake.updatesTaken >= this.#injected, PATIENCE_MS);
  }

  /** The calls to a chat that Telegram accepted (chat actions aside). */
  ok(chatId: number, method?: string): RecordedCall[] {
    return this.fake.calls.filter(
      (c) =>
        c.chatId === String(chatId) &&
        c.status === 200 &&
        c.method !== 'sendChatAction' &&
        (!method || c.method === method),
    );
  }

  count(chatId: number, start: string): number {
    return this.ok(chatId, 'sendMessage').filter((c) => String(c.body.text).startsWith(start))
      .length;
  }

  photo(chatId: number): RecordedCall | undefined {
    return this.ok(chatId, 'sendPhoto')[0];
  }

  finalStatus(chatId: number): RecordedCall | undefined {
    return this.ok(chatId, 'editMessageText').find((c) =>
      String(c.body.text).includes('Done · charged'),
    );
  }

  /** Writes the outbox dropped in a chat, by kind (`chatter` or `progress`). */
  dropped(chatId: number, write: 'chatter' | 'progress'): number {
    return this.logs.filter((l) => l.write === write && l.chat === String(chatId)).length;
  }

  /**
   * Pointers posted in the group, and the group's chatter given way. A pointer follows its
   * private answer, so the last ones may still be on their way when the queues look empty:
   * a test waits until the figure is reached, then checks it is not passed.
   */
  groupPointers(): number {
    const posted = this.count(GROUP, SENT_PRIVATELY) + this.count(GROUP, START_THE_BOT);
    return posted + this.dropped(GROUP, 'chatter');
  }

  /** How far the flood and the group's answers had got at this moment. */
  progress() {
    return {
      taken: this.fake.updatesTaken,
      groupAnswers: this.ok(GROUP).length,
      groupWaiting: this.adapter.outbox.queued(String(GROUP)),
    };
  }
}

/**
 * The flood: a member of the group sends FLOOD /help in batches. After the first 100 another
 * member of the group asks for a picture and 25 bystanders (who never started the bot) for
 * help; while the rest of the flood goes on, a member in a private chat asks for their
 * balance, then for a picture. Returns where things stood when that member was answered.
 */
async function flood(h: Harness) {
  h.fake.started.add(String(FLOODER));
  h.fake.started.add(String(GROUP_MEMBER));
  await h.fund(GROUP_MEMBER, 20);
  await h.fund(SOLO, 50);
  let flooded = 0;
  const floodTo = async (upTo: number) => {
    while (flooded < upTo) {
      const batch = Math.min(BATCH, upTo - flooded);
      flooded += batch;
      await Promise.all(Array.from({ length: batch }, () => h.send(FLOODER, GROUP, '/help')));
      await h.taken(`the flood up to ${flooded}`);
    }
  };
  await floodTo(100);
  await h.send(GROUP_MEMBER, GROUP, '/generate a lighthouse --model t-steps');
  await h.taken('the /generate in the group');
  await Promise.all(BYSTANDERS.map((id) => h.send(id, GROUP, '/help')));
  await h.taken("the bystanders' /help");
  const rest = floodTo(FLOOD);
  await h.send(SOLO, SOLO, '/balance');
  const atBalance = await until(
    'the private /balance answer',
    () => (h.count(SOLO, 'You have 50 points available.') === 1 ? h.progress() : undefined),
    PATIENCE_MS,
  );
  await h.send(SOLO, SOLO, '/generate a harbour like https://example.com/harbour --model t-steps');
  const atPhoto = await until(
    'the private photo',
    () => (h.photo(SOLO) ? h.progress() : undefined),
    PATIENCE_MS,
  );
  await rest;
  await h.taken('the whole flood');
  await until('the private final status', () => h.finalStatus(SOLO), PATIENCE_MS);
  await until(
    'the group drained',
    () =>
      h.photo(GROUP) &&
      h.finalStatus(GROUP) &&
      h.adapter.outbox.queued(String(GROUP)) === 0 &&
      h.adapter.outbox.queued(String(FLOODER)) === 0,
    PATIENCE_MS,
  );
  return { atBalance, atPhoto };
}

/** What every flood must leave: the private member served at once, nothing owed lost. */
function expectServedDuringTheFlood(h: Harness, figures: Awaited<ReturnType<typeof flood>>) {
  const { atBalance, atPhoto } = figures;
  // The private member was answered while the flood was still coming in and the group's
  // answers were still waiting for its pace: far fewer of them than commands by then.
  expect(atPhoto.taken).toBeLessThan(FLOOD);
  expect(atBalance.groupWaiting).toBeGreaterThan(0);
  expect(atPhoto.groupWaiting).toBeGreaterThan(0);
  expect(atBalance.groupAnswers * 10).toBeLessThan(atBalance.taken);
  expect(atPhoto.groupAnswers * 10).toBeLessThan(atPhoto.taken);
  // The queues stayed within their bound, and what must arrive did: both pictures, each
  // with one status message and its final state.
  expect(h.adapter.outbox.peakQueued()).toBeLessThanOrEqual(OUTBOX_DEFAULTS.maxQueued);
  for (const chat of [GROUP, SOLO]) {
    expect(h.count(chat, '🎨')).toBe(1);
    expect(h.photo(chat)?.files).toHaveLength(1);
    expect(h.finalStatus(chat)).toBeDefined();
  }
  // A private chat's queue never filled: nothing of it gave way (the group's progress may).
  expect(h.dropped(SOLO, 'progress') + h.dropped(SOLO, 'chatter')).toBe(0);
  // Telegram's limits held for the bot: nothing refused, and no link preview anywhere
  // (the private prompt has a URL in it).
  expect(h.fake.calls.filter((c) => c.limited)).toEqual([]);
  const texted = h.fake.calls.filter(
    (c) => c.method === 'sendMessage' || c.method === 'editMessageText',
  );
  expect(texted.some((c) => String(c.body.text).includes('https://example.com/harbour'))).toBe(
    true,
  );
  for (const c of texted) expect(c.body.link_preview_options).toEqual({ is_disabled: true });
}

describe.each(['polling', 'webhook'] as const)('a group flooded with /help, in %s mode', (mode) => {
  const h = new Harness();
  beforeAll(() => h.start(mode, LIMITS));
  afterAll(() => h.stop());

  it('answers a private member at once, says "slow down" once, and loses nothing owed', async () => {
    const figures = await flood(h);
    expectServedDuringTheFlood(h, figures);
    // One "slow down" for the flooder, one for the chat once the group's limit was used up.
    expect(h.count(GROUP, 'Slow down: you')).toBe(1);
    expect(h.count(GROUP, 'Slow down: this chat')).toBe(1);
    expect(h.count(FLOODER, 'Slow down')).toBe(0);
    // The flooder's first ten /help were answered in private; nothing else of the flood was.
    expect(h.count(FLOODER, HELP)).toBe(LIMITS.member.commands);
    // Every answer the group was owed is accounted for: posted, or given way as chatter
    // (the flooder's ten, and the 19 bystanders the chat's 30 let through after the
    // flooder's ten and the picture).
    const owed = LIMITS.chat.commands - 1;
    await until('every answer owed to the group', () => h.groupPointers() >= owed, PATIENCE_MS);
    expect(h.groupPointers()).toBe(owed);
  }, 300_000);
});

describe('a group flooded with /help and no command limits, in webhook mode', () => {
  const h = new Harness();
  beforeAll(() => h.start('webhook', NO_LIMITS));
  afterAll(() => h.stop());

  it("still answers a private member at once: each chat's queue gives way, not the bot", async () => {
    const figures = await flood(h);
    expectServedDuringTheFlood(h, figures);
    expect(h.count(GROUP, 'Slow down')).toBe(0);
    // Each of the flooder's /help was answered in private or given way there; each answer
    // that went out, and each bystander's, was pointed to in the group or given way there.
    const answered = () => h.count(FLOODER, HELP) + h.dropped(FLOODER, 'chatter');
    await until("every /help answered in the flooder's chat", () => answered() >= FLOOD);
    expect(answered()).toBe(FLOOD);
    const helped = h.count(FLOODER, HELP);
    const owed = helped + BYSTANDERS.length;
    await until('every answer owed to the group', () => h.groupPointers() >= owed, PATIENCE_MS);
    expect(h.groupPointers()).toBe(owed);
    // A count of messages, not a time: the group got fewer pointers than the flood's 100+.
    expect(h.count(GROUP, SENT_PRIVATELY) + h.count(GROUP, START_THE_BOT)).toBeLessThan(100);
  }, 300_000);
});
