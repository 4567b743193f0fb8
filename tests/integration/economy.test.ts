import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { Economy } from '../../src/economy/ledger.js';
import { openTestStore, type TestStore } from '../support/store.js';

describe('points ledger', () => {
  let store: TestStore;
  let economy: Economy;
  let n = 0;
  const member = () => ({ platform: 'console' as const, id: `member-${(n += 1)}` });

  beforeAll(async () => {
    store = await openTestStore();
    economy = new Economy(store.collections, { welcomePoints: 0, maxGrant: 1_000_000 });
  });
  afterAll(async () => {
    await store.close();
  });

  it('creates one account per identity, even when asked concurrently', async () => {
    const who = member();
    const ids = await Promise.all(Array.from({ length: 8 }, () => economy.ensureAccount(who, 'x')));
    expect(new Set(ids).size).toBe(1);
    expect(await store.collections.Account.countDocuments({ _id: ids[0] })).toBe(1);
  });

  it("lists an account's holds newest first, page by page, from its chain", async () => {
    const account = await economy.ensureAccount(member());
    await economy.grant({
      accountId: account,
      amount: 100,
      key: 'h-' + account,
      actor: 'm',
      reason: 'x',
    });
    const ids = Array.from({ length: 12 }, (_, i) => `h${i}-${account}`);
    for (const [i, id] of ids.entries()) {
      await economy.reserve({ accountId: account, amount: 1, holdId: id });
      // Settles, grants and open holds interleave in the chain, as in real use.
      if (i % 3 === 0) await economy.settle({ holdId: id, capture: 1, outcome: 'completed' });
      if (i % 4 === 0)
        await economy.grant({
          accountId: account,
          amount: 1,
          key: `g${i}-${account}`,
          actor: 'm',
          reason: 'x',
        });
    }
    const newest = [...ids].reverse();
    expect(await economy.recentHolds(account, { skip: 0, limit: 5 })).toEqual({
      total: 12,
      holdIds: newest.slice(0, 5),
    });
    expect((await economy.recentHolds(account, { skip: 5, limit: 5 })).holdIds).toEqual(
      newest.slice(5, 10),
    );
    expect((await economy.recentHolds(account, { skip: 10, limit: 5 })).holdIds).toEqual(
      newest.slice(10),
    );
    expect((await economy.recentHolds(account, { skip: 12, limit: 5 })).holdIds).toEqual([]);
    const outcomes = await economy.holdOutcomes(account);
    expect(outcomes.map((h) => h.holdId)).toEqual(newest);
    expect(outcomes.filter((h) => h.outcome === 'completed').map((h) => h.holdId)).toEqual(
      newest.filter((_, i) => (11 - i) % 3 === 0),
    );
    // Another process, with no remembered head, finds the same.
    const other = new Economy(store.collections, { welcomePoints: 0, maxGrant: 1_000_000 });
    expect((await other.recentHolds(account, { skip: 5, limit: 2 })).holdIds).toEqual(
      newest.slice(5, 7),
    );
    expect(await other.balance(account)).toEqual(await economy.balance(account));
  });

  it('grants, revokes and refuses to revoke more than is available', async () => {
    const account = await economy.ensureAccount(member());
    await economy.grant({
      accountId: account,
      amount: 100,
      key: 'g1-' + account,
      actor: 'mod',
      reason: 'test',
    });
    await economy.revoke({
      accountId: account,
      amount: 30,
      key: 'r1-' + account,
      actor: 'mod',
      reason: 'test',
    });
    expect(await economy.balance(account)).toEqual({ available: 70, held: 0 });
    await expect(
      economy.revoke({
        accountId: account,
        amount: 71,
        key: 'r2-' + account,
        actor: 'mod',
        reason: 'test',
      }),
    ).rejects.toMatchObject({ code: 'not_enough_points' });
    expect(await economy.balance(account)).toEqual({ available: 70, held: 0 });
    expect(await economy.check()).toEqual([]);
  });

  it('applies the same grant key once', async () => {
    const account = await economy.ensureAccount(member());
    for (let i = 0; i < 3; i += 1) {
      await economy.grant({
        accountId: account,
        amount: 10,
        key: 'same-' + account,
        actor: 'mod',
        reason: 'x',
      });
    }
    expect(await economy.balance(account)).toEqual({ available: 10, held: 0 });
  });

  it('refuses a negative or fractional grant', async () => {
    const account = await economy.ensureAccount(member());
    for (const amount of [-5, 0, 1.5]) {
      await expect(
        economy.grant({
          accountId: account,
          amount,
          key: `bad-${amount}-${account}`,
          actor: 'mod',
          reason: 'x',
        }),
      ).rejects.toBeInstanceOf(UserError);
    }
    expect(await economy.balance(account)).toEqual({ available: 0, held: 0 });
    expect(await store.collections.LedgerEntry.countDocuments({ accountId: account })).toBe(0);
  });

  it('holds, captures part and releases the rest, exactly once', async () => {
    const account = await economy.ensureAccount(member());
    await economy.grant({
      accountId: account,
      amount: 50,
      key: 'seed-' + account,
      actor: 'mod',
      reason: 'x',
    });
    await economy.reserve({ accountId: account, amount: 20, holdId: 'h-' + account });
    expect(await economy.balance(account)).toEqual({ available: 30, held: 20 });
    expect(
      await economy.settle({ holdId: 'h-' + account, capture: 10, outcome: 'completed' }),
    ).toMatchObject({
      captured: 10,
      released: 10,
      won: true,
    });
    expect(
      await economy.settle({ holdId: 'h-' + account, capture: 20, outcome: 'completed' }),
    ).toMatchObject({
      captured: 10,
      won: false,
    });
    expect(await economy.balance(account)).toEqual({ available: 40, held: 0 });
    expect(await economy.check()).toEqual([]);
  });

  it('never lets concurrent holds spend more than is available', async () => {
    const account = await economy.ensureAccount(member());
    await economy.grant({
      accountId: account,
      amount: 50,
      key: 'c-' + account,
      actor: 'mod',
      reason: 'x',
    });
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        economy.reserve({ accountId: account, amount: 10, holdId: `c${i}-${account}` }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'not_enough_points' });
    }
    expect(await economy.balance(account)).toEqual({ available: 0, held: 50 });
    expect(await economy.check()).toEqual([]);
  });

  it('names the account whose chain was tampered with', async () => {
    const account = await economy.ensureAccount(member());
    await economy.grant({
      accountId: account,
      amount: 5,
      key: 't-' + account,
      actor: 'mod',
      reason: 'x',
    });
    await store.collections.LedgerEntry.create({
      _id: 'forged-' + account,
      key: 'forged-' + account,
      accountId: account,
      seq: 2,
      kind: 'grant',
      availableDelta: 1,
      heldDelta: 0,
      amount: 1,
      availableAfter: 100,
      heldAfter: 0,
    });
    const violations = await economy.check();
    expect(violations.map((v) => v.accountId)).toContain(account);
    await store.collections.LedgerEntry.deleteOne({ _id: 'forged-' + account });
    expect(await economy.check()).toEqual([]);
  });

  it('keeps the first settle of a hold when a second one races it', async () => {
    const account = await economy.ensureAccount(member());
    await economy.grant({
      accountId: account,
      amount: 30,
      key: 'r-' + account,
      actor: 'mod',
      reason: 'x',
    });
    await economy.reserve({ accountId: account, amount: 30, holdId: 'race-' + account });
    const [a, b] = await Promise.all([
      economy.settle({ holdId: 'race-' + account, capture: 30, outcome: 'completed' }),
      economy.settle({ holdId: 'race-' + account, capture: 0, outcome: 'cancelled' }),
    ]);
    expect([a?.won, b?.won].filter(Boolean)).toHaveLength(1);
    expect(a?.outcome).toBe(b?.outcome);
    const balance = await economy.balance(account);
    expect(balance.held).toBe(0);
    expect(balance.available).toBe(a?.outcome === 'completed' ? 0 : 30);
    expect(await economy.check()).toEqual([]);
  });
});

describe('points ledger shared by several processes', () => {
  it('never lets holds from separate processes spend more than is available', async () => {
    // Four Economy instances on four connections stand in for four bot/worker processes:
    // only the database's unique (account, seq) index stands between them.
    const stores = await Promise.all(Array.from({ length: 4 }, () => openTestStore()));
    const [first] = stores;
    try {
      const economies = stores.map(
        (s) => new Economy(s.collections, { welcomePoints: 0, maxGrant: 1_000_000 }),
      );
      // All four share the first store's database: reopen the others on its URI.
      const shared = await Promise.all(
        stores.slice(1).map(async (s) => {
          const conn = s.conn.useDb(first!.conn.name, { useCache: false });
          const { registerCollections } = await import('../../src/store/collections.js');
          return new Economy(registerCollections(conn), { welcomePoints: 0, maxGrant: 1_000_000 });
        }),
      );
      const processes = [economies[0]!, ...shared];
      const account = await processes[0]!.ensureAccount({ platform: 'console', id: 'shared' });
      await processes[0]!.grant({
        accountId: account,
        amount: 30,
        key: 'shared-fund',
        actor: 'mod',
        reason: 'x',
      });
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) =>
          processes[i % processes.length]!.reserve({
            accountId: account,
            amount: 3,
            holdId: `shared-${i}`,
          }),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
      expect(await processes[0]!.balance(account)).toEqual({ available: 0, held: 30 });
      expect(await processes[0]!.check()).toEqual([]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});
