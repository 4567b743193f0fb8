import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProgressView } from '../../src/delivery/progress-view.js';
import type { DeliverySink } from '../../src/delivery/sink.js';
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
import { until } from '../support/until.js';

class StatusSink implements DeliverySink {
  readonly platform = 'telegram';
  readonly views: ProgressView[] = [];
  async showProgress(_origin: unknown, view: ProgressView): Promise<void> {
    this.views.push(view);
  }
  async deliver(): Promise<void> {}
  of(id: string): ProgressView[] {
    return this.views.filter((v) => v.generationId === id);
  }
}

describe('live positions and wait estimates', () => {
  let app: TestApp;
  const backend = new GatedBackend();
  const sink = new StatusSink();
  let message = 0;

  beforeAll(async () => {
    app = await createTestApp({
      models: [testModel('t-gated')],
      config: { WORKER_CONCURRENCY: '1' },
      overrides: { providers: new ProviderRegistry([backend]), queueWatchMs: 20 },
    });
    await app.startDelivery([sink]);
  });

  afterAll(async () => {
    for (let i = 0; i < 20; i += 1) backend.releaseOne();
    await app?.conn.dropDatabase();
    await app?.close();
  });

  const submit = async (member: string, prompt: string) => {
    message += 1;
    const origin = { platform: 'telegram' as const, chatId: 1, messageId: message };
    const result = await command(
      app,
      member,
      'generate',
      { prompt, model: 't-gated' },
      undefined,
      origin,
    );
    return result.generation?.id ?? '';
  };

  it('shows a waiting member their position going down, then running; never up', async () => {
    for (const m of ['ann', 'bob', 'cy', 'wes']) await fund(app, m, 100);
    const ids = [
      await submit('ann', 'a1'),
      await submit('ann', 'a2'),
      await submit('bob', 'b1'),
      await submit('bob', 'b2'),
      await submit('cy', 'c1'),
    ];
    const wes = await submit('wes', 'w1');
    await app.startWorkers();
    // Fair order: a1, b1, c1, w1, a2, b2. Each release lets the running one finish.
    const positions = () =>
      sink
        .of(wes)
        .filter((v) => v.status === 'queued')
        .map((v) => v.queuePosition);
    await until('a first position', () => positions().length > 0 && positions());
    while (!sink.of(wes).some((v) => v.status === 'processing')) {
      const before = positions().at(-1);
      backend.releaseOne();
      await until(
        'the next position or running',
        () =>
          sink.of(wes).some((v) => v.status === 'processing') ||
          (positions().at(-1) ?? 0) < (before ?? 0),
      );
    }
    const seen = positions();
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < seen.length; i += 1) expect(seen[i]).toBeLessThanOrEqual(seen[i - 1]!);
    expect(new Set(seen).size).toBeGreaterThan(1);
    for (let i = 0; i < 10; i += 1) backend.releaseOne();
    await until('wes started', () => backend.started.includes(wes));
    expect(backend.started.indexOf(wes)).toBe(3);
    for (const id of [...ids, wes]) await waitForStatus(app, id);
  });

  it('estimates later starts for later places, as the starts then come', async () => {
    // Measured durations exist from the run above; one worker slot serves the queue.
    for (const m of ['p1', 'p2', 'p3', 'p4']) await fund(app, m, 100);
    backend.hold();
    const holder = await submit('p1', 'holder');
    await until('the holder running', () => backend.started.includes(holder));
    const waiting = [await submit('p2', 'x'), await submit('p3', 'y'), await submit('p4', 'z')];
    const board = app.services.queueBoard;
    const estimates: number[] = [];
    for (const id of waiting) {
      const position = await board.position('local', id);
      const wait = await board.waitFor('local', 't-gated', position ?? 0);
      expect(wait, 'an estimate once runs were measured').toBeDefined();
      estimates.push(wait?.startsInMs ?? 0);
    }
    for (let i = 0; i < 10; i += 1) backend.releaseOne();
    for (const id of [holder, ...waiting]) await waitForStatus(app, id);
    const order = waiting
      .slice()
      .sort((a, b) => backend.started.indexOf(a) - backend.started.indexOf(b));
    // The one estimated to start first started first, and so on.
    const byEstimate = waiting
      .map((id, i) => ({ id, at: estimates[i]! }))
      .sort((a, b) => a.at - b.at)
      .map((e) => e.id);
    expect(byEstimate).toEqual(order);
    expect(estimates[0]).toBeLessThan(estimates[2]!);
  });

  it('says so when nothing can be estimated', async () => {
    const board = app.services.queueBoard;
    expect(await board.waitFor('nobody-serves-this', 'nothing', 1)).toBeUndefined();
  });
});
