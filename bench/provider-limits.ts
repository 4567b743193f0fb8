import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { createApp } from '../src/app.js';
import { Catalog } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config.js';
import type { Provider, ProviderJob, ProviderRunContext } from '../src/core/provider.js';
import { LocalProvider } from '../src/providers/local/local-provider.js';
import { ProviderRegistry } from '../src/providers/registry.js';
import { provisionServices } from '../scripts/services/provision.js';

/**
 * `npx tsx bench/provider-limits.ts [n] [window-ms]`: the spacing a per-provider rate limit
 * of 1 job per window gives on this machine (n jobs, default 5, window 700 ms), measured
 * where the provider starts each run. The tests assert the limit by order and counts; how
 * close to the window the spacing is (scheduling delay on a busy machine) is measured here.
 */

const N = Number(process.argv[2] ?? 5);
const WINDOW_MS = Number(process.argv[3] ?? 700);

class TimedProvider implements Provider {
  readonly label = 'throttled';
  readonly id = 'throttled';
  readonly starts: number[] = [];
  readonly #local = new LocalProvider();

  async generate(job: ProviderJob, ctx: ProviderRunContext) {
    this.starts.push(performance.now());
    return this.#local.generate(job, ctx);
  }
}

const services = await provisionServices({
  env: process.env,
  mode: 'ephemeral',
  log: (l) => console.error(`[bench] ${l}`),
});
try {
  const stamp = Date.now();
  const config = loadConfig({
    NODE_ENV: 'test',
    // Many generations per member in flight: the member limits are off here.
    MEMBER_MAX_QUEUED: '0',
    LOG_LEVEL: 'silent',
    REDIS_URL: services.redisUrl,
    MONGODB_URI: `${services.mongodbUri.replace(/\/$/, '')}/genbot_bench_${stamp}`,
    QUEUE_PREFIX: `bench${stamp}`,
    PROVIDER_CONCURRENCY: 'throttled=1',
    PROVIDER_RATE_LIMIT: `throttled=1/${WINDOW_MS}ms`,
  });
  const provider = new TimedProvider();
  const app = await createApp(config, pino({ level: 'silent' }), {
    catalog: Catalog.fromEntries([
      {
        id: 'bench',
        name: 'bench',
        provider: 'throttled',
        ref: 'bench',
        kind: 'image',
        limits: { maxWidth: 64, maxHeight: 64 },
        defaults: { width: 64, height: 64, steps: 2 },
        price: { perImage: 1 },
      },
    ]),
    providers: new ProviderRegistry([provider]),
  });
  const accountId = await app.economy.ensureAccount({ platform: 'console', id: 'bench' });
  await app.economy.grant({ accountId, amount: N, key: 'fund', actor: 'bench', reason: 'bench' });
  await app.startWorkers();
  for (let i = 0; i < N; i += 1)
    await app.generations.submit({
      requester: {
        identity: { platform: 'console', id: 'bench' },
        displayName: 'bench',
        isModerator: false,
      },
      invocationKey: `limits:${i}`,
      origin: { platform: 'console' },
      request: { prompt: `limits ${i}`, seed: i },
    });
  while (provider.starts.length < N) await new Promise((r) => setTimeout(r, 20));
  const gaps = provider.starts.slice(1).map((t, i) => t - (provider.starts[i] ?? t));
  console.log(`rate limit 1 per ${WINDOW_MS} ms, ${N} jobs`);
  console.log(`gaps between starts (ms): ${gaps.map((g) => g.toFixed(0)).join(', ')}`);
  console.log(
    `shortest ${Math.min(...gaps).toFixed(0)} ms (${(Math.min(...gaps) / WINDOW_MS).toFixed(2)} of the window), longest ${Math.max(...gaps).toFixed(0)} ms`,
  );
  await app.conn.dropDatabase();
  await app.close();
} finally {
  await services.stop();
}
