import { performance } from 'node:perf_hooks';
import type { App } from '../src/app.js';
import { benchApp } from './support.js';
import { provisionServices } from '../scripts/services/provision.js';

/**
 * `npm run bench`: the pipeline's speed on this machine, on real Redis and a real
 * MongoDB-protocol server (local ones started for the run unless REDIS_URL/MONGODB_URI are
 * set). Measures submit latency (validate, price, hold, enqueue), end-to-end throughput with
 * the local provider at 64x64, and ledger holds under contention on one account.
 */

const GENERATIONS = Number(process.argv[2] ?? 100);
const MEMBERS = 20;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function submitAll(app: App): Promise<{ latencies: number[]; ids: string[] }> {
  const latencies: number[] = [];
  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: GENERATIONS }, async (_, i) => {
      const member = `m${i % MEMBERS}`;
      const start = performance.now();
      const { generation } = await app.generations.submit({
        requester: {
          identity: { platform: 'console', id: member },
          displayName: member,
          isModerator: false,
        },
        invocationKey: `bench:${i}`,
        origin: { platform: 'console' },
        request: { prompt: `bench image ${i}`, seed: i },
      });
      latencies.push(performance.now() - start);
      ids.push(generation.id);
    }),
  );
  return { latencies, ids };
}

async function untilAllDone(app: App, total: number): Promise<void> {
  for (;;) {
    const done = await app.models.Generation.countDocuments({
      status: { $in: ['completed', 'failed', 'cancelled'] },
    });
    if (done >= total) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const services = await provisionServices({
  env: process.env,
  mode: 'ephemeral',
  log: (l) => console.error(`[bench] ${l}`),
});
try {
  const app = await benchApp(services);
  const config = app.config;
  for (let m = 0; m < MEMBERS; m += 1) {
    const accountId = await app.economy.ensureAccount({ platform: 'console', id: `m${m}` });
    await app.economy.grant({
      accountId,
      amount: GENERATIONS,
      key: `bench-fund-${m}`,
      actor: 'bench',
      reason: 'bench',
    });
  }

  const t0 = performance.now();
  const { latencies } = await submitAll(app);
  const submitted = performance.now() - t0;
  await app.startWorkers();
  const t1 = performance.now();
  await untilAllDone(app, GENERATIONS);
  const processed = performance.now() - t1;

  const hot = await app.economy.ensureAccount({ platform: 'console', id: 'hot' });
  await app.economy.grant({
    accountId: hot,
    amount: 50,
    key: 'hot-fund',
    actor: 'bench',
    reason: 'bench',
  });
  const t2 = performance.now();
  const holds = await Promise.allSettled(
    Array.from({ length: 100 }, (_, i) =>
      app.economy.reserve({ accountId: hot, amount: 1, holdId: `hot${i}` }),
    ),
  );
  const contended = performance.now() - t2;
  const violations = await app.economy.check();

  console.log(
    `generations:            ${GENERATIONS} from ${MEMBERS} members, worker concurrency ${config.worker.concurrency}`,
  );
  console.log(
    `submit latency (ms):    p50 ${percentile(latencies, 50).toFixed(1)}  p95 ${percentile(latencies, 95).toFixed(1)}  max ${Math.max(...latencies).toFixed(1)}  (all ${GENERATIONS} at once)`,
  );
  console.log(`submit throughput:      ${((GENERATIONS / submitted) * 1000).toFixed(1)} /s`);
  console.log(
    `end-to-end throughput:  ${((GENERATIONS / processed) * 1000).toFixed(1)} generations/s (64x64 PNG, 4 steps)`,
  );
  console.log(
    `hot account holds:      100 concurrent, ${holds.filter((h) => h.status === 'fulfilled').length} accepted of 50 affordable, ${contended.toFixed(0)} ms`,
  );
  console.log(
    `ledger check:           ${violations.length === 0 ? 'clean' : `${violations.length} violations`}`,
  );
  await app.conn.dropDatabase();
  await app.close();
} finally {
  await services.stop();
}
