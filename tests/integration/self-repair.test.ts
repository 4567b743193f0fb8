import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReconcileLoop } from '../../src/generation/reconcile-loop.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import { generationQueueName } from '../../src/queue/contracts.js';
import type { DeliverySink } from '../../src/delivery/sink.js';
import type { GenerationSummary } from '../../src/generation/summary.js';
import { GatedBackend } from '../support/gated-backend.js';
import { startOwnedRedis, type OwnedServer } from '../support/servers.js';
import {
  command,
  createTestApp,
  fund,
  testModel,
  waitForStatus,
  type TestApp,
} from '../support/app.js';
import { until } from '../support/until.js';

/** Records deliveries, as a platform adapter would receive them. */
class RecordingSink implements DeliverySink {
  readonly platform = 'telegram';
  readonly delivered: GenerationSummary[] = [];
  async showProgress(): Promise<void> {}
  async deliver(_origin: unknown, generation: GenerationSummary): Promise<void> {
    this.delivered.push(generation);
  }
}

/**
 * Repairs that come by themselves: the reconcile loop runs as in production, with the
 * production grace (120 s), and nobody runs `reconcile`. Each test has a Redis of its own,
 * since one of them flushes it.
 */
describe('self-repair without an operator', () => {
  let redis: OwnedServer;
  let app: TestApp;
  let loop: ReconcileLoop;
  let pool: { close(): Promise<void> } | undefined;
  const backend = new GatedBackend();
  const sink = new RecordingSink();
  let message = 0;

  beforeAll(async () => {
    redis = await startOwnedRedis();
    app = await createTestApp({
      models: [testModel('t-gated')],
      config: { REDIS_URL: redis.url, WORKER_CONCURRENCY: '2', RECONCILE_GRACE_SECONDS: '120' },
      overrides: {
        providers: new ProviderRegistry([backend]),
        lockDurationMs: 1000,
        stalledIntervalMs: 100,
      },
    });
    await app.startDelivery([sink]);
    loop = new ReconcileLoop({
      reconciler: app.reconciler,
      redis: app.redis,
      keys: app.keys,
      logger: app.logger,
      intervalMs: 100,
      graceMs: 120_000,
    });
    await loop.start();
  });

  afterAll(async () => {
    backend.openAll();
    await loop.stop();
    await app.conn.dropDatabase();
    await app.close();
    await redis.stop();
  });

  const submit = async (member: string, prompt: string): Promise<string> => {
    message += 1;
    const origin = { platform: 'telegram' as const, chatId: 7, messageId: message };
    const result = await command(
      app,
      member,
      'generate',
      { prompt, model: 't-gated' },
      undefined,
      origin,
    );
    return result.generation!.id;
  };

  it('ends every generation and settles every hold after Redis loses its data mid-run', async () => {
    backend.hold();
    pool = await app.startWorkers();
    for (const m of ['fay', 'gus']) await fund(app, m, 100);
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      ids.push(await submit('fay', `f${i}`));
      ids.push(await submit('gus', `g${i}`));
    }
    // Two run (held open by the backend), four wait in the queue: then Redis loses it all.
    await until('two runs started', () => backend.started.length === 2);
    const flusher = new Redis(redis.url);
    await flusher.flushall();
    await flusher.quit();
    backend.openAll();

    const ended = await Promise.all(ids.map((id) => waitForStatus(app, id, undefined, 60_000)));
    expect(ended.map((g) => g.status)).toEqual(ids.map(() => 'completed'));
    for (const m of ['fay', 'gus']) {
      const accountId = await app.economy.findAccount({ platform: 'console', id: m });
      const balance = await app.economy.balance(accountId!);
      expect(balance.held).toBe(0);
    }
    expect(await app.economy.check()).toEqual([]);
    // Results that finish after the loss reach the chat: the delivery stream is read anew.
    await until('the results after the loss delivered', () =>
      ids.slice(2).every((id) => sink.delivered.some((g) => g.id === id)),
    );
  });

  it('settles a job whose worker was killed twice without waiting out the grace', async () => {
    backend.openAll();
    const queue = generationQueueName('local');
    // Workers that die in the middle of a job: they take it and never finish it.
    const dying = { connection: app.redis, prefix: app.prefix, lockDuration: 500 };
    const hang = () => new Promise<never>(() => {});
    await fund(app, 'kim', 50);
    // The dying workers are alone on the queue until they have each taken the job once.
    await pool?.close();
    const first = new Worker(queue, hang, { ...dying, stalledInterval: 100 });
    const id = await submit('kim', 'killed twice');
    await until(
      'a dying worker took the job',
      async () => (await app.queues.generation('local').getJob(id))?.processedOn,
    );
    await first.close(true);
    const second = new Worker(queue, hang, { ...dying, stalledInterval: 100 });
    await until(
      'a second dying worker took it',
      async () => (await app.queues.generation('local').getJob(id))?.attemptsStarted === 2,
    );
    await second.close(true);
    // The app's workers come back: their stalled check fails the job (stalled past its
    // limit), and the loop's next frequent sweep finds it among the failed jobs at once
    // (no grace) and gives it its one more run.
    pool = await app.startWorkers();
    const done = await waitForStatus(app, id, undefined, 60_000);
    expect(['completed', 'failed']).toContain(done.status);
    // It went the way described: failed as stalled, then given its one more run by the loop.
    expect((await app.generations.find(id))?.stallRetries).toBe(1);
    const accountId = await app.economy.findAccount({ platform: 'console', id: 'kim' });
    expect((await app.economy.balance(accountId!)).held).toBe(0);
    expect(await app.economy.check()).toEqual([]);
  });
});
