import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOT_IN_PRIVATE, NOT_IN_THIS_GROUP } from '../../src/platforms/telegram/chat-access.js';
import { until } from '../support/until.js';
import { group, person, privateChat, TelegramWebhook } from '../support/telegram-webhook.js';

/**
 * Where the bot answers on Telegram, against the loopback Telegram: with
 * TELEGRAM_ALLOWED_CHATS set it answers in those groups (and in private chats unless
 * TELEGRAM_ALLOW_PRIVATE is false); in any other group it says one sentence and leaves.
 */
const GROUP = -1001000000001;
const STRANGERS = -1001000000002;
const OTHER_STRANGERS = -1001000000004;
const MEMBER = 555;

describe('Telegram: TELEGRAM_ALLOWED_CHATS', () => {
  let tg: TelegramWebhook;

  beforeAll(async () => {
    tg = await TelegramWebhook.start({ allowedChats: [String(GROUP)] });
  });

  afterAll(async () => {
    await tg?.stop();
  });

  it('answers in the allowed group and in private chats', async () => {
    await tg.deliver(tg.command(group(GROUP), person(MEMBER), '/models'));
    // /models answers privately: the group is told how to start the bot.
    await until('an answer in the group', () =>
      tg.lastReply(GROUP)?.startsWith('That answer is private.'),
    );
    await tg.deliver(tg.command(privateChat(MEMBER), person(MEMBER), '/models'));
    await until('models in private', () => tg.lastReply(MEMBER)?.startsWith('Models'));
    expect(tg.fake.callsTo('leaveChat')).toEqual([]);
  });

  it('says one sentence in a group it was not allowed in, leaves it, and runs nothing', async () => {
    await tg.deliver(tg.command(group(STRANGERS), person(MEMBER + 1), '/models'));
    await tg.deliver(
      tg.command(group(STRANGERS), person(MEMBER + 2), '/generate a fox --model t-fast'),
    );
    await until('left', () => tg.fake.callsTo('leaveChat', STRANGERS).length > 0);
    expect(tg.replies(STRANGERS)).toEqual([NOT_IN_THIS_GROUP]);
    expect(await tg.accountOf(MEMBER + 2)).toBeUndefined();
    const left = tg.fake.callsTo('leaveChat', STRANGERS)[0];
    const said = tg.fake.callsTo('sendMessage', STRANGERS)[0];
    expect(left?.at).toBeGreaterThanOrEqual(said?.at ?? Infinity);
  });

  it('refuses a button press in a group it was not allowed in, and leaves it', async () => {
    await tg.deliver({
      callback_query: {
        id: `cbq-${tg.nextId()}`,
        from: person(MEMBER),
        chat_instance: '1',
        data: 'cancel:k3v9q2m7x1c8ab',
        message: tg.message(group(OTHER_STRANGERS), person(1), '🎨 an old status'),
      },
    });
    await until('left', () => tg.fake.callsTo('leaveChat', OTHER_STRANGERS).length > 0);
    const answers = tg.fake.callsTo('answerCallbackQuery').map((c) => c.body.text);
    expect(answers).toContain(NOT_IN_THIS_GROUP);
    expect(tg.replies(OTHER_STRANGERS)).toEqual([]);
  });

  it('with private chats off, refuses a private chat not listed and answers one that is', async () => {
    const closed = await tg.another({
      allowedChats: [String(GROUP), String(MEMBER)],
      allowPrivate: false,
    });
    try {
      const stranger = MEMBER + 3;
      await tg.deliver(tg.command(privateChat(stranger), person(stranger), '/models'), closed.url);
      await until('the refusal', () => tg.lastReply(stranger) === NOT_IN_PRIVATE);
      const before = tg.replies(MEMBER).length;
      await tg.deliver(tg.command(privateChat(MEMBER), person(MEMBER), '/models'), closed.url);
      await until('models', () => tg.replies(MEMBER).length > before);
      expect(tg.lastReply(MEMBER)).toMatch(/^Models/);
      expect(tg.replies(stranger)).toEqual([NOT_IN_PRIVATE]);
      expect(tg.fake.callsTo('leaveChat', stranger)).toEqual([]);
    } finally {
      await closed.adapter.stop();
    }
  });
});
