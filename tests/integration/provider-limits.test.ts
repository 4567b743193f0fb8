import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Provider, ProviderJob, ProviderRunContext } from '../../src/core/provider.js';
import { LocalProvider } from '../../src/providers/local/local-provider.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import {
  command,
  createTestApp,
  fund,
  testModel,
  waitForStatus,
  type TestApp,
} from '../support/app.js';

/**
 * A stand-in backend under its own provider id that records the order in which its runs
 * start and end (no clock), and can hold every run until `barrier` runs are in flight at
 * once: with less concurrency than that the runs never finish and the test fails.
 */
class RecordingProvider implements Provider {
  readonly label: string;
  /** `start <id>` and `end <id>`, in the order they happened. */
  readonly events: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  readonly #local = new LocalProvider();
  readonly #waiters: { check: () => boolean; done: () => void }[] = [];

  constructor(
    readonly id: string,
    readonly barrier = 0,
  ) {
    this.label = id;
  }

  get starts(): number {
    return this.events.filter((e) => e.startsWith('start ')).length;
  }

  get ends(): number {
    return this.events.filter((e) => e.startsWith('end ')).length;
  }

  /** Resolves once `check` holds, re-checked at every start and end. */
  when(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((done) => this.#waiters.push({ check, done }));
  }

  #changed(): void {
    for (const w of [...this.#waiters])
      if (w.check()) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.done();
      }
  }

  async generate(job: ProviderJob, ctx: ProviderRunContext) {
    this.events.push(`start ${job.generationId}`);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.#changed();
    try {
      if (this.barrier > 0) await this.when(() => this.maxInFlight >= this.barrier);
      return await this.#local.generate(job, ctx);
    } finally {
      this.inFlight -= 1;
      this.events.push(`end ${job.generationId}`);
      this.#changed();
    }
  }
}

/**
 * Limits are asserted by order and counts, never by the clock: the rate limit is one that
 * cannot run out during the test (2 jobs per 10 minutes), so "the third job did not start"
 * does not depend on how fast the machine is, and BullMQ's own limiter state says why.
 */
describe('per-provider concurrency and rate limits', () => {
  const throttled = new RecordingProvider('throttled');
  const single = new RecordingProvider('single');
  const fast = new RecordingProvider('fast', 3);
  let app: TestApp;

  beforeAll(async () => {
    const model = (id: string, provider: string) => ({
      ...testModel(
        id,
        { stepDelayMs: 10 },
        { defaults: { width: 64, height: 64, steps: 2, guidance: 5 } },
      ),
      provider,
    });
    app = await createTestApp({
      config: {
        WORKER_CONCURRENCY: '3',
        PROVIDER_CONCURRENCY: 'throttled=1,single=1',
        PROVIDER_RATE_LIMIT: 'throttled=2/10m',
      },
      models: [
        model('m-throttled', 'throttled'),
        model('m-single', 'single'),
        model('m-fast', 'fast'),
      ],
      overrides: { providers: new ProviderRegistry([throttled, single, fast]) },
    });
    await app.startWorkers();
  });

  afterAll(async () => {
    await app?.conn.dropDatabase();
    await app?.close();
  });

  const submit = async (model: string, n: number) =>
    (await command(app, 'lim', 'generate', { prompt: `job ${n}`, model })).generation?.id ?? '';

  it('holds a rate-limited backend to its limit without holding back another backend', async () => {
    await fund(app, 'lim', 200);
    const slowIds = await Promise.all([0, 1, 2].map((n) => submit('m-throttled', n)));
    const fastIds = await Promise.all([0, 1, 2].map((n) => submit('m-fast', n)));

    // The other backend runs its three at once (it cannot finish otherwise) and completes.
    const fastDone = await Promise.all(fastIds.map((id) => waitForStatus(app, id)));
    expect(fastDone.map((g) => g.status)).toEqual(['completed', 'completed', 'completed']);
    expect(fast.maxInFlight).toBe(3);

    // The limited backend ran two, one at a time, and they completed.
    await throttled.when(() => throttled.ends >= 2);
    const ran = throttled.events.filter((e) => e.startsWith('start ')).map((e) => e.slice(6));
    expect(ran).toHaveLength(2);
    expect(throttled.events).toEqual([
      `start ${ran[0]}`,
      `end ${ran[0]}`,
      `start ${ran[1]}`,
      `end ${ran[1]}`,
    ]);
    for (const id of ran) expect((await waitForStatus(app, id)).status).toBe('completed');

    // The third waits for the window: BullMQ counts two starts in it, the limit.
    const [held] = slowIds.filter((id) => !ran.includes(id));
    const queue = app.queues.generation('throttled');
    expect(await queue.getRateLimitTtl(2)).toBeGreaterThan(0);
    expect(await queue.getRateLimitTtl(3)).toBe(0);
    // Waiting: in BullMQ's wait list, or its prioritized set (a member's later jobs, for
    // fair ordering).
    expect(['waiting', 'prioritized']).toContain(await (await queue.getJob(held!))?.getState());
    expect((await app.generations.summary(held!)).status).toBe('queued');
    expect(throttled.starts).toBe(2);
  });

  it('runs a backend with a concurrency of one strictly one job after another', async () => {
    await fund(app, 'lim', 200);
    const ids = await Promise.all([0, 1, 2].map((n) => submit('m-single', n)));
    const done = await Promise.all(ids.map((id) => waitForStatus(app, id)));
    expect(done.map((g) => g.status)).toEqual(['completed', 'completed', 'completed']);
    expect(single.maxInFlight).toBe(1);
    // start, end, start, end, ...: each run began after the one before it ended.
    expect(single.events.map((e) => e.split(' ')[0])).toEqual([
      'start',
      'end',
      'start',
      'end',
      'start',
      'end',
    ]);
    expect(new Set(single.events.map((e) => e.split(' ')[1]))).toEqual(new Set(ids));
  });
});
