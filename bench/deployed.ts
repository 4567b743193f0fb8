import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import mongoose from 'mongoose';
import type { Services } from '../scripts/services/provision.js';
import { Economy } from '../src/economy/ledger.js';
import { MemberPool } from './deployed-members.js';
import { prefillGenbotMembers, prefillMinimalMembers } from './deployed-prefill.js';
import { loggedProblems, RoleProcess } from './deployed-process.js';
import type { RoleName, RoleOptions } from './deployed-roles.js';
import { portOf, portsOwnedBy } from './deployed-sockets.js';
import { takeWhenQuiet, type MongoProxy, type ProxyStats } from './mongo-proxy.js';
import { RedisMonitor, type RedisCounts } from './redis-monitor.js';
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

export type SystemName = 'genbot' | 'minimal' | 'raw';

export interface DeployedSettings {
  quick: boolean;
  members: number;
  entries: number;
  /** Generations per throughput round. */
  n: number;
  /** Members with a generation in flight at once (each waits for its image, then asks again). */
  submitters: number;
  concurrency: number;
  /** Generations per count phase. */
  countN: number;
  /** Generations one at a time, cold and then warm, per round. */
  aloneN: number;
  rounds: number;
  /**
   * No new submit after this long in a throughput round, a count phase, a one-at-a-time
   * phase (what is in flight is still waited for): a system slower than the others stops
   * short of its count instead of holding the whole run.
   */
  caps: { roundMs: number; countMs: number; aloneMs: number };
}

export function deployedSettings(quick: boolean): DeployedSettings {
  const common = { quick, entries: 20, submitters: 24, concurrency: 8, rounds: 3 };
  return quick
    ? {
        ...common,
        members: 2000,
        n: 200,
        countN: 100,
        aloneN: 10,
        caps: { roundMs: 15_000, countMs: 10_000, aloneMs: 5_000 },
      }
    : {
        ...common,
        members: 10_000,
        n: 600,
        countN: 200,
        aloneN: 20,
        caps: { roundMs: 40_000, countMs: 20_000, aloneMs: 10_000 },
      };
}

/** One count phase: what each process sent per generation, cold or warm. */
export interface CountPhase {
  count: number;
  /** Generations submitted (fewer than asked when the phase's cap stopped it). */
  issued: number;
  failed: number;
  elapsedMs: number;
  mongo: { bot: ProxyStats; worker: ProxyStats };
  redis: RedisCounts;
  /** Sent commands by process (`bot`, `worker`, `other`), then by name. */
  redisBy: Record<string, Record<string, number>>;
}

/**
 * The three kinds of generation a deployment meets, by what the processes know of the member:
 * `cold`, neither process has seen it and Redis holds no ledger hint for it (its last
 * generation was long ago); `hinted`, new processes, but the member had a generation with the
 * processes before (a restart, another replica): Redis holds the hint its finish left; `warm`,
 * the same processes saw it.
 */
export interface CountSession {
  system: 'genbot' | 'minimal';
  cold: CountPhase;
  hinted: CountPhase;
  warm: CountPhase;
}

export interface Alone {
  /** Submit latency, ms. */
  submit: number[];
  /** Submit to delivery, ms. */
  endToEnd: number[];
}

export interface Round {
  system: SystemName;
  round: number;
  count: number;
  /** The round's size; `count` is smaller when its submit window closed first. */
  planned: number;
  /** Delivered in all (those in flight when the window closed too). */
  delivered: number;
  failedSubmits: number;
  failedDeliveries: number;
  elapsedMs: number;
  submitLatencies: number[];
  /** Stop of the old worker asked to new worker ready. */
  restartGapMs: number;
  /** The new worker: fork to ready. */
  newWorkerReadyMs: number;
  cold: Alone;
  warm: Alone;
  botReadyMs: number;
  workerReadyMs: number;
}

/** genbot's worker as ROLE=worker starts it (see `asDeployedWorker`). */
export interface AsDeployed {
  /** Fork to taking jobs. */
  readyMs: number;
  /** Fork to the start-up sweep's end (its log line); undefined: not seen. */
  sweepMs?: number;
  /** One at a time while the sweep ran (empty when it ran before the worker took jobs). */
  during: Alone;
  after: Alone;
}

export interface DeployedResults {
  settings: DeployedSettings;
  prefill: { genbotMs: number; ledger: number; accounts: number; minimalMs: number };
  counts: CountSession[];
  rounds: Round[];
  asDeployed?: AsDeployed;
  ledgerCheck?: { violations: number; ms: number; first?: string };
  childProblems: Record<string, number>;
  ms: number;
}

/** How long one generation is waited for. */
const ONE_CAP_MS = 60_000;
/** Members of the warm-up before the counts (their first writes make GridFS's indexes). */
const WARM_UP = 5;

interface Context {
  services: Services;
  proxy: MongoProxy;
  settings: DeployedSettings;
  names: Record<SystemName, { db: string; prefix: string }>;
  catalogFile: string;
  log: (line: string) => void;
  /** Generation numbers, unique per system over the whole run. */
  next: Record<SystemName, number>;
}

/**
 * When each generation reached its member (the parent's clock), by id. A submitter waits for
 * its own generation; the delivery may arrive before the submit's answer does.
 */
class Arrivals {
  readonly #early = new Map<string, number>();
  readonly #waiting = new Map<string, (at: number) => void>();

  mark(id: string): void {
    const at = performance.now();
    const waiter = this.#waiting.get(id);
    if (!waiter) {
      this.#early.set(id, at);
      return;
    }
    this.#waiting.delete(id);
    waiter(at);
  }

  /** When `id` reached its member; undefined if it did not within `timeoutMs`. */
  async of(id: string, timeoutMs: number): Promise<number | undefined> {
    const early = this.#early.get(id);
    if (early !== undefined) {
      this.#early.delete(id);
      return early;
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.#waiting.set(id, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }
}

/** A bot process and a worker process of one system, and what reached its members. */
interface Pair {
  system: SystemName;
  bot: RoleProcess;
  worker: RoleProcess;
  arrivals: Arrivals;
  /** Deliveries whose generation had failed or whose bytes could not be read. */
  failedDeliveries: number;
}

function roleOptions(c: Context, system: SystemName, half: 'bot' | 'worker', uri?: string) {
  const role = `${system}-${half}` as RoleName;
  const base = c.services.mongodbUri.replace(/\/$/, '');
  const options: RoleOptions = {
    role,
    redisUrl: c.services.redisUrl,
    mongodbUri: uri ?? `${base}/${c.names[system].db}`,
    prefix: c.names[system].prefix,
    concurrency: c.settings.concurrency,
    catalogFile: c.catalogFile,
  };
  return options;
}

async function startPair(
  c: Context,
  system: SystemName,
  counted: boolean,
  workerRole?: RoleName,
): Promise<Pair> {
  const uri = (half: string): string | undefined =>
    counted ? c.proxy.uri(`${system}-${half}`, c.names[system].db) : undefined;
  const pair = { system, arrivals: new Arrivals(), failedDeliveries: 0 } as Pair;
  const delivered = (id: string, ok: boolean): void => {
    if (!ok) pair.failedDeliveries += 1;
    pair.arrivals.mark(id);
  };
  const ignore = (): void => undefined;
  [pair.bot, pair.worker] = await Promise.all([
    RoleProcess.start(roleOptions(c, system, 'bot', uri('bot')), `${system} bot`, delivered, c.log),
    RoleProcess.start(
      {
        ...roleOptions(c, system, 'worker', uri('worker')),
        ...(workerRole ? { role: workerRole } : {}),
      },
      workerRole ? `${system} worker (${workerRole})` : `${system} worker`,
      ignore,
      c.log,
    ),
  ]);
  return pair;
}

async function stopPair(pair: Pair): Promise<void> {
  // The worker first, as an orchestrator drains a deployment; then the bot.
  await pair.worker.stop();
  await pair.bot.stop();
}

interface Driven {
  /** Submit latencies (the bot process's own timing), ms. */
  latencies: number[];
  failed: number;
  /** Submitted but not delivered within a minute. */
  lost: number;
  /** Generations of the plan submitted (the first ones); fewer when the window closed. */
  issued: number;
  /** Delivered in all, the window's and those in flight when it closed. */
  delivered: number;
  /** Delivered within the window, and the time they took (to the last, or the window). */
  count: number;
  elapsedMs: number;
}

/**
 * One generation per entry of `plan` (its member), from `submitters` members at a time: each
 * submits, waits until its generation reached it, and submits the next, until the plan is
 * done or the `capMs` window closed (what is in flight then is waited for, not counted in the
 * rate). `half` runs once, when half the plan was delivered or half the window passed.
 */
async function drive(
  c: Context,
  pair: Pair,
  plan: number[],
  o: { submitters: number; capMs: number; label: string; half?: () => Promise<void> },
): Promise<Driven> {
  const d: Driven = {
    latencies: [],
    failed: 0,
    lost: 0,
    issued: 0,
    delivered: 0,
    count: 0,
    elapsedMs: 0,
  };
  const arrivals: number[] = [];
  let lastError = '';
  const started = performance.now();
  const windowEnd = started + o.capMs;
  let halfDone: Promise<void> | undefined;
  const halfway = (): void => {
    halfDone ??= o.half?.() ?? Promise.resolve();
  };
  const timer = o.half ? setTimeout(halfway, o.capMs / 2) : undefined;
  const ticker = setInterval(() => c.log(`${o.label}: ${arrivals.length}/${plan.length}`), 10_000);
  await Promise.all(
    Array.from({ length: Math.min(o.submitters, plan.length) }, async () => {
      while (d.issued < plan.length && performance.now() < windowEnd) {
        const member = plan[d.issued]!;
        d.issued += 1;
        const r = await pair.bot.submit((c.next[pair.system] += 1), member);
        if (r.error !== undefined || r.id === undefined) {
          d.failed += 1;
          lastError = r.error ?? 'no id';
          continue;
        }
        d.latencies.push(r.ms);
        const at = await pair.arrivals.of(r.id, ONE_CAP_MS);
        if (at === undefined) {
          d.lost += 1;
          continue;
        }
        arrivals.push(at);
        if (arrivals.length === Math.floor(plan.length / 2)) halfway();
      }
    }),
  );
  clearTimeout(timer);
  clearInterval(ticker);
  await halfDone;
  if (d.failed > 0) c.log(`${o.label}: ${d.failed} submits failed: ${lastError}`);
  if (d.lost > 0) c.log(`${o.label}: ${d.lost} not delivered within ${ONE_CAP_MS / 1000} s`);
  if (d.issued < plan.length)
    c.log(`${o.label}: ${d.issued} of ${plan.length} submitted within ${o.capMs / 1000} s`);
  const end = Math.min(windowEnd, arrivals.length > 0 ? Math.max(...arrivals) : windowEnd);
  d.delivered = arrivals.length;
  d.count = arrivals.filter((t) => t <= end).length;
  d.elapsedMs = end - started;
  return d;
}

/**
 * One generation at a time for each member of `members` (until `capMs` passed, at least
 * three): submit, wait until it reached the member, next.
 */
async function alone(c: Context, pair: Pair, members: number[], capMs: number): Promise<Alone> {
  const out: Alone = { submit: [], endToEnd: [] };
  const started = performance.now();
  for (const member of members) {
    if (out.submit.length >= 3 && performance.now() - started > capMs) break;
    const at = performance.now();
    const r = await pair.bot.submit((c.next[pair.system] += 1), member);
    if (r.error !== undefined || r.id === undefined) {
      c.log(`${pair.system} alone: submit failed: ${r.error ?? 'no id'}`);
      continue;
    }
    out.submit.push(r.ms);
    const arrived = await pair.arrivals.of(r.id, ONE_CAP_MS);
    if (arrived === undefined) {
      c.log(`${pair.system} alone: not delivered within ${ONE_CAP_MS / 1000} s`);
      break;
    }
    out.endToEnd.push(arrived - at);
  }
  return out;
}

/** Every fifth generation is for the member of three generations before; the rest are new. */
function roundPlan(n: number, pool: MemberPool): number[] {
  const fresh = pool.take(n - Math.floor(n / 5));
  const plan: number[] = [];
  let f = 0;
  for (let j = 0; j < n; j += 1) plan.push(j % 5 === 4 ? plan[j - 3]! : fresh[(f += 1) - 1]!);
  return plan;
}

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
