import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import mongoose from 'mongoose';
import { measurePositions, positionsReport } from './positions.js';
import { provisionServices, type Services } from '../scripts/services/provision.js';
import { startMongoProxy, takeWhenQuiet, type MongoProxy } from './mongo-proxy.js';
import { deployedNames, runDeployed } from './deployed.js';
import { deployedSettings } from './deployed-results.js';
import { killAllRoles } from './deployed-process.js';
import { deployedReport } from './deployed-report.js';
import { GenbotHistory, MinimalHistory } from './prefill.js';
import { RedisMonitor } from './redis-monitor.js';
import { report, type Phase, type Results, type Sweep, type SystemResults } from './report.js';
import {
  startGenbot,
  startMinimal,
  startRaw,
  type Genbot,
  type Size,
  type System,
} from './systems.js';

/**
 * `npm run bench [-- N] [-- --quick] [-- --deployed-only | --friendly-only]`: two sections,
 * on the same Redis and MongoDB-protocol server (local ones started for the run and stopped at
 * the end, unless REDIS_URL and MONGODB_URI are set). Progress goes to stderr, the markdown
 * tables to stdout.
 *
 * 1. The headline, genbot as deployed (bench/deployed.ts): bot and worker as separate
 *    processes, member limits on, 10,000 members with history (2,000 with `--quick`), worker
 *    restarted half way, interleaved rounds against the minimal bot and raw BullMQ split the
 *    same way, warm and cold counts per process.
 * 2. The friendly case, one process per system (below): genbot as it is (createApp, the
 *    built-in `local` provider with an instant model, 8 workers, submit through
 *    GenerationService.submit, delivery through the real DeliveryConsumer to a no-op sink)
 *    with member limits off and 50 members it already knows, a minimal BullMQ + mongoose bot
 *    (bench/systems.ts), and raw BullMQ (add, and a worker that returns at once). Each
 *    system's MongoDB traffic goes through a counting wire-protocol proxy of its own
 *    (bench/mongo-proxy.ts); Redis is watched with MONITOR (bench/redis-monitor.ts); the
 *    systems run one after another. N (default 200) is the size of the main phase; `--quick`
 *    skips the 100k-history rows. Also: ledger holds under contention on one account, and
 *    the ledger check at the end.
 * 3. Live queue positions (bench/positions.ts, with the friendly case): the Redis time of one
 *    queue-watch cycle with 1k, 10k and 100k waiting (not 100k with `--quick`), against the
 *    look-up it replaced.
 */

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const DEPLOYED = !args.includes('--friendly-only');
const FRIENDLY = !args.includes('--deployed-only');
/** Live positions (bench/positions.ts), with the friendly case; 100k waiting unless --quick. */
const POSITIONS = FRIENDLY;
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 200);
const CONCURRENCY = 8;
const SUBMITTERS = 50;
/** Generations run one at a time on a nearly empty store (submit latency at 1, cost). */
const ALONE = Math.min(N, 20);
/** The 1024x1024 batch. */
const LARGE = Math.max(8, Math.round(N / 10));
/** One-at-a-time generations with 1k and with 100k history stored. */
const AT_1K = 5;
const AT_100K = 2;
/**
 * No new generation starts after this long in one phase (with history stored: after the first
 * took this long); one is waited for at most ONE_CAP_MS.
 */
const PHASE_CAP_MS = 600_000;
const HISTORY_CAP_MS = 60_000;
const ONE_CAP_MS = 300_000;
/** Inserting history stops after this long (and says so). */
const PREFILL_CAP_MS = 180_000;

const T0 = performance.now();
const log = (line: string): void => {
  console.error(`[bench ${((performance.now() - T0) / 1000).toFixed(0).padStart(4)}s] ${line}`);
};

interface Runner {
  system: System;
  proxy?: MongoProxy;
  monitor: RedisMonitor;
  next: number;
  progress: () => number;
}

/**
 * `count` generations submitted by `submitters` concurrent submitters (closed loop), the
 * workers running; ends when all are done (delivered, or completed where nothing delivers).
 */
async function batch(
  r: Runner,
  options: { count: number; submitters: number; size: Size; monitor: boolean; label: string },
): Promise<Phase> {
  const { system } = r;
  if (r.proxy) await r.proxy.take(system.name);
  if (options.monitor) r.monitor.begin(system.redisPrefix);
  const progressBefore = r.progress();
  const base = system.done.count;
  const latencies: number[] = [];
  let submitted = 0;
  let failedSubmits = 0;
  let lastError = '';
  const started = performance.now();
  const deadline = started + PHASE_CAP_MS;
  let issued = 0;
  const ticker = setInterval(
    () => log(`${options.label}: ${system.done.count - base}/${options.count} done`),
    10_000,
  );
  await Promise.all(
    Array.from({ length: Math.min(options.submitters, options.count) }, async () => {
      while (issued < options.count && performance.now() < deadline) {
        issued += 1;
        const i = (r.next += 1);
        const at = performance.now();
        try {
          await system.submit(i, options.size);
          submitted += 1;
        } catch (error) {
          failedSubmits += 1;
          lastError = error instanceof Error ? error.message : String(error);
        }
        latencies.push(performance.now() - at);
      }
    }),
  );
  const reached = await system.done.until(base + submitted, deadline - performance.now());
  clearInterval(ticker);
  const count = system.done.count - base;
  const elapsedMs = (count > 0 ? system.done.lastAt : performance.now()) - started;
  if (failedSubmits > 0) log(`${options.label}: ${failedSubmits} submits failed: ${lastError}`);
  const mongo = r.proxy ? (await takeWhenQuiet(r.proxy, [system.name]))[system.name]! : {};
  const phase: Phase = {
    count,
    elapsedMs,
    latencies,
    alone: [],
    failedSubmits,
    timedOut: !reached,
    mongo,
    progress: r.progress() - progressBefore,
  };
  if (options.monitor) phase.redis = await r.monitor.end();
  log(
    `${options.label}: ${count} in ${(elapsedMs / 1000).toFixed(1)} s, ${((count / elapsedMs) * 1000).toFixed(1)}/s${reached ? '' : ' (cut short)'}`,
  );
  return phase;
}

/** Generations one at a time: submit, wait for it to be done, then the next. */
async function alone(
  r: Runner,
  options: { count: number; capMs: number; label: string },
): Promise<Phase> {
  const { system } = r;
  if (r.proxy) await r.proxy.take(system.name);
  const progressBefore = r.progress();
  const latencies: number[] = [];
  const each: number[] = [];
  let failedSubmits = 0;
  let timedOut = false;
  const started = performance.now();
  for (let k = 0; k < options.count; k += 1) {
    if (k > 0 && performance.now() - started > options.capMs) break;
    const base = system.done.count;
    const at = performance.now();
    try {
      await system.submit((r.next += 1), 64);
    } catch (error) {
      failedSubmits += 1;
      log(
        `${options.label}: submit failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      continue;
    }
    latencies.push(performance.now() - at);
    if (!(await system.done.until(base + 1, ONE_CAP_MS))) {
      timedOut = true;
      log(`${options.label}: a generation was not done within ${ONE_CAP_MS / 1000} s`);
      break;
    }
    each.push(system.done.lastAt - at);
    if (options.count > 3 || each.length === 1)
      log(`${options.label}: ${each.length}/${options.count}, last ${each.at(-1)!.toFixed(0)} ms`);
  }
  const mongo = r.proxy ? (await takeWhenQuiet(r.proxy, [system.name]))[system.name]! : {};
  return {
    count: each.length,
    elapsedMs: performance.now() - started,
    latencies,
    alone: each,
    failedSubmits,
    timedOut,
    mongo,
    progress: r.progress() - progressBefore,
  };
}

/**
 * How the server answers an exact `{_id}` lookup: the query plan of `find` (FerretDB gives
 * SQLite's EXPLAIN QUERY PLAN lines, mongod its winning plan's stages).
 */
async function explainIdLookup(db: mongoose.mongo.Db, collection: string): Promise<string> {
  const sample = await db.collection(collection).findOne({}, { projection: { _id: 1 } });
  if (!sample) return 'no document to look up';
  const explained = await db.command({
    explain: { find: collection, filter: { _id: sample._id } },
  });
  const planner = (explained.queryPlanner ?? {}) as {
    Plan?: unknown;
    winningPlan?: { stage?: string; inputStage?: unknown };
  };
  if (Array.isArray(planner.Plan)) return planner.Plan.map(String).join('; ');
  const stages: string[] = [];
  let stage = planner.winningPlan as { stage?: string; inputStage?: unknown } | undefined;
  while (stage) {
    if (stage.stage) stages.push(stage.stage);
    stage = stage.inputStage as typeof stage;
  }
  return stages.length > 0 ? stages.join(' <- ') : JSON.stringify(explained).slice(0, 200);
}

/** The reconciler grace period genbot uses by default (RECONCILE_GRACE_SECONDS=120). */
const RECONCILE_GRACE_MS = 120_000;

/** One /history page and (optionally) one reconciler sweep, timed and counted on the wire. */
async function sweeps(
  system: Genbot,
  proxy: MongoProxy,
  stored: string,
  reconcile: boolean,
): Promise<Sweep> {
  const { app } = system;
  const accountId = await app.economy.findAccount({ platform: 'console', id: 'm0' });
  await proxy.take('genbot');
  let at = performance.now();
  const page = await app.generations.history(accountId, { page: 1 });
  const historyMs = performance.now() - at;
  const historyStats = await proxy.take('genbot');
  const sweep: Sweep = {
    stored,
    historyMs,
    historyTotal: page.total,
    historyMongo: historyStats,
  };
  log(`genbot: /history page 1 with ${stored} stored: ${historyMs.toFixed(0)} ms`);
  // The member's last page: the deepest skip, found by halving along their chain.
  const last = Math.max(1, page.pages);
  at = performance.now();
  await app.generations.history(accountId, { page: last });
  sweep.historyLastMs = performance.now() - at;
  sweep.historyLastPage = last;
  sweep.historyLastMongo = await proxy.take('genbot');
  log(`genbot: /history page ${last} with ${stored} stored: ${sweep.historyLastMs.toFixed(0)} ms`);
  // The reconciler's frequent sweep (what it does every RECONCILE_INTERVAL_SECONDS).
  at = performance.now();
  await app.reconciler.run(RECONCILE_GRACE_MS, { scope: 'recent' });
  sweep.recentMs = performance.now() - at;
  sweep.recentMongo = await proxy.take('genbot');
  log(
    `genbot: one frequent reconciler sweep with ${stored} stored: ${sweep.recentMs.toFixed(0)} ms`,
  );
  if (reconcile) {
    at = performance.now();
    await app.reconciler.run(RECONCILE_GRACE_MS);
    sweep.reconcileMs = performance.now() - at;
    sweep.reconcileMongo = await proxy.take('genbot');
    log(
      `genbot: one full reconciler sweep with ${stored} stored: ${sweep.reconcileMs.toFixed(0)} ms`,
    );
  }
  return sweep;
}

async function cleanUp(services: Services, databases: string[], prefixes: string[]): Promise<void> {
  // Only where the servers are not ours to throw away (REDIS_URL / MONGODB_URI given).
  if (process.env.MONGODB_URI) {
    const conn = await mongoose.createConnection(services.mongodbUri).asPromise();
    for (const name of databases) await conn.useDb(name).dropDatabase();
    await conn.close();
  }
  if (process.env.REDIS_URL) {
    const redis = new Redis(services.redisUrl);
    for (const prefix of prefixes) {
      let cursor = '0';
      do {
        const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = nextCursor;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
    }
    redis.disconnect();
  }
}

/** The friendly case: one process per system, member limits off, 50 members already known. */
async function friendly(services: Services, proxy: MongoProxy, stamp: string): Promise<Results> {
  const started = performance.now();
  const names = {
    genbot: { db: `genbot_bench_${stamp}`, prefix: `gb${stamp}` },
    minimal: { db: `minimal_bench_${stamp}`, prefix: `mb${stamp}` },
    raw: { prefix: `rb${stamp}` },
  };
  const monitor = await RedisMonitor.start(services.redisUrl);
  // Prefill and templates go straight to the server, not through the counting proxy.
  const direct = await mongoose.createConnection(services.mongodbUri).asPromise();
  const results: Results = {
    n: N,
    quick: QUICK,
    concurrency: CONCURRENCY,
    submitters: SUBMITTERS,
    scriptsKnown: monitor.scriptsKnown,
    systems: {},
    prefill: [],
    sweeps: [],
    notes: [],
  };
  try {
    // --- raw BullMQ
    {
      log(`raw BullMQ: ${N} jobs counted, then ${N * 10} unmonitored`);
      const system = await startRaw({
        redisUrl: services.redisUrl,
        prefix: names.raw.prefix,
        concurrency: CONCURRENCY,
      });
      const r: Runner = { system, monitor, next: 0, progress: () => 0 };
      const out: SystemResults = {};
      out.alone = await alone(r, { count: ALONE, capMs: PHASE_CAP_MS, label: 'raw alone' });
      out.main = await batch(r, {
        count: N,
        submitters: SUBMITTERS,
        size: 64,
        monitor: true,
        label: 'raw main',
      });
      out.unmonitored = await batch(r, {
        count: N * 10,
        submitters: SUBMITTERS,
        size: 64,
        monitor: false,
        label: 'raw unmonitored',
      });
      await system.close();
      results.systems.raw = out;
    }

    // --- the minimal bot
    {
      log('minimal bot');
      const system = await startMinimal({
        redisUrl: services.redisUrl,
        mongodbUri: proxy.uri('minimal', names.minimal.db),
        prefix: names.minimal.prefix,
        concurrency: CONCURRENCY,
      });
      const r: Runner = { system, proxy, monitor, next: 0, progress: () => 0 };
      const out: SystemResults = {};
      out.alone = await alone(r, { count: ALONE, capMs: PHASE_CAP_MS, label: 'minimal alone' });
      out.main = await batch(r, {
        count: N,
        submitters: SUBMITTERS,
        size: 64,
        monitor: true,
        label: 'minimal main',
      });
      out.large = await batch(r, {
        count: LARGE,
        submitters: SUBMITTERS,
        size: 1024,
        monitor: false,
        label: 'minimal 1024x1024',
      });
      const history = new MinimalHistory(direct.useDb(names.minimal.db).db!);
      const grown = await history.growTo(1000, PREFILL_CAP_MS);
      results.prefill.push({ system: 'minimal', target: 1000, ...grown });
      log(
        `minimal: history grown to 1k (${grown.generations} inserted, ${grown.ms.toFixed(0)} ms)`,
      );
      out.at1k = await alone(r, { count: AT_1K, capMs: HISTORY_CAP_MS, label: 'minimal at 1k' });
      if (!QUICK) {
        const grown100k = await history.growTo(100_000, PREFILL_CAP_MS);
        results.prefill.push({ system: 'minimal', target: 100_000, ...grown100k });
        log(
          `minimal: history grown to 100k (${grown100k.generations} inserted, ${(grown100k.ms / 1000).toFixed(1)} s)`,
        );
        out.at100k = await alone(r, {
          count: AT_100K,
          capMs: HISTORY_CAP_MS,
          label: 'minimal at 100k',
        });
      }
      results.notes.push(
        `rendering one image with the \`local\` provider's renderer took ${system.renderMs[64].toFixed(1)} ms at 64x64 and ${system.renderMs[1024].toFixed(0)} ms at 1024x1024 here: genbot renders every output, the minimal bot reuses one per size`,
      );
      await system.close();
      results.systems.minimal = out;
    }

    // --- genbot
    {
      log('genbot');
      const system: Genbot = await startGenbot({
        redisUrl: services.redisUrl,
        mongodbUri: proxy.uri('genbot', names.genbot.db),
        prefix: names.genbot.prefix,
        concurrency: CONCURRENCY,
      });
      const r: Runner = { system, proxy, monitor, next: 0, progress: () => system.progress };
      const out: SystemResults = {};
      out.alone = await alone(r, { count: ALONE, capMs: PHASE_CAP_MS, label: 'genbot alone' });
      out.main = await batch(r, {
        count: N,
        submitters: SUBMITTERS,
        size: 64,
        monitor: true,
        label: 'genbot main',
      });
      out.large = await batch(r, {
        count: LARGE,
        submitters: SUBMITTERS,
        size: 1024,
        monitor: false,
        label: 'genbot 1024x1024',
      });

      // Ledger holds under contention, on a small store (each hold reads the ledger head).
      const { economy } = system.app;
      const hot = await economy.ensureAccount({ platform: 'console', id: 'hot' });
      await economy.grant({
        accountId: hot,
        amount: 50,
        key: 'hot-fund',
        actor: 'bench',
        reason: 'bench',
      });
      const t = performance.now();
      const holds = await Promise.allSettled(
        Array.from({ length: 100 }, (_, i) =>
          economy.reserve({ accountId: hot, amount: 1, holdId: `hot${stamp}${i}` }),
        ),
      );
      results.holds = {
        attempted: 100,
        affordable: 50,
        accepted: holds.filter((h) => h.status === 'fulfilled').length,
        ms: performance.now() - t,
      };
      log(`genbot: contended holds ${results.holds.accepted}/100 accepted (50 affordable)`);

      const history = new GenbotHistory(direct.useDb(names.genbot.db).db!);
      const grown = await history.growTo(1000, PREFILL_CAP_MS);
      results.prefill.push({ system: 'genbot', target: 1000, ...grown });
      log(
        `genbot: history grown to 1k (${grown.generations} generations, ${grown.ledger} ledger entries, ${grown.ms.toFixed(0)} ms)`,
      );
      out.at1k = await alone(r, { count: AT_1K, capMs: HISTORY_CAP_MS, label: 'genbot at 1k' });
      results.sweeps.push(await sweeps(system, proxy, '1k', true));
      if (!QUICK) {
        const grown100k = await history.growTo(100_000, PREFILL_CAP_MS);
        results.prefill.push({ system: 'genbot', target: 100_000, ...grown100k });
        log(
          `genbot: history grown to 100k (${grown100k.generations} generations, ${grown100k.ledger} ledger entries, ${(grown100k.ms / 1000).toFixed(1)} s)`,
        );
        out.at100k = await alone(r, {
          count: AT_100K,
          capMs: HISTORY_CAP_MS,
          label: 'genbot at 100k',
        });
        // The full sweep at 100k took over two minutes here; the deployed section measures
        // the start-up sweep of a worker over its members' ledger instead.
        results.sweeps.push(await sweeps(system, proxy, '100k', false));
      }
      const plan = await explainIdLookup(direct.useDb(names.genbot.db).db!, 'generations');
      results.notes.push(
        `query plan of \`find generations {_id: <string>}\` on this server: ${plan}`,
      );
      log('genbot: checking the ledger');
      const violations = await economy.check();
      results.ledgerCheck = violations.length === 0 ? 'clean' : `${violations.length} violations`;
      await system.close();
      results.systems.genbot = out;
    }
  } finally {
    monitor.close();
    await direct.close();
  }
  results.totalMs = performance.now() - started;
  return results;
}

/** The names the friendly case uses, for clean-up. */
function friendlyNames(stamp: string): { databases: string[]; prefixes: string[] } {
  return {
    databases: [`genbot_bench_${stamp}`, `minimal_bench_${stamp}`],
    prefixes: [`gb${stamp}`, `mb${stamp}`, `rb${stamp}`],
  };
}

async function main(services: Services): Promise<void> {
  const stamp = Date.now().toString(36);
  const proxy = await startMongoProxy(services.mongodbUri, [
    'genbot',
    'minimal',
    'genbot-bot',
    'genbot-worker',
    'minimal-bot',
    'minimal-worker',
  ]);
  const sections: string[] = [];
  try {
    if (DEPLOYED) {
      const deployed = await runDeployed(services, proxy, deployedSettings(QUICK), stamp, log);
      sections.push(deployedReport(deployed));
    }
    if (FRIENDLY) sections.push(report(await friendly(services, proxy, stamp)));
    if (POSITIONS) {
      log('live positions at 1k, 10k and 100k waiting');
      const sizes = QUICK ? [1_000, 10_000] : [1_000, 10_000, 100_000];
      sections.push(
        positionsReport(await measurePositions(services.redisUrl, `qp${stamp}`, sizes)),
      );
    }
  } finally {
    killAllRoles();
    await proxy.close();
    const d = deployedNames(stamp);
    const f = friendlyNames(stamp);
    await cleanUp(
      services,
      [...d.databases, ...f.databases],
      [...d.prefixes, ...f.prefixes, `qp${stamp}`],
    );
  }
  const total = `whole run: ${((performance.now() - T0) / 1000).toFixed(0)} s${QUICK ? ' (--quick)' : ''}`;
  console.log(`${sections.join('\n\n')}\n\n_${total}._`);
  log(total);
}

const services = await provisionServices({
  env: process.env,
  mode: 'ephemeral',
  log: (line) => log(line),
});
let stopping = false;
const stop = async (code: number): Promise<never> => {
  if (!stopping) {
    stopping = true;
    killAllRoles();
    await services.stop();
  }
  process.exit(code);
};
// However this process ends, the bot and worker processes it started end with it.
process.once('exit', killAllRoles);
// Interrupted (Ctrl-C, a timeout): the servers this run started go with it.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.once(signal, () => void stop(130));
try {
  await main(services);
  log('done; stopping the servers');
  await stop(0);
} catch (error) {
  console.error(error);
  await stop(1);
}
