import { assertTransition, isTerminal, type GenerationStatus } from '../core/status.js';
import type { GenerationDoc } from '../store/collections.js';
import type { GenerationContext } from './context.js';
import { jobOf, knownOf } from './known.js';

/**
 * Writes a status that is not a final one, by `_id` alone (the only filter the embedded
 * server answers from an index), after checking the move against the status table with the
 * status the writer knows it moves from: no read and no guarded filter. A final status is only
 * ever written by `finish`, after the ledger decided it.
 */
async function setStatus(
  ctx: GenerationContext,
  id: string,
  move: { from: GenerationStatus; to: GenerationStatus },
  set: Record<string, unknown> = {},
  note?: string,
): Promise<void> {
  assertTransition(move.from, move.to);
  const entry: Record<string, unknown> = { status: move.to, at: new Date() };
  if (note) entry.note = note;
  await ctx.deps.collections.Generation.updateOne(
    { _id: id },
    { $set: { status: move.to, ...set }, $push: { statusHistory: entry } },
  );
}

/**
 * Marks a generation as running (for /history and the reconciler's report), once it has
 * run long enough for anyone to look: an instant job ends before it would be seen.
 */
export async function markProcessing(
  ctx: GenerationContext,
  id: string,
  attempt: number,
  from: GenerationStatus,
): Promise<void> {
  await setStatus(
    ctx,
    id,
    { from, to: 'processing' },
    { attempts: attempt },
    attempt > 1 ? `attempt ${attempt}` : undefined,
  );
}

/** A retryable failure: back to queued until the backoff ends. */
export async function markRetrying(
  ctx: GenerationContext,
  id: string,
  reason: string,
  from: GenerationStatus,
): Promise<void> {
  await setStatus(ctx, id, { from, to: 'queued' }, {}, `retrying: ${reason}`);
}

/**
 * Queues a generation again whose job was lost (a crash between hold and enqueue, or Redis
 * lost its data). Its points are still held, so it runs as paid for; adding the job is a
 * no-op if it exists after all.
 */
export async function requeue(ctx: GenerationContext, doc: GenerationDoc): Promise<void> {
  if (doc.status !== 'queued')
    await setStatus(ctx, doc._id, { from: doc.status, to: 'queued' }, {}, 'requeued');
  await ctx.deps.queues.enqueueGeneration(jobOf(doc));
}

/**
 * Queues the delivery of a generation that has ended (again: the delivery's marker makes it
 * a no-op for a day), for a worker that died between the final status and this. False:
 * nothing was queued (one was already, or it gave up, or the console follows its own).
 */
export async function redeliver(ctx: GenerationContext, doc: GenerationDoc): Promise<boolean> {
  if (!isTerminal(doc.status) || doc.deliveredAt || doc.deliveryFailedAt) return false;
  const { platform, summary } = knownOf(doc);
  return ctx.deps.queues.enqueueDelivery({
    v: 2,
    generationId: doc._id,
    platform,
    generation: summary,
  });
}

/** Delivery gave up after its tries; the reconciler leaves it alone from now on. */
export async function markDeliveryFailed(ctx: GenerationContext, id: string): Promise<void> {
  await ctx.deps.collections.Generation.updateOne(
    { _id: id },
    { $set: { deliveryFailedAt: new Date() } },
  );
}
