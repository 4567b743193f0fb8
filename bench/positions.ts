import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Queue, type JobsOptions } from 'bullmq';
import { Redis, type Result } from 'ioredis';
import { POSITIONS_PER_CALL, queuePositions } from '../src/generation/queue-positions.js';
import { fairPriority } from '../src/generation/submit.js';
import { generationQueueName } from '../src/queue/contracts.js';
import { provisionServices } from '../scripts/services/provision.js';

/**
 * `npx tsx bench/positions.ts [sizes...]`: what the live queue positions cost Redis. One
 * provider queue is filled with N waiting jobs laid out as submit queues them, then one cycle
 * of the queue watch is timed as if this process waited on every one of them: the batched
 * script (ZRANK, LPOS only on the short wait list) against the script before it (LPOS over a
 * wait list that held every member's first job, one call per generation).
 *
 * Redis time is read from `INFO commandstats` (the `usec` of EVALSHA and EVAL, which covers
 * everything a script runs) before and after, on a Redis nothing else uses meanwhile; wall
 * time is measured around the calls from here (loopback round trips included).
 */

/** Jobs of priority members (LIFO, on the plain wait list in both layouts). */
const PRIORITY_JOBS = 10;
/** Members have 1, 2 or 3 open generations, in turn. */
const MAX_OPEN = 3;
/** BullMQ's highest priority (2^21). */
const MAX_PRIORITY = 2_097_152;
/** The old approach is timed on this many look-ups spread over the queue, then scaled. */
const OLD_SAMPLES = 1_000;
/** The new cycle is timed this often; the run with the median Redis time is reported. */
const CYCLE_REPEATS = 5;
/** Each single look-up is repeated this often and averaged. */
const SINGLE_REPEATS = 200;
const ADD_CHUNK = 5_000;

/**
 * How the release before this one queued a member's k-th job (the first on the plain wait
 * list), and how submit does now (`fairPriority`: priority k, the first included).
 */
const LAYOUTS = {
  old: (rank: number): JobsOptions => (rank <= 1 ? {} : { priority: Math.min(rank, MAX_PRIORITY) }),
  new: (rank: number): JobsOptions => ({ priority: fairPriority(rank) }),
} as const;
type Layout = keyof typeof LAYOUTS;

/** The position script before the batched one: LPOS over the wait list first, then ZRANK. */
const OLD_SCRIPT = `
local length = redis.call('LLEN', KEYS[1])
local index = redis.call('LPOS', KEYS[1], ARGV[1], 'RANK', -1)
if index then return length - index end
local rank = redis.call('ZRANK', KEYS[2], ARGV[1])
if rank then return length + rank + 1 end
return 0`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    benchOldQueuePosition(wait: string, prioritized: string, id: string): Result<number, Context>;
  }
}

export interface CycleCost {
  /** Script calls one watch cycle makes. */
  calls: number;
  /** Redis time of the cycle (ms). */
  redisMs: number;
  /** Wall time of the cycle from this process (ms). */
  wallMs: number;
}

/** Microseconds of Redis time one look-up takes, at three places in the queue. */
export interface SingleCost {
  head: number;
  middle: number;
  end: number;
}

export interface PositionRow {
  /** Jobs waiting on the provider queue. */
  waiting: number;
  /** Of those, on BullMQ's plain wait list (the rest are in the prioritized set). */
  onWaitList: Record<Layout, number>;
  cycle: { new: CycleCost; old: CycleCost & { sampled: number } };
  single: Record<Layout, SingleCost>;
}

interface Filled {
  queue: Queue;
  keys: { wait: string; prioritized: string };
  /** Every waiting job id, in the order workers will start them. */
  inOrder: string[];
}

/** Redis time (µs) of every script run so far, from INFO commandstats. */
async function scriptMicros(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let total = 0;
  for (const match of info.matchAll(/^cmdstat_(?:evalsha|eval):.*?usec=(\d+)/gm))
    total += Number(match[1]);
  return total;
}

/** Redis and wall time of `work`, on a Redis nothing else uses meanwhile. */
async function timed(redis: Redis, work: () => Promise<unknown>) {
  const before = await scriptMicros(redis);
  const started = performance.now();
  await work();
  const wallMs = performance.now() - started;
  return { redisMs: ((await scriptMicros(redis)) - before) / 1000, wallMs };
}

/**
 * The jobs of `size` waiting generations: priority members' first, then members with 1, 2
 * or 3 open ones, each submitting theirs one after another; with the start order workers
 * will follow (priority members newest first, then every member's first, second, third).
 */
function jobsOf(size: number, layout: Layout) {
  const jobs: { name: string; data: { n: number }; opts: JobsOptions }[] = [];
  const byRank: string[][] = [[]];
  const priority: string[] = [];
  const add = (opts: JobsOptions) => {
    const id = `gen-${jobs.length.toString(36).padStart(8, '0')}-${layout}`;
    jobs.push({ name: 'generate', data: { n: jobs.length }, opts: { jobId: id, ...opts } });
    return id;
  };
  for (let n = 0; n < Math.min(PRIORITY_JOBS, size); n += 1) priority.unshift(add({ lifo: true }));
  for (let member = 0; jobs.length < size; member += 1)
    for (let rank = 1; rank <= (member % MAX_OPEN) + 1 && jobs.length < size; rank += 1)
      (byRank[rank - 1] ??= []).push(add(LAYOUTS[layout](rank)));
  return { jobs, inOrder: [...priority, ...byRank.flat()] };
}

async function fill(redis: Redis, prefix: string, size: number, layout: Layout) {
  const queue = new Queue(generationQueueName(`positions-${layout}`), {
    connection: redis,
    prefix,
  });
  const { jobs, inOrder } = jobsOf(size, layout);
  for (let start = 0; start < jobs.length; start += ADD_CHUNK)
    await queue.addBulk(jobs.slice(start, start + ADD_CHUNK));
  const keys = { wait: queue.toKey('wait'), prioritized: queue.toKey('prioritized') };
  return { queue, keys, inOrder } satisfies Filled;
}

/** Checks the layout is what it claims: a look-up of the first, middle and last job. */
async function expectPlaces(redis: Redis, filled: Filled): Promise<void> {
  const { inOrder, keys } = filled;
  const at = [0, Math.floor(inOrder.length / 2), inOrder.length - 1];
  const places = await queuePositions(
    redis,
    keys,
    at.map((i) => inOrder[i] ?? ''),
  );
  if (places.some((place, i) => place !== (at[i] ?? 0) + 1))
    throw new Error(`positions ${places.join(',')} where ${at.map((i) => i + 1).join(',')}`);
}

/** The run with the median Redis time of `times` runs (a busy machine's outliers left out). */
async function median(
  times: number,
  run: () => Promise<{ redisMs: number; wallMs: number }>,
): Promise<{ redisMs: number; wallMs: number }> {
  const runs: { redisMs: number; wallMs: number }[] = [];
  for (let n = 0; n < times; n += 1) runs.push(await run());
  runs.sort((a, b) => a.redisMs - b.redisMs);
  const middle = runs[Math.floor(runs.length / 2)];
  if (!middle) throw new Error('no runs');
  return middle;
}

async function singleCost(redis: Redis, lookUp: (id: string) => Promise<unknown>, id: string) {
  await lookUp(id);
  const { redisMs } = await timed(redis, async () => {
    for (let n = 0; n < SINGLE_REPEATS; n += 1) await lookUp(id);
  });
  return (redisMs * 1000) / SINGLE_REPEATS;
}

async function singles(redis: Redis, filled: Filled, lookUp: (id: string) => Promise<unknown>) {
  const { inOrder } = filled;
  return {
    head: await singleCost(redis, lookUp, inOrder[0] ?? ''),
    middle: await singleCost(redis, lookUp, inOrder[Math.floor(inOrder.length / 2)] ?? ''),
    end: await singleCost(redis, lookUp, inOrder.at(-1) ?? ''),
  };
}

async function measureNew(redis: Redis, prefix: string, size: number) {
  const filled = await fill(redis, prefix, size, 'new');
  try {
    await expectPlaces(redis, filled);
    const ids = filled.inOrder;
    const cycle = await median(CYCLE_REPEATS, () =>
      timed(redis, () => queuePositions(redis, filled.keys, ids)),
    );
    const single = await singles(redis, filled, (id) => queuePositions(redis, filled.keys, [id]));
    const onWaitList = await redis.llen(filled.keys.wait);
    const calls = Math.ceil(ids.length / POSITIONS_PER_CALL);
    return { cycle: { calls, ...cycle }, single, onWaitList };
  } finally {
    await filled.queue.close();
  }
}

async function measureOld(redis: Redis, prefix: string, size: number) {
  const filled = await fill(redis, prefix, size, 'old');
  try {
    await expectPlaces(redis, filled);
    const { keys, inOrder } = filled;
    const lookUp = (id: string) => redis.benchOldQueuePosition(keys.wait, keys.prioritized, id);
    const sampled = Math.min(OLD_SAMPLES, inOrder.length);
    const sample = Array.from(
      { length: sampled },
      (_, i) => inOrder[Math.floor((i * inOrder.length) / sampled)] ?? '',
    );
    // The watch before this one asked for each generation in turn.
    const spent = await timed(redis, async () => {
      for (const id of sample) await lookUp(id);
    });
    const scale = inOrder.length / sampled;
    const cycle = {
      calls: inOrder.length,
      sampled,
      redisMs: spent.redisMs * scale,
      wallMs: spent.wallMs * scale,
    };
    return {
      cycle,
      single: await singles(redis, filled, lookUp),
      onWaitList: await redis.llen(keys.wait),
    };
  } finally {
    await filled.queue.close();
  }
}

/** Deletes every key under `prefix` (both layouts' queues). */
async function clean(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

/**
 * For each size, the Redis time of one queue-watch cycle over that many waiting jobs of one
 * provider, new and old, and of single look-ups. `prefix` must be the run's own: every key
 * under it is deleted at the end (and between sizes).
 */
export async function measurePositions(
  redisUrl: string,
  prefix: string,
  sizes: number[] = [1_000, 10_000, 100_000],
): Promise<PositionRow[]> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  redis.defineCommand('benchOldQueuePosition', { numberOfKeys: 2, lua: OLD_SCRIPT });
  const rows: PositionRow[] = [];
  try {
    // Loads both scripts, so the timed calls are EVALSHA.
    await queuePositions(redis, { wait: `${prefix}:none`, prioritized: `${prefix}:none2` }, ['x']);
    await redis.benchOldQueuePosition(`${prefix}:none`, `${prefix}:none2`, 'x');
    for (const size of sizes) {
      const fresh = await measureNew(redis, prefix, size);
      await clean(redis, prefix);
      const old = await measureOld(redis, prefix, size);
      await clean(redis, prefix);
      rows.push({
        waiting: size,
        onWaitList: { new: fresh.onWaitList, old: old.onWaitList },
        cycle: { new: fresh.cycle, old: old.cycle },
        single: { new: fresh.single, old: old.single },
      });
    }
  } finally {
    await clean(redis, prefix);
    redis.disconnect();
  }
  return rows;
}

const ms = (value: number): string => (value >= 100 ? value.toFixed(0) : value.toFixed(2));
const us = (value: number): string => value.toFixed(1);

/** The measurements as markdown: one watch cycle per size, then single look-ups. */
export function positionsReport(rows: readonly PositionRow[]): string {
  const lines = [
    '### Live queue positions: one watch cycle over every waiting job of one provider',
    '',
    '| waiting | on the wait list (new / old) | new: calls | new: Redis ms | new: µs a job | new: wall ms | old: calls | old: Redis ms | old: wall ms | old / new (Redis) |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const { new: n, old: o } = r.cycle;
    lines.push(
      `| ${r.waiting.toLocaleString('en')} | ${r.onWaitList.new} / ${r.onWaitList.old.toLocaleString('en')} | ${n.calls} | ${ms(n.redisMs)} | ${us((n.redisMs * 1000) / r.waiting)} | ${ms(n.wallMs)} | ${o.calls.toLocaleString('en')} | ${ms(o.redisMs)}${o.sampled < r.waiting ? '*' : ''} | ${ms(o.wallMs)}${o.sampled < r.waiting ? '*' : ''} | ${(o.redisMs / n.redisMs).toFixed(0)}x |`,
    );
  }
  lines.push(
    '',
    '### Single look-ups (µs of Redis time, /queue and the old watch)',
    '',
    '| waiting | new: head | new: middle | new: end | old: head | old: middle | old: end |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const r of rows) {
    const { new: n, old: o } = r.single;
    lines.push(
      `| ${r.waiting.toLocaleString('en')} | ${us(n.head)} | ${us(n.middle)} | ${us(n.end)} | ${us(o.head)} | ${us(o.middle)} | ${us(o.end)} |`,
    );
  }
  lines.push(
    '',
    `Jobs are laid out as submit queues them: ${PRIORITY_JOBS} of priority members (LIFO, on the wait list), then members with 1, 2 or 3 open generations in turn; new: a member's k-th job has priority k; old: the first went on the plain wait list. Head, middle and end are places 1, N/2 and N in the order workers start them. Redis time is the \`usec\` of EVALSHA in INFO commandstats (new: the median of ${CYCLE_REPEATS} cycles); wall time includes loopback round trips (new: the batch's calls sent at once; old: one call after another, as the old watch did).`,
  );
  if (rows.some((r) => r.cycle.old.sampled < r.waiting))
    lines.push(
      '',
      `\\* The old cycle is timed on ${OLD_SAMPLES.toLocaleString('en')} look-ups spread evenly over the start order and scaled to every waiting job (its cost per look-up grows with the place, so an even spread averages it).`,
    );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const sizes = process.argv
    .slice(2)
    .filter((a) => /^\d+$/.test(a))
    .map(Number);
  const services = await provisionServices({
    env: process.env,
    mode: 'ephemeral',
    log: (line) => console.error(`[bench positions] ${line}`),
  });
  try {
    const rows = await measurePositions(
      services.redisUrl,
      `benchpos${Date.now()}`,
      sizes.length > 0 ? sizes : undefined,
    );
    console.log(positionsReport(rows));
  } finally {
    await services.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
