import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  COMMAND_LIMITS,
  CommandThrottle,
  type Admission,
} from '../../src/platforms/telegram/command-limits.js';

/** Sends `n` commands and tells what each was answered. */
async function send(
  throttle: CommandThrottle,
  n: number,
  member: (i: number) => string,
  chat: string | undefined,
): Promise<Admission[]> {
  const answers: Admission[] = [];
  for (let i = 0; i < n; i += 1) answers.push(await throttle.admit(member(i), chat));
  return answers;
}

const admitted = (answers: Admission[]) => answers.filter((a) => a.admitted).length;
const spoken = (answers: Admission[]) =>
  answers.flatMap((a) => (!a.admitted && a.answer !== undefined ? [a.answer] : []));

describe('command limits (per member and per group chat)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lets a member send ten commands a minute, says "slow down" once, then stays silent until the minute ends', async () => {
    const throttle = new CommandThrottle();
    const first = await send(throttle, 25, () => '7', undefined);
    expect(admitted(first)).toBe(10);
    expect(first[10]).toEqual({
      admitted: false,
      answer:
        'Slow down: you sent more than 10 commands in a minute. I will answer you again in 60 s.',
    });
    expect(spoken(first)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(60_001);
    const next = await send(throttle, 12, () => '7', undefined);
    expect(admitted(next)).toBe(10);
    expect(spoken(next)).toHaveLength(1);
  });

  it('counts a group chat across its members: thirty a minute, one "slow down" for the chat', async () => {
    const throttle = new CommandThrottle();
    const answers = await send(throttle, 40, (i) => `member-${i}`, '-100');
    expect(admitted(answers)).toBe(30);
    expect(spoken(answers)).toEqual([
      'Slow down: this chat sent more than 30 commands in a minute. I will answer commands here again in 60 s.',
    ]);
    // Another group, and anyone's private chat, are counted on their own.
    expect((await throttle.admit('member-0', '-200')).admitted).toBe(true);
    expect((await throttle.admit('member-1', undefined)).admitted).toBe(true);
  });

  it("does not let one member's flood use up the group's commands", async () => {
    const throttle = new CommandThrottle();
    await send(throttle, 3000, () => 'flooder', '-100');
    const others = await send(throttle, 20, (i) => `member-${i}`, '-100');
    expect(admitted(others)).toBe(COMMAND_LIMITS.chat.commands - COMMAND_LIMITS.member.commands);
  });

  it('says the window in the words a member reads', async () => {
    const throttle = new CommandThrottle({
      member: { commands: 1, windowMs: 30_000 },
      chat: { commands: 2, windowMs: 120_000 },
    });
    const [, a] = await send(throttle, 2, () => 'a', '-1');
    expect(spoken([a!])).toEqual([
      'Slow down: you sent more than 1 command in 30 seconds. I will answer you again in 30 s.',
    ]);
    const [, c] = await send(throttle, 2, (i) => ['b', 'c'][i]!, '-1');
    expect(spoken([c!])[0]).toMatch(
      /^Slow down: this chat sent more than 2 commands in 2 minutes\./,
    );
  });

  it('refuses limits that could never let a command through', () => {
    expect(
      () => new CommandThrottle({ ...COMMAND_LIMITS, member: { commands: 0, windowMs: 60_000 } }),
    ).toThrow('member.commands');
    expect(
      () => new CommandThrottle({ ...COMMAND_LIMITS, chat: { commands: 5, windowMs: 10 } }),
    ).toThrow('chat.windowMs');
  });
});
