import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliverySink } from '../../src/delivery/sink.js';
import type { ProgressView } from '../../src/delivery/progress-view.js';
import type { GenerationSummary } from '../../src/generation/summary.js';
import { createTestApp, waitForStatus, type TestApp } from '../support/app.js';

/** Records what the bot process hands a platform adapter. */
class RecordingSink implements DeliverySink {
  readonly platform = 'telegram';
  readonly progress: ProgressView[] = [];
  readonly delivered: {
    origin: Record<string, unknown>;
    generation: GenerationSummary;
    view: ProgressView;
  }[] = [];
  #onDeliver: (() => void) | undefined;
  readonly deliveredOnce = new Promise<void>((resolve) => {
    this.#onDeliver = resolve;
  });

  async showProgress(_origin: Record<string, unknown>, view: ProgressView): Promise<void> {
    this.progress.push(view);
  }

  async deliver(
    origin: Record<string, unknown>,
    generation: GenerationSummary,
    view: ProgressView,
  ): Promise<void> {
    this.delivered.push({ origin, generation, view });
    this.#onDeliver?.();
  }
}

describe('progress relay and final delivery', () => {
  let app: TestApp;
  const sink = new RecordingSink();

  beforeAll(async () => {
    app = await createTestApp({
      models: [
        {
          id: 't-steps',
          name: 't-steps',
          provider: 'local',
          ref: 's',
          kind: 'image',
          limits: { maxWidth: 64, maxHeight: 64 },
          defaults: { width: 64, height: 64, steps: 6 },
          options: { stepDelayMs: 30 },
        },
      ],
    });
    await app.startDelivery([sink]);
    await app.startWorkers();
  });
  afterAll(async () => {
    await app.conn.dropDatabase();
    await app.close();
  });

  it('relays progress to the platform the request came from and delivers the result once', async () => {
    await app.economy.ensureAccount({ platform: 'telegram', id: '1' });
    const accountId = await app.economy.findAccount({ platform: 'telegram', id: '1' });
    await app.economy.grant({
      accountId: accountId!,
      amount: 10,
      key: 'tg-fund',
      actor: 'test',
      reason: 'funds',
    });
    const { generation } = await app.generations.submit({
      requester: {
        identity: { platform: 'telegram', id: '1' },
        displayName: 'tg',
        isModerator: false,
      },
      invocationKey: 'telegram:update:1',
      origin: { platform: 'telegram', chatId: 42, messageId: 7 },
      request: { prompt: 'delivered' },
    });
    await sink.deliveredOnce;
    const done = await waitForStatus(app, generation.id);
    expect(sink.delivered).toHaveLength(1);
    expect(sink.delivered[0]?.origin).toEqual({ platform: 'telegram', chatId: 42, messageId: 7 });
    expect(sink.delivered[0]?.view).toMatchObject({
      status: 'completed',
      final: true,
      actions: ['reroll', 'details'],
    });
    expect(sink.delivered[0]?.generation.outputs).toHaveLength(1);
    const steps = sink.progress.filter(
      (v) => v.generationId === generation.id && v.step !== undefined,
    );
    expect(steps.length).toBeGreaterThan(0);
    expect(steps.every((v) => v.status === 'processing' && v.actions.includes('cancel'))).toBe(
      true,
    );
    expect(done.status).toBe('completed');
    // Delivered from its platform's stream, with no MongoDB write; its marker (a day) keeps
    // a worker's re-run from queueing it again.
    expect(await app.queues.deliveryQueued(generation.id)).toBe(true);
    expect(await app.generations.redeliver((await app.generations.find(generation.id))!)).toBe(
      false,
    );
    const stream = app.keys.deliveryStream('telegram');
    expect(await app.redis.xlen(stream)).toBe(1);
    // Acknowledged once the sink returned: nothing is left pending.
    let pending = Number((await app.redis.xpending(stream, 'bots'))[0]);
    for (let i = 0; i < 400 && pending > 0; i += 1) {
      await new Promise((r) => setTimeout(r, 25));
      pending = Number((await app.redis.xpending(stream, 'bots'))[0]);
    }
    expect(pending).toBe(0);
    expect(sink.delivered).toHaveLength(1);
  });
});

describe('a final delivery the platform keeps refusing', () => {
  let app: TestApp;
  const lines: { level: number; msg: string; generationId?: string }[] = [];
  let attempts = 0;
  const refusing: DeliverySink = {
    platform: 'telegram',
    showProgress: async () => {},
    deliver: async () => {
      attempts += 1;
      throw new Error('Bad Request: chat not found');
    },
  };

  beforeAll(async () => {
    const logger = pino(
      { level: 'warn' },
      { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) },
    );
    app = await createTestApp({
      logger,
      overrides: { deliveryRetry: { attempts: 3, backoffMs: 10 } },
    });
    await app.startDelivery([refusing]);
    await app.startWorkers();
  });
  afterAll(async () => {
    await app.conn.dropDatabase();
    await app.close();
  });

  it('gives up after its tries with one error naming the generation, and is not started again', async () => {
    const identity = { platform: 'telegram' as const, id: '2' };
    const accountId = await app.economy.ensureAccount(identity);
    await app.economy.grant({ accountId, amount: 10, key: 'f2', actor: 't', reason: 't' });
    const { generation } = await app.generations.submit({
      requester: { identity, displayName: 'tg2', isModerator: false },
      invocationKey: 'telegram:refused:1',
      origin: { platform: 'telegram', chatId: 43, messageId: 8 },
      request: { prompt: 'never arrives' },
    });
    for (
      let i = 0;
      i < 400 && !(await app.generations.find(generation.id))?.deliveryFailedAt;
      i += 1
    )
      await new Promise((r) => setTimeout(r, 25));
    const doc = await app.generations.find(generation.id);
    expect(doc?.deliveryFailedAt).toBeInstanceOf(Date);
    expect(attempts).toBe(3);
    const gaveUp = lines.filter((l) => l.msg.startsWith('delivery gave up'));
    expect(gaveUp).toHaveLength(1);
    expect(gaveUp[0]).toMatchObject({ level: 50, generationId: generation.id });
    // Neither the reconciler nor a worker's re-run hands it out again.
    await app.reconciler.run(0);
    expect(await app.generations.redeliver((await app.generations.find(generation.id))!)).toBe(
      false,
    );
    expect(await app.redis.xlen(app.keys.deliveryStream('telegram'))).toBe(1);
    expect(attempts).toBe(3);
  });
});
