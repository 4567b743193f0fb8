import type { ChatMember } from 'grammy/types';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { TelegramModerators } from '../../src/platforms/telegram/moderators.js';

const ADMIN_GROUP = '-1001';
const ADMIN = 7;

/** getChatMember as Telegram answers it: ADMIN owns the group, everyone else is a member. */
function telegram() {
  const asked: number[] = [];
  const getChatMember = async (_chat: string | number, userId: number): Promise<ChatMember> => {
    asked.push(userId);
    const user = { id: userId, is_bot: false, first_name: `user${userId}` };
    return userId === ADMIN
      ? { status: 'creator', user, is_anonymous: false }
      : { status: 'member', user };
  };
  return { asked, api: { getChatMember } };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Telegram moderators', () => {
  it('asks Telegram once per member while the answer is remembered', async () => {
    const { api, asked } = telegram();
    const moderators = new TelegramModerators(
      api,
      ['900'],
      [ADMIN_GROUP],
      pino({ level: 'silent' }),
    );
    expect(await moderators.isModerator(900)).toBe(true);
    expect(await moderators.isModerator(ADMIN)).toBe(true);
    expect(await moderators.isModerator(ADMIN)).toBe(true);
    expect(await moderators.isModerator(8)).toBe(false);
    expect(asked).toEqual([ADMIN, 8]);
  });

  it('remembers at most its maximum of members, forgetting the least recently asked', async () => {
    const { api, asked } = telegram();
    const moderators = new TelegramModerators(api, [], [ADMIN_GROUP], pino({ level: 'silent' }), {
      max: 3,
      ttlMs: 60_000,
    });
    for (let id = 100; id < 110; id += 1) await moderators.isGroupAdmin(id);
    expect(moderators.remembered).toBe(3);
    // 109 is still remembered; 100 was forgotten and is asked again.
    await moderators.isGroupAdmin(109);
    await moderators.isGroupAdmin(100);
    expect(asked.slice(10)).toEqual([100]);
  });

  it('asks again once the answer is older than its time to live', async () => {
    const { api, asked } = telegram();
    const moderators = new TelegramModerators(api, [], [ADMIN_GROUP], pino({ level: 'silent' }), {
      max: 10,
      ttlMs: 40,
    });
    expect(await moderators.isGroupAdmin(ADMIN)).toBe(true);
    expect(await moderators.isGroupAdmin(ADMIN)).toBe(true);
    expect(asked).toEqual([ADMIN]);
    await sleep(80);
    expect(await moderators.isGroupAdmin(ADMIN)).toBe(true);
    expect(asked).toEqual([ADMIN, ADMIN]);
  });
});
