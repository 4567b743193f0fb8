import { performance } from 'node:perf_hooks';
import type { Services } from '../scripts/services/provision.js';
import type { MemberPool } from './deployed-members.js';
import { RoleProcess } from './deployed-process.js';
import type { Alone, DeployedSettings, SystemName } from './deployed-results.js';
import type { RoleName, RoleOptions } from './deployed-roles.js';
import type { MongoProxy } from './mongo-proxy.js';

/**
 * The deployed section's moving parts: a system's bot and worker processes (a pair), and the
 * members who ask through its bot, one at a time or many at once, each waiting until the
 * image reached them.
 */

/** How long one generation is waited for. */
export const ONE_CAP_MS = 60_000;

export interface Context {
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
export interface Pair {
  system: SystemName;
  bot: RoleProcess;
  worker: RoleProcess;
  arrivals: Arrivals;
  /** Deliveries whose generation had failed or whose bytes could not be read. */
  failedDeliveries: number;
}

export function roleOptions(c: Context, system: SystemName, half: 'bot' | 'worker', uri?: string) {
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

export async function startPair(
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

export async function stopPair(pair: Pair): Promise<void> {
  // The worker first, as an orchestrator drains a deployment; then the bot.
  await pair.worker.stop();
  await pair.bot.stop();
}

export interface Driven {
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
export async function drive(
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
export async function alone(
  c: Context,
  pair: Pair,
  members: number[],
  capMs: number,
): Promise<Alone> {
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
export function roundPlan(n: number, pool: MemberPool): number[] {
  const fresh = pool.take(n - Math.floor(n / 5));
  const plan: number[] = [];
  let f = 0;
  for (let j = 0; j < n; j += 1) plan.push(j % 5 === 4 ? plan[j - 3]! : fresh[(f += 1) - 1]!);
  return plan;
}
