import type { CountPhase, CountSession, DeployedResults, SystemName } from './deployed-results.js';
import { HOUSEKEEPING, WRITE_COMMANDS, type ProxyStats } from './mongo-proxy.js';
import type { Owner } from './redis-monitor.js';
import { DASH, mongoTotals, ms, num, table } from './report.js';

/**
 * The deployed section's counts per generation (its count phases, see `CountSession`): the
 * cells of the headline and the tables by command, collection and process.
 */

export const PROCESSES = ['bot', 'worker'] as const;
/** The count phases (see `CountSession`), in the order the tables show them. */
export const PHASES = ['cold', 'hinted', 'warm'] as const;
export type PhaseName = (typeof PHASES)[number];
export const PHASE_TITLES: Record<PhaseName, string> = {
  cold: 'cold',
  hinted: 'cold, hint in Redis',
  warm: 'warm',
};
export const COUNTED = ['genbot', 'minimal'] as const;
/** The numeric columns of the count tables: each counted system in each phase. */
export const COLUMNS = COUNTED.flatMap((s) => PHASES.map((p) => ({ system: s, phase: p })));
export const COLUMN_TITLES = COLUMNS.map((c) => `${c.system} ${PHASE_TITLES[c.phase]}`);

export const sessionOf = (d: DeployedResults, s: SystemName): CountSession | undefined =>
  d.counts.find((c) => c.system === s);
export const sum = (values: Record<string, number>): number =>
  Object.values(values).reduce((a, b) => a + b, 0);
export const code = (text: string): string => `\`${text.replace(/\|/g, '\\|')}\``;

export function perGen(value: number, phase: CountPhase | undefined): number {
  return phase && phase.count > 0 ? value / phase.count : NaN;
}

/** Commands (writes) per generation of one process in one phase. */
export function mongoCell(
  phase: CountPhase | undefined,
  process: 'bot' | 'worker' | 'both',
): string {
  if (!phase) return DASH;
  const stats = process === 'both' ? [phase.mongo.bot, phase.mongo.worker] : [phase.mongo[process]];
  const t = stats.map(mongoTotals).reduce((a, b) => ({
    commands: a.commands + b.commands,
    writes: a.writes + b.writes,
    serverMs: a.serverMs + b.serverMs,
    housekeeping: a.housekeeping + b.housekeeping,
  }));
  return `${num(perGen(t.commands, phase), 1)} (${num(perGen(t.writes, phase), 1)} writes)`;
}

/** Redis commands sent per generation by one process (or all), split by owner. */
export function redisCell(phase: CountPhase | undefined, process?: string): string {
  if (!phase) return DASH;
  const sent = process ? (phase.redisBy[process] ?? {}) : phase.redis.sent;
  const by: Record<Owner, number> = { own: 0, BullMQ: 0, connection: 0 };
  for (const [name, n] of Object.entries(sent)) by[phase.redis.owners[name] ?? 'connection'] += n;
  const parts = [
    `${num(perGen(by.own, phase), 1)} own`,
    `${num(perGen(by.BullMQ, phase), 1)} BullMQ`,
    ...(by.connection > 0 ? [`${num(perGen(by.connection, phase), 2)} connection`] : []),
  ];
  return `${num(perGen(sum(sent), phase), 1)} (${parts.join(', ')})`;
}

/**
 * The commands of a system's data path that the server answers by reading a whole
 * collection (a filter other than `{_id}`), with how often and how long: on FerretDB they
 * grow with what is stored, and they can bound a system's rate on their own.
 */
export function scans(d: DeployedResults, system: SystemName): string[] {
  const session = sessionOf(d, system);
  if (!session) return [];
  const found: string[] = [];
  for (const p of PROCESSES) {
    const total: ProxyStats = {};
    let generations = 0;
    for (const t of PHASES) {
      generations += session[t].count;
      for (const [k, stat] of Object.entries(session[t].mongo[p])) {
        if (stat.filter !== 'scan' || HOUSEKEEPING.has(stat.command)) continue;
        const into = (total[k] ??= { ...stat, count: 0, serverMs: 0 });
        into.count += stat.count;
        into.serverMs += stat.serverMs;
      }
    }
    for (const stat of Object.values(total))
      found.push(
        `\`${stat.command} ${stat.collection}\` in the ${p} (${num(stat.count / Math.max(1, generations), 2)} per generation, ${ms(stat.serverMs / stat.count)} each)`,
      );
  }
  return found;
}

/** Every MongoDB command key a process sent in any count phase, but housekeeping. */
function mongoKeys(d: DeployedResults, process: 'bot' | 'worker'): Map<string, ProxyStats[string]> {
  const keys = new Map<string, ProxyStats[string]>();
  for (const session of d.counts)
    for (const t of PHASES)
      for (const [k, stat] of Object.entries(session[t].mongo[process]))
        if (!HOUSEKEEPING.has(stat.command) && !keys.has(k)) keys.set(k, stat);
  return keys;
}

const NUMERIC = COLUMNS.map(() => '---:');

export function mongoBreakdown(d: DeployedResults): string {
  const phaseOf = (c: (typeof COLUMNS)[number]) => sessionOf(d, c.system)?.[c.phase];
  const count = (c: (typeof COLUMNS)[number], p: 'bot' | 'worker', k: string): number => {
    const phase = phaseOf(c);
    return phase ? (phase.mongo[p][k]?.count ?? 0) / Math.max(1, phase.count) : 0;
  };
  const serverMs = (system: SystemName, p: 'bot' | 'worker', k: string): string => {
    const s = sessionOf(d, system);
    const stats = s ? PHASES.map((t) => s[t].mongo[p][k]).filter((x) => x !== undefined) : [];
    const n = stats.reduce((a, x) => a + x.count, 0);
    return n > 0 ? ms(stats.reduce((a, x) => a + x.serverMs, 0) / n) : DASH;
  };
  const rows: string[][] = [];
  for (const p of PROCESSES) {
    const keys = mongoKeys(d, p);
    const weight = (k: string) =>
      COLUMNS.reduce((a, c, i) => a + count(c, p, k) / (i < PHASES.length ? 1 : 100), 0);
    for (const k of [...keys.keys()].sort((a, b) => weight(b) - weight(a))) {
      const s = keys.get(k)!;
      const shapes = new Set(
        d.counts.flatMap((c) => PHASES.flatMap((t) => Object.keys(c[t].mongo[p][k]?.shapes ?? {}))),
      );
      rows.push([
        p,
        `${s.command}${WRITE_COMMANDS.has(s.command) ? ' (write)' : ''}`,
        s.collection,
        s.filter === '-' ? DASH : s.filter === '_id' ? '`_id`' : '**scan**',
        ...COLUMNS.map((c) => num(count(c, p, k), 2)),
        `${serverMs('genbot', p, k)} / ${serverMs('minimal', p, k)}`,
        [...shapes].map(code).join(', '),
      ]);
    }
  }
  for (const p of PROCESSES)
    rows.push([
      `**${p}, total**`,
      '',
      '',
      '',
      ...COLUMNS.map((c) => mongoCell(phaseOf(c), p)),
      '',
      '',
    ]);
  return table(
    [
      'process',
      'command',
      'collection',
      'filter',
      ...COLUMN_TITLES,
      'mean server time genbot / minimal',
      'filter shapes',
    ],
    rows,
    ['---', '---', '---', '---', ...NUMERIC, '---:', '---'],
  );
}

export function redisBreakdown(d: DeployedResults): string {
  const per = (c: (typeof COLUMNS)[number], p: string, name: string): number => {
    const phase = sessionOf(d, c.system)?.[c.phase];
    return phase ? (phase.redisBy[p]?.[name] ?? 0) / Math.max(1, phase.count) : 0;
  };
  const owners = new Map<string, Owner>();
  for (const session of d.counts)
    for (const t of PHASES)
      for (const [name, owner] of Object.entries(session[t].redis.owners)) owners.set(name, owner);
  const rows: string[][] = [];
  for (const p of ['bot', 'worker', 'other']) {
    const names = [...owners.keys()].filter((n) =>
      d.counts.some((c) => PHASES.some((t) => (c[t].redisBy[p]?.[n] ?? 0) > 0)),
    );
    const weight = (n: string) =>
      COLUMNS.reduce((a, c, i) => a + per(c, p, n) / (i < PHASES.length ? 1 : 100), 0);
    for (const n of names.sort((a, b) => weight(b) - weight(a)))
      rows.push([p, owners.get(n)!, code(n), ...COLUMNS.map((c) => num(per(c, p, n), 2))]);
  }
  for (const p of ['bot', 'worker'])
    rows.push([
      `**${p}, total**`,
      '',
      '',
      ...COLUMNS.map((c) => redisCell(sessionOf(d, c.system)?.[c.phase], p)),
    ]);
  return table(['process', 'owner', 'command', ...COLUMN_TITLES], rows, [
    '---',
    '---',
    '---',
    ...NUMERIC,
  ]);
}

export function inScripts(d: DeployedResults): string {
  const names = new Set(
    d.counts.flatMap((c) => PHASES.flatMap((t) => Object.keys(c[t].redis.inScripts))),
  );
  const per = (c: (typeof COLUMNS)[number], n: string): number => {
    const p = sessionOf(d, c.system)?.[c.phase];
    return p && p.count > 0 ? (p.redis.inScripts[n] ?? 0) / p.count : 0;
  };
  const rows = [...names]
    .sort((a, b) => per(COLUMNS[0]!, b) - per(COLUMNS[0]!, a))
    .map((n) => [code(n), ...COLUMNS.map((c) => num(per(c, n), 2))]);
  rows.push([
    '**total**',
    ...COLUMNS.map((c) => {
      const p = sessionOf(d, c.system)?.[c.phase];
      return p && p.count > 0 ? num(sum(p.redis.inScripts) / p.count, 1) : DASH;
    }),
  ]);
  return table(['command', ...COLUMN_TITLES], rows);
}
