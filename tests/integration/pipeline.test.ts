import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settleKey, reserveKey } from '../../src/economy/ledger.js';
import { RUNNING_AFTER_MS } from '../../src/worker/processor.js';
import { command, createTestApp, fund, waitForStatus, type TestApp } from '../support/app.js';

describe('the generation pipeline', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await createTestApp();
    await app.startWorkers();
  });
  afterAll(async () => {
    await app.conn.dropDatabase();
    await app.close();
  });

  const balanceOf = async (member: string) => {
    const id = await app.economy.findAccount({ platform: 'console', id: member });
    return id ? app.economy.balance(id) : { available: 0, held: 0 };
  };

  it('completes a generation: outputs in GridFS match their sha256, points captured, ledger clean', async () => {
    await fund(app, 'ann', 50);
    const { generation } = await command(app, 'ann', 'generate', {
      prompt: 'a red fox in the snow',
      count: 2,
      seed: 7,
    });
    expect(generation?.status).toBe('queued');
    expect(generation?.price).toBe(6);
    expect(await balanceOf('ann')).toEqual({ available: 44, held: 6 });

    const done = await waitForStatus(app, generation!.id);
    expect(done.status).toBe('completed');
    expect(done.outputs).toHaveLength(2);
    for (const output of done.outputs) {
      const bytes = await app.media.get(output.fileId);
      expect(bytes.byteLength).toBe(output.bytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(output.sha256);
      expect(bytes.subarray(1, 4).toString()).toBe('PNG');
      expect(output).toMatchObject({ mime: 'image/png', width: 64, height: 64 });
    }
    expect(done.captured).toBe(6);
    expect(await balanceOf('ann')).toEqual({ available: 44, held: 0 });
    expect(await app.economy.check()).toEqual([]);

    const doc = await app.generations.find(generation!.id);
    expect(doc?.statusHistory.map((h) => h.status)).toEqual(['queued', 'processing', 'completed']);
  });

  it('renders the same bytes for the same prompt, model and seed', async () => {
    await fund(app, 'dee', 50);
    const a = await command(app, 'dee', 'generate', { prompt: 'lighthouse at dusk', seed: 42 });
    const b = await command(app, 'dee', 'generate', { prompt: 'lighthouse at dusk', seed: 42 });
    const c = await command(app, 'dee', 'generate', { prompt: 'lighthouse at dusk', seed: 43 });
    const [da, db, dc] = await Promise.all(
      [a, b, c].map((r) => waitForStatus(app, r.generation!.id)),
    );
    expect(da!.outputs[0]!.sha256).toBe(db!.outputs[0]!.sha256);
    expect(dc!.outputs[0]!.sha256).not.toBe(da!.outputs[0]!.sha256);
  });

  it('renders a real multi-frame animation for the animation model', async () => {
    await fund(app, 'ani', 50);
    const { generation } = await command(app, 'ani', 'generate', {
      prompt: 'waves',
      model: 't-loop',
    });
    const done = await waitForStatus(app, generation!.id);
    expect(done.status).toBe('completed');
    const bytes = await app.media.get(done.outputs[0]!.fileId);
    expect(bytes.subarray(0, 6).toString()).toBe('GIF89a');
    const sharp = (await import('sharp')).default;
    const meta = await sharp(bytes, { animated: true }).metadata();
    // Priced per second: one second at the model's 100 ms frame delay is ten frames.
    expect(meta.pages).toBe(10);
    expect((meta.delay ?? []).reduce((a, b) => a + b, 0)).toBe(1000);
  });

  it('releases the points and tells the member why when the provider fails after step 2', async () => {
    await fund(app, 'bob', 20);
    const { generation } = await command(app, 'bob', 'generate', {
      prompt: 'a castle',
      model: 't-fail2',
    });
    const done = await waitForStatus(app, generation!.id);
    expect(done.status).toBe('failed');
    expect(done.error?.message).toMatch(/failed at step 2 of 4.*points were returned/);
    expect(done.captured).toBe(0);
    expect(await balanceOf('bob')).toEqual({ available: 20, held: 0 });
    expect(await app.economy.check()).toEqual([]);
  });

  it('refuses a content-policy prompt without retrying and returns the points', async () => {
    await fund(app, 'rae', 20);
    const { generation } = await command(app, 'rae', 'generate', {
      prompt: 'something forbidden',
      model: 't-refuse',
    });
    const done = await waitForStatus(app, generation!.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'provider_refused' });
    const doc = await app.generations.find(generation!.id);
    expect(doc?.attempts).toBe(1);
    expect(await balanceOf('rae')).toEqual({ available: 20, held: 0 });
  });

  it('captures 2/4 of the price when 2 of 4 images fail, and releases the rest', async () => {
    await fund(app, 'cat', 100);
    const { generation } = await command(app, 'cat', 'generate', {
      prompt: 'four cats',
      model: 't-partial',
      count: 4,
    });
    expect(generation?.price).toBe(20);
    const done = await waitForStatus(app, generation!.id);
    expect(done.status).toBe('completed');
    expect(done.outputs.map((o) => o.index)).toEqual([0, 2]);
    expect(done.failedOutputs.map((f) => f.index)).toEqual([1, 3]);
    expect(done.captured).toBe(10);
    expect(await balanceOf('cat')).toEqual({ available: 90, held: 0 });
    expect(await app.economy.check()).toEqual([]);
  });

  it('retries a retryable provider error and charges exactly once', async () => {
    await fund(app, 'eve', 20);
    const { generation } = await command(app, 'eve', 'generate', {
      prompt: 'a retry',
      model: 't-retry',
    });
    const done = await waitForStatus(app, generation!.id);
    expect(done.status).toBe('completed');
    const doc = await app.generations.find(generation!.id);
    expect(doc?.attempts).toBe(2);
    expect(doc?.statusHistory.map((h) => [h.status, h.note])).toEqual([
      ['queued', undefined],
      ['processing', undefined],
      ['queued', 'retrying: rate_limited'],
      ['processing', 'attempt 2'],
      ['completed', undefined],
    ]);
    const entries = await app.collections.LedgerEntry.find({ holdId: generation!.id }).lean();
    expect(entries.map((e) => e.kind).sort()).toEqual(['reserve', 'settle']);
    expect(await balanceOf('eve')).toEqual({ available: 16, held: 0 });
  });

  it('makes one generation and one hold when the same invocation is delivered twice', async () => {
    await fund(app, 'fay', 20);
    const key = 'console:fay-event-1';
    const [a, b] = await Promise.all([
      command(app, 'fay', 'generate', { prompt: 'twice' }, key),
      command(app, 'fay', 'generate', { prompt: 'twice' }, key),
    ]);
    expect(a.generation!.id).toBe(b.generation!.id);
    expect([a.data.duplicate, b.data.duplicate].filter(Boolean)).toHaveLength(1);
    const again = await command(app, 'fay', 'generate', { prompt: 'twice' }, key);
    expect(again.data.duplicate).toBe(true);
    expect(await app.collections.Generation.countDocuments({ invocationKey: key })).toBe(1);
    expect(
      await app.collections.LedgerEntry.countDocuments({ key: reserveKey(a.generation!.id) }),
    ).toBe(1);
    await waitForStatus(app, a.generation!.id);
    expect(await balanceOf('fay')).toEqual({ available: 16, held: 0 });
  });

  it('accepts exactly 5 of 50 concurrent generates when the account can pay for 5', async () => {
    const accountId = await fund(app, 'gus', 5 * 4);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        command(app, 'gus', 'generate', { prompt: `crowd ${i}` }),
      ),
    );
    const accepted = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(accepted).toHaveLength(5);
    expect(refused).toHaveLength(45);
    for (const r of refused) {
      expect(r.reason).toMatchObject({ code: 'not_enough_points' });
      expect((r.reason as Error).message).toMatch(
        /^Not enough points: this costs 4 and you have \d+ available\.$/,
      );
    }
    expect(await app.collections.Generation.countDocuments({ accountId })).toBe(5);
    // The chain check walks every balance the account ever had: none below zero.
    expect(await app.economy.check()).toEqual([]);
    const entries = await app.collections.LedgerEntry.find({ accountId }).lean();
    expect(Math.min(...entries.map((e) => e.availableAfter))).toBe(0);
    await Promise.all(
      accepted.map((r) =>
        waitForStatus(
          app,
          (r as PromiseFulfilledResult<{ generation?: { id: string } }>).value.generation!.id,
        ),
      ),
    );
    expect(await app.economy.balance(accountId)).toEqual({ available: 0, held: 0 });
  });

  it('cancels a running generation: the provider is aborted and the points are released', async () => {
    await fund(app, 'hal', 20);
    const { generation } = await command(app, 'hal', 'generate', {
      prompt: 'slow',
      model: 't-slow',
    });
    await waitForStatus(app, generation!.id, ['processing']);
    const cancelled = await command(app, 'hal', 'cancel', { id: generation!.id });
    expect(cancelled.text).toMatch(/Cancelling|Cancelled/);
    const done = await waitForStatus(app, generation!.id);
    expect(done.status).toBe('cancelled');
    expect(done.outputs).toEqual([]);
    expect(await balanceOf('hal')).toEqual({ available: 20, held: 0 });
    const job = await app.queues.generation('local').getJob(generation!.id);
    // Aborted: the provider never reached its last step.
    const last = job!.progress as { step?: number };
    expect(last.step ?? 0).toBeLessThan(50);
    expect(await app.economy.check()).toEqual([]);
  });

  it("refuses to cancel a stranger's generation or a finished one", async () => {
    await fund(app, 'ivy', 20);
    const { generation } = await command(app, 'ivy', 'generate', { prompt: 'mine' });
    await expect(command(app, 'jon', 'cancel', { id: generation!.id })).rejects.toMatchObject({
      code: 'forbidden',
      message: `Generation ${generation!.id} is ivy's; only they or a moderator can cancel it.`,
    });
    await expect(command(app, 'jon', 'cancel', { id: 'zzzzzzzzzzzzzz' })).rejects.toMatchObject({
      code: 'not_found',
    });
    await waitForStatus(app, generation!.id);
    await expect(command(app, 'ivy', 'cancel', { id: generation!.id })).rejects.toMatchObject({
      code: 'already_finished',
    });
  });

  it('never captures twice when a stalled job is processed again', async () => {
    await fund(app, 'kim', 20);
    const { generation } = await command(app, 'kim', 'generate', { prompt: 'once' });
    await waitForStatus(app, generation!.id);
    const job = await app.queues.generation('local').getJob(generation!.id);
    const { createProcessor } = await import('../../src/worker/processor.js');
    const process = createProcessor({
      generations: app.generations,
      catalog: app.catalog,
      providers: app.providers,
      media: app.media,
      logger: app.logger,
    });
    await expect(process(job!)).resolves.toEqual({ status: 'completed' });
    // Even finishing it again directly keeps the first settlement.
    await app.generations.finish(generation!.id, {
      outcome: 'failed',
      error: { code: 'internal', message: 'x' },
    });
    expect(
      await app.collections.LedgerEntry.countDocuments({ key: settleKey(generation!.id) }),
    ).toBe(1);
    expect((await app.generations.summary(generation!.id)).status).toBe('completed');
    expect(await balanceOf('kim')).toEqual({ available: 16, held: 0 });
  });

  it('pages history newest first, 5 per page, and filters by status', async () => {
    await fund(app, 'lee', 100);
    const ids: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const { generation } = await command(app, 'lee', 'generate', { prompt: `picture ${i}` });
      ids.push(generation!.id);
    }
    const failed = await command(app, 'lee', 'generate', { prompt: 'broken', model: 't-fail2' });
    await Promise.all([...ids, failed.generation!.id].map((id) => waitForStatus(app, id)));

    const page1 = await command(app, 'lee', 'history');
    expect(page1.history?.items).toHaveLength(5);
    expect(page1.history?.pages).toBe(2);
    expect(page1.history?.items[0]?.id).toBe(failed.generation!.id);
    const page2 = await command(app, 'lee', 'history', { page: 2 });
    expect(page2.history?.items.map((g) => g.id)).toEqual([ids[1], ids[0]]);
    const onlyFailed = await command(app, 'lee', 'history', { status: 'failed' });
    expect(onlyFailed.history?.items.map((g) => g.id)).toEqual([failed.generation!.id]);
    expect(onlyFailed.text).toContain('failed');
  });
});

describe('cancelling a queued generation', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp(); // no workers: the job stays queued
  });
  afterAll(async () => {
    await app.conn.dropDatabase();
    await app.close();
  });

  it('removes the job and releases the points', async () => {
    await fund(app, 'max', 10);
    const { generation } = await command(app, 'max', 'generate', { prompt: 'never runs' });
    expect(await app.queues.generation('local').getJob(generation!.id)).toBeDefined();
    const result = await command(app, 'max', 'cancel', { id: generation!.id });
    expect(result.generation?.status).toBe('cancelled');
    expect(result.text).toBe(`Cancelled ${generation!.id}; 4 points returned.`);
    expect(await app.queues.generation('local').getJob(generation!.id)).toBeUndefined();
    const accountId = await app.economy.findAccount({ platform: 'console', id: 'max' });
    expect(await app.economy.balance(accountId!)).toEqual({ available: 10, held: 0 });
    expect(await app.economy.check()).toEqual([]);
  });
});

describe('an instant generation with the production running delay', () => {
  let app: TestApp;
  beforeAll(async () => {
    // The default: a job is shown as running only after it has run a second.
    app = await createTestApp({ overrides: { runningAfterMs: RUNNING_AFTER_MS } });
    await app.startWorkers();
  });
  afterAll(async () => {
    await app.conn.dropDatabase();
    await app.close();
  });

  it('goes from queued to its result with no progress message and no running write', async () => {
    await fund(app, 'ina', 10);
    const progress: string[] = [];
    const subscription = await app.progress.subscribe(
      (p) => progress.push(p.generationId),
      app.logger,
    );
    try {
      const { generation } = await command(app, 'ina', 'generate', { prompt: 'at once' });
      const done = await waitForStatus(app, generation!.id);
      expect(done.status).toBe('completed');
      const doc = await app.generations.find(generation!.id);
      expect(doc?.statusHistory.map((h) => h.status)).toEqual(['queued', 'completed']);
      expect(doc?.attempts).toBe(1);
      expect(progress).toEqual([]);
    } finally {
      await subscription.close();
    }
  });

  it('shows a slow one as running, with its progress, once it has run a second', async () => {
    await fund(app, 'ivo', 200);
    const progress: number[] = [];
    const subscription = await app.progress.subscribe(
      (p) => progress.push(p.percent ?? -1),
      app.logger,
    );
    try {
      // 50 steps of 100 ms: about five seconds.
      const { generation } = await command(app, 'ivo', 'generate', {
        prompt: 'slowly',
        model: 't-slow',
      });
      const done = await waitForStatus(app, generation!.id);
      expect(done.status).toBe('completed');
      const doc = await app.generations.find(generation!.id);
      expect(doc?.statusHistory.map((h) => h.status)).toEqual([
        'queued',
        'processing',
        'completed',
      ]);
      expect(progress.length).toBeGreaterThan(1);
      // Only changes are published: no two in a row are the same.
      expect(progress.every((p, i) => i === 0 || p !== progress[i - 1])).toBe(true);
    } finally {
      await subscription.close();
    }
  });
});
