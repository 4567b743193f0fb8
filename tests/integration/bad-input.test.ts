import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { command, createTestApp, fund, type TestApp } from '../support/app.js';

/**
 * Bad input gets one clear sentence and changes nothing: no generation, no ledger entry,
 * no job, and the balance as it was.
 */
describe('bad input', () => {
  let app: TestApp;
  let accountId: string;

  beforeAll(async () => {
    app = await createTestApp();
    accountId = await fund(app, 'zed', 100);
  });
  afterAll(async () => {
    await app.conn.dropDatabase();
    await app.close();
  });

  async function snapshot() {
    return {
      generations: await app.collections.Generation.countDocuments({}),
      ledger: await app.collections.LedgerEntry.countDocuments({}),
      jobs: await app.queues
        .generation('local')
        .getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed'),
      balance: await app.economy.balance(accountId),
    };
  }

  const cases: {
    name: string;
    as?: string;
    command: string;
    raw: Record<string, unknown>;
    code: string;
    message: RegExp;
  }[] = [
    {
      name: 'an empty prompt',
      command: 'generate',
      raw: { prompt: '   ' },
      code: 'invalid_input',
      message: /^The prompt is empty: describe what to generate/,
    },
    {
      name: 'a missing prompt',
      command: 'generate',
      raw: {},
      code: 'invalid_input',
      message: /^A prompt is required/,
    },
    {
      name: 'a 5000-character prompt',
      command: 'generate',
      raw: { prompt: 'x'.repeat(5000) },
      code: 'invalid_input',
      message: /^The prompt is too long \(5000 characters\); the limit is 1000\./,
    },
    {
      name: 'an unknown model',
      command: 'generate',
      raw: { prompt: 'a fox', model: 'dall-e-9' },
      code: 'unknown_model',
      message: /^There is no model "dall-e-9"\. Available: t-fast, /,
    },
    {
      name: 'a size over the limit',
      command: 'generate',
      raw: { prompt: 'a fox', width: 4096, height: 4096 },
      code: 'invalid_input',
      message: /^4096x4096 is larger than t-fast allows \(at most 256x256\)\./,
    },
    {
      name: 'count 9',
      command: 'generate',
      raw: { prompt: 'a fox', count: 9 },
      code: 'invalid_input',
      message: /^Count is a whole number from 1 to 4\./,
    },
    {
      name: 'an aspect ratio the model lacks',
      command: 'generate',
      raw: { prompt: 'a fox', aspectRatio: '21:9' },
      code: 'invalid_input',
      message: /does not offer the aspect ratio 21:9; use one of 1:1/,
    },
    {
      name: 'too many steps',
      command: 'generate',
      raw: { prompt: 'a fox', steps: 500 },
      code: 'invalid_input',
      message: /^Steps must be between 1 and 60 for t-fast \(got 500\)\./,
    },
    {
      name: 'a negative grant',
      as: 'mod',
      command: 'grant',
      raw: { member: 'zed', points: -5 },
      code: 'invalid_input',
      message: /^Points are a whole number above zero\./,
    },
    {
      name: 'a fractional grant',
      as: 'mod',
      command: 'grant',
      raw: { member: 'zed', points: 2.5 },
      code: 'invalid_input',
      message: /^Points are a whole number above zero\./,
    },
    {
      name: 'a grant by a non-moderator',
      as: 'zed',
      command: 'grant',
      raw: { member: 'zed', points: 50 },
      code: 'forbidden',
      message: /^Only moderators can use \/grant\.$/,
    },
    {
      name: 'a revoke by a non-moderator',
      as: 'zed',
      command: 'revoke',
      raw: { member: 'amy', points: 5 },
      code: 'forbidden',
      message: /^Only moderators can use \/revoke\.$/,
    },
    {
      name: 'a revoke of more than is available',
      as: 'mod',
      command: 'revoke',
      raw: { member: 'zed', points: 101 },
      code: 'not_enough_points',
      message: /^Cannot revoke 101 points: only 100 are available\.$/,
    },
    {
      name: 'a cancel of a malformed id',
      command: 'cancel',
      raw: { id: 'nope!' },
      code: 'invalid_input',
      message: /^That is not a generation id/,
    },
    {
      name: 'a history page of 0',
      command: 'history',
      raw: { page: 0 },
      code: 'invalid_input',
      message: /^The page is a whole number from 1\./,
    },
    {
      name: 'an unknown status filter',
      command: 'history',
      raw: { status: 'lost' },
      code: 'invalid_input',
      message: /^The status is one of: pending, queued/,
    },
  ];

  it.each(cases)('answers $name with a clear message and changes nothing', async (c) => {
    const before = await snapshot();
    const error = await command(app, c.as ?? 'zed', c.command, c.raw).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(error).toBeDefined();
    expect(error?.code).toBe(c.code);
    expect(error?.message).toMatch(c.message);
    expect(await snapshot()).toEqual(before);
  });

  it('tells a member who cannot pay the price and their balance, and changes nothing', async () => {
    await fund(app, 'poor', 3);
    const before = await snapshot();
    await expect(command(app, 'poor', 'generate', { prompt: 'a fox' })).rejects.toMatchObject({
      code: 'not_enough_points',
      message: 'Not enough points: this costs 4 and you have 3 available.',
    });
    expect(await snapshot()).toEqual(before);
  });

  it('makes no account for anyone a refusal names', async () => {
    const accounts = async () => ({
      accounts: await app.collections.Account.countDocuments({}),
      identities: await app.collections.Identity.countDocuments({}),
    });
    const before = await accounts();
    // A newcomer who cannot pay, a newcomer's balance and history, a grant over the limit.
    await expect(command(app, 'newcomer', 'generate', { prompt: 'a fox' })).rejects.toMatchObject({
      code: 'not_enough_points',
      message: 'Not enough points: this costs 4 and you have 0 available.',
    });
    expect((await command(app, 'newcomer', 'balance')).text).toBe('You have 0 points available.');
    await command(app, 'newcomer', 'history');
    await expect(
      command(app, 'mod', 'grant', { member: 'stranger', points: 2_000_000 }),
    ).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(
      command(app, 'mod', 'revoke', { member: 'stranger', points: 5 }),
    ).rejects.toMatchObject({ code: 'not_enough_points' });
    expect(await accounts()).toEqual(before);
  });

  it('counts prompt characters as code points, as the refusal says', async () => {
    const before = await snapshot();
    // 1000 foxes are 2000 UTF-16 units but 1000 characters: within the limit.
    const ok = await command(app, 'zed', 'generate', { prompt: '🦊'.repeat(1000) });
    expect(ok.generation?.prompt).toBe('🦊'.repeat(1000));
    await expect(
      command(app, 'zed', 'generate', { prompt: '🦊'.repeat(1001) }),
    ).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(
        /^The prompt is too long \(1001 characters\); the limit is 1000\. Characters are Unicode code points/,
      ) as unknown,
    });
    expect((await snapshot()).generations).toBe(before.generations + 1);
  });
});
