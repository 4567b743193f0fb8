import { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settleKey } from '../../src/economy/ledger.js';
import { generationQueueName } from '../../src/queue/contracts.js';
import { createProcessor } from '../../src/worker/processor.js';
import {
  command,
  createTestApp,
  fund,
  testModel,
  waitForStatus,
  type TestApp,
} from '../support/app.js';

/**
 * A worker dies in the middle of a job: it stops renewing its lock (a force close), while its
 * processor runs on like a zombie. Another worker's stalled-job check takes the job over.
 * Both may finish it; the member is charged once and keeps one set of outputs.
 */
describe('stalled-job recovery', () => {
  let app: TestApp;
  const workers: { close(force?: boolean): Promise<void> }[] = [];

  beforeAll(async () => {
    app = await createTestApp({
      models: [
        testModel(
          't-stall',
          { stepDelayMs: 50 },
          { defaults: { width: 64, height: 64, steps: 60, guidance: 5 } },
        ),
      ],
    });
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close(true)));
    await app.conn.dropDatabase();
    await app.close();
  });

  it('takes over the job of a dead worker and never captures twice', async () => {
    const processor = createProcessor({
      generations: app.generations,
      catalog: app.catalog,
      providers: app.providers,
      media: app.media,
      logger: app.logger,
    });
    const options = {
      connection: app.redis,
      prefix: app.prefix,
      lockDuration: 1000,
      stalledInterval: 250,
    };
    const queue = generationQueueName('local');
    const dying = new Worker(queue, processor, options);
    workers.push(dying);

    await fund(app, 'sid', 20);
    const { generation } = await command(app, 'sid', 'generate', { prompt: 'interrupted' });
    const id = generation!.id;
    await waitForStatus(app, id, ['processing']);
    await dying.close(true);

    const rescuer = new Worker(queue, processor, options);
    workers.push(rescuer);
    let tookOver = false;
    rescuer.on('active', (job) => {
      if (job.id === id) tookOver = true;
    });
    const done = await waitForStatus(app, id, ['completed', 'failed', 'cancelled'], 30_000);
    expect(done.status).toBe('completed');
    expect(tookOver).toBe(true);

    // Let the zombie's run end too, then check nothing was charged or stored twice.
    const job = await app.queues.generation('local').getJob(id);
    const events = app.queues.events('local');
    try {
      await job!.waitUntilFinished(events, 20_000).catch(() => undefined);
    } finally {
      await events.close();
    }
    expect(await app.collections.LedgerEntry.countDocuments({ key: settleKey(id) })).toBe(1);
    const accountId = await app.economy.findAccount({ platform: 'console', id: 'sid' });
    expect(await app.economy.balance(accountId!)).toEqual({ available: 20 - done.price, held: 0 });
    expect(await app.economy.check()).toEqual([]);
    const final = await app.generations.summary(id);
    expect(final.outputs).toHaveLength(1);
    expect(await app.media.get(final.outputs[0]!.fileId)).toHaveLength(final.outputs[0]!.bytes);
  });
});
