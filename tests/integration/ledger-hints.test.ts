import mongoose, { type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Economy } from '../../src/economy/ledger.js';
import { ensureIndexes, registerCollections } from '../../src/store/collections.js';
import { testMongoUri, uniqueName } from '../support/env.js';

/**
 * Where a ledger change starts when a process has not seen the account: the head a job
 * carries, or the seq a shared hint names. Each "process" is an Economy on a connection of
 * its own, whose commands are counted as the driver sends them.
 */
interface Process {
  economy: Economy;
  conn: Connection;
  /** Commands sent since the last `take`, as `<command> <collection>`. */
  take(): string[];
}

describe('ledger changes started from a known head', () => {
  const uri = testMongoUri(uniqueName('genbot_test'));
  const opened: Connection[] = [];
  let n = 0;
  const member = () => ({ platform: 'console' as const, id: `m-${(n += 1)}` });

  async function process(): Promise<Process> {
    const conn = await mongoose.createConnection(uri, { monitorCommands: true }).asPromise();
    opened.push(conn);
    const collections = registerCollections(conn);
    await ensureIndexes(collections);
    let sent: string[] = [];
    conn.getClient().on('commandStarted', (event) => {
      const collection = (event.command as Record<string, unknown>)[event.commandName];
      if (typeof collection === 'string') sent.push(`${event.commandName} ${collection}`);
    });
    return {
      conn,
      economy: new Economy(collections, { welcomePoints: 0, maxGrant: 1_000_000 }),
      take: () => {
        const taken = sent;
        sent = [];
        return taken;
      },
    };
  }

  let bot: Process;
  let worker: Process;

  beforeAll(async () => {
    bot = await process();
    worker = await process();
  });
  afterAll(async () => {
    await opened[0]?.dropDatabase();
    await Promise.all(opened.map((c) => c.close()));
  });

  /** An account with `links` entries in its chain, made by a third process. */
  async function accountWith(links: number, points = 100): Promise<string> {
    const other = await process();
    const accountId = await other.economy.ensureAccount(member());
    await other.economy.grant({
      accountId,
      amount: points,
      key: `f-${accountId}`,
      actor: 'm',
      reason: 'x',
    });
    for (let i = 1; i < links; i += 1)
      await other.economy.grant({
        accountId,
        amount: 1,
        key: `g${i}-${accountId}`,
        actor: 'm',
        reason: 'x',
      });
    return accountId;
  }

  it('settles right after the head the hold left, reading nothing', async () => {
    const accountId = await accountWith(20);
    const holdId = `h-${accountId}`;
    const after = await bot.economy.reserve({ accountId, amount: 5, holdId, hintSeq: 20 });
    expect(after).toMatchObject({ seq: 21, available: 114, held: 5 });
    worker.take();
    const settled = await worker.economy.settle({
      holdId,
      capture: 5,
      outcome: 'completed',
      hold: { accountId, amount: 5 },
      after,
    });
    expect(settled).toMatchObject({ won: true, captured: 5, seq: 22 });
    expect(worker.take()).toEqual(['insert ledger']);
    expect(await worker.economy.balance(accountId)).toEqual({ available: 114, held: 0 });
  });

  it('starts a hold from the hinted link: one read, then the insert', async () => {
    const accountId = await accountWith(20);
    bot.take();
    await bot.economy.reserve({ accountId, amount: 1, holdId: `h-${accountId}`, hintSeq: 20 });
    expect(bot.take()).toEqual(['find ledger', 'insert ledger']);
  });

  it('moves on when the head it was given is stale, and applies the change once', async () => {
    const accountId = await accountWith(3);
    const holdId = `h-${accountId}`;
    const after = await bot.economy.reserve({ accountId, amount: 10, holdId, hintSeq: 3 });
    // Two more changes land after the hold, from another process.
    await bot.economy.grant({
      accountId,
      amount: 7,
      key: `late1-${accountId}`,
      actor: 'm',
      reason: 'x',
    });
    await bot.economy.grant({
      accountId,
      amount: 3,
      key: `late2-${accountId}`,
      actor: 'm',
      reason: 'x',
    });
    const input = {
      holdId,
      capture: 4,
      outcome: 'completed' as const,
      hold: { accountId, amount: 10 },
      after,
    };
    const first = await worker.economy.settle(input);
    expect(first).toMatchObject({ won: true, captured: 4, released: 6, seq: 7 });
    // The same settle again (a replayed job) is told the first outcome and changes nothing.
    const again = await worker.economy.settle(input);
    expect(again).toMatchObject({ won: false, captured: 4 });
    expect(await bot.economy.balance(accountId)).toEqual({ available: 108, held: 0 });
    expect(await bot.economy.check()).toEqual([]);
  });

  it('never refuses from a head taken on trust: a grant made elsewhere counts', async () => {
    const accountId = await accountWith(1, 1);
    // The bot saw the account with 1 point...
    expect(await bot.economy.balance(accountId)).toEqual({ available: 1, held: 0 });
    // ...then another process granted more.
    await worker.economy.grant({
      accountId,
      amount: 8,
      key: `g-${accountId}`,
      actor: 'm',
      reason: 'x',
    });
    await bot.economy.reserve({ accountId, amount: 9, holdId: `h-${accountId}` });
    expect(await worker.economy.balance(accountId)).toEqual({ available: 0, held: 9 });
    // Out of points now, also once confirmed: refused, nothing written.
    await expect(
      bot.economy.reserve({ accountId, amount: 1, holdId: `h2-${accountId}` }),
    ).rejects.toMatchObject({ code: 'not_enough_points' });
    expect(await bot.economy.check()).toEqual([]);
  });

  it('searches the chain when the hint names a link that does not exist', async () => {
    const accountId = await accountWith(5);
    // A hint from before a restore of the database: beyond the chain.
    const after = await bot.economy.reserve({
      accountId,
      amount: 2,
      holdId: `h-${accountId}`,
      hintSeq: 50,
    });
    expect(after.seq).toBe(6);
    expect(await bot.economy.check()).toEqual([]);
  });

  it('keeps 20 concurrent holds from two processes within the balance', async () => {
    const accountId = await accountWith(2, 10);
    const attempts = Array.from({ length: 20 }, (_, i) =>
      (i % 2 ? bot : worker).economy.reserve({
        accountId,
        amount: 1,
        holdId: `c${i}-${accountId}`,
        hintSeq: 2,
      }),
    );
    const results = await Promise.allSettled(attempts);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(11);
    expect(await bot.economy.balance(accountId)).toEqual({ available: 0, held: 11 });
    expect(await bot.economy.check()).toEqual([]);
  });
});
