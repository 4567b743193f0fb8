import { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReconcileLoop } from '../../src/generation/reconcile-loop.js';
import { generationQueueName } from '../../src/queue/contracts.js';
import { command, createTestApp, fund, waitForStatus, type TestApp } from '../support/app.js';

/**
 * The reconciler repairs what crashes, dead workers and a Redis that lost its data leave
 * behind, on its own schedule and in one process at a time. Jobs get one attempt here, so
 * nothing but the reconciler moves a broken generation on.
 */
describe('reconciler', () => {
  let app: TestApp;
  const queue = () => generationQueueName('local');

  beforeAll(async () => {
    app = await createTestApp({ config: { JOB_ATTEMPTS: '1' } });
  });
  afterAll(async () => {
    await app.conn.dropDatabase();
    await app.close();
  });

  async function queued(member: string): Promise<string> {
    await fund(app, member, 20);
    const { generation } = await command(app, member, 'generate', { prompt: `for ${member}` });
    return generation!.id;
  }

  async function balanceOf(member: string) {
    const accountId = await app.economy.findAccount({ platform: 'console', id: member });
    return app.economy.balance(accountId!);
  }

  /** A worker takes the job and dies: BullMQ fails it as stalled (what its checker writes). */
  async function failAsStalled(id: string): Promise<void> {
    const worker = new Worker(queue(), null, { connection: app.redis, prefix: app.prefix });
    try {
      const token = `dead-${id}`;
      const taken = await worker.getNextJob(token);
      expect(taken?.id).toBe(id);
      await app.generations.markProcessing(id, 1, 'queued');
      await taken.moveToFailed(new Error('job stalled more than allowable limit'), token, false);
    } finally {
      await worker.close();
    }
  }

  it('finds a job that failed as stalled in a frequent sweep, by _id, and only once', async () => {
    const id = await queued('fritz');
    // A full sweep first: the frequent ones look at what fails after it.
    await app.reconciler.run(0);
    await failAsStalled(id);
    const recent = await app.reconciler.run(0, { scope: 'recent' });
    expect(recent).toMatchObject({ retried: 1, failed: 0 });
    // Back in its place among the waiting members' jobs (every member's job is prioritized).
    expect(await (await app.queues.generation('local').getJob(id))!.getState()).toBe('prioritized');
    // The same failure is not looked at again.
    expect(await app.reconciler.run(0, { scope: 'recent' })).toMatchObject({
      retried: 0,
      failed: 0,
    });
    // A lost job is not a failure: only a full sweep finds it.
    await (await app.queues.generation('local').getJob(id))!.remove();
    expect(await app.reconciler.run(0, { scope: 'recent' })).toMatchObject({ requeued: 0 });
    expect(await app.reconciler.run(0)).toMatchObject({ requeued: 1 });
    // Out of the way of the next tests, which take the next waiting job.
    await app.generations.cancel(id, { accountId: undefined, isModerator: true });
    expect(await balanceOf('fritz')).toEqual({ available: 20, held: 0 });
  });

  it('sweeps in one process at a time', async () => {
    const loop = () =>
      new ReconcileLoop({
        reconciler: app.reconciler,
        redis: app.redis,
        keys: app.keys,
        logger: app.logger,
        intervalMs: 0,
        graceMs: 0,
      });
    const reports = await Promise.all([loop().tick(), loop().tick(), loop().tick()]);
    expect(reports.filter((r) => r !== undefined)).toHaveLength(1);
    // The lock is released after the sweep: the next one runs.
    expect(await loop().tick()).toBeDefined();
  });

  it('gives a job that failed as stalled one more run, then fails it with its points back', async () => {
    const id = await queued('stella');
    await failAsStalled(id);
    const first = await app.reconciler.run(0);
    expect(first).toMatchObject({ retried: 1, failed: 0 });
    expect(await (await app.queues.generation('local').getJob(id))!.getState()).toBe('prioritized');
    expect((await balanceOf('stella')).held).toBeGreaterThan(0);

    await failAsStalled(id);
    const second = await app.reconciler.run(0);
    expect(second).toMatchObject({ retried: 0, failed: 1 });
    const final = await app.generations.summary(id);
    expect(final.status).toBe('failed');
    expect(final.error?.message).toBe(
      'The generation was interrupted (its worker stopped). Your points were returned.',
    );
    expect(await balanceOf('stella')).toEqual({ available: 20, held: 0 });
    expect(await app.economy.check()).toEqual([]);
  });

  it('queues a generation again whose job Redis lost, once', async () => {
    const id = await queued('rudi');
    await (await app.queues.generation('local').getJob(id))!.remove();
    const report = await app.reconciler.run(0);
    expect(report.requeued).toBe(1);
    // A lost job goes back ahead of the others (it has waited already): the plain wait list.
    expect(await (await app.queues.generation('local').getJob(id))!.getState()).toBe('waiting');

    const pool = await app.startWorkers();
    try {
      const done = await waitForStatus(app, id);
      expect(done.status).toBe('completed');
    } finally {
      await pool.close();
    }
    // Run once, paid once: the requeued job settled the hold it found, and nothing was left.
    expect(await app.collections.LedgerEntry.countDocuments({ holdId: id, kind: 'settle' })).toBe(
      1,
    );
    expect((await balanceOf('rudi')).held).toBe(0);
    expect(await app.economy.check()).toEqual([]);
    expect(await app.reconciler.run(0)).toMatchObject({ requeued: 0, finished: 0, failed: 0 });
  });

  it('repairs on its interval, with no restart', async () => {
    const id = await queued('ivo');
    const loop = new ReconcileLoop({
      reconciler: app.reconciler,
      redis: app.redis,
      keys: app.keys,
      logger: app.logger,
      intervalMs: 100,
      graceMs: 0,
      // A lost job is found by a full sweep (by default every quarter hour).
      fullEveryMs: 300,
    });
    await loop.start();
    try {
      await (await app.queues.generation('local').getJob(id))!.remove();
      // The loop's own timer brings it back; give up after a generous bound.
      for (let i = 0; i < 200 && !(await app.queues.generation('local').getJob(id)); i += 1)
        await new Promise((r) => setTimeout(r, 50));
      expect(await app.queues.generation('local').getJob(id)).toBeDefined();
    } finally {
      await loop.stop();
    }
  });
});
