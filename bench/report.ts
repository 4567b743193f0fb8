import { HOUSEKEEPING, WRITE_COMMANDS, type ProxyStats } from './mongo-proxy.js';
import type { Grown } from './prefill.js';
import type { RedisCounts } from './redis-monitor.js';

/** What one phase of one system measured. */
export interface Phase {
  /** Generations finished in the phase. */
  count: number;
  elapsedMs: number;
  /** Per submit, ms. */
  latencies: number[];
  /** One at a time: submit to delivery, ms per generation. */
  alone: number[];
  failedSubmits: number;
  timedOut: boolean;
  mongo: ProxyStats;
  redis?: RedisCounts;
  /** genbot: progress events the sink was shown. */
  progress?: number;
}

export interface SystemResults {
  /** One at a time on a nearly empty store. */
  alone?: Phase;
  /** N generations from 50 concurrent submitters, MONITOR on. */
  main?: Phase;
  /** raw BullMQ again, 10 N jobs, MONITOR off. */
  unmonitored?: Phase;
  large?: Phase;
  at1k?: Phase;
  at100k?: Phase;
}

/** A /history page and a reconciler sweep of genbot with history stored. */
export interface Sweep {
  stored: string;
  historyMs: number;
  /** Generations of the member whose page was read. */
  historyTotal: number;
  historyMongo: ProxyStats;
  historyLastMs?: number;
  historyLastPage?: number;
  historyLastMongo?: ProxyStats;
  /** The frequent sweep (jobs failed since the last one). */
  recentMs?: number;
  recentMongo?: ProxyStats;
  /** The full sweep (every generation not ended, every open hold). */
  reconcileMs?: number;
  reconcileMongo?: ProxyStats;
}

export interface Results {
  n: number;
  quick: boolean;
  concurrency: number;
  submitters: number;
  scriptsKnown: number;
  systems: { genbot?: SystemResults; minimal?: SystemResults; raw?: SystemResults };
  prefill: ({ system: string; target: number } & Grown)[];
  sweeps: Sweep[];
  holds?: { attempted: number; affordable: number; accepted: number; ms: number };
  ledgerCheck?: string;
  totalMs?: number;
  notes: string[];
}

export const DASH = '-';

export function num(value: number, digits?: number): string {
  if (!Number.isFinite(value)) return DASH;
  const d = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return value.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

export const median = (values: number[]): number => percentile(values, 50);

export function ms(value: number): string {
  if (!Number.isFinite(value)) return DASH;
  return value >= 10_000 ? `${num(value / 1000, 1)} s` : `${num(value, value >= 100 ? 0 : 1)} ms`;
}

function latencies(phase: Phase | undefined): string {
  if (!phase || phase.latencies.length === 0) return DASH;
  const l = phase.latencies;
  return `${ms(percentile(l, 50))} / ${ms(percentile(l, 95))} / ${ms(percentile(l, 99))}`;
}

const rate = (phase: Phase | undefined): number =>
  phase && phase.count > 0 ? (phase.count / phase.elapsedMs) * 1000 : NaN;

export interface MongoTotals {
  commands: number;
  writes: number;
  serverMs: number;
  housekeeping: number;
}

export function mongoTotals(stats: ProxyStats): MongoTotals {
  const t: MongoTotals = { commands: 0, writes: 0, serverMs: 0, housekeeping: 0 };
  for (const s of Object.values(stats)) {
    if (HOUSEKEEPING.has(s.command)) {
      t.housekeeping += s.count;
      continue;
    }
    t.commands += s.count;
    t.serverMs += s.serverMs;
    if (WRITE_COMMANDS.has(s.command)) t.writes += s.count;
  }
  return t;
}

function mongoPerGen(phase: Phase | undefined): string {
  if (!phase || phase.count === 0 || Object.keys(phase.mongo).length === 0) return DASH;
  const t = mongoTotals(phase.mongo);
  return `${num(t.commands / phase.count, 1)} (${num(t.writes / phase.count, 1)} writes)`;
}

const sum = (record: Record<string, number>): number =>
  Object.values(record).reduce((a, b) => a + b, 0);

function redisPerGen(phase: Phase | undefined, part: 'sent' | 'inScripts'): string {
  if (!phase?.redis || phase.count === 0) return DASH;
  return num(sum(phase.redis[part]) / phase.count, 1);
}

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

export function table(header: string[], rows: string[][], align?: string[]): string {
  const rule = align ?? header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [row(header), row(rule), ...rows.map(row)].join('\n');
}

export function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0
    ? `${num(a / b, a / b >= 10 ? 1 : 3)}`
    : DASH;
}

export function report(r: Results): string {
  const g = r.systems.genbot ?? {};
  const m = r.systems.minimal ?? {};
  const raw = r.systems.raw ?? {};
  const out: string[] = [];
  const rawMonitored = rate(raw.main);
  const rawUnmonitored = rate(raw.unmonitored);
  const [gRate, mRate] = [rate(g.main), rate(m.main)];

  out.push(
    `## Friendly case: one process per system, member limits off, 50 members already known`,
    '',
    `${r.n} generations per system in the main phase, ${r.submitters} concurrent submitters, ${r.concurrency} worker slots, instant \`local\` 64x64 model (1 step, no delay), bot and workers in one process per system; same Redis and MongoDB-protocol server for all. genbot runs with \`MEMBER_MAX_QUEUED=0\` (limits off) for 50 members whose accounts and ledger heads the process already holds; see the section above for genbot as deployed.`,
    '',
  );
  const aloneMedian = (phase: Phase | undefined): number => median(phase?.alone ?? []);
  const gEmpty = aloneMedian(g.alone);
  const mEmpty = aloneMedian(m.alone);
  out.push(
    table(
      ['figure', 'genbot', 'minimal bot', 'raw BullMQ'],
      [
        [
          'end-to-end generations/s (64x64, submit to delivery)',
          num(gRate),
          num(mRate),
          `${num(rawMonitored)} (${num(rawUnmonitored)} without MONITOR)`,
        ],
        [
          'genbot / this system',
          '1',
          ratio(gRate, mRate),
          `${ratio(gRate, rawMonitored)} (${ratio(gRate, rawUnmonitored)})`,
        ],
        ['MongoDB commands per generation', mongoPerGen(g.main), mongoPerGen(m.main), DASH],
        [
          'Redis commands sent per generation (a script call counts once)',
          redisPerGen(g.main, 'sent'),
          redisPerGen(m.main, 'sent'),
          redisPerGen(raw.main, 'sent'),
        ],
        [
          'Redis commands run inside BullMQ scripts per generation (not round trips)',
          redisPerGen(g.main, 'inScripts'),
          redisPerGen(m.main, 'inScripts'),
          redisPerGen(raw.main, 'inScripts'),
        ],
        [
          'submit latency p50 / p95 / p99, 1 at a time',
          latencies(g.alone),
          latencies(m.alone),
          latencies(raw.alone),
        ],
        [
          `submit latency p50 / p95 / p99, ${r.submitters} concurrent`,
          latencies(g.main),
          latencies(m.main),
          latencies(raw.main),
        ],
        [
          'one generation alone, submit to delivery (median), nearly empty store',
          ms(gEmpty),
          ms(mEmpty),
          ms(aloneMedian(raw.alone)),
        ],
        [
          'the same with 1k generations + 1k ledger entries stored',
          ms(aloneMedian(g.at1k)),
          ms(aloneMedian(m.at1k)),
          DASH,
        ],
        [
          'the same with 100k generations + 100k ledger entries stored',
          r.quick ? 'skipped (--quick)' : ms(aloneMedian(g.at100k)),
          r.quick ? 'skipped (--quick)' : ms(aloneMedian(m.at100k)),
          DASH,
        ],
        [
          '100k stored / nearly empty',
          r.quick ? DASH : ratio(aloneMedian(g.at100k), gEmpty),
          r.quick ? DASH : ratio(aloneMedian(m.at100k), mEmpty),
          DASH,
        ],
        [
          `1024x1024 generations/s (${g.large?.count ?? m.large?.count ?? 0} at once; genbot renders each, the minimal bot reuses one)`,
          num(rate(g.large)),
          num(rate(m.large)),
          DASH,
        ],
        [
          'MongoDB commands per 1024x1024 generation',
          mongoPerGen(g.large),
          mongoPerGen(m.large),
          DASH,
        ],
      ],
    ),
  );

  // MongoDB by command and collection.
  const keys = new Set([...Object.keys(g.main?.mongo ?? {}), ...Object.keys(m.main?.mongo ?? {})]);
  const perGen = (phase: Phase | undefined, key: string): number =>
    phase && phase.count > 0 ? (phase.mongo[key]?.count ?? 0) / phase.count : 0;
  const msPer = (phase: Phase | undefined, key: string): string => {
    const s = phase?.mongo[key];
    return s && s.count > 0 ? ms(s.serverMs / s.count) : DASH;
  };
  const rows = [...keys]
    .filter((k) => !HOUSEKEEPING.has((g.main?.mongo[k] ?? m.main?.mongo[k])!.command))
    .sort((a, b) => perGen(g.main, b) - perGen(g.main, a) || perGen(m.main, b) - perGen(m.main, a))
    .map((k) => {
      const s = (g.main?.mongo[k] ?? m.main?.mongo[k])!;
      const shapes = new Set([
        ...Object.keys(g.main?.mongo[k]?.shapes ?? {}),
        ...Object.keys(m.main?.mongo[k]?.shapes ?? {}),
      ]);
      return [
        s.command,
        s.collection,
        s.filter === '-' ? DASH : s.filter === '_id' ? '`_id`' : '**scan**',
        num(perGen(g.main, k), 2),
        num(perGen(m.main, k), 2),
        [...shapes].map((x) => `\`${x.replace(/\|/g, '\\|')}\``).join(', '),
      ];
    });
  out.push(
    '',
    `### MongoDB commands per generation, by command and collection (main phase)`,
    '',
    'Counted on the wire by a proxy per system (bench/mongo-proxy.ts). Writes are insert, update, delete and findAndModify commands; GridFS files and chunks inserts are writes. "filter": `_id` is exactly `{_id: <string or ObjectId>}`, the only filter FerretDB 1.24 (SQLite) passes down to SQLite; **scan** is anything else, read in full and filtered inside FerretDB. See the query-plan note below for whether SQLite then uses an index for `_id`. Server time is request to reply at the proxy, so it includes waiting for the SQLite writer.',
    '',
    table(['command', 'collection', 'filter', 'genbot', 'minimal', 'filter shapes'], rows, [
      '---',
      '---',
      '---',
      '---:',
      '---:',
      '---',
    ]),
  );

  // Server time per command as history grows.
  const timeRows: string[][] = [];
  for (const [name, s] of [
    ['genbot', g],
    ['minimal', m],
  ] as const) {
    const phases = [s.main, s.alone, s.at1k, s.at100k];
    const all = new Set(phases.flatMap((p) => Object.keys(p?.mongo ?? {})));
    const last = (k: string): number => {
      for (const p of [s.at100k, s.at1k, s.alone]) {
        const st = p?.mongo[k];
        if (st && st.count > 0) return st.serverMs / st.count;
      }
      return 0;
    };
    for (const k of [...all].sort((a, b) => last(b) - last(a))) {
      const st = phases.map((p) => p?.mongo[k]).find((x) => x !== undefined)!;
      if (HOUSEKEEPING.has(st.command)) continue;
      timeRows.push([
        name,
        `${st.command} ${st.collection}`,
        st.filter === '-' ? DASH : st.filter === '_id' ? '`_id`' : '**scan**',
        ...phases.map((p) => msPer(p, k)),
      ]);
    }
  }
  out.push(
    '',
    '### MongoDB server time per command as history grows',
    '',
    `Mean time from request to reply at the proxy. "main": ${r.submitters} concurrent submitters on a growing store (includes waiting for the single SQLite writer); the others one generation at a time.`,
    '',
    table(
      ['system', 'command', 'filter', 'main', 'alone, nearly empty', '1k stored', '100k stored'],
      timeRows,
      ['---', '---', '---', '---:', '---:', '---:', '---:'],
    ),
  );

  // Redis by command.
  const rkeys = new Set([
    ...Object.keys(g.main?.redis?.sent ?? {}),
    ...Object.keys(m.main?.redis?.sent ?? {}),
    ...Object.keys(raw.main?.redis?.sent ?? {}),
  ]);
  const rPer = (phase: Phase | undefined, key: string, part: 'sent' | 'inScripts'): number =>
    phase?.redis && phase.count > 0 ? (phase.redis[part][key] ?? 0) / phase.count : 0;
  const redisRows = [...rkeys]
    .sort((a, b) => rPer(g.main, b, 'sent') - rPer(g.main, a, 'sent'))
    .map((k) => [
      `\`${k}\``,
      num(rPer(g.main, k, 'sent'), 2),
      num(rPer(m.main, k, 'sent'), 2),
      num(rPer(raw.main, k, 'sent'), 2),
    ]);
  out.push(
    '',
    '### Redis commands sent per generation (main phase, as MONITOR sees them)',
    '',
    `Script calls are named after the BullMQ script they run (${r.scriptsKnown} scripts known); an EVAL is the first call of a script on a connection. Blocking reads (BZPOPMIN, XREAD BLOCK) that time out while idle are counted too. Pipelined commands are counted one by one.`,
    '',
    table(['command', 'genbot', 'minimal', 'raw BullMQ'], redisRows),
  );
  const ikeys = new Set([
    ...Object.keys(g.main?.redis?.inScripts ?? {}),
    ...Object.keys(m.main?.redis?.inScripts ?? {}),
    ...Object.keys(raw.main?.redis?.inScripts ?? {}),
  ]);
  const inRows = [...ikeys]
    .sort((a, b) => rPer(g.main, b, 'inScripts') - rPer(g.main, a, 'inScripts'))
    .map((k) => [
      `\`${k}\``,
      num(rPer(g.main, k, 'inScripts'), 2),
      num(rPer(m.main, k, 'inScripts'), 2),
      num(rPer(raw.main, k, 'inScripts'), 2),
    ]);
  out.push(
    '',
    '<details><summary>Commands run inside BullMQ scripts per generation (MONITOR source <code>lua</code>)</summary>',
    '',
    table(['command', 'genbot', 'minimal', 'raw BullMQ'], inRows),
    '',
    '</details>',
  );

  // Cost as history grows.
  const historyRows: string[][] = [];
  const stage = (label: string, system: string, phase: Phase | undefined, base: number): void => {
    if (!phase) return;
    const t = mongoTotals(phase.mongo);
    const each = median(phase.alone);
    historyRows.push([
      label,
      system,
      String(phase.count),
      ms(each),
      ratio(each, base),
      phase.count > 0 ? num(t.commands / phase.count, 1) : DASH,
      phase.count > 0 ? ms(t.serverMs / phase.count) : DASH,
    ]);
  };
  const stored = (system: string, target: number): string => {
    const p = r.prefill.find((x) => x.system === system && x.target === target);
    if (!p) return num(target, 0);
    return system === 'genbot'
      ? `${num(p.totalGenerations, 0)} + ${num(p.totalLedger, 0)}`
      : num(p.totalGenerations, 0);
  };
  stage('nearly empty', 'genbot', g.alone, gEmpty);
  stage(stored('genbot', 1000), 'genbot', g.at1k, gEmpty);
  stage(stored('genbot', 100_000), 'genbot', g.at100k, gEmpty);
  stage('nearly empty', 'minimal', m.alone, mEmpty);
  stage(stored('minimal', 1000), 'minimal', m.at1k, mEmpty);
  stage(stored('minimal', 100_000), 'minimal', m.at100k, mEmpty);
  out.push(
    '',
    '### Cost per generation as history grows (one generation at a time, submit to delivery)',
    '',
    table(
      [
        'stored (generations + ledger entries)',
        'system',
        'generations',
        'median per generation',
        'vs nearly empty',
        'MongoDB commands',
        'MongoDB server time',
      ],
      historyRows,
      ['---', '---', '---:', '---:', '---:', '---:', '---:'],
    ),
  );

  if (r.sweeps.length > 0) {
    const describe = (stats: ProxyStats | undefined): string => {
      if (!stats) return DASH;
      const t = mongoTotals(stats);
      const scans = Object.values(stats)
        .filter((x) => x.filter === 'scan')
        .reduce((a, x) => a + x.count, 0);
      return `${num(t.commands, 0)} (${num(scans, 0)})`;
    };
    out.push(
      '',
      '### genbot /history and reconciler with history stored',
      '',
      table(
        [
          'stored',
          '/history page 1 (member with n generations)',
          'its MongoDB commands (not passed down)',
          'last page',
          'its commands',
          'frequent reconciler sweep',
          'its commands',
          'full reconciler sweep (grace 120 s)',
          'its commands',
        ],
        r.sweeps.map((w) => [
          w.stored,
          `${ms(w.historyMs)} (n = ${w.historyTotal})`,
          describe(w.historyMongo),
          w.historyLastMs === undefined
            ? DASH
            : `${ms(w.historyLastMs)} (page ${w.historyLastPage})`,
          describe(w.historyLastMongo),
          w.recentMs === undefined ? DASH : ms(w.recentMs),
          describe(w.recentMongo),
          w.reconcileMs === undefined ? 'not run' : ms(w.reconcileMs),
          describe(w.reconcileMongo),
        ]),
      ),
    );
  }

  const notes: string[] = [];
  for (const p of r.prefill)
    notes.push(
      `history prefill (${p.system}, to ${num(p.target, 0)}): ${num(p.generations, 0)} generations${p.system === 'genbot' ? ` and ${num(p.ledger, 0)} ledger entries` : ''} inserted in ${ms(p.ms)}${p.complete ? '' : ' (stopped by its time limit short of the target)'}`,
    );
  if (g.main?.progress !== undefined && g.main.count > 0)
    notes.push(
      `genbot progress events shown to the sink per generation: ${num(g.main.progress / g.main.count, 2)}`,
    );
  const housekeeping = (phase: Phase | undefined): number =>
    mongoTotals(phase?.mongo ?? {}).housekeeping;
  notes.push(
    `driver housekeeping left out of the MongoDB counts (hello/isMaster handshakes and heartbeats): genbot ${housekeeping(g.main)}, minimal ${housekeeping(m.main)} in the main phase`,
  );
  if (r.holds)
    notes.push(
      `genbot ledger holds under contention: ${r.holds.attempted} concurrent holds of 1 point on an account with ${r.holds.affordable}: ${r.holds.accepted} accepted, ${ms(r.holds.ms)}`,
    );
  if (r.ledgerCheck) notes.push(`genbot ledger check at the end: ${r.ledgerCheck}`);
  for (const [name, s] of Object.entries(r.systems)) {
    for (const [phaseName, phase] of Object.entries(s)) {
      const p = phase as Phase;
      if (p.failedSubmits > 0)
        notes.push(`${name} ${phaseName}: ${p.failedSubmits} submits failed`);
      if (p.timedOut) notes.push(`${name} ${phaseName}: cut short by its time limit`);
      if (p.redis && p.redis.foreign > 0)
        notes.push(`${name} ${phaseName}: ${p.redis.foreign} Redis commands on other prefixes`);
    }
  }
  if (r.totalMs !== undefined)
    notes.push(`this section took ${ms(r.totalMs)}${r.quick ? ' (--quick)' : ''}`);
  notes.push(...r.notes);
  out.push('', ...notes.map((n) => `- ${n}`));
  return out.join('\n');
}
