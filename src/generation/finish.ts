import type { GenerationError, StoredOutput, FailedOutput } from '../core/outputs.js';
import { captureFor } from '../core/pricing.js';
import { isTerminal } from '../core/status.js';
import type { Settlement } from '../economy/ledger.js';
import type { Logger } from '../logger.js';
import { utcDay } from '../queue/member-limits.js';
import type { GenerationDoc } from '../store/collections.js';
import type { RecordedResult, SettleOutcome } from '../store/recorded-result.js';
import type { GenerationContext } from './context.js';
import { knownOf, type KnownGeneration } from './known.js';
import { endedWithoutResult, errorField } from './refusals.js';
import type { EndedSummary, GenerationSummary } from './summary.js';

export interface FinishInput {
  outcome: SettleOutcome;
  outputs?: StoredOutput[] | undefined;
  failedOutputs?: FailedOutput[] | undefined;
  error?: GenerationError | undefined;
  /**
   * The member was already answered by the command itself (a submit that could not be
   * queued): no delivery is queued, so they are not told twice.
   */
  answered?: boolean | undefined;
  /** The worker's attempt that ended it, recorded with the final status. */
  attempt?: number | undefined;
  /** How long the provider ran, for the wait estimates (a completed run only). */
  ranMs?: number | undefined;
  /**
   * The run was stopped (a cancel, the model's time limit) after its backend had started it:
   * it still counts against the member's day, and with `charged` (a backend that cannot stop
   * and bills the run, see `Catalog.chargesStoppedRuns`) its full price is captured.
   */
  stopped?: { charged: boolean } | undefined;
}

/**
 * Ends a generation. The settle entry of its hold is the atomic decision: if a cancel and
 * a finish race, whichever settles first wins, records its result with the settle, and the
 * other adopts that result (its own stored outputs are deleted). Then the result is queued
 * for delivery with the finished generation in it, and the final status is written, one
 * update by `_id` (every writer writes the decided result, so a replay or a loser writes the
 * same thing). `known` is what the caller has already (a worker's job): then nothing is read;
 * without it the generation is read once.
 */
export async function finish(
  ctx: GenerationContext,
  id: string,
  input: FinishInput,
  known?: KnownGeneration,
): Promise<EndedSummary> {
  ctx.waiting.delete(id);
  const facts = known ?? (await readFacts(ctx, id));
  const log = ctx.deps.logger.child({ generationId: id });
  const outputs = input.outputs ?? [];
  const proposed: RecordedResult = {
    outputs,
    failedOutputs: input.failedOutputs ?? [],
    ...errorField(input.error),
  };
  const settlement = await settle(ctx, id, input, facts, proposed);
  ctx.fault('settled', id);
  const outcome = settlement?.outcome ?? input.outcome;
  const result = decidedResult(proposed, input.outcome, outcome, settlement);
  await deleteOrphans(ctx, outputs, result, log);
  const final = endedSummary(facts.summary, outcome, result, settlement?.captured ?? 0);
  // The delivery carries the finished generation, so it goes out before the status is
  // written: a crash between the two leaves a generation that is not terminal yet with its
  // settle entry, which the reconciler finishes (queueing the delivery again is a no-op).
  await endInRedis(ctx, { facts, final, input, seq: settlement?.seq }, log);
  ctx.fault('delivery-queued', id);
  await writeFinalStatus(ctx, id, final, input.attempt, settlement?.at ?? new Date());
  ctx.fault('status-set', id);
  log.info(
    {
      status: final.status,
      captured: final.captured,
      outputs: final.outputs.length,
      failed: final.failedOutputs.length,
    },
    'generation finished',
  );
  return final;
}

async function readFacts(ctx: GenerationContext, id: string): Promise<KnownGeneration> {
  const doc = await ctx.find(id);
  if (!doc) throw new Error(`generation ${id} not found`);
  return knownOf(doc, 'unknown');
}

/** Captures what succeeded and releases the rest: the one decision of how it ended. */
async function settle(
  ctx: GenerationContext,
  id: string,
  input: FinishInput,
  facts: KnownGeneration,
  proposed: RecordedResult,
): Promise<Settlement | undefined> {
  const base = facts.summary;
  const capture =
    input.outcome === 'completed'
      ? captureFor(base.price, proposed.outputs.length, base.count)
      : input.stopped?.charged
        ? base.price
        : 0;
  return ctx.deps.economy.settle({
    holdId: id,
    capture,
    outcome: input.outcome,
    hold: facts.reserved === true ? { accountId: base.accountId, amount: base.price } : undefined,
    after: facts.ledger,
    result: proposed,
  });
}

/**
 * What Redis learns of the end, in one script call: the member's slot is free (a generation
 * that never reached its backend, or failed there, no longer counts today; one stopped after
 * its backend started it does: a cancel is not a way around the daily limit), a completed
 * run's time feeds the wait estimates, the account's ledger hint moves to the settle, and the
 * delivery is queued. Without a delivery a failure is only logged: the reconciler frees the
 * slot. A delivery that could not be queued fails the finish, so it is tried again.
 */
async function endInRedis(
  ctx: GenerationContext,
  end: {
    facts: KnownGeneration;
    final: EndedSummary;
    input: FinishInput;
    seq?: number | undefined;
  },
  log: Logger,
): Promise<void> {
  const { facts, final, input } = end;
  const base = facts.summary;
  const provider = ctx.deps.catalog.find(base.model)?.provider;
  const completed = final.status === 'completed';
  const run =
    completed && input.ranMs !== undefined && provider
      ? { provider, model: base.model, ms: input.ranMs }
      : undefined;
  const delivers = !input.answered && facts.platform !== 'console';
  const call = ctx.deps.limits.end({
    slot: {
      accountId: base.accountId,
      generationId: base.id,
      day: utcDay(Date.parse(base.createdAt)),
    },
    refunded: !completed && input.stopped === undefined,
    run,
    ledgerSeq: end.seq,
    delivery: delivers
      ? { v: 2, generationId: base.id, platform: facts.platform, generation: final }
      : undefined,
  });
  if (delivers) await call;
  else
    await call.catch((e: unknown) =>
      log.warn({ err: e }, 'could not give the slot back; the reconciler will'),
    );
}

/**
 * The result that stands: this finish's own, or, when another finish settled first, the one
 * it recorded (an entry from before results were recorded with the settle falls back to this
 * proposal, or to none). Only a completed generation keeps outputs.
 */
function decidedResult(
  proposed: RecordedResult,
  asked: SettleOutcome,
  outcome: SettleOutcome,
  settlement: Settlement | undefined,
): RecordedResult {
  let result = proposed;
  if (settlement && !settlement.won) {
    if (settlement.result) result = settlement.result;
    else if (outcome !== asked)
      result = { outputs: [], failedOutputs: [], ...errorField(endedWithoutResult(outcome)) };
  }
  return outcome === 'completed' ? result : { ...result, outputs: [] };
}

/** Deletes the stored outputs the decided result does not keep (a lost race, a cancel). */
async function deleteOrphans(
  ctx: GenerationContext,
  outputs: StoredOutput[],
  result: RecordedResult,
  log: Logger,
): Promise<void> {
  const kept = new Set(result.outputs.map((o) => o.fileId));
  const orphans = outputs.filter((o) => !kept.has(o.fileId));
  await Promise.all(
    orphans.map((o) =>
      ctx.deps.media
        .delete(o.fileId)
        .catch((e: unknown) =>
          log.warn({ err: e, fileId: o.fileId }, 'could not delete an unused output'),
        ),
    ),
  );
}

function endedSummary(
  base: GenerationSummary,
  outcome: SettleOutcome,
  result: RecordedResult,
  captured: number,
): EndedSummary {
  const { queuePosition: _position, error: _error, ...rest } = base;
  return {
    ...rest,
    status: outcome,
    captured,
    updatedAt: new Date().toISOString(),
    outputs: result.outputs,
    failedOutputs: result.failedOutputs,
    ...errorField(result.error),
  };
}

/** The final status, by `_id`, stamped with the deciding settle's time (a replay adds nothing). */
async function writeFinalStatus(
  ctx: GenerationContext,
  id: string,
  final: EndedSummary,
  attempt: number | undefined,
  at: Date,
): Promise<void> {
  // Straight to the driver (every finish writes this): the fields are typed, and the
  // timestamp mongoose would add is written here.
  await ctx.deps.collections.direct.generations.updateOne(
    { _id: id },
    {
      $set: {
        status: final.status,
        captured: final.captured,
        outputs: final.outputs,
        failedOutputs: final.failedOutputs,
        // Only the fields the schema keeps (an error may carry more).
        ...(final.error ? { error: { code: final.error.code, message: final.error.message } } : {}),
        ...(attempt !== undefined ? { attempts: attempt } : {}),
        updatedAt: new Date(),
      },
      $unset: { proposed: 1 },
      $addToSet: { statusHistory: { status: final.status, at } },
    },
    { ignoreUndefined: true },
  );
}

/**
 * Finishes a generation from its settle entry (the result recorded with it), or from a
 * proposal an older release recorded; used after a crash between the writes of `finish`.
 */
export async function resumeFinish(
  ctx: GenerationContext,
  id: string,
): Promise<EndedSummary | undefined> {
  const doc = await ctx.find(id);
  if (!doc) return undefined;
  const settlement = await ctx.deps.economy.settlement(id);
  const proposed = doc.proposed;
  if (settlement) {
    return finish(ctx, id, {
      outcome: settlement.outcome,
      ...(settlement.result ??
        (proposed && proposed.outcome === settlement.outcome
          ? proposed
          : errorField(endedWithoutResult(settlement.outcome)))),
    });
  }
  if (proposed) return finish(ctx, id, proposed);
  return finish(ctx, id, {
    outcome: 'failed',
    error: {
      code: 'interrupted',
      message: 'The generation was interrupted. Your points were returned.',
    },
  });
}

/**
 * Finishes a generation whose finish was cut short. Undefined when there was none to
 * resume; `ended` undefined when the generation was gone by the time it was resumed.
 */
export async function resumeIfInterrupted(
  ctx: GenerationContext,
  doc: GenerationDoc,
): Promise<{ ended: EndedSummary | undefined } | undefined> {
  if (isTerminal(doc.status)) return undefined;
  if (doc.proposed === undefined && !(await ctx.deps.economy.settlement(doc._id))) return undefined;
  return { ended: await resumeFinish(ctx, doc._id) };
}
