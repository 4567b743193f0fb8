import type { RedisCounts } from './redis-monitor.js';
import type { ProxyStats } from './mongo-proxy.js';

/**
 * What the deployed section (deployed.ts) is set to and what it measured, for the report
 * (deployed-report.ts).
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
