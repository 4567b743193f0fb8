import { afterAll, describe, expect, it } from 'vitest';
import { GatedBackend } from '../support/gated-backend.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import {
  command,
  createTestApp,
  fund,
  testModel,
  waitForStatus,
  type TestApp,
} from '../support/app.js';

const apps: TestApp[] = [];
async function appWith(config: Record<string, string>, backend = new GatedBackend()) {
  const app = await createTestApp({
    models: [testModel('t-gated'), testModel('t-broken', { failAfterStep: 0 })],
    config: { WORKER_CONCURRENCY: '1', ...config },
    overrides: { providers: new ProviderRegistry([backend]) },
  });
  apps.push(app);
  return { app, backend };
}

afterAll(async () => {
  for (const app of apps) {
    await app.conn.dropDatabase();
    await app.close();
  }
});

const generate = (app: TestApp, member: string, prompt: string, model = 't-gated') =>
  command(app, member, 'generate', { prompt, model });

async function refusalOf(promise: Promise<unknown>) {
  return promise.then(
    () => undefined,
    (e: unknown) => e as { code: string; message: string },
  );
}

async function traces(app: TestApp, member: string) {
  const accountId = await app.economy.findAccount({ platform: 'console', id: member });
  return {
    generations: await app.collections.Generation.countDocuments({ accountId }),
    reserves: await app.collections.LedgerEntry.countDocuments({ accountId, kind: 'reserve' }),
    balance: accountId ? await app.economy.balance(accountId) : undefined,
  };
}

describe('fair ordering and member limits', () => {
  it("runs another member's first job before a member's second, with one worker slot", async () => {
    const { app, backend } = await appWith({ MEMBER_MAX_QUEUED: '0' });
    await fund(app, 'ann', 100);
    await fund(app, 'ben', 100);
    const ann: string[] = [];
    for (let n = 1; n <= 6; n += 1)
      ann.push((await generate(app, 'ann', `ann ${n}`)).generation?.id ?? '');
    const ben = (await generate(app, 'ben', 'ben 1')).generation?.id ?? '';
    backend.openAll();
    await app.startWorkers();
    for (const id of [...ann, ben]) await waitForStatus(app, id);
    expect(backend.started).toHaveLength(7);
    expect(backend.started.indexOf(ben)).toBeLessThanOrEqual(backend.started.indexOf(ann[1]!));
    // Ann's own jobs keep their order.
    expect(backend.started.filter((id) => id !== ben)).toEqual(ann);
  });

  it("starts a priority member's job before everyone waiting", async () => {
    const { app, backend } = await appWith({ MEMBER_MAX_QUEUED: '0', PRIORITY_MEMBERS: 'vip' });
    await fund(app, 'hal', 100);
    await fund(app, 'ida', 100);
    await fund(app, 'vip', 100);
    const waiting = [
      (await generate(app, 'hal', 'h1')).generation?.id ?? '',
      (await generate(app, 'ida', 'i1')).generation?.id ?? '',
      (await generate(app, 'hal', 'h2')).generation?.id ?? '',
    ];
    const vip = (await generate(app, 'vip', 'v1')).generation?.id ?? '';
    backend.openAll();
    await app.startWorkers();
    for (const id of [...waiting, vip]) await waitForStatus(app, id);
    expect(backend.started).toEqual([vip, ...waiting]);
  });

  it("refuses a member's 4th waiting generation before holding anything", async () => {
    const { app } = await appWith({ MEMBER_MAX_QUEUED: '3' });
    await fund(app, 'cat', 100);
    for (let n = 1; n <= 3; n += 1) await generate(app, 'cat', `cat ${n}`);
    const before = await traces(app, 'cat');
    const refused = await refusalOf(generate(app, 'cat', 'cat 4'));
    expect(refused).toMatchObject({
      code: 'limit_reached',
      message:
        'You have 3 generations waiting or running; the limit is 3. Wait for one to finish or /cancel one.',
    });
    expect(await traces(app, 'cat')).toEqual(before);
    expect(before).toMatchObject({ generations: 3, reserves: 3 });
    expect((await command(app, 'cat', 'queue')).text).toContain(
      'Your limits: 3 of 3 waiting or running; 3 today.',
    );
    // A moderator is not limited; unless the operator says so.
    await fund(app, 'mod', 100);
    for (let n = 1; n <= 4; n += 1) await generate(app, 'mod', `mod ${n}`);
    const strict = (await appWith({ MEMBER_MAX_QUEUED: '1', LIMITS_EXEMPT_MODERATORS: 'false' }))
      .app;
    await fund(strict, 'mod', 100);
    await generate(strict, 'mod', 'one');
    expect(await refusalOf(generate(strict, 'mod', 'two'))).toMatchObject({
      code: 'limit_reached',
    });
  });

  it('accepts exactly 3 of 50 simultaneous submits and leaves no trace of the 47 others', async () => {
    const { app } = await appWith({ MEMBER_MAX_QUEUED: '3' });
    await fund(app, 'dan', 1000);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, n) => generate(app, 'dan', `burst ${n}`)),
    );
    const accepted = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    expect(accepted).toHaveLength(3);
    for (const r of refused) expect(r.reason).toMatchObject({ code: 'limit_reached' });
    const price = accepted[0]?.status === 'fulfilled' ? accepted[0].value.generation!.price : 0;
    expect(await traces(app, 'dan')).toEqual({
      generations: 3,
      reserves: 3,
      balance: { available: 1000 - 3 * price, held: 3 * price },
    });
    expect(await app.economy.check()).toEqual([]);
  });

  it('refuses within the cooldown with the time left, and changes nothing', async () => {
    const { app } = await appWith({ MEMBER_MAX_QUEUED: '0', MEMBER_COOLDOWN_SECONDS: '60' });
    await fund(app, 'eve', 100);
    await generate(app, 'eve', 'first');
    const before = await traces(app, 'eve');
    const refused = await refusalOf(generate(app, 'eve', 'too soon'));
    expect(refused?.code).toBe('limit_reached');
    const seconds = Number(
      /^Please wait (\d+) s before your next generation\.$/.exec(refused?.message ?? '')?.[1],
    );
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThanOrEqual(60);
    expect(await traces(app, 'eve')).toEqual(before);
  });

  it('counts a day of generations, not the failed ones, and says when it starts again', async () => {
    const { app, backend } = await appWith({ MEMBER_MAX_QUEUED: '0', MEMBER_DAILY_LIMIT: '2' });
    backend.openAll();
    await app.startWorkers();
    await fund(app, 'fay', 100);
    const failed = (await generate(app, 'fay', 'breaks', 't-broken')).generation?.id ?? '';
    expect((await waitForStatus(app, failed)).status).toBe('failed');
    const ok = (await generate(app, 'fay', 'one')).generation?.id ?? '';
    await waitForStatus(app, ok);
    const two = (await generate(app, 'fay', 'two')).generation?.id ?? '';
    await waitForStatus(app, two);
    const before = await traces(app, 'fay');
    const refused = await refusalOf(generate(app, 'fay', 'three'));
    expect(refused?.message).toMatch(
      /^You have made 2 generations today; the limit is 2 a day\. It starts again in (\d+ h )?\d+ min \(midnight UTC\)\.$/,
    );
    expect(await traces(app, 'fay')).toEqual(before);
  });

  it('frees a slot when a generation ends, and the reconciler frees one a crash left', async () => {
    const { app, backend } = await appWith({ MEMBER_MAX_QUEUED: '1' });
    backend.openAll();
    await app.startWorkers();
    const accountId = await fund(app, 'gil', 100);
    const first = (await generate(app, 'gil', 'one')).generation?.id ?? '';
    await waitForStatus(app, first);
    const second = (await generate(app, 'gil', 'two')).generation?.id ?? '';
    await waitForStatus(app, second);
    // A submit that died after taking its slot, before its document was written.
    expect(
      await app.limits.acquire(accountId, 'lostgeneration01', { exempt: false }),
    ).toMatchObject({
      ok: true,
    });
    expect(await refusalOf(generate(app, 'gil', 'blocked'))).toMatchObject({
      code: 'limit_reached',
    });
    const report = await app.reconciler.run(0);
    expect(report.slots).toBe(1);
    const third = (await generate(app, 'gil', 'three')).generation?.id ?? '';
    expect((await waitForStatus(app, third)).status).toBe('completed');
  });
});
