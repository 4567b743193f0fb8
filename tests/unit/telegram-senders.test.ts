import { describe, expect, it } from 'vitest';
import { isStandIn, postedAsChat } from '../../src/platforms/telegram/anonymous-senders.js';

const GROUP = { id: -1001, type: 'supergroup' as const, title: 'ours' };

describe('Telegram: posts made on behalf of a chat', () => {
  it('knows them by sender_chat or by a stand-in sender', () => {
    const person = { id: 7, is_bot: false, first_name: 'p' };
    expect(postedAsChat({ from: person })).toBe(false);
    expect(postedAsChat({ from: person, sender_chat: GROUP })).toBe(true);
    expect(postedAsChat({ from: { id: 1087968824, is_bot: true, first_name: 'Group' } })).toBe(
      true,
    );
    expect(postedAsChat(undefined)).toBe(false);
    expect(['1087968824', '136817688', '777000'].every(isStandIn)).toBe(true);
    expect(isStandIn('7')).toBe(false);
  });
});
