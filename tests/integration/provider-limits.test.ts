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

/** A stand-in backend under its own provider id that records when each run starts and ends. */
class RecordingProvider implements Provider {
  readonly label: string;
  readonly capabilities = new LocalProvider().capabilities;
  readonly runs: { start: number; end: number }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  readonly #local = new LocalProvider();

  constructor(readonly id: string) {
    this.label = id;
  }

  async generate(job: ProviderJob, ctx: ProviderRunContext) {
    const run = { start: Date.now(), end: 0 };
    this.runs.push(run);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      return await this.#local.generate(job, ctx);
    } finally {
      this.inFlight -= 1;
      run.end = Date.now();
    }
  }
}

describe('per-provider concurrency and rate limits', () => {
  const throttled = new RecordingProvider('throttled');
  const fast = new RecordingProvider('fast');
  let app: TestApp;

  beforeAll(async () => {
    const model = (id: string, provider: string) => ({
      ...testModel(
        id,
        { stepDelayMs: 40 },
        { defaults: { width: 64, height: 64, steps: 4, guidance: 5 } },
      ),
      provider,
    });
    app = await createTestApp({
      config: {
        WORKER_CONCURRENCY: '3',
        PROVIDER_CONCURRENCY: 'throttled=1',
        PROVIDER_RATE_LIMIT: 'throttled=1/700ms',
      },
      models: [model('m-throttled', 'throttled'), model('m-fast', 'fast')],
      overrides: { providers: new ProviderRegistry([throttled, fast]) },
    });
    await app.startWorkers();
  });

  afterAll(async () => {
    await app?.conn.dropDatabase();
    await app?.close();
  });

  it('keeps a throttled backend to its limits without holding back another backend', async () => {
    await fund(app, 'lim', 100);
    const submit = async (model: string, n: number) =>
      (await command(app, 'lim', 'generate', { prompt: `job ${n}`, model })).generation?.id ?? '';
    const slowIds = await Promise.all([0, 1, 2].map((n) => submit('m-throttled', n)));
    const fastIds = await Promise.all([0, 1, 2].map((n) => submit('m-fast', n)));
    const fastDone = await Promise.all(fastIds.map((id) => waitForStatus(app, id)));
    // Every fast job finished while the throttled backend still had work waiting.
    expect(fastDone.every((g) => g.status === 'completed')).toBe(true);
    const lastFast = Math.max(...fast.runs.map((r) => r.end));
    const lastThrottledStart = Math.max(...throttled.runs.map((r) => r.start), 0);
    expect(throttled.runs.length < 3 || lastFast < lastThrottledStart).toBe(true);
    expect(fast.maxInFlight).toBeGreaterThan(1);

    const slowDone = await Promise.all(slowIds.map((id) => waitForStatus(app, id)));
    expect(slowDone.every((g) => g.status === 'completed')).toBe(true);
    expect(throttled.maxInFlight).toBe(1);
    const starts = throttled.runs.map((r) => r.start).sort((a, b) => a - b);
    for (let i = 1; i < starts.length; i += 1)
      expect((starts[i] ?? 0) - (starts[i - 1] ?? 0)).toBeGreaterThanOrEqual(650);
    // The throttled queue was still waiting (its third job not yet started) when every fast
    // job had already finished: the limit held back only its own backend.
    expect(starts).toHaveLength(3);
    expect(lastFast).toBeLessThan(starts[2] ?? 0);
  });
});
