import type {
  Alone,
  CountPhase,
  CountSession,
  DeployedResults,
  Round,
  SystemName,
} from './deployed.js';
import { HOUSEKEEPING, WRITE_COMMANDS, type ProxyStats } from './mongo-proxy.js';
import type { Owner } from './redis-monitor.js';
import { DASH, median, mongoTotals, ms, num, percentile, ratio, table } from './report.js';

/** The markdown of the deployed section (deployed.ts), the headline of `npm run bench`. */

const SYSTEMS: SystemName[] = ['genbot', 'minimal', 'raw'];
const PROCESSES = ['bot', 'worker'] as const;
/** One at a time: a member this bot process has not seen, or has. */
type Temperature = 'cold' | 'warm';
/** The count phases (see `CountSession`), in the order the tables show them. */
const PHASES = ['cold', 'hinted', 'warm'] as const;
type PhaseName = (typeof PHASES)[number];
const PHASE_TITLES: Record<PhaseName, string> = {
  cold: 'cold',
  hinted: 'cold, hint in Redis',
  warm: 'warm',
};
const COUNTED = ['genbot', 'minimal'] as const;
/** The numeric columns of the count tables: each counted system in each phase. */
const COLUMNS = COUNTED.flatMap((s) => PHASES.map((p) => ({ system: s, phase: p })));
const COLUMN_TITLES = COLUMNS.map((c) => `${c.system} ${PHASE_TITLES[c.phase]}`);

const rateOf = (r: Round): number => (r.count > 0 ? (r.count / r.elapsedMs) * 1000 : NaN);
const roundsOf = (d: DeployedResults, s: SystemName): Round[] =>
  d.rounds.filter((r) => r.system === s);
const sessionOf = (d: DeployedResults, s: SystemName): CountSession | undefined =>
  d.counts.find((c) => c.system === s);
const sum = (values: Record<string, number>): number =>
  Object.values(values).reduce((a, b) => a + b, 0);
const code = (text: string): string => `\`${text.replace(/\|/g, '\\|')}\``;

function pooled(rounds: Round[], pick: (a: Round) => Alone, part: keyof Alone): number[] {
  return rounds.flatMap((r) => pick(r)[part]);
}

/** Generations per second of each round and their median, for one system. */
function rates(d: DeployedResults, s: SystemName): string {
  const values = roundsOf(d, s).map(rateOf);
  if (values.length === 0) return DASH;
  return `${values.map((v) => num(v)).join(' / ')} (median ${num(median(values))})`;
}

/** genbot's rate over the system's, round by round (the rounds are interleaved). */
function ratios(d: DeployedResults, s: SystemName): number[] {
  const g = roundsOf(d, 'genbot');
  return roundsOf(d, s)
    .map((r, i) => (g[i] ? rateOf(g[i]) / rateOf(r) : NaN))
    .filter(Number.isFinite);
}

function ratioCell(d: DeployedResults, s: SystemName): string {
  if (s === 'genbot') return '1';
  const values = ratios(d, s);
  if (values.length === 0) return DASH;
  return `${values.map((v) => num(v, 3)).join(' / ')}; min **${num(Math.min(...values), 3)}**, median **${num(median(values), 3)}**`;
}

function p50(values: number[]): string {
  return values.length === 0 ? DASH : ms(percentile(values, 50));
}

function perGen(value: number, phase: CountPhase | undefined): number {
  return phase && phase.count > 0 ? value / phase.count : NaN;
}

/** Commands (writes) per generation of one process in one phase. */
function mongoCell(phase: CountPhase | undefined, process: 'bot' | 'worker' | 'both'): string {
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
function redisCell(phase: CountPhase | undefined, process?: string): string {
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

function headline(d: DeployedResults): string {
  const g = roundsOf(d, 'genbot');
  const m = roundsOf(d, 'minimal');
  const raw = roundsOf(d, 'raw');
  const phase = (s: SystemName, t: PhaseName) => sessionOf(d, s)?.[t];
  const submitP50 = (rounds: Round[], t: Temperature) => p50(pooled(rounds, (r) => r[t], 'submit'));
  const submitRatio = (t: Temperature | 'all') => {
    const pick = (rounds: Round[]) =>
      t === 'all'
        ? [...pooled(rounds, (r) => r.cold, 'submit'), ...pooled(rounds, (r) => r.warm, 'submit')]
        : pooled(rounds, (r) => r[t], 'submit');
    return ratio(percentile(pick(g), 50), percentile(pick(m), 50));
  };
  const e2e = (rounds: Round[], t: Temperature) =>
    rounds.length === 0 ? DASH : ms(median(pooled(rounds, (r) => r[t], 'endToEnd')));
  const under = (rounds: Round[]) => {
    const l = rounds.flatMap((r) => r.submitLatencies);
    return l.length === 0 ? DASH : `${ms(percentile(l, 50))} / ${ms(percentile(l, 95))}`;
  };
  const restart = (rounds: Round[]) =>
    rounds.length === 0 ? DASH : ms(median(rounds.map((r) => r.restartGapMs)));
  const rows: string[][] = [
    [
      `end-to-end generations/s in each of ${d.rounds.length / SYSTEMS.length} rounds (submit to the member's bytes read back; worker restarted half way)`,
      rates(d, 'genbot'),
      rates(d, 'minimal'),
      rates(d, 'raw'),
    ],
    [
      'genbot / this system, round by round',
      ratioCell(d, 'genbot'),
      ratioCell(d, 'minimal'),
      ratioCell(d, 'raw'),
    ],
    [
      'submit latency p50, one at a time, cold member (first for this bot process)',
      submitP50(g, 'cold'),
      submitP50(m, 'cold'),
      `${p50(pooled(raw, (r) => r.cold, 'submit'))} (a job add)`,
    ],
    [
      'submit latency p50, one at a time, warm member (seen by this process)',
      submitP50(g, 'warm'),
      submitP50(m, 'warm'),
      DASH,
    ],
    [
      'genbot / minimal, submit p50 one at a time: cold / warm / both',
      `${submitRatio('cold')} / ${submitRatio('warm')} / **${submitRatio('all')}**`,
      DASH,
      DASH,
    ],
    [
      'one generation alone, submit to bytes read back (median): cold / warm',
      `${e2e(g, 'cold')} / ${e2e(g, 'warm')}`,
      `${e2e(m, 'cold')} / ${e2e(m, 'warm')}`,
      e2e(raw, 'cold'),
    ],
    [
      `submit latency p50 / p95, ${d.settings.submitters} members in flight`,
      under(g),
      under(m),
      under(raw),
    ],
    [
      'worker restart half way: graceful stop asked to new worker taking jobs (median)',
      restart(g),
      restart(m),
      restart(raw),
    ],
  ];
  for (const t of PHASES)
    rows.push([
      `MongoDB commands per generation, ${PHASE_TITLES[t]}: bot + worker`,
      mongoCell(phase('genbot', t), 'both'),
      mongoCell(phase('minimal', t), 'both'),
      DASH,
    ]);
  for (const t of PHASES)
    rows.push([
      `Redis commands sent per generation, ${PHASE_TITLES[t]} (a script call counts once)`,
      redisCell(phase('genbot', t)),
      redisCell(phase('minimal', t)),
      DASH,
    ]);
  const a = d.asDeployed;
  if (a) {
    const sweep = a.sweepMs === undefined ? 'not seen in its log' : ms(a.sweepMs);
    rows.push([
      `genbot worker started as \`ROLE=worker\` starts it (reconcile loop included; its start-up sweep reads the ledger's ${num(d.prefill.ledger, 0)}+ entries): fork to taking jobs / to the sweep's end`,
      `**${ms(a.readyMs)}** / **${sweep}** (a worker without the loop: ${ms(median(g.map((r) => r.newWorkerReadyMs)))})`,
      DASH,
      DASH,
    ]);
    rows.push([
      'one generation alone, submit to bytes read back (median), new member: while that sweep runs / after it',
      `${a.during.endToEnd.length === 0 ? 'none (the sweep ended first)' : `${ms(median(a.during.endToEnd))} (${a.during.endToEnd.length})`} / ${ms(median(a.after.endToEnd))} (${a.after.endToEnd.length})`,
      DASH,
      DASH,
    ]);
  }
  return table(['figure', 'genbot', 'minimal bot', 'raw BullMQ'], rows);
}

/**
 * The commands of a system's data path that the server answers by reading a whole
 * collection (a filter other than `{_id}`), with how often and how long: on FerretDB they
 * grow with what is stored, and they can bound a system's rate on their own.
 */
function scans(d: DeployedResults, system: SystemName): string[] {
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

function mongoBreakdown(d: DeployedResults): string {
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

function redisBreakdown(d: DeployedResults): string {
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

function inScripts(d: DeployedResults): string {
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

function roundsTable(d: DeployedResults): string {
  const rows = d.rounds.map((r) => {
    const l = r.submitLatencies;
    return [
      String(r.round),
      r.system,
      `${r.count}${r.count < r.planned ? ` of ${r.planned} (${r.delivered} with those in flight)` : ''}`,
      num(rateOf(r)),
      l.length === 0 ? DASH : `${ms(percentile(l, 50))} / ${ms(percentile(l, 95))}`,
      `${p50(r.cold.submit)} / ${p50(r.warm.submit)}`,
      ms(r.restartGapMs),
      `${ms(r.botReadyMs)} / ${ms(r.workerReadyMs)}`,
      String(r.failedSubmits + r.failedDeliveries),
    ];
  });
  return table(
    [
      'round',
      'system',
      'generations',
      'generations/s',
      'submit p50 / p95 (concurrent)',
      'submit p50 alone, cold / warm',
      'worker restart gap',
      'bot / new worker: fork to ready',
      'failed',
    ],
    rows,
  );
}

export function deployedReport(d: DeployedResults): string {
  const s = d.settings;
  const out: string[] = [];
  const genbotCounts = sessionOf(d, 'genbot');
  out.push(
    '## genbot as deployed: a bot process and a worker process, member limits on, members with history',
    '',
    `Each system runs as two OS processes, a bot (submits, and reads each output's bytes back as the Telegram and Discord sinks do before uploading) and a worker, started fresh for every round; the rounds are interleaved (genbot, minimal, raw, genbot, ...) on the same Redis and MongoDB-protocol server, ${s.rounds} of each. ${num(s.members, 0)} members each have ${s.entries} ledger entries stored (genbot: account, identity and a ledger chain in genbot's own layout; minimal bot: the balance document that chain ends at). A round: ${s.aloneN} generations one at a time for members this bot process has not seen (cold), the same ${s.aloneN} members again (warm), then up to ${s.n} generations with ${s.submitters} members in flight at once (each waits until its image reached it, then the next member asks), four in five for members not seen yet and one in five for a member of the same round again; when half of them have reached their members (or half the round's window of ${ms(s.caps.roundMs)} has passed), the worker is stopped gracefully and a new worker process (cold) is started while submits go on. A round's rate is what reached members within its window (to the last delivery, when all ${s.n} were done sooner); no new submit after the window, and what is in flight then is waited for but not counted. Count phases stop submitting after ${ms(s.caps.countMs)}, one-at-a-time phases after ${ms(s.caps.aloneMs)}. ${s.concurrency} worker slots in every system; the instant \`local\` 64x64 model (1 step, no delay).`,
    '',
    `genbot runs with its defaults (\`NODE_ENV=production\`, \`LOG_LEVEL=info\`: its log is read and dropped, warnings are passed on) except \`MEMBER_MAX_QUEUED=1000\` (default 3; raised so that no member is ever refused: the limit script still runs for every submit, and the default would refuse nobody here either) and \`WORKER_CONCURRENCY=${s.concurrency}\` (default 2; the same slots as the other systems). \`MEMBER_COOLDOWN_SECONDS\` and \`MEMBER_DAILY_LIMIT\` stay at their default 0 (off; the day's set is still kept). The bot process is built as \`ROLE=bot\` builds it (createApp, startDelivery with a sink) and the worker as \`ROLE=worker\` (createApp, startWorkers), without the reconcile loop, whose start-up sweep is measured on its own (last row). Throughput rounds connect straight to the servers with MONITOR off; the counts below come from separate phases through the counting proxy.`,
    '',
    headline(d),
  );

  out.push(
    '',
    '### MongoDB commands per generation, cold and warm, by process',
    '',
    `One bot and one worker process per system, each with its own port on the counting proxy (bench/mongo-proxy.ts). After a warm-up of a few generations (GridFS makes its indexes on the first write), phase **cold**: up to ${s.countN} generations, ${s.submitters} members in flight, each for a member neither process has seen since it started and for whom Redis holds no ledger hint (a member whose last generation is older than the hint, or than this release); phase **warm**: the same members once more, same processes; then both processes are replaced by new ones and phase **cold, hint in Redis**: the same members again (what a restart or another replica meets: the processes have not seen them, Redis keeps the ledger hint their last generation left). Per generation delivered. "(write)": insert, update, delete, findAndModify. Filter \`_id\`: exactly \`{_id}\`, answered from an index; **scan**: anything else, which FerretDB 1.24 reads in full. Server time: request to reply at the proxy, mean over the three phases.`,
    '',
    mongoBreakdown(d),
    '',
    '### Redis commands sent per generation, cold and warm, by process',
    '',
    `As MONITOR sees them in the same phases, attributed to the bot or the worker process by the client's port (Linux /proc; "other": a connection that could not be attributed, such as one closed before the phase ended). Scripts are named after BullMQ's script or the constant that holds them in src/ (\`<file> <CONSTANT>\`), otherwise by their sha and the shape of their first key; other commands by their key's shape. Owner: **own** is the application's (genbot's Lua and commands, its delivery streams, pub/sub), **BullMQ** BullMQ's scripts and its queues' keys, **connection** a connection's housekeeping (CLIENT, INFO, ...). Blocking reads that time out while idle count too.`,
    '',
    redisBreakdown(d),
    '',
    '<details><summary>Commands run inside scripts per generation (MONITOR source <code>lua</code>), both processes</summary>',
    '',
    inScripts(d),
    '',
    '</details>',
    '',
    '### Rounds',
    '',
    roundsTable(d),
  );

  const scanNotes = COUNTED.map((system) => {
    const found = scans(d, system);
    return found.length === 0
      ? `${system}: no command on its data path is a scan`
      : `${system}: ${found.join('; ')}`;
  });
  const notes: string[] = [
    `**read the ratios with this**: commands on each system's data path that FerretDB 1.24 answers by reading the whole collection (any filter but \`{_id}\`; their cost grows with the ${num(s.members, 0)} members' documents and with every output stored): ${scanNotes.join('. ')}. genbot against the minimal bot is genbot against that bot on this server, not genbot against the least work a bot must do`,
    `prefill: ${num(d.prefill.accounts, 0)} accounts and identities and ${num(d.prefill.ledger, 0)} ledger entries in ${ms(d.prefill.genbotMs)}; the minimal bot's balances in ${ms(d.prefill.minimalMs)}`,
  ];
  if (d.ledgerCheck)
    notes.push(
      `\`ledger check\` over genbot's whole ledger at the end (prefilled history and every generation of the section): ${d.ledgerCheck.violations === 0 ? 'clean' : `**${d.ledgerCheck.violations} violations** (first: ${d.ledgerCheck.first ?? ''})`}, ${ms(d.ledgerCheck.ms)}`,
    );
  if (genbotCounts) {
    const rate = (p: CountPhase) => num((p.count / p.elapsedMs) * 1000);
    notes.push(
      `count phases, genbot: ${PHASES.map((t) => `${genbotCounts[t].count} ${PHASE_TITLES[t]} (${rate(genbotCounts[t])}/s)`).join(', ')}, through the proxy and with MONITOR on`,
    );
  }
  for (const session of d.counts)
    for (const t of PHASES) {
      const p = session[t];
      if (p.failed > 0) notes.push(`${session.system} ${t}: ${p.failed} failed`);
      if (p.issued < s.countN && t === 'cold')
        notes.push(
          `${session.system} counts: ${p.issued} of ${s.countN} generations submitted within the phase's window`,
        );
      if (p.redis.foreign > 0)
        notes.push(`${session.system} ${t}: ${p.redis.foreign} Redis commands on other prefixes`);
      const unattributed = sum(p.redisBy.other ?? {});
      if (unattributed > 0)
        notes.push(
          `${session.system} ${t}: ${unattributed} Redis commands not attributed to a process`,
        );
    }
  const problems = Object.entries(d.childProblems);
  notes.push(
    problems.length === 0
      ? 'no process logged a warning or an error'
      : `logged at warn or above: ${problems.map(([name, n]) => `${name} ${n}`).join(', ')}`,
  );
  notes.push(`this section took ${ms(d.ms)}${s.quick ? ' (--quick)' : ''}`);
  out.push('', ...notes.map((n) => `- ${n}`));
  return out.join('\n');
}
