import { describe, expect, it } from 'vitest';
import { chatRules, isAnswered } from '../../src/platforms/telegram/chat-access.js';

const GROUP = { id: -1001, type: 'supergroup' as const, title: 'ours' };
const ADMINS = { id: -1002, type: 'supergroup' as const, title: 'admins' };
const STRANGERS = { id: -1003, type: 'group' as const, title: 'theirs' };
const ALICE = { id: 42, type: 'private' as const, first_name: 'alice' };
const BOB = { id: 43, type: 'private' as const, first_name: 'bob' };

describe('Telegram: which chats are answered', () => {
  it('answers everywhere while no chat is listed', () => {
    const rules = chatRules({ adminGroups: [] });
    for (const chat of [GROUP, STRANGERS, ALICE]) expect(isAnswered(rules, chat, false)).toBe(true);
  });

  it('answers only the listed groups and the admin groups once chats are listed', () => {
    const rules = chatRules({ allowedChats: [String(GROUP.id)], adminGroups: [String(ADMINS.id)] });
    expect(isAnswered(rules, GROUP, false)).toBe(true);
    expect(isAnswered(rules, ADMINS, false)).toBe(true);
    expect(isAnswered(rules, STRANGERS, false)).toBe(false);
    expect(isAnswered(rules, STRANGERS, true)).toBe(false);
    expect(isAnswered(rules, undefined, true)).toBe(false);
    expect(isAnswered(rules, ALICE, false)).toBe(true);
  });

  it('with private chats off, answers a private chat only when listed, or a press on its own answer', () => {
    const rules = chatRules({
      allowedChats: [String(GROUP.id), String(ALICE.id)],
      allowPrivate: false,
      adminGroups: [],
    });
    expect(isAnswered(rules, ALICE, false)).toBe(true);
    expect(isAnswered(rules, BOB, false)).toBe(false);
    expect(isAnswered(rules, BOB, true)).toBe(true);
    expect(isAnswered(chatRules({ allowPrivate: false, adminGroups: [] }), GROUP, false)).toBe(
      true,
    );
  });
});
