import { Queue, Worker, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
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
import { POSITIONS_PER_CALL, queuePositions } from '../../src/generation/queue-positions.js';
import { testRedisUrl, uniqueName } from '../support/env.js';
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
      config: { WORKER_CONCURRENCY: '1', PRIORITY_MEMBERS: 'vip' },
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

  it('shows every waiting generation the place it then starts at: members in turn, a priority member first', async () => {
    for (const m of ['hod', 'dee', 'eve', 'fay', 'vip']) await fund(app, m, 100);
    backend.hold();
    const holder = await submit('hod', 'holds the one slot');
    await until('the holder running', () => backend.started.includes(holder));
    const [d1, d2, d3, e1, v1, e2, f1, v2] = [
      await submit('dee', 'd1'),
      await submit('dee', 'd2'),
      await submit('dee', 'd3'),
      await submit('eve', 'e1'),
      await submit('vip', 'v1'),
      await submit('eve', 'e2'),
      await submit('fay', 'f1'),
      await submit('vip', 'v2'),
    ] as [string, string, string, string, string, string, string, string];
    const waiting = [d1, d2, d3, e1, v1, e2, f1, v2];
    // Only the priority member's jobs are on BullMQ's plain wait list (next first); every
    // other job is in the prioritized set, where its place is a rank.
    const queue = app.queues.generation('local');
    expect(await app.redis.lrange(queue.toKey('wait'), 0, -1)).toEqual([v1, v2]);
    expect(await app.redis.zcard(queue.toKey('prioritized'))).toBe(6);
    const board = app.services.queueBoard;
    const places = await board.positions('local', waiting);
    expect(places.slice().sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const [i, id] of waiting.entries())
      expect(await board.position('local', id)).toBe(places[i]);
    // The watch shows each the same place (it looks them up in one call per provider).
    const shown = (id: string) =>
      sink
        .of(id)
        .filter((v) => v.status === 'queued' && v.queuePosition !== undefined)
        .at(-1)?.queuePosition;
    await until('the watch showing every place', () =>
      waiting.every((id, i) => shown(id) === places[i]),
    );
    backend.openAll();
    for (const id of [holder, ...waiting]) await waitForStatus(app, id);
    const started = backend.started.filter((id) => waiting.includes(id));
    const byPlace = waiting
      .map((id, i) => ({ id, place: places[i] ?? 0 }))
      .sort((a, b) => a.place - b.place)
      .map((w) => w.id);
    expect(started).toEqual(byPlace);
    // Priority members first (newest first), then every member's first, second, third.
    expect(started).toEqual([v2, v1, d1, e1, f1, d2, e2, d3]);
  });

  it('says so when nothing can be estimated', async () => {
    const board = app.services.queueBoard;
    expect(await board.waitFor('nobody-serves-this', 'nothing', 1)).toBeUndefined();
  });
});

describe('positions in the order BullMQ starts jobs', () => {
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  const prefix = uniqueName('positions');
  const queue = new Queue('order', { connection: redis, prefix });
  const worker = new Worker('order', null, { connection: redis, prefix, autorun: false });
  const keys = { wait: queue.toKey('wait'), prioritized: queue.toKey('prioritized') };

  afterAll(async () => {
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
    redis.disconnect();
  });

  /**
   * Jobs as the releases queue them: a member's k-th open job with priority k, a priority
   * member's LIFO, and the plain FIFO an older release gave a member's first job.
   */
  const add = async (from: number, count: number): Promise<string[]> => {
    const jobs = Array.from({ length: count }, (_, n) => {
      const i = from + n;
      const order: JobsOptions =
        i % 97 === 0 ? { lifo: true } : i % 11 === 0 ? {} : { priority: 1 + (i % 4) };
      return { name: 'generate', data: { i }, opts: { jobId: `gen-${i}`, ...order } };
    });
    await queue.addBulk(jobs);
    return jobs.map((j) => j.opts.jobId);
  };

  const start = async (count: number): Promise<string[]> => {
    const started: string[] = [];
    for (let n = 0; n < count; n += 1) {
      const job = await worker.getNextJob('test-token', { block: false });
      if (!job?.id) break;
      started.push(job.id);
    }
    return started;
  };

  const inPlaceOrder = (ids: string[], places: (number | undefined)[]): string[] =>
    ids
      .map((id, i) => ({ id, place: places[i] ?? 0 }))
      .sort((a, b) => a.place - b.place)
      .map((j) => j.id);

  it('gives every waiting job the place a worker takes it at, across script calls and new arrivals', async () => {
    const first = await add(0, 2 * POSITIONS_PER_CALL + 100);
    const before = await queuePositions(redis, keys, first);
    expect(before.slice().sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(first.map((_, i) => i + 1));
    const startedFirst = await start(300);
    expect(startedFirst).toEqual(inPlaceOrder(first, before).slice(0, 300));

    // Arrivals in between go where BullMQ puts them: the places of the rest follow.
    const rest = [...first.filter((id) => !startedFirst.includes(id)), ...(await add(5000, 200))];
    const now = await queuePositions(redis, keys, rest);
    expect(now.slice().sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(rest.map((_, i) => i + 1));
    expect(await start(rest.length + 1)).toEqual(inPlaceOrder(rest, now));

    // Running (taken) or never queued: not waiting.
    expect(await queuePositions(redis, keys, [first[0]!, 'never-queued'])).toEqual([
      undefined,
      undefined,
    ]);
  });
});
