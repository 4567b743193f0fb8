import { isTerminal } from '../core/status.js';
import type { Economy } from '../economy/ledger.js';
import type { Logger } from '../logger.js';
import type { Job } from 'bullmq';
import type { MemberLimits } from '../queue/member-limits.js';
import type { Queues } from '../queue/queues.js';
import type { GenerationDoc, Collections } from '../store/collections.js';
import type { GenerationService } from './generation-service.js';

/** A generation that was found and has not ended. */
function notEnded(doc: GenerationDoc | undefined): doc is GenerationDoc {
  return doc !== undefined && !isTerminal(doc.status);
}

/** How far back a process's first frequent sweep looks for failed jobs. */
const RECENT_FIRST_WINDOW_MS = 3_600_000;

export interface ReconcileReport {
  /** Generations that never reached the queue and held nothing, failed (nothing to return). */
  abandoned: number;
  /** Generations whose job was lost (a crash mid-submit, Redis data loss), queued again. */
  requeued: number;
  /** Generations whose job failed as stalled (its worker died), given one more run. */
  retried: number;
  /** Generations whose job ended without finishing them, failed with their points returned. */
  failed: number;
  /** Generations whose finish was interrupted, completed from what was recorded. */
  finished: number;
  /** Holds with no generation left, released. */
  orphanHolds: number;
  /** Member slots a crash left taken by a generation that ended or never was, freed. */
  slots: number;
}

/**
 * Repairs what a crash can leave behind between the writes of a generation's life. Only
 * touches things older than `graceMs`, so work another process is doing right now is safe.
 * Runs at start-up and on demand (`npm run cli -- reconcile`).
 */
export class Reconciler {
  constructor(
    private readonly deps: {
      collections: Collections;
      economy: Economy;
      generations: GenerationService;
      queues: Queues;
      limits: MemberLimits;
      logger: Logger;
      /** The providers whose queues the frequent sweep looks at. */
      providers: readonly string[];
    },
  ) {}

  /** The end of the last sweep's window: where the next frequent sweep starts. */
  #sweptTo: number | undefined;

  /**
   * One sweep. `full` (the default; the loop's first sweep, then hourly) reads
   * every generation that has not ended and every open hold of the ledger: that finds a
   * submit cut short before its job existed, or a document lost. `recent` looks only at jobs
   * that failed since the last sweep (a worker that died twice, a finish that threw), by
   * `_id`: it costs nothing while nothing fails, whatever the size of the history. A job
   * BullMQ has failed is not ambiguous, so the frequent sweep does not wait out the grace.
   *
   * `lostAt`: Redis came back without its data at that moment (see `ReconcileLoop`). Every
   * generation not ended from before then is looked at now, not after the grace: its job, its
   * delivery and its slot were lost with the data. Only failing one that never reached the
   * queue still waits out the grace (it may be a submit under way).
   */
  async run(
    graceMs: number,
    options: { scope?: 'full' | 'recent'; lostAt?: number } = {},
  ): Promise<ReconcileReport> {
    const { collections, economy, generations, logger } = this.deps;
    const scope = options.scope ?? 'full';
    const now = Date.now();
    const graceCutoff = new Date(now - graceMs);
    const cutoff = options.lostAt === undefined ? graceCutoff : new Date(options.lostAt);
    const report: ReconcileReport = {
      abandoned: 0,
      requeued: 0,
      retried: 0,
      failed: 0,
      finished: 0,
      orphanHolds: 0,
      slots: 0,
    };

    const from = this.#sweptTo ?? now - RECENT_FIRST_WINDOW_MS;
    this.#sweptTo = Math.max(from, now);
    const stuck =
      scope === 'full' ? await this.#notEnded(cutoff) : await this.#failedRecently(from, now);
    for (const doc of stuck) {
      const log = logger.child({ generationId: doc._id });
      // A job still waiting or running is doing its work: nothing else is looked up for it.
      const job = await this.deps.queues.generation(doc.provider).getJob(doc._id);
      const state = job ? await job.getState() : 'missing';
      if (job && state !== 'completed' && state !== 'failed' && state !== 'unknown') continue;
      const settlement = await economy.settlement(doc._id);
      if (doc.proposed !== undefined || settlement) {
        await generations.resumeFinish(doc._id);
        report.finished += 1;
        log.warn('finished a generation whose finish was interrupted');
        continue;
      }
      if (!job && !(await economy.holdOf(doc._id))) {
        if (doc.updatedAt > graceCutoff) continue;
        // The submit stopped before the hold: nothing is held and nothing runs.
        await generations.finish(doc._id, {
          outcome: 'failed',
          error: {
            code: 'interrupted',
            message: 'The generation was interrupted before it started. Nothing was charged.',
          },
        });
        report.abandoned += 1;
        log.warn('failed a generation that never reached the queue');
        continue;
      }
      const repair = await this.#repairJob(doc, job);
      report[repair] += 1;
      log.warn({ repair }, 'repaired a generation whose job was lost or ended');
    }

    // Holds still open with no generation, or whose generation ended without settling
    // them (a document lost, or one written by an older release).
    for (const hold of scope === 'full' ? await economy.openHolds(cutoff) : []) {
      const doc = await collections.Generation.findById(hold.holdId).lean();
      if (!doc) {
        await economy.settle({
          holdId: hold.holdId,
          capture: 0,
          outcome: 'failed',
          hold: { accountId: hold.accountId, amount: hold.amount },
        });
        report.orphanHolds += 1;
        logger.warn(
          { generationId: hold.holdId, amount: hold.amount },
          'released a hold with no generation',
        );
      } else if (isTerminal(doc.status)) {
        await generations.resumeFinish(doc._id);
        report.finished += 1;
      }
    }
    if (scope === 'full') report.slots = await this.#freeSlots(graceCutoff);
    if (Object.values(report).some((n) => n > 0)) {
      logger.info(report, 'reconciler repaired interrupted work');
    }
    return report;
  }

  /**
   * Member slots taken before `cutoff` whose generation has ended or does not exist (a
   * submit that stopped before its document, a release that failed): given back, so a
   * member is never kept at their limit by work that is over.
   */
  async #freeSlots(cutoff: Date): Promise<number> {
    const { limits, collections, logger } = this.deps;
    let freed = 0;
    for (const slot of await limits.heldBefore(cutoff.getTime())) {
      const doc = await collections.Generation.findById(slot.generationId, { status: 1 }).lean();
      if (doc && !isTerminal(doc.status)) continue;
      await limits.release(slot, doc?.status !== 'completed');
      freed += 1;
      logger.info({ generationId: slot.generationId }, 'freed a member slot left taken');
    }
    return freed;
  }

  /**
   * Generations not ended, older than `cutoff`: ids first (the embedded server reads the
   * collection either way; only the few that match travel in full), then each by `_id`.
   */
  async #notEnded(cutoff: Date): Promise<GenerationDoc[]> {
    const ids = await this.deps.collections.Generation.find(
      { status: { $in: ['pending', 'queued', 'processing'] }, updatedAt: { $lte: cutoff } },
      { _id: 1 },
    ).lean();
    return this.#readEach(ids.map((d) => d._id));
  }

  /** Generations not ended whose job failed in (from, to]: one `_id` read per failed job. */
  async #failedRecently(from: number, to: number): Promise<GenerationDoc[]> {
    const ids = new Set<string>();
    for (const provider of this.deps.providers)
      for (const id of await this.deps.queues.failedBetween(provider, from, to)) ids.add(id);
    return this.#readEach([...ids]);
  }

  /**
   * The generations not ended among `ids`. One that cannot be read (a damaged document) is
   * logged and left out, so it does not keep every other one from being repaired.
   */
  async #readEach(ids: string[]): Promise<GenerationDoc[]> {
    const docs = await Promise.all(
      ids.map((id) =>
        this.deps.generations.find(id).catch((error: unknown) => {
          this.deps.logger.error({ err: error, generationId: id }, 'cannot read a generation');
          return undefined;
        }),
      ),
    );
    return docs.filter(notEnded);
  }

  /**
   * A queued, running or half-submitted generation whose job is not doing its work: queued
   * again when the job is gone (its hold is valid: the points are held for it), run once more
   * when the job failed as stalled (its worker died twice), else failed with its points back.
   */
  async #repairJob(
    doc: GenerationDoc,
    job: Job | undefined,
  ): Promise<'requeued' | 'retried' | 'failed'> {
    const { generations, collections } = this.deps;
    if (job) {
      if (
        (await job.getState()) === 'failed' &&
        /stalled/i.test(job.failedReason) &&
        (doc.stallRetries ?? 0) < 1
      ) {
        await collections.Generation.updateOne({ _id: doc._id }, { $inc: { stallRetries: 1 } });
        await job.retry('failed');
        return 'retried';
      }
      // The job ended but the generation did not: its worker died inside finish, or it
      // stalled again after its extra run.
      await generations.finish(doc._id, {
        outcome: 'failed',
        error: {
          code: 'interrupted',
          message:
            'The generation was interrupted (its worker stopped). Your points were returned.',
        },
      });
      return 'failed';
    }
    await generations.requeue(doc);
    return 'requeued';
  }
}
