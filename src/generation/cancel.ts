import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../core/errors.js';
import type { GenerationSummary } from '../core/outputs.js';
import { isTerminal } from '../core/status.js';
import type { GenerationDoc } from '../store/collections.js';
import type { GenerationContext } from './context.js';
import { finish, type FinishInput } from './finish.js';
import { knownOf } from './known.js';
import { endedWithoutResult, errorField, notYours } from './refusals.js';
import { summarize } from './summary.js';

/** The generation by `_id`, or a refusal the member reads. */
export async function summaryOf(ctx: GenerationContext, id: string): Promise<GenerationSummary> {
  const doc = await ctx.find(id);
  if (!doc) throw new UserError('not_found', `There is no generation ${id}.`);
  return summarize(doc);
}

/**
 * Cancels a generation of the member's (moderators may cancel anyone's). A queued job is
 * removed and its points released at once; a running one is aborted through the cancel
 * bus and its worker finishes it as cancelled.
 */
export async function cancel(
  ctx: GenerationContext,
  id: string,
  by: { accountId: string | undefined; isModerator: boolean },
  options: { acceptCharge?: boolean } = {},
): Promise<GenerationSummary> {
  const doc = await cancellable(ctx, id, by);
  const job = await ctx.deps.queues.generation(doc.provider).getJob(id);
  const state = job ? await job.getState() : 'missing';
  const waiting =
    state === 'waiting' ||
    state === 'delayed' ||
    state === 'prioritized' ||
    state === 'waiting-children';
  if (state === 'active' && !options.acceptCharge) refuseUnconfirmed(ctx, doc);
  await ctx.deps.collections.Generation.updateOne({ _id: id }, { $set: { cancelRequested: true } });
  const cancelled: FinishInput = {
    outcome: 'cancelled',
    ...errorField(endedWithoutResult('cancelled')),
  };
  if (job) {
    // A job is added only after its hold: the points are held.
    if (waiting) {
      if (await removed(ctx, id, () => job.remove()))
        return finish(ctx, id, cancelled, knownOf(doc, true));
      // A worker took it meanwhile: it is running now.
      if (!options.acceptCharge) refuseUnconfirmed(ctx, doc);
    }
  } else if (doc.status === 'queued') {
    // No job (the reconciler would re-add it): nothing runs, so cancel right here.
    return finish(ctx, id, cancelled, knownOf(doc, 'unknown'));
  }
  await ctx.deps.cancelBus.publish(id);
  return summaryOf(ctx, id);
}

/**
 * A running generation on a backend that cannot stop it is charged in full when cancelled:
 * the member hears that first, and cancels only once they say so (`acceptCharge`).
 */
function refuseUnconfirmed(ctx: GenerationContext, doc: GenerationDoc): void {
  if (!ctx.deps.catalog.chargesStoppedRuns(doc.model)) return;
  throw new UserError(
    'confirm_charge',
    `${doc._id} is already running on a backend that cannot stop it: cancelling now still costs its ${doc.price} points. Cancel anyway to stop it.`,
    { details: { generationId: doc._id, price: doc.price } },
  );
}

/** The generation, when it exists, is the caller's (or they moderate) and has not ended. */
async function cancellable(
  ctx: GenerationContext,
  id: string,
  by: { accountId: string | undefined; isModerator: boolean },
): Promise<GenerationDoc> {
  const doc = await ctx.find(id);
  if (!doc) {
    throw new UserError(
      'not_found',
      `There is no generation with the id ${id}. See /history for yours.`,
    );
  }
  if (doc.accountId !== by.accountId && !by.isModerator) {
    throw notYours(summarize(doc), 'cancel', true);
  }
  if (isTerminal(doc.status)) {
    throw new UserError(
      'already_finished',
      `Generation ${id} has already ${doc.status === 'cancelled' ? 'been cancelled' : 'finished'} (${doc.status}).`,
    );
  }
  return doc;
}

/** Removes a waiting job; false when a worker took it meanwhile (it is locked): abort it then. */
async function removed(
  ctx: GenerationContext,
  id: string,
  remove: () => Promise<unknown>,
): Promise<boolean> {
  try {
    await remove();
    return true;
  } catch (error) {
    ctx.deps.logger.debug(
      { err: error, generationId: id },
      'queued job was taken by a worker; aborting it',
    );
    return false;
  }
}

/**
 * The generation once it has ended, or as it stands after `attempts` looks `intervalMs`
 * apart: a cancel of a running job waits briefly for the worker's real outcome, so the
 * member is told what happened instead of a promise.
 */
export async function awaitEnd(
  ctx: GenerationContext,
  id: string,
  attempts = 15,
  intervalMs = 200,
): Promise<GenerationSummary> {
  let current = await summaryOf(ctx, id);
  for (let i = 1; i < attempts && !isTerminal(current.status); i += 1) {
    await sleep(intervalMs);
    current = await summaryOf(ctx, id);
  }
  return current;
}
