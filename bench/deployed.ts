import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import mongoose from 'mongoose';
import type { Services } from '../scripts/services/provision.js';
import { Economy } from '../src/economy/ledger.js';
import {
  alone,
  drive,
  ONE_CAP_MS,
  roleOptions,
  roundPlan,
  startPair,
  stopPair,
  type Context,
  type Pair,
} from './deployed-drive.js';
import { MemberPool } from './deployed-members.js';
import { prefillGenbotMembers, prefillMinimalMembers } from './deployed-prefill.js';
import { loggedProblems, RoleProcess } from './deployed-process.js';
import type {
  Alone,
  AsDeployed,
  CountPhase,
  CountSession,
  DeployedResults,
  DeployedSettings,
  Round,
  SystemName,
} from './deployed-results.js';
import { portOf, portsOwnedBy } from './deployed-sockets.js';
import { takeWhenQuiet, type MongoProxy } from './mongo-proxy.js';
import { RedisMonitor } from './redis-monitor.js';
import { benchModels } from './systems.js';

/**
 * The headline section of `npm run bench`: genbot as it is deployed, next to the minimal bot
 * and raw BullMQ, each split into a bot process and a worker process (deployed-roles.ts) on
 * the same Redis and MongoDB-protocol server.
 *
 * 1. Members with history: `members` members, each with a ledger chain of `entries` links in
 *    genbot's store (and a balance document in the minimal bot's), written before anything
 *    starts (deployed-prefill.ts).
 * 2. Counts per generation: one bot and one worker process per system, through the counting
 *    proxy (one name per process) and with MONITOR on. Phase "cold": `countN` generations,
 *    each for a member neither process has seen and with no ledger hint in Redis; phase
 *    "warm": the same members again; then new processes and phase "hinted": the same
 *    members once more (see `CountSession`).
 * 3. Rounds, interleaved (genbot, minimal, raw, genbot, ...), each on fresh processes,
 *    connected straight to the servers, MONITOR off: submit latency one at a time (cold
 *    members, then the same members warm), then `n` generations from `submitters`
 *    members at a time (each waits for its image before asking again), most not seen yet
 *    and every fifth a member of this round again; half way the worker is stopped
 *    gracefully and a new one started.
 * 4. genbot's worker as `ROLE=worker` starts it, beside a bot: when it takes jobs, when its
 *    start-up reconcile sweep ends, one generation at a time during the sweep and after it;
 *    then `ledger check` over the whole ledger.
 */

/** Members of the warm-up before the counts (their first writes make GridFS's indexes). */
const WARM_UP = 5;

async function countPhase(
  c: Context,
  pair: Pair,
  monitor: RedisMonitor,
  members: number[],
  label: string,
): Promise<CountPhase> {
  const names = [`${pair.system}-bot`, `${pair.system}-worker`];
  const failedBefore = pair.failedDeliveries;
  await takeWhenQuiet(c.proxy, names);
  monitor.begin(c.names[pair.system].prefix);
  const driven = await drive(c, pair, members, {
    submitters: c.settings.submitters,
    capMs: c.settings.caps.countMs,
    label,
  });
  const mongo = await takeWhenQuiet(c.proxy, names);
  const owners = portsOwnedBy({ bot: pair.bot.pid, worker: pair.worker.pid });
  const redis = await monitor.end();
  const redisBy: Record<string, Record<string, number>> = { bot: {}, worker: {}, other: {} };
  for (const [source, sent] of Object.entries(redis.bySource)) {
    const port = portOf(source);
    const into = redisBy[(port !== undefined && owners.get(port)) || 'other']!;
    for (const [name, n] of Object.entries(sent)) into[name] = (into[name] ?? 0) + n;
  }
  c.log(`${label}: ${driven.delivered} delivered`);
  return {
    count: driven.delivered,
    issued: driven.issued,
    failed: driven.failed + driven.lost + pair.failedDeliveries - failedBefore,
    elapsedMs: driven.elapsedMs,
    mongo: { bot: mongo[names[0]!]!, worker: mongo[names[1]!]! },
    redis,
    redisBy,
  };
}

async function countSession(
  c: Context,
  system: 'genbot' | 'minimal',
  pool: MemberPool,
  monitor: RedisMonitor,
): Promise<CountSession> {
  const warmUp = async (pair: Pair): Promise<void> => {
    await drive(c, pair, pool.take(WARM_UP), {
      submitters: WARM_UP,
      capMs: ONE_CAP_MS,
      label: `${system} warm-up`,
    });
  };
  const members = pool.take(c.settings.countN);
  let pair = await startPair(c, system, true);
  let cold: CountPhase;
  let warm: CountPhase;
  let seen: number[];
  try {
    await warmUp(pair);
    cold = await countPhase(c, pair, monitor, members, `${system} counts, cold`);
    // The members the cold phase reached, once more, by the same processes.
    seen = members.slice(0, cold.issued);
    warm = await countPhase(c, pair, monitor, seen, `${system} counts, warm`);
  } finally {
    await stopPair(pair);
  }
  // The same members for new processes: what a restart (or another replica) meets.
  pair = await startPair(c, system, true);
  try {
    await warmUp(pair);
    const hinted = await countPhase(c, pair, monitor, seen, `${system} counts, cold with a hint`);
    return { system, cold, warm, hinted };
  } finally {
    await stopPair(pair);
  }
}

async function round(
  c: Context,
  system: SystemName,
  index: number,
  pool: MemberPool | undefined,
): Promise<Round> {
  const { settings } = c;
  const pair = await startPair(c, system, false);
  const label = `${system} round ${index}`;
  try {
    const lone = pool
      ? pool.take(settings.aloneN)
      : Array.from({ length: settings.aloneN }, () => 0);
    const cold = await alone(c, pair, lone, settings.caps.aloneMs);
    const warm = pool
      ? await alone(c, pair, lone.slice(0, cold.submit.length), settings.caps.aloneMs)
      : { submit: [], endToEnd: [] };
    const plan = pool ? roundPlan(settings.n, pool) : Array.from({ length: settings.n }, () => 0);
    const restart = { gapMs: NaN, readyMs: NaN };
    // Half way (half the round delivered, or half its window passed): a new worker process.
    const half = async (): Promise<void> => {
      const at = performance.now();
      await pair.worker.stop();
      pair.worker = await RoleProcess.start(
        roleOptions(c, system, 'worker'),
        `${system} worker (restarted)`,
        () => undefined,
        c.log,
      );
      restart.gapMs = performance.now() - at;
      restart.readyMs = pair.worker.readyMs;
      c.log(`${label}: worker restarted in ${(restart.gapMs / 1000).toFixed(1)} s`);
    };
    const driven = await drive(c, pair, plan, {
      submitters: settings.submitters,
      capMs: settings.caps.roundMs,
      label,
      half,
    });
    c.log(
      `${label}: ${driven.count} in ${(driven.elapsedMs / 1000).toFixed(1)} s, ${((driven.count / driven.elapsedMs) * 1000).toFixed(1)}/s`,
    );
    return {
      system,
      round: index,
      count: driven.count,
      planned: plan.length,
      failedSubmits: driven.failed,
      failedDeliveries: pair.failedDeliveries + driven.lost,
      elapsedMs: driven.elapsedMs,
      delivered: driven.delivered,
      submitLatencies: driven.latencies,
      restartGapMs: restart.gapMs,
      newWorkerReadyMs: restart.readyMs,
      cold,
      warm,
      botReadyMs: pair.bot.readyMs,
      workerReadyMs: pair.worker.readyMs,
    };
  } finally {
    await stopPair(pair);
  }
}

/** How long the start-up sweep of the worker as deployed is waited for. */
const SWEEP_CAP_MS = 600_000;
/** Generations one at a time after the sweep, to compare with those during it. */
const AFTER_SWEEP = 10;

/**
 * genbot's worker as `ROLE=worker` starts it (src/process-roles.ts, its reconcile loop
 * included), beside a bot: when it takes jobs, when its start-up sweep ends (its log says),
 * and one generation at a time for new members while the sweep runs and after it.
 */
async function asDeployedWorker(c: Context, pool: MemberPool): Promise<AsDeployed> {
  const pair = await startPair(c, 'genbot', false, 'genbot-worker-as-deployed');
  try {
    let sweepMs: number | undefined;
    const swept = pair.worker
      .whenLogged(/start-up reconcile (done|failed)/, SWEEP_CAP_MS)
      .then((at) => {
        sweepMs = at;
      });
    const during: Alone = { submit: [], endToEnd: [] };
    while (sweepMs === undefined && during.submit.length < 500) {
      const one = await alone(c, pair, pool.take(1), 0);
      during.submit.push(...one.submit);
      during.endToEnd.push(...one.endToEnd);
      if (one.submit.length === 0) break;
    }
    await swept;
    // A sweep that ended before the worker took jobs (it used to hold the start) ran before.
    if (sweepMs !== undefined && sweepMs <= pair.worker.readyMs) {
      during.submit.length = 0;
      during.endToEnd.length = 0;
    }
    const after = await alone(c, pair, pool.take(AFTER_SWEEP), SWEEP_CAP_MS);
    return {
      readyMs: pair.worker.readyMs,
      ...(sweepMs === undefined ? {} : { sweepMs }),
      during,
      after,
    };
  } finally {
    await stopPair(pair);
  }
}

export async function runDeployed(
  services: Services,
  proxy: MongoProxy,
  settings: DeployedSettings,
  stamp: string,
  log: (line: string) => void,
): Promise<DeployedResults> {
  const started = performance.now();
  const c: Context = {
    services,
    proxy,
    settings,
    names: {
      genbot: { db: `deployed_genbot_${stamp}`, prefix: `dg${stamp}` },
      minimal: { db: `deployed_minimal_${stamp}`, prefix: `dm${stamp}` },
      raw: { db: '', prefix: `dr${stamp}` },
    },
    catalogFile: join(tmpdir(), `genbot-bench-catalog-${stamp}.json`),
    log,
    next: { genbot: 0, minimal: 0, raw: 0 },
  };
  await writeFile(c.catalogFile, JSON.stringify(benchModels(), null, 2));
  const direct = await mongoose.createConnection(services.mongodbUri).asPromise();
  try {
    log(
      `deployed: prefilling ${settings.members} members with ${settings.entries} ledger entries each`,
    );
    const genbotDb = direct.useDb(c.names.genbot.db);
    const { stats, collections } = await prefillGenbotMembers(
      genbotDb,
      settings.members,
      settings.entries,
    );
    const minimalMs = await prefillMinimalMembers(
      direct.useDb(c.names.minimal.db).db!,
      settings.members,
      settings.entries,
    );
    log(
      `deployed: prefilled in ${(stats.ms / 1000).toFixed(1)} s (minimal: ${minimalMs.toFixed(0)} ms)`,
    );
    const results: DeployedResults = {
      settings,
      prefill: { genbotMs: stats.ms, ledger: stats.ledger, accounts: stats.accounts, minimalMs },
      counts: [],
      rounds: [],
      childProblems: loggedProblems,
      ms: 0,
    };
    const pools = {
      genbot: new MemberPool(settings.members),
      minimal: new MemberPool(settings.members),
    };

    // Counts first: MONITOR sees the first EVAL of each script (and learns its name).
    const monitor = await RedisMonitor.start(services.redisUrl);
    try {
      results.counts.push(await countSession(c, 'genbot', pools.genbot, monitor));
      results.counts.push(await countSession(c, 'minimal', pools.minimal, monitor));
    } finally {
      monitor.close();
    }

    for (let r = 1; r <= settings.rounds; r += 1) {
      for (const system of ['genbot', 'minimal', 'raw'] as const)
        results.rounds.push(
          await round(c, system, r, system === 'raw' ? undefined : pools[system]),
        );
    }

    log('deployed: genbot worker as ROLE=worker starts it (start-up reconcile sweep included)');
    results.asDeployed = await asDeployedWorker(c, pools.genbot);
    const { readyMs, sweepMs } = results.asDeployed;
    log(
      `deployed: it took jobs after ${(readyMs / 1000).toFixed(1)} s; its start-up sweep ended after ${sweepMs === undefined ? '?' : (sweepMs / 1000).toFixed(1)} s`,
    );

    log('deployed: ledger check');
    const at = performance.now();
    const violations = await new Economy(collections, {
      welcomePoints: 0,
      maxGrant: 1_000_000,
    }).check();
    results.ledgerCheck = {
      violations: violations.length,
      ms: performance.now() - at,
      ...(violations[0] ? { first: `${violations[0].rule}: ${violations[0].detail}` } : {}),
    };
    log(
      `deployed: ledger check ${violations.length === 0 ? 'clean' : `${violations.length} violations`}`,
    );
    results.ms = performance.now() - started;
    return results;
  } finally {
    await direct.close();
    await rm(c.catalogFile, { force: true });
  }
}

/** The databases and key prefixes the deployed section used, for clean-up. */
export function deployedNames(stamp: string): { databases: string[]; prefixes: string[] } {
  return {
    databases: [`deployed_genbot_${stamp}`, `deployed_minimal_${stamp}`],
    prefixes: [`dg${stamp}`, `dm${stamp}`, `dr${stamp}`],
  };
}
