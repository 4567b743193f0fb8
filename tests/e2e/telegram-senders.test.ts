import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANONYMOUS_COMMAND,
  ANONYMOUS_MEMBER,
} from '../../src/platforms/telegram/anonymous-senders.js';
import { until } from '../support/until.js';
import {
  ANONYMOUS_ADMIN,
  CHANNEL_BOT,
  group,
  person,
  TelegramWebhook,
} from '../support/telegram-webhook.js';

/**
 * Posts made on behalf of a chat, against the loopback Telegram. Every anonymous group
 * administrator arrives as one stand-in user (GroupAnonymousBot), every "send as channel"
 * post as another (Channel_Bot), with the real sender only in `sender_chat`: taken at its
 * `from`, strangers in different groups would share one balance and one set of limits.
 */
const GROUP = -1001000000001;
const CHANNEL = -1001000000003;
const MOD = 901;
const MEMBER = 555;

describe('Telegram: posts made on behalf of a chat', () => {
  let tg: TelegramWebhook;

  beforeAll(async () => {
    tg = await TelegramWebhook.start({ moderators: [String(MOD)] });
  });

  afterAll(async () => {
    await tg?.stop();
  });

  it("refuses an anonymous administrator's /generate: one sentence, no account, nothing queued", async () => {
    const before = await tg.app.collections.Generation.countDocuments();
    await tg.deliver(
      tg.command(group(GROUP), ANONYMOUS_ADMIN, '/generate a fox --model t-fast', {
        sender_chat: group(GROUP),
      }),
    );
    await until('the refusal', () => tg.lastReply(GROUP) === `⚠️ ${ANONYMOUS_COMMAND}`);
    expect(tg.replies(GROUP).filter((t) => t.startsWith('🎨'))).toEqual([]);
    expect(await tg.accountOf(ANONYMOUS_ADMIN.id)).toBeUndefined();
    expect(await tg.app.collections.Generation.countDocuments()).toBe(before);
  });

  it("refuses a channel post's /balance in the group, never writing to the stand-in", async () => {
    const before = tg.replies(GROUP).length;
    await tg.deliver(
      tg.command(group(GROUP), CHANNEL_BOT, '/balance', {
        sender_chat: { id: CHANNEL, type: 'channel', title: 'a channel' },
      }),
    );
    await until('the refusal', () => tg.replies(GROUP).length > before);
    expect(tg.replies(GROUP).slice(before)).toEqual([`⚠️ ${ANONYMOUS_COMMAND}`]);
    expect(tg.fake.callsTo('sendMessage', CHANNEL_BOT.id)).toEqual([]);
    expect(await tg.accountOf(CHANNEL_BOT.id)).toBeUndefined();
  });

  it('refuses a grant in reply to an anonymous message, or to the stand-in by id, moving no points', async () => {
    const anonymous = tg.message(group(GROUP), ANONYMOUS_ADMIN, 'give me points', {
      sender_chat: group(GROUP),
    });
    const before = tg.replies(GROUP).length;
    await tg.deliver(
      tg.command(group(GROUP), person(MOD), '/grant 50 prize', { reply_to_message: anonymous }),
    );
    await tg.deliver(tg.command(group(GROUP), person(MOD), `/grant ${ANONYMOUS_ADMIN.id} 50`));
    await until('two refusals', () => tg.replies(GROUP).length >= before + 2);
    expect(tg.replies(GROUP).slice(before)).toEqual([
      `⚠️ ${ANONYMOUS_MEMBER}`,
      `⚠️ ${ANONYMOUS_MEMBER}`,
    ]);
    expect(await tg.accountOf(ANONYMOUS_ADMIN.id)).toBeUndefined();

    // The same grant in reply to a member's own message credits that member.
    const own = tg.message(group(GROUP), person(MEMBER), 'thanks');
    await tg.deliver(
      tg.command(group(GROUP), person(MOD), '/grant 50 prize', { reply_to_message: own }),
    );
    await until(
      'the grant',
      () =>
        tg.lastReply(GROUP) === `Granted 50 points to user${MEMBER}; they now have 50 available.`,
    );
  });
});
