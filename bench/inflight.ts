import { randomBytes } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { Writable } from 'node:stream';
import {
  constants as perfConstants,
  monitorEventLoopDelay,
  performance,
  PerformanceObserver,
} from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { createApp, type App } from '../src/app.js';
import { Catalog } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config.js';
import type { DeliverySink } from '../src/delivery/sink.js';
import { ProviderRegistry } from '../src/providers/registry.js';
import { FalProvider } from '../src/providers/remote/fal.js';
import { fundMembers } from './support.js';
import { provisionServices, type Services } from '../scripts/services/provision.js';
import { forkSlowBackend, type SlowBackendHandle, type SlowBackendStats } from './slow-backend.js';

/**
 * `npx tsx bench/inflight.ts [N] [--burst] [--gc-probe]` (default N 1000): the two
 * remote-generation targets of issue 10, measured on one worker process.
 *
 * 1. One worker process holds 1,000 in-flight remote generations (a loopback fake backend that
 *    takes 20-40 s each) under 500 MB RSS, and every one is delivered.
 * 2. 500 finished remote generations are delivered within 60 s of the last one finishing.
 *
 * genbot runs in this process as the `all` role does: `createApp`, the provider workers
 * (`startWorkers`) and the delivery side (`startDelivery`, the real DeliveryConsumer and
 * ProgressNotifier) to a Telegram sink that only records when each result reached it. The
 * provider is the real `FalProvider` (default 1 s polls, the real HTTP client and download)
 * pointed at `bench/slow-backend.ts`, a fal-like backend in a child process of its own (so
 * that its memory and CPU are not counted as the bot's), whose jobs end 20-40 s after their
 * submit. fal's worker concurrency is N and it has no rate limit. N generations are submitted
 * through `GenerationService.submit` by 50 concurrent submitters for 50 funded accounts, with
 * Telegram origins. Redis and the MongoDB-protocol server are started for the run and stopped
 * at the end (unless REDIS_URL and MONGODB_URI are set), as in `npm run bench`.
 *
 * "Finished" is when the backend's job ended (from then on a poll says COMPLETED); the time the
 * worker recorded the result (the job's `completed` event) is shown too. Progress goes to
 * stderr, the table and the verdicts to stdout; exit 1 when a target is missed.
 */

const args = process.argv.slice(2);
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 1000);
/**
 * `--gc-probe` (with `NODE_OPTIONS=--expose-gc`): every 5 s a full GC is forced and the heap
 * that survives it recorded, to tell live memory from garbage V8 has not collected yet. It
 * changes what RSS is measured, so the targets are judged on runs without it.
 */
const GC_PROBE = args.includes('--gc-probe');
/**
 * `--burst`: every job ends at the same moment (40 s after the backend started, about 30-40 s
 * after its submit) instead of 20-40 s after its own submit: target 2 measured on N results
 * that are all ready at once rather than spread over 20 s.
 */
const BURST = args.includes('--burst');
const MIN_MS = 20_000;
const MAX_MS = 40_000;
const MEMBERS = 50;
const SUBMITTERS = 50;
const RSS_LIMIT_MB = 500;
const DELIVERY_LIMIT_S = 60;
/** The issue's figures for each target. */
const TARGET_1_N = 1000;
const TARGET_2_N = 500;
/** After the last generation finished: how long deliveries are waited for at most. */
const DELIVERY_CAP_MS = 180_000;
/** After everything was delivered: how long a second delivery of any is watched for. */
const DUPLICATE_WATCH_MS = 3000;
const MODEL = 'slow-fal';

const T0 = performance.now();
const log = (line: string): void => {
  console.error(`[inflight ${((performance.now() - T0) / 1000).toFixed(0).padStart(4)}s] ${line}`);
};
/** Wall-clock ms, comparable with the backend process's and with Redis stream ids. */
const now = (): number => performance.timeOrigin + performance.now();
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const int = (n: number): string => Math.round(n).toLocaleString('en-US');

function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** The most intervals [start, end) open at once. */
function peakOverlap(intervals: readonly { start: number; end: number }[]): number {
  const edges: [number, number][] = [];
  for (const { start, end } of intervals) edges.push([start, 1], [end, -1]);
  // An end before a start at the same instant.
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let peak = 0;
  for (const [, d] of edges) {
    open += d;
    peak = Math.max(peak, open);
  }
  return peak;
}

/** Warnings and errors the app logged: counted by message, never printed with their fields. */
class LogTally extends Writable {
  readonly counts = new Map<string, number>();
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      let key = 'unparsed log line';
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: string };
        key = `${entry.level === 40 ? 'warn' : 'error'}: ${entry.msg ?? '(no message)'}`;
      } catch {
        // counted as unparsed
      }
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    }
    callback();
  }
}

interface Sample {
  at: number;
  rss: number;
  heapUsed: number;
  /** The heap V8 has committed (what the heap adds to RSS). */
  heapTotal: number;
  oldSpaceUsed: number;
  external: number;
  inFlight: number;
}

interface Probe {
  heapUsed: number;
  rss: number;
  inFlight: number;
}

interface Measured {
  n: number;
  concurrency: number;
  concurrencyVia: string;
  baselineRss: number;
  baselineHeap: number;
  samples: Sample[];
  submitMs: number;
  submitLatencies: number[];
  failedSubmits: number;
  firstSubmitAt: number;
  lastSubmitAt: number;
  submittedAt: Map<string, number>;
  workerDoneAt: Map<string, number>;
  workerFailed: Map<string, string>;
  delivered: Map<string, number[]>;
  deliveredNotCompleted: number;
  progressShown: number;
  backend: SlowBackendStats;
  promptToId: Map<string, string>;
  completedInStore: number;
  cpuMs: number;
  wallMs: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  gc: { minor: number; major: number; other: number; pauseMs: number };
  logs: Map<string, number>;
  timedOut: string | undefined;
  probes: Probe[];
  /** The 1-minute load average before the first submit and after the last delivery. */
  load: [number, number];
}

async function run(services: Services, backend: SlowBackendHandle, key: string): Promise<Measured> {
  const stamp = Date.now().toString(36);
  const dbName = `genbot_inflight_${stamp}`;
  const uri = new URL(services.mongodbUri);
  uri.pathname = `/${dbName}`;
  const mongodbUri = uri.toString();
  // PROVIDER_CONCURRENCY takes at most three digits per entry: beyond 999 the parsed value
  // is set on the config the app is built from (what loadConfig would have made of it).
  const viaEnv = N <= 999;
  const config = loadConfig({
    NODE_ENV: 'test',
    // Many generations per member in flight: the member limits are off here.
    MEMBER_MAX_QUEUED: '0',
    LOG_LEVEL: 'warn',
    REDIS_URL: services.redisUrl,
    MONGODB_URI: mongodbUri,
    QUEUE_PREFIX: `if${stamp}`,
    PROVIDER_CONCURRENCY: viaEnv ? `fal=${N}` : 'fal=999',
    RECONCILE_INTERVAL_SECONDS: '0',
  });
  if (!viaEnv) config.providers.concurrency.fal = N;
  const tally = new LogTally();
  const logger = pino({ level: 'warn' }, tally);
  const provider = new FalProvider({
    apiUrl: backend.url,
    apiKey: key,
    // Hosted-backend policy, with the loopback fake exempted by host:port as the tests do.
    download: {
      maxBytes: config.providers.outputMaxBytes,
      allowPrivate: false,
      allowHosts: [backend.host],
    },
  });
  const catalog = Catalog.fromEntries([
    {
      id: MODEL,
      name: MODEL,
      provider: 'fal',
      ref: 'fal-ai/slow-bench',
      kind: 'image',
      capabilities: { negativePrompt: false },
      limits: { maxWidth: 64, maxHeight: 64 },
      defaults: { width: 64, height: 64, steps: 4 },
      price: { perImage: 1 },
      timeoutSeconds: 180,
    },
  ]);
  const app: App = await createApp(config, logger, {
    catalog,
    providers: new ProviderRegistry([provider]),
  });

  const submittedAt = new Map<string, number>();
  const workerDoneAt = new Map<string, number>();
  const workerFailed = new Map<string, string>();
  const delivered = new Map<string, number[]>();
  const promptToId = new Map<string, string>();
  let deliveredNotCompleted = 0;
  let progressShown = 0;
  let lastDeliveryAt = 0;
  const samples: Sample[] = [];
  const probes: Probe[] = [];
  const loop = monitorEventLoopDelay({ resolution: 10 });
  // Garbage collections during the run, by kind, and the time they paused the thread.
  const gc = { minor: 0, major: 0, other: 0, pauseMs: 0 };
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) gc.minor += 1;
      else if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) gc.major += 1;
      else gc.other += 1;
      gc.pauseMs += entry.duration;
    }
  });
  let sampler: NodeJS.Timeout | undefined;
  const events = app.queues.events('fal');
  try {
    // When the worker finished each job: the time in the stream id of its event.
    const streamMs = (id: string): number => Number(id.split('-')[0]);
    events.on('completed', ({ jobId }, id) => {
      if (!workerDoneAt.has(jobId)) workerDoneAt.set(jobId, streamMs(id));
    });
    events.on('failed', ({ jobId, failedReason }) => {
      workerFailed.set(jobId, failedReason);
    });
    await events.waitUntilReady();

    const sink: DeliverySink = {
      platform: 'telegram',
      showProgress: async () => {
        progressShown += 1;
      },
      deliver: async (_origin, generation) => {
        const at = now();
        lastDeliveryAt = at;
        const list = delivered.get(generation.id) ?? [];
        list.push(at);
        delivered.set(generation.id, list);
        if (generation.status !== 'completed') deliveredNotCompleted += 1;
      },
    };

    await fundMembers(app, MEMBERS, N, 'inflight-fund');
    await app.startDelivery([sink]);
    await app.startWorkers();
    log(
      `one process: ${MEMBERS} accounts funded, fal workers (concurrency ${N}) and delivery started`,
    );

    // Settle, then the memory before any generation.
    global.gc?.();
    await sleep(1000);
    const { rss: baselineRss, heapUsed: baselineHeap } = process.memoryUsage();
    const sample = (): void => {
      const m = process.memoryUsage();
      const old = getHeapSpaceStatistics().find((x) => x.space_name === 'old_space');
      samples.push({
        at: now(),
        rss: m.rss,
        heapUsed: m.heapUsed,
        heapTotal: m.heapTotal,
        oldSpaceUsed: old?.space_used_size ?? 0,
        external: m.external,
        inFlight: submittedAt.size - workerDoneAt.size - workerFailed.size,
      });
    };
    sample();
    sampler = setInterval(sample, 1000);
    let lastLog = 0;
    const ticker = setInterval(() => {
      const last = samples.at(-1);
      if (!last || last.at - lastLog < 4500) return;
      lastLog = last.at;
      if (GC_PROBE && global.gc) {
        global.gc();
        const m = process.memoryUsage();
        probes.push({ heapUsed: m.heapUsed, rss: m.rss, inFlight: last.inFlight });
      }
      log(
        `submitted ${submittedAt.size}/${N}, finished ${workerDoneAt.size + workerFailed.size}, delivered ${delivered.size}, in flight ${last.inFlight}, rss ${mb(last.rss)}`,
      );
    }, 1000);
    loop.enable();
    gcObserver.observe({ entryTypes: ['gc'] });
    const load0 = loadavg()[0] ?? 0;
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();

    // --- submit N
    const submitLatencies: number[] = [];
    let failedSubmits = 0;
    let issued = 0;
    let lastSubmitError = '';
    const firstSubmitAt = now();
    await Promise.all(
      Array.from({ length: Math.min(SUBMITTERS, N) }, async () => {
        while (issued < N) {
          const i = issued;
          issued += 1;
          const member = `m${i % MEMBERS}`;
          const prompt = `inflight ${i}`;
          const at = now();
          try {
            const { generation } = await app.generations.submit({
              requester: {
                identity: { platform: 'console', id: member },
                displayName: member,
                isModerator: false,
              },
              invocationKey: `inflight:${stamp}:${i}`,
              origin: { platform: 'telegram', chatId: 1000 + i, messageId: 1 + i },
              request: { prompt, seed: i, model: MODEL },
            });
            const done = now();
            submittedAt.set(generation.id, done);
            promptToId.set(prompt, generation.id);
            submitLatencies.push(done - at);
          } catch (error) {
            failedSubmits += 1;
            lastSubmitError = error instanceof Error ? error.message : String(error);
          }
        }
      }),
    );
    const lastSubmitAt = now();
    const submitMs = lastSubmitAt - firstSubmitAt;
    log(
      `submitted ${submittedAt.size}/${N} in ${s(submitMs)}${failedSubmits > 0 ? `; ${failedSubmits} failed: ${lastSubmitError}` : ''}`,
    );

    // --- wait: every one finished (by the worker) and delivered, within the caps
    let timedOut: string | undefined;
    const submitted = submittedAt.size;
    const finishDeadline = now() + MAX_MS + 120_000;
    while (workerDoneAt.size + workerFailed.size < submitted) {
      if (now() > finishDeadline) {
        timedOut = `only ${workerDoneAt.size + workerFailed.size}/${submitted} finished ${s(MAX_MS + 120_000)} after the last submit`;
        break;
      }
      await sleep(100);
    }
    if (!timedOut) log(`all ${submitted} finished by the worker`);
    const deliveryDeadline = now() + DELIVERY_CAP_MS;
    while (delivered.size < workerDoneAt.size) {
      if (now() > deliveryDeadline) {
        timedOut ??= `only ${delivered.size}/${workerDoneAt.size} delivered ${s(DELIVERY_CAP_MS)} after the last finish`;
        break;
      }
      await sleep(50);
    }
    // A second delivery of any would come soon after the first: watch a little longer.
    await sleep(DUPLICATE_WATCH_MS);
    const wallMs = lastDeliveryAt > 0 ? lastDeliveryAt - firstSubmitAt : performance.now() - wall0;
    const cpu = process.cpuUsage(cpu0);
    loop.disable();
    gcObserver.disconnect();
    clearInterval(ticker);
    clearInterval(sampler);
    sampler = undefined;
    sample();
    log(`delivered ${delivered.size}; collecting figures`);

    const completedInStore = await app.collections.Generation.countDocuments({
      _id: { $in: [...submittedAt.keys()] },
      status: 'completed',
    });
    const backendStats = await backend.stats();
    return {
      n: N,
      concurrency: config.providers.concurrency.fal ?? 0,
      concurrencyVia: viaEnv
        ? `PROVIDER_CONCURRENCY=fal=${N}`
        : `config.providers.concurrency.fal = ${N} (PROVIDER_CONCURRENCY takes at most 999)`,
      baselineRss,
      baselineHeap,
      samples,
      submitMs,
      submitLatencies,
      failedSubmits,
      firstSubmitAt,
      lastSubmitAt,
      submittedAt,
      workerDoneAt,
      workerFailed,
      delivered,
      deliveredNotCompleted,
      progressShown,
      backend: backendStats,
      promptToId,
      completedInStore,
      cpuMs: (cpu.user + cpu.system) / 1000,
      wallMs,
      loopDelayP99Ms: loop.percentile(99) / 1e6,
      loopDelayMaxMs: loop.max / 1e6,
      gc,
      logs: tally.counts,
      timedOut,
      probes,
      load: [load0, loadavg()[0] ?? 0],
    };
  } finally {
    clearInterval(sampler);
    loop.disable();
    await events.close().catch(() => undefined);
    // Only where the servers are not ours to throw away (REDIS_URL / MONGODB_URI given).
    if (process.env.MONGODB_URI) await app.conn.dropDatabase().catch(() => undefined);
    await app.close();
  }
}

function report(m: Measured): { text: string; failures: string[] } {
  const failures: string[] = [];
  const ids = [...m.submittedAt.keys()];
  // The backend's end of each generation, by the prompt it was submitted with.
  const remoteDone = new Map<string, number>();
  const remoteSpan: { start: number; end: number }[] = [];
  for (const job of m.backend.jobs) {
    const id = m.promptToId.get(job.prompt);
    if (id && !remoteDone.has(id)) remoteDone.set(id, job.doneAt);
    remoteSpan.push({ start: job.submittedAt, end: job.doneAt });
  }
  const inFlight = ids.map((id) => ({
    start: m.submittedAt.get(id) ?? 0,
    end: m.workerDoneAt.get(id) ?? Number.POSITIVE_INFINITY,
  }));
  const peakInFlight = peakOverlap(inFlight);
  const peakAtBackend = peakOverlap(remoteSpan);
  const peakRss = Math.max(...m.samples.map((x) => x.rss));
  const atPeak = m.samples.find((x) => x.rss === peakRss);
  const peakHeap = Math.max(...m.samples.map((x) => x.heapUsed));
  const peakExternal = Math.max(...m.samples.map((x) => x.external));

  const deliveredOnce = ids.filter((id) => m.delivered.get(id)?.length === 1).length;
  const duplicates = ids.filter((id) => (m.delivered.get(id)?.length ?? 0) > 1).length;
  const missing = ids.filter((id) => !m.delivered.has(id));
  const firstDeliveries = ids.flatMap((id) => m.delivered.get(id)?.[0] ?? []);
  const lastDelivery = Math.max(...firstDeliveries);
  const firstDelivery = Math.min(...firstDeliveries);
  const remoteTimes = ids.flatMap((id) => remoteDone.get(id) ?? []);
  const workerTimes = ids.flatMap((id) => m.workerDoneAt.get(id) ?? []);
  const lastRemote = Math.max(...remoteTimes);
  const firstRemote = Math.min(...remoteTimes);
  const lastWorker = Math.max(...workerTimes);
  const lags = ids.flatMap((id) => {
    const d = m.delivered.get(id)?.[0];
    const r = remoteDone.get(id);
    return d !== undefined && r !== undefined ? [d - r] : [];
  });
  const workerLags = ids.flatMap((id) => {
    const d = m.delivered.get(id)?.[0];
    const w = m.workerDoneAt.get(id);
    return d !== undefined && w !== undefined ? [d - w] : [];
  });
  const afterLastRemote = lastDelivery - lastRemote;
  const afterLastWorker = lastDelivery - lastWorker;
  const deliveriesPerS = firstDeliveries.length / ((lastDelivery - firstDelivery) / 1000);
  const doneSpanS = (lastRemote - firstRemote) / 1000;
  const req = m.backend.requests;
  const polls = req.status / Math.max(1, m.backend.jobs.length);
  const cores = (m.cpuMs / m.wallMs) * 100;

  const rows: [string, string][] = [
    ['generations submitted / asked', `${int(m.submittedAt.size)} / ${int(m.n)}`],
    ['process', 'one: provider workers + delivery consumer + submitter (role `all`)'],
    [
      'machine',
      `${availableParallelism()} cores, Node ${process.version}; 1-min load average ${m.load[0].toFixed(1)} at the first submit, ${m.load[1].toFixed(1)} at the end`,
    ],
    ['fal worker concurrency', `${int(m.concurrency)} (${m.concurrencyVia}), no rate limit`],
    [
      'time to submit all (50 concurrent submitters)',
      `${s(m.submitMs)} (${(m.submittedAt.size / (m.submitMs / 1000)).toFixed(0)}/s; latency p50 ${quantile(m.submitLatencies, 0.5).toFixed(0)} ms, p99 ${quantile(m.submitLatencies, 0.99).toFixed(0)} ms)`,
    ],
    [
      'peak in flight (submitted, not finished by the worker)',
      `${int(peakInFlight)} (running at the backend at once: ${int(peakAtBackend)})`,
    ],
    [
      'peak RSS (sampled every 1 s)',
      `${mb(peakRss)} (${mb(m.baselineRss)} before the first submit; +${mb(peakRss - m.baselineRss)}; ${((peakRss - m.baselineRss) / 1024 / Math.max(1, peakInFlight)).toFixed(0)} KB per generation in flight)`,
    ],
    ['peak heap used / external', `${mb(peakHeap)} / ${mb(peakExternal)}`],
    [
      'at the peak-RSS sample',
      atPeak
        ? `heap committed ${mb(atPeak.heapTotal)} (used ${mb(atPeak.heapUsed)}, old space ${mb(atPeak.oldSpaceUsed)}), external ${mb(atPeak.external)}, the rest ${mb(atPeak.rss - atPeak.heapTotal - atPeak.external)} (code, stacks, libvips, malloc arenas); ${int(atPeak.inFlight)} in flight`
        : '-',
    ],
    [
      'garbage collections during the run',
      `${int(m.gc.minor)} minor, ${int(m.gc.major)} major, ${int(m.gc.other)} other; ${s(m.gc.pauseMs)} paused`,
    ],
    ['fake backend process peak RSS (not counted)', mb(m.backend.peakRss)],
    [
      'time until all finished (first submit to last worker finish)',
      workerTimes.length > 0 ? s(lastWorker - m.firstSubmitAt) : '-',
    ],
    [
      'backend finishes spread over',
      doneSpanS < 0.5
        ? `${doneSpanS.toFixed(1)} s (all at once)`
        : `${doneSpanS.toFixed(1)} s (${(remoteTimes.length / doneSpanS).toFixed(1)} finishes/s)`,
    ],
    [
      'last finish (backend) to last delivery',
      `${s(afterLastRemote)} (from the last worker finish: ${afterLastWorker.toFixed(0)} ms)`,
    ],
    [
      'finish (backend) to delivery, per generation',
      `p50 ${s(quantile(lags, 0.5))}, p95 ${s(quantile(lags, 0.95))}, max ${s(Math.max(...lags))} (worker finish to delivery: p50 ${quantile(workerLags, 0.5).toFixed(0)} ms, max ${Math.max(...workerLags).toFixed(0)} ms; negative: the delivery is queued inside the worker's finish, before its job's \`completed\` event)`,
    ],
    [
      'deliveries/s (first to last delivery)',
      doneSpanS < 0.5
        ? `${deliveriesPerS.toFixed(1)} (every result ready at once)`
        : `${deliveriesPerS.toFixed(1)} (bounded by the finishes/s above)`,
    ],
    [
      'delivered exactly once',
      `${int(deliveredOnce)} / ${int(m.submittedAt.size)} (twice or more: ${duplicates}, never: ${missing.length}, not completed: ${m.deliveredNotCompleted})`,
    ],
    [
      'worker: completed / failed; completed in MongoDB',
      `${int(m.workerDoneAt.size)} / ${int(m.workerFailed.size)}; ${int(m.completedInStore)}`,
    ],
    [
      'backend requests',
      `${int(req.submit)} submits, ${int(req.status)} polls (${polls.toFixed(1)} per generation), ${int(req.result)} results, ${int(req.file)} downloads, ${req.cancel} cancels, ${req.denied} refused; peak ${int(m.backend.peakConnections)} connections`,
    ],
    ['progress updates shown (no-op)', int(m.progressShown)],
    [
      'CPU of this process',
      `${s(m.cpuMs)} over ${s(m.wallMs)} (${cores.toFixed(0)}% of one core); event-loop delay p99 ${m.loopDelayP99Ms.toFixed(0)} ms, max ${m.loopDelayMaxMs.toFixed(0)} ms`,
    ],
  ];
  if (m.probes.length > 0) {
    const top = m.probes.reduce((a, b) => (b.heapUsed > a.heapUsed ? b : a));
    rows.push([
      'gc probe: largest heap surviving a forced full GC',
      `${mb(top.heapUsed)} with ${int(top.inFlight)} in flight (${mb(m.baselineHeap)} before the first submit: ${((top.heapUsed - m.baselineHeap) / 1024 / Math.max(1, top.inFlight)).toFixed(0)} KB live per generation; RSS then ${mb(top.rss)}); forced GCs change RSS, so the targets are judged on runs without the probe`,
    ]);
  }
  const logLines = [...m.logs.entries()].map(([k, v]) => `${v}x ${k}`);
  if (logLines.length > 0) rows.push(['app warnings/errors logged', logLines.join('; ')]);

  if (m.timedOut) failures.push(m.timedOut);
  if (m.failedSubmits > 0) failures.push(`${m.failedSubmits} submits failed`);
  if (m.workerFailed.size > 0) {
    const reasons = [...new Set(m.workerFailed.values())].slice(0, 3).join('; ');
    failures.push(`${m.workerFailed.size} generations failed (${reasons})`);
  }
  const everyOne = deliveredOnce === m.n && duplicates === 0 && m.deliveredNotCompleted === 0;
  if (!everyOne)
    failures.push(
      `not every generation was delivered exactly once (${deliveredOnce}/${m.n} once, ${duplicates} twice or more, ${missing.length} never${missing.length > 0 ? `, e.g. ${missing.slice(0, 3).join(', ')}` : ''}, ${m.deliveredNotCompleted} not completed)`,
    );

  const verdicts: string[] = [];
  const t1 = peakInFlight >= m.n && peakRss < RSS_LIMIT_MB * 1024 * 1024 && everyOne;
  const t1Why = [
    peakInFlight >= m.n ? undefined : `peak in flight ${peakInFlight} < ${m.n}`,
    peakRss < RSS_LIMIT_MB * 1024 * 1024 ? undefined : `peak RSS ${mb(peakRss)} >= 500 MB`,
    everyOne ? undefined : 'not every one delivered exactly once',
  ].filter((x) => x !== undefined);
  verdicts.push(
    `Target 1 (${int(m.n)} in flight in one worker process under ${RSS_LIMIT_MB} MB RSS, every one delivered${m.n === TARGET_1_N ? '' : `; the issue says ${int(TARGET_1_N)}`}): ${t1 ? 'MET' : 'MISSED'} - peak ${int(peakInFlight)} in flight, peak RSS ${mb(peakRss)}, ${int(deliveredOnce)}/${int(m.n)} delivered exactly once${t1Why.length > 0 ? ` (${t1Why.join('; ')})` : ''}.`,
  );
  if (!t1) failures.push(`target 1 missed: ${t1Why.join('; ')}`);
  const t2 = everyOne && afterLastRemote <= DELIVERY_LIMIT_S * 1000;
  verdicts.push(
    `Target 2 (${int(m.n)} finished remote generations delivered within ${DELIVERY_LIMIT_S} s of the last one finishing${m.n === TARGET_2_N ? '' : `; the issue says ${int(TARGET_2_N)}`}): ${t2 ? 'MET' : 'MISSED'} - last delivery ${s(afterLastRemote)} after the last finish at the backend (${afterLastWorker.toFixed(0)} ms after the worker's job completed), ${deliveriesPerS.toFixed(1)} deliveries/s.`,
  );
  if (!t2)
    failures.push(
      `target 2 missed: ${everyOne ? `last delivery ${s(afterLastRemote)} after the last finish` : 'not every one delivered'}`,
    );

  const text = [
    `## In-flight remote generations (N = ${int(m.n)}, jobs ${BURST ? `ending together ${MAX_MS / 1000} s after the start` : `${MIN_MS / 1000}-${MAX_MS / 1000} s`} at a loopback fal-like fake)`,
    '',
    '| figure | value |',
    '| --- | --- |',
    ...rows.map(([k, v]) => `| ${k} | ${v.replace(/\|/g, '\\|')} |`),
    '',
    ...verdicts,
  ].join('\n');
  return { text, failures };
}

const services = await provisionServices({
  env: process.env,
  mode: 'ephemeral',
  log: (line) => log(line),
});
let backend: SlowBackendHandle | undefined;
let stopping = false;
const stop = async (code: number): Promise<never> => {
  if (!stopping) {
    stopping = true;
    await backend?.stop().catch(() => undefined);
    await services.stop();
  }
  process.exit(code);
};
// Interrupted (Ctrl-C, a timeout): the servers and the backend this run started go with it.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.once(signal, () => void stop(130));
try {
  // A key for this run only, so the provider's auth header is real; it is never printed.
  const key = randomBytes(16).toString('hex');
  backend = await forkSlowBackend({
    minMs: MIN_MS,
    maxMs: MAX_MS,
    key,
    endAt: BURST ? now() + MAX_MS : undefined,
  });
  log(
    `fake fal backend on ${backend.url} (pid ${backend.pid}, jobs take ${MIN_MS / 1000}-${MAX_MS / 1000} s${BURST ? '; burst: all end together' : ''})`,
  );
  const measured = await run(services, backend, key);
  const { text, failures } = report(measured);
  console.log(text);
  if (failures.length > 0) {
    for (const failure of failures) log(`FAILED: ${failure}`);
    log('stopping the backend and the servers');
    await stop(1);
  }
  log('done; stopping the backend and the servers');
  await stop(0);
} catch (error) {
  console.error(error);
  await stop(1);
}
