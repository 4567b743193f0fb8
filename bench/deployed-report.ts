import type { Alone, CountPhase, DeployedResults, Round, SystemName } from './deployed-results.js';
import {
  COUNTED,
  inScripts,
  mongoBreakdown,
  mongoCell,
  PHASE_TITLES,
  PHASES,
  redisBreakdown,
  redisCell,
  scans,
  sessionOf,
  sum,
  type PhaseName,
} from './deployed-report-counts.js';
import { DASH, median, ms, num, percentile, ratio, table } from './report.js';

/** The markdown of the deployed section (deployed.ts), the headline of `npm run bench`. */

const SYSTEMS: SystemName[] = ['genbot', 'minimal', 'raw'];
/** One at a time: a member this bot process has not seen, or has. */
type Temperature = 'cold' | 'warm';

const rateOf = (r: Round): number => (r.count > 0 ? (r.count / r.elapsedMs) * 1000 : NaN);
const roundsOf = (d: DeployedResults, s: SystemName): Round[] =>
  d.rounds.filter((r) => r.system === s);

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
