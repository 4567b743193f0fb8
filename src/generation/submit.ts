import { createHash } from 'node:crypto';
import type { Actor, LegacyInvocation } from '../core/chat.js';
import { UserError } from '../core/errors.js';
import type { GenerationRequest } from '../core/generation-request.js';
import { identityKey } from '../core/identity.js';
import type { Origin } from '../core/origin.js';
import type { GenerationSummary } from '../core/outputs.js';
import type { PreparedRequest } from '../core/prepared-request.js';
import { clip, oneLine } from '../core/text.js';
import { notEnoughPoints, type Head } from '../economy/ledger.js';
import type { MemberLimits } from '../queue/member-limits.js';
import type { GenerationDoc, StoredGeneration } from '../store/collections.js';
import { isDuplicateKey } from '../store/server-errors.js';
import type { GenerationContext } from './context.js';
import { finish } from './finish.js';
import { jobOf, platformOf, type KnownGeneration } from './known.js';
import { limitRefusal } from './refusals.js';
import { summarize } from './summary.js';

/** Who asks, for which platform event, and where the answer goes: everything but the request. */
export interface SubmitFrom {
  /** The member asking for it (the invocation's actor). */
  requester: Actor;
  /** Unique per platform event: a redelivered event has the same key. */
  invocationKey: string;
  /**
   * Keys an older release derived for the same event. A redelivered event that an older
   * release already submitted must find that generation, not start a second one; one made
   * before `notBefore` is another event's that happened to get the same old key.
   */
  legacyInvocation?: LegacyInvocation | undefined;
  /** Where to deliver progress and the result. */
  origin: Origin;
}

export interface Submitted {
  generation: GenerationSummary;
  /** The same event was submitted before: this is that generation. */
  duplicate: boolean;
}

/**
 * Submits a prepared request: inserts the generation (the duplicate check), takes the
 * member's slot, holds the points and queues the job. A refusal leaves nothing behind; a
 * failure after the hold ends the generation at once with the points back.
 */
export async function submitPrepared(
  ctx: GenerationContext,
  from: SubmitFrom,
  prepared: PreparedRequest,
): Promise<Submitted> {
  const id = ctx.deps.ids.idFor(from.invocationKey);
  const requestHash = fingerprint(prepared.asked);
  const earlier = await legacyDuplicate(ctx, from, requestHash);
  if (earlier) return earlier;
  const accountId = await payingAccount(ctx, from.requester, prepared.price);
  const inserted = await insertGeneration(ctx, { id, accountId, requestHash, from, prepared });
  if ('duplicate' in inserted) return inserted;
  ctx.fault('generation-inserted', id);
  const summary = summarize(inserted);
  const slot = await takeSlot(ctx, inserted, from);
  const ledger = await hold(ctx, inserted, slot);
  ctx.fault('reserved', id);
  // From here on the points are held: any failure ends the generation at once, so the
  // member is told the truth and gets the points back (the reconciler covers a crash).
  try {
    // Fair ordering: a member's k-th open job waits behind every other member's earlier
    // ones (BullMQ runs lower priorities first, in order of arrival within one).
    // A priority member's job goes to the front of the plain wait list: before everyone's.
    const first = goesFirst(ctx, from.requester);
    await ctx.deps.queues.enqueueGeneration(
      jobOf(inserted, ledger),
      first ? { lifo: true } : { priority: fairPriority(slot.rank) },
    );
  } catch (error) {
    throw await unqueued(ctx, summary, from.origin, true, error);
  }
  ctx.fault('enqueued', id);
  ctx.cards.set(id, { origin: from.origin, summary });
  ctx.waiting.set(id, { provider: prepared.model.provider, model: prepared.model.id });
  ctx.deps.logger.info(
    { generationId: id, model: prepared.model.id, price: prepared.price },
    'generation queued',
  );
  return { generation: summary, duplicate: false };
}

/**
 * The generation an older release made for this same event, if it did: under one of the keys
 * it derived, or under this key's unkeyed id (releases before 0.2). Asked only for an event
 * from before this process started (`legacyInvocation`), the one an older release may have
 * seen.
 */
async function legacyDuplicate(
  ctx: GenerationContext,
  from: SubmitFrom,
  requestHash: string,
): Promise<Submitted | undefined> {
  const legacy = from.legacyInvocation;
  if (!legacy) return undefined;
  for (const key of [from.invocationKey, ...legacy.keys]) {
    const old = await ctx.find(ctx.deps.ids.unkeyedIdFor(key));
    if (old && old.invocationKey === key && old.createdAt >= legacy.notBefore)
      return duplicateOf(old, requestHash);
  }
  return undefined;
}

/** The member's account; a member who cannot pay gets no account made for them. */
async function payingAccount(ctx: GenerationContext, requester: Actor, price: number) {
  const { economy } = ctx.deps;
  const accountId = await economy.findAccount(requester.identity);
  if (accountId) return accountId;
  const opening = economy.openingBalance();
  if (opening.available < price) throw notEnoughPoints(price, opening);
  return economy.ensureAccount(requester.identity, requester.displayName);
}

/**
 * The insert is the duplicate check (a redelivered event has the same id) and the
 * generation is queued from the start: the hold and the job follow, and the reconciler
 * tells a generation whose submit stopped short by its hold and its job.
 */
async function insertGeneration(
  ctx: GenerationContext,
  g: {
    id: string;
    accountId: string;
    requestHash: string;
    from: SubmitFrom;
    prepared: PreparedRequest;
  },
): Promise<GenerationDoc | Submitted> {
  const { model, request, price } = g.prepared;
  const now = new Date();
  // Built whole, every default written out and typed as stored: the driver inserts it as it
  // is (see `Collections.direct`).
  const doc: StoredGeneration = {
    _id: g.id,
    accountId: g.accountId,
    requestedBy: identityKey(g.from.requester.identity),
    requesterName: g.from.requester.displayName,
    requestHash: g.requestHash,
    origin: g.from.origin,
    invocationKey: g.from.invocationKey,
    request,
    model: model.id,
    provider: model.provider,
    kind: model.kind,
    price,
    status: 'queued',
    statusHistory: [{ status: 'queued', at: now }],
    cancelRequested: false,
    attempts: 0,
    stallRetries: 0,
    outputs: [],
    failedOutputs: [],
    captured: 0,
    createdAt: now,
    updatedAt: now,
  };
  try {
    await ctx.deps.collections.direct.generations.insertOne(doc, { ignoreUndefined: true });
    // What was just written is known: its subdocuments need no parsing back.
    const { origin: _o, request: _r, proposed: _p, ...fields } = doc;
    return { ...fields, origin: g.from.origin, request };
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
    const winner = await ctx.find(g.id);
    if (!winner) throw error;
    return duplicateOf(winner, g.requestHash);
  }
}

/**
 * The member's slot (limits, and their place among their own jobs for fair ordering) is
 * taken before anything is held: a refusal leaves no trace.
 */
async function takeSlot(
  ctx: GenerationContext,
  doc: GenerationDoc,
  from: SubmitFrom,
): Promise<{ rank: number; day: string; ledgerSeq: number }> {
  const { limits, collections } = ctx.deps;
  const exempt = limits.settings.exemptModerators && from.requester.isModerator;
  let slot: Awaited<ReturnType<MemberLimits['acquire']>>;
  try {
    slot = await limits.acquire(doc.accountId, doc._id, { exempt });
  } catch (error) {
    throw await unqueued(ctx, summarize(doc), from.origin, 'unknown', error);
  }
  if (!slot.ok) {
    await collections.Generation.deleteOne({ _id: doc._id });
    throw limitRefusal(slot.refusal);
  }
  return slot;
}

/**
 * Checks the balance and holds in one ledger insert (started from the ledger hint the slot
 * brought); refused, nothing of the attempt stays. Returns where the hold left the chain.
 */
async function hold(
  ctx: GenerationContext,
  doc: GenerationDoc,
  slot: { day: string; ledgerSeq: number },
): Promise<Head> {
  const { economy, collections, limits, logger } = ctx.deps;
  const { day } = slot;
  try {
    return await economy.reserve({
      accountId: doc.accountId,
      amount: doc.price,
      holdId: doc._id,
      hintSeq: slot.ledgerSeq,
    });
  } catch (error) {
    await collections.Generation.deleteOne({ _id: doc._id });
    await limits
      .release({ accountId: doc.accountId, generationId: doc._id, day }, true)
      .catch((e: unknown) =>
        logger.warn(
          { err: e, generationId: doc._id },
          'could not give the slot back; the reconciler will',
        ),
      );
    throw error;
  }
}

function goesFirst(ctx: GenerationContext, actor: Actor): boolean {
  const listed = ctx.deps.priorityMembers ?? [];
  return (
    actor.priority === true ||
    listed.includes(actor.identity.id) ||
    listed.includes(identityKey(actor.identity))
  );
}

/**
 * A submit that could not reach the queue: the generation fails at once with its points
 * back (none were held yet when `reserved` is 'unknown'), and the member is told by the
 * refusal this returns.
 */
async function unqueued(
  ctx: GenerationContext,
  summary: GenerationSummary,
  origin: Origin | undefined,
  reserved: KnownGeneration['reserved'],
  cause: unknown,
): Promise<UserError> {
  const log = ctx.deps.logger.child({ generationId: summary.id });
  log.error({ err: cause }, 'could not queue the generation');
  // True either way: before the hold nothing was charged; after it the points go back.
  const message =
    reserved === true
      ? 'The generation queue is unavailable right now. Your points were returned.'
      : 'The generation queue is unavailable right now. Nothing was charged; please try again in a minute.';
  await finish(
    ctx,
    summary.id,
    { outcome: 'failed', error: { code: 'provider_unavailable', message }, answered: true },
    { summary, platform: platformOf(origin), reserved },
  ).catch((e: unknown) =>
    log.error({ err: e }, 'could not fail the unqueued generation; the reconciler will'),
  );
  return new UserError('provider_unavailable', message, { cause });
}

/**
 * The same event again (a redelivery, a double click) is the same generation. The same key
 * with a different request is a mistake (a console `--key` reused): refuse it rather than
 * silently answer with another request's result.
 */
function duplicateOf(doc: GenerationDoc, requestHash: string): Submitted {
  if (doc.requestHash && doc.requestHash !== requestHash) {
    throw new UserError(
      'duplicate',
      `That idempotency key was already used for a different request (generation ${doc._id}, "${clip(oneLine(summarize(doc).prompt), 48)}"). Use a new key for a new request.`,
      { details: { generationId: doc._id } },
    );
  }
  return { generation: summarize(doc), duplicate: true };
}

/**
 * A request's fingerprint: the options as the member gave them (defaults and the random
 * seed are not part of it), with keys sorted so the order they came in does not matter.
 */
function fingerprint(request: GenerationRequest): string {
  // Input images are stored anew each time an event is delivered: count them, not their ids.
  const { inputImages, ...asked } = request;
  const fields: Record<string, unknown> = { ...asked, inputImages: inputImages?.length ?? 0 };
  const sorted = Object.keys(fields)
    .sort()
    .map((key) => [key, fields[key]]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 32);
}

/**
 * The BullMQ priority of a member's k-th open job: k (lower first, in order of arrival
 * within one). So every member's first job runs before anyone's second, every second before
 * anyone's third: round robin between the members who wait. Every such job is in BullMQ's
 * prioritized set, whose rank is its place (a look-up in O(log n)); BullMQ's plain wait list,
 * which runs before it, holds only priority members' jobs.
 */
const MAX_PRIORITY = 2_097_152;
export function fairPriority(rank: number): number {
  return Math.max(1, Math.min(rank, MAX_PRIORITY));
}
