import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../core/errors.js';
import { clip, oneLine } from '../core/text.js';
import {
  generationRequestSchema,
  resolveRequest,
  type GenerationRequest,
  type GenerationRequestInput,
} from '../core/generation-request.js';
import type { Actor, LegacyInvocation } from '../core/chat.js';
import type { Origin } from '../core/origin.js';
import { identityKey } from '../core/identity.js';
import { captureFor, quote } from '../core/pricing.js';
import { isTerminal, type GenerationStatus } from '../core/status.js';
import type { Catalog } from '../catalog/catalog.js';
import { notEnoughPoints, type Economy, type SettleOutcome } from '../economy/ledger.js';
import type { Logger } from '../logger.js';
import type { CancelBus } from '../queue/cancel-bus.js';
import type { Queues } from '../queue/queues.js';
import { utcDay, type LimitRefusal, type MemberLimits } from '../queue/member-limits.js';
import type { GenerationJob, GenerationJobV2 } from '../queue/contracts.js';
import type { MediaStore } from '../store/media-store.js';
import type { GenerationDoc, Collections } from '../store/collections.js';
import type { RecordedResult } from '../store/recorded-result.js';
import { isDuplicateKey } from '../store/server-errors.js';
import { generationOf } from '../store/stored-generation.js';
import type { FaultHook, FaultPoint } from './faults.js';
import { generationIdFor } from './ids.js';
import { summarize, type EndedSummary, type GenerationSummary } from './summary.js';
import { zodToUserError } from '../core/validation.js';

export const HISTORY_PAGE_SIZE = 5;

export interface SubmitInput {
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
  request: GenerationRequestInput;
}

export type StoredOutput = GenerationSummary['outputs'][number];

export interface FinishInput {
  outcome: SettleOutcome;
  outputs?: StoredOutput[] | undefined;
  failedOutputs?: { index: number; code: string; message: string }[] | undefined;
  error?: { code: string; message: string } | undefined;
  /**
   * The member was already answered by the command itself (a submit that could not be
   * queued): no delivery is queued, so they are not told twice.
   */
  answered?: boolean | undefined;
  /** The worker's attempt that ended it, recorded with the final status. */
  attempt?: number | undefined;
  /** How long the provider ran, for the wait estimates (a completed run only). */
  ranMs?: number | undefined;
}

/** Where a generation's progress and result go, and what it is (for its status message). */
export interface GenerationCard {
  origin: Origin;
  summary: GenerationSummary;
}

/**
 * What a caller of `finish` already knows of the generation, so finish reads nothing:
 * `reserved` true when its points are known to be held (its job exists), 'unknown' when the
 * ledger must be asked.
 */
export interface KnownGeneration {
  summary: GenerationSummary;
  platform: string;
  reserved: true | 'unknown';
}

function errorOf(error: { code: string; message: string } | undefined): {
  error?: { code: string; message: string };
} {
  return error ? { error } : {};
}

/** The platform a stored origin belongs to (`console` when it is not one we deliver to). */
export function platformOf(origin: Origin | undefined): string {
  return origin?.platform ?? 'console';
}

/**
 * What a generation's document says for `finish`: `reserved` true when its points are known
 * to be held (a worker has its job), 'unknown' when the ledger must be asked.
 */
export function knownOf(
  doc: GenerationDoc,
  reserved: KnownGeneration['reserved'] = true,
): KnownGeneration {
  return { summary: summarize(doc), platform: platformOf(doc.origin), reserved };
}

/** What a worker knows of a generation from its v2 job alone: enough to finish it. */
export function knownFromJob(job: GenerationJobV2): KnownGeneration {
  const summary: GenerationSummary = {
    id: job.generationId,
    accountId: job.accountId,
    status: 'processing',
    model: job.model,
    kind: job.kind,
    prompt: job.request.prompt,
    price: job.price,
    captured: 0,
    count: job.request.count,
    seed: job.request.seed,
    width: job.request.width,
    height: job.request.height,
    createdAt: job.createdAt,
    updatedAt: job.createdAt,
    cancelRequested: false,
    outputs: [],
    failedOutputs: [],
  };
  if (job.requesterName) summary.requesterName = job.requesterName;
  return { summary, platform: job.platform, reserved: true };
}

/** The job of a generation: everything its worker needs, so it reads nothing back. */
function jobOf(doc: GenerationDoc): GenerationJob {
  return {
    v: 2,
    generationId: doc._id,
    accountId: doc.accountId,
    provider: doc.provider,
    model: doc.model,
    price: doc.price,
    request: doc.request,
    platform: platformOf(doc.origin),
    kind: doc.kind,
    ...(doc.requesterName ? { requesterName: doc.requesterName } : {}),
    createdAt: new Date(doc.createdAt).toISOString(),
  };
}

export interface HistoryPage {
  items: GenerationSummary[];
  page: number;
  pages: number;
  total: number;
  status?: GenerationStatus;
}

export interface GenerationServiceDeps {
  collections: Collections;
  economy: Economy;
  catalog: Catalog;
  queues: Queues;
  limits: MemberLimits;
  /** Member ids (any platform, or `platform:id`) whose jobs go first. */
  priorityMembers?: readonly string[];
  cancelBus: CancelBus;
  media: MediaStore;
  logger: Logger;
  randomSeed?: () => number;
  faults?: FaultHook;
}

/**
 * The life of a generation: submit (document, hold, job), cancel, finish (settle points,
 * final status, delivery) and history. Every step is idempotent by the generation id, so a
 * redelivered event, a replayed job or the reconciler can run any of them again safely.
 */
export class GenerationService {
  readonly #d: GenerationServiceDeps;
  /** Generations in flight that this process submitted or has shown: their origin and facts. */
  readonly #cards = new LRUCache<string, GenerationCard>({ max: 20_000 });
  /** Generations this process submitted that have not started yet, for QueueWatch. */
  readonly #waiting = new LRUCache<string, { provider: string; model: string }>({ max: 20_000 });

  constructor(deps: GenerationServiceDeps) {
    this.#d = deps;
  }

  #fault(point: FaultPoint, id: string): void {
    this.#d.faults?.(point, id);
  }

  async submit(input: SubmitInput): Promise<{ generation: GenerationSummary; duplicate: boolean }> {
    const { collections, economy, catalog, queues, limits, logger } = this.#d;
    const parsed = generationRequestSchema.safeParse(input.request);
    if (!parsed.success) throw zodToUserError(parsed.error);
    const model = catalog.get(parsed.data.model);
    const randomSeed = this.#d.randomSeed ?? (() => Math.floor(Math.random() * 2 ** 32));
    const request = resolveRequest(model, parsed.data, randomSeed);
    const price = quote(model, request).total;
    const id = generationIdFor(input.invocationKey);
    const requestHash = fingerprint(parsed.data);

    for (const key of input.legacyInvocation?.keys ?? []) {
      const old = await this.find(generationIdFor(key));
      if (old && old.invocationKey === key && old.createdAt >= input.legacyInvocation!.notBefore)
        return this.#duplicate(old, requestHash);
    }

    // A refusal changes nothing: a member who cannot pay gets no account made for them.
    let accountId = await economy.findAccount(input.requester.identity);
    if (!accountId) {
      const opening = economy.openingBalance();
      if (opening.available < price) throw notEnoughPoints(price, opening);
      accountId = await economy.ensureAccount(
        input.requester.identity,
        input.requester.displayName,
      );
    }

    // The insert is the duplicate check (a redelivered event has the same id) and the
    // generation is queued from the start: the hold and the job follow, and the reconciler
    // tells a generation whose submit stopped short by its hold and its job.
    const now = new Date();
    let inserted: GenerationDoc;
    try {
      const created = await collections.Generation.create({
        _id: id,
        accountId,
        requestedBy: identityKey(input.requester.identity),
        requesterName: input.requester.displayName,
        requestHash,
        origin: input.origin,
        invocationKey: input.invocationKey,
        request,
        model: model.id,
        provider: model.provider,
        kind: model.kind,
        price,
        status: 'queued',
        statusHistory: [{ status: 'queued', at: now }],
      });
      // What was just written is known: its subdocuments need no parsing back.
      const { origin: _o, request: _r, proposed: _p, ...fields } = created.toObject();
      inserted = { ...fields, origin: input.origin, request };
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      const winner = await this.find(id);
      if (!winner) throw error;
      return this.#duplicate(winner, requestHash);
    }
    this.#fault('generation-inserted', id);
    const log = logger.child({ generationId: id });
    const summary = summarize(inserted);

    // The member's slot (limits, and their place among their own jobs for fair ordering) is
    // taken before anything is held: a refusal leaves no trace.
    const exempt = limits.settings.exemptModerators && input.requester.isModerator;
    let slot: Awaited<ReturnType<MemberLimits['acquire']>>;
    try {
      slot = await limits.acquire(accountId, id, { exempt });
    } catch (error) {
      throw await this.#unqueued(id, summary, input.origin, 'unknown', error);
    }
    if (!slot.ok) {
      await collections.Generation.deleteOne({ _id: id });
      throw limitRefusal(slot.refusal);
    }
    const held = { accountId, generationId: id, day: slot.day };

    try {
      // Checks the balance and holds in one ledger insert: nothing to read first.
      await economy.reserve({ accountId, amount: price, holdId: id });
    } catch (error) {
      // Refused: the member keeps their points and no trace of the attempt stays behind.
      await collections.Generation.deleteOne({ _id: id });
      await limits
        .release(held, true)
        .catch((e: unknown) =>
          log.warn({ err: e }, 'could not give the slot back; the reconciler will'),
        );
      throw error;
    }
    this.#fault('reserved', id);

    // From here on the points are held: any failure ends the generation at once, so the
    // member is told the truth and gets the points back (the reconciler covers a crash).
    // No queue count is asked for: a position told once at submit goes stale at once (the
    // fair queue of issue 12 keeps one up to date).
    try {
      // Fair ordering: a member's k-th open job waits behind every other member's earlier
      // ones (BullMQ runs lower priorities first, in order of arrival within one).
      // A priority member's job goes to the front of the plain wait list: before everyone's.
      const first = this.#goesFirst(input.requester);
      const priority = first ? undefined : fairPriority(slot.rank);
      await queues.enqueueGeneration(
        jobOf(inserted),
        first ? { lifo: true } : priority ? { priority } : {},
      );
    } catch (error) {
      throw await this.#unqueued(id, summary, input.origin, true, error);
    }
    this.#fault('enqueued', id);
    this.#cards.set(id, { origin: input.origin, summary });
    this.#waiting.set(id, { provider: model.provider, model: model.id });
    log.info({ model: model.id, price }, 'generation queued');
    return { generation: summary, duplicate: false };
  }

  #goesFirst(actor: Actor): boolean {
    const listed = this.#d.priorityMembers ?? [];
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
  async #unqueued(
    id: string,
    summary: GenerationSummary,
    origin: Origin | undefined,
    reserved: KnownGeneration['reserved'],
    cause: unknown,
  ): Promise<UserError> {
    const log = this.#d.logger.child({ generationId: id });
    log.error({ err: cause }, 'could not queue the generation');
    const message = 'The generation queue is unavailable right now. Your points were returned.';
    await this.finish(
      id,
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
  #duplicate(
    doc: GenerationDoc,
    requestHash: string,
  ): { generation: GenerationSummary; duplicate: boolean } {
    if (doc.requestHash && doc.requestHash !== requestHash) {
      throw new UserError(
        'duplicate',
        `That idempotency key was already used for a different request (generation ${doc._id}, "${shortText(summarize(doc).prompt)}"). Use a new key for a new request.`,
        { details: { generationId: doc._id } },
      );
    }
    return { generation: summarize(doc), duplicate: true };
  }

  /**
   * The same request again with a new seed, paid by whoever asks (the Reroll button).
   * `invocationKey` is the new event's, so a double click is still one generation.
   */
  async reroll(
    id: string,
    input: Omit<SubmitInput, 'request'>,
  ): Promise<{ generation: GenerationSummary; duplicate: boolean }> {
    const doc = await this.find(id);
    if (!doc) throw new UserError('not_found', `There is no generation ${id} to reroll.`);
    const { seed: _seed, ...request } = doc.request;
    return this.submit({ ...input, request });
  }

  /** Generations this process submitted that may still wait in a queue. */
  waitingHere(): [string, { provider: string; model: string }][] {
    return [...this.#waiting.entries()];
  }

  /** One of `waitingHere` that has started or ended. */
  notWaiting(id: string): void {
    this.#waiting.delete(id);
  }

  async summary(id: string): Promise<GenerationSummary> {
    const doc = await this.find(id);
    if (!doc) throw new UserError('not_found', `There is no generation ${id}.`);
    return summarize(doc);
  }

  /** A generation by `_id`, its stored subdocuments read (see `generationOf`). */
  async find(id: string): Promise<GenerationDoc | undefined> {
    const raw = await this.#d.collections.Generation.findById(id).lean();
    return raw ? generationOf(raw) : undefined;
  }

  /**
   * Where a generation's progress and result go, and what it was: remembered from its submit
   * in this process, else read once and remembered. Undefined: no such generation.
   */
  async card(id: string): Promise<GenerationCard | undefined> {
    const known = this.#cards.get(id);
    if (known) return known;
    const doc = await this.find(id);
    const origin = doc?.origin;
    if (!doc || !origin) return undefined;
    const card = { origin, summary: summarize(doc) };
    this.#cards.set(id, card);
    return card;
  }

  /** Forgets a delivered generation's card (its progress events, if any arrive late, drop). */
  forgetCard(id: string): void {
    this.#cards.delete(id);
  }

  /**
   * Queues a generation again whose job was lost (a crash between hold and enqueue, or Redis
   * lost its data). Its points are still held, so it runs as paid for; adding the job is a
   * no-op if it exists after all.
   */
  async requeue(doc: GenerationDoc): Promise<void> {
    if (doc.status !== 'queued') await this.#setStatus(doc._id, 'queued', {}, 'requeued');
    await this.#d.queues.enqueueGeneration(jobOf(doc));
  }

  /**
   * Sets a status by `_id` alone (the only filter the embedded server answers from an
   * index). Callers decide from what they know that the change is allowed; a terminal status
   * is only ever written by `finish`, after the ledger decided it.
   */
  async #setStatus(
    id: string,
    to: GenerationStatus,
    set: Record<string, unknown> = {},
    note?: string,
  ): Promise<void> {
    const entry: Record<string, unknown> = { status: to, at: new Date() };
    if (note) entry.note = note;
    await this.#d.collections.Generation.updateOne(
      { _id: id },
      { $set: { status: to, ...set }, $push: { statusHistory: entry } },
    );
  }

  /**
   * Marks a generation as running (for /history and the reconciler's report), once it has
   * run long enough for anyone to look: an instant job ends before it would be seen.
   */
  async markProcessing(id: string, attempt: number): Promise<void> {
    await this.#setStatus(
      id,
      'processing',
      { attempts: attempt },
      attempt > 1 ? `attempt ${attempt}` : undefined,
    );
  }

  /**
   * Queues the delivery of a generation that has ended (again: the delivery job's id makes
   * it a no-op for a day), for a worker that died between the final status and this. False:
   * nothing was queued (one was already, or it gave up, or the console follows its own).
   */
  async redeliver(doc: GenerationDoc): Promise<boolean> {
    if (!isTerminal(doc.status) || doc.deliveredAt || doc.deliveryFailedAt) return false;
    const { platform, summary } = knownOf(doc);
    return this.#d.queues.enqueueDelivery({
      v: 2,
      generationId: doc._id,
      platform,
      generation: summary,
    });
  }

  /** Delivery gave up after its tries; the reconciler leaves it alone from now on. */
  async markDeliveryFailed(id: string): Promise<void> {
    await this.#d.collections.Generation.updateOne(
      { _id: id },
      { $set: { deliveryFailedAt: new Date() } },
    );
  }

  /** A retryable failure: back to queued until the backoff ends. */
  async markRetrying(id: string, reason: string): Promise<void> {
    await this.#setStatus(id, 'queued', {}, `retrying: ${reason}`);
  }

  /**
   * Ends a generation. The settle entry of its hold is the atomic decision: if a cancel and
   * a finish race, whichever settles first wins, records its result with the settle, and the
   * other adopts that result (its own stored outputs are deleted). Then the final status is
   * written, one update by `_id` (every writer writes the decided result, so a replay or a
   * loser writes the same thing), and the result is queued for delivery with the finished
   * generation in the job. `known` is what the caller has already (a worker's job): then
   * nothing is read; without it the generation is read once.
   */
  async finish(id: string, input: FinishInput, known?: KnownGeneration): Promise<EndedSummary> {
    const { collections, economy, queues, media, logger } = this.#d;
    this.#waiting.delete(id);
    let facts = known;
    if (!facts) {
      const doc = await this.find(id);
      if (!doc) throw new Error(`generation ${id} not found`);
      facts = knownOf(doc, 'unknown');
    }
    const base = facts.summary;
    const log = logger.child({ generationId: id });
    const outputs = input.outputs ?? [];
    const capture =
      input.outcome === 'completed' ? captureFor(base.price, outputs.length, base.count) : 0;
    const proposed: RecordedResult = {
      outputs,
      failedOutputs: input.failedOutputs ?? [],
      ...(input.error ? { error: input.error } : {}),
    };
    const settlement = await economy.settle({
      holdId: id,
      capture,
      outcome: input.outcome,
      hold: facts.reserved === true ? { accountId: base.accountId, amount: base.price } : undefined,
      result: proposed,
    });
    this.#fault('settled', id);
    const outcome = settlement?.outcome ?? input.outcome;
    // Its slot is free once it has ended; failed and refunded ones no longer count today.
    const provider = this.#d.catalog.find(base.model)?.provider;
    const measured =
      outcome === 'completed' && input.ranMs !== undefined && provider
        ? { provider, model: base.model, ms: input.ranMs }
        : undefined;
    await this.#d.limits
      .release(
        { accountId: base.accountId, generationId: id, day: utcDay(Date.parse(base.createdAt)) },
        outcome !== 'completed',
        measured,
      )
      .catch((e: unknown) =>
        log.warn({ err: e }, 'could not give the slot back; the reconciler will'),
      );
    let result: RecordedResult = proposed;
    if (settlement && !settlement.won) {
      // Another finish decided first: its result stands (an entry from before results were
      // recorded with the settle falls back to the generation's own proposal, or none).
      if (settlement.result) result = settlement.result;
      else if (outcome !== input.outcome)
        result = { outputs: [], failedOutputs: [], ...errorOf(cancelledOrFailed(outcome)) };
    }
    if (outcome !== 'completed') result = { ...result, outputs: [] };
    const kept = new Set(result.outputs.map((o) => o.fileId));
    const orphans = outputs.filter((o) => !kept.has(o.fileId));
    if (orphans.length > 0)
      await Promise.all(
        orphans.map((o) =>
          media
            .delete(o.fileId)
            .catch((e: unknown) =>
              log.warn({ err: e, fileId: o.fileId }, 'could not delete an unused output'),
            ),
        ),
      );
    const captured = settlement?.captured ?? 0;
    const at = settlement?.at ?? new Date();
    const final: EndedSummary = {
      ...base,
      status: outcome,
      captured,
      updatedAt: new Date().toISOString(),
      outputs: result.outputs,
      failedOutputs: result.failedOutputs,
    };
    delete final.queuePosition;
    if (result.error) final.error = result.error;
    else delete final.error;
    // The delivery carries the finished generation, so it goes out before the status is
    // written: a crash between the two leaves a generation that is not terminal yet with its
    // settle entry, which the reconciler finishes (queueing the delivery again is a no-op).
    if (!input.answered)
      await queues.enqueueDelivery({
        v: 2,
        generationId: id,
        platform: facts.platform,
        generation: final,
      });
    this.#fault('delivery-queued', id);
    const set: Record<string, unknown> = {
      status: outcome,
      captured,
      outputs: result.outputs,
      failedOutputs: result.failedOutputs,
    };
    if (result.error) set.error = result.error;
    if (input.attempt !== undefined) set.attempts = input.attempt;
    await collections.Generation.updateOne(
      { _id: id },
      {
        $set: set,
        $unset: { proposed: 1 },
        // The deciding settle's time: a replay adds nothing to the history.
        $addToSet: { statusHistory: { status: outcome, at } },
      },
    );
    this.#fault('status-set', id);
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

  /**
   * Finishes a generation from its settle entry (the result recorded with it), or from a
   * proposal an older release recorded; used after a crash between the writes of `finish`.
   */
  async resumeFinish(id: string): Promise<EndedSummary | undefined> {
    const doc = await this.find(id);
    if (!doc) return undefined;
    const settlement = await this.#d.economy.settlement(id);
    const proposed = doc.proposed;
    if (settlement) {
      return this.finish(id, {
        outcome: settlement.outcome,
        ...(settlement.result ??
          (proposed && proposed.outcome === settlement.outcome
            ? proposed
            : errorOf(cancelledOrFailed(settlement.outcome)))),
      });
    }
    if (proposed) return this.finish(id, proposed);
    return this.finish(id, {
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
  async resumeIfInterrupted(
    doc: GenerationDoc,
  ): Promise<{ ended: EndedSummary | undefined } | undefined> {
    if (isTerminal(doc.status)) return undefined;
    if (doc.proposed === undefined && !(await this.#d.economy.settlement(doc._id)))
      return undefined;
    return { ended: await this.resumeFinish(doc._id) };
  }

  /**
   * Cancels a generation of the member's (moderators may cancel anyone's). A queued job is
   * removed and its points released at once; a running one is aborted through the cancel
   * bus and its worker finishes it as cancelled.
   */
  async cancel(
    id: string,
    by: { accountId: string | undefined; isModerator: boolean },
  ): Promise<GenerationSummary> {
    const { collections, queues, cancelBus, logger } = this.#d;
    const doc = await this.find(id);
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
    await collections.Generation.updateOne({ _id: id }, { $set: { cancelRequested: true } });
    const cancelled = { outcome: 'cancelled' as const, ...errorOf(cancelledOrFailed('cancelled')) };
    const job = await queues.generation(doc.provider).getJob(id);
    if (job) {
      const state = await job.getState();
      if (
        state === 'waiting' ||
        state === 'delayed' ||
        state === 'prioritized' ||
        state === 'waiting-children'
      ) {
        let removed = false;
        try {
          await job.remove();
          removed = true;
        } catch (error) {
          // Picked up by a worker between getState and remove (it is locked): abort it instead.
          logger.debug(
            { err: error, generationId: id },
            'queued job was taken by a worker; aborting it',
          );
        }
        // A job is added only after its hold: the points are held.
        if (removed) return this.finish(id, cancelled, knownOf(doc, true));
      }
    } else if (doc.status === 'queued') {
      // No job (the reconciler would re-add it): nothing runs, so cancel right here.
      return this.finish(id, cancelled, knownOf(doc, 'unknown'));
    }
    await cancelBus.publish(id);
    return this.summary(id);
  }

  /**
   * The generation once it has ended, or as it stands after `attempts` looks `intervalMs`
   * apart: a cancel of a running job waits briefly for the worker's real outcome, so the
   * member is told what happened instead of a promise.
   */
  async awaitEnd(id: string, attempts = 15, intervalMs = 200): Promise<GenerationSummary> {
    let current = await this.summary(id);
    for (let i = 1; i < attempts && !isTerminal(current.status); i += 1) {
      await sleep(intervalMs);
      current = await this.summary(id);
    }
    return current;
  }

  /**
   * One page of a member's generations, newest first. `accountId` undefined: a member with
   * no account yet, whose history is empty. A page past the end is refused, saying how many
   * there are, rather than quietly showing another page.
   */
  async history(
    accountId: string | undefined,
    options: { page: number; status?: GenerationStatus },
  ): Promise<HistoryPage> {
    const { economy } = this.#d;
    // The member's ledger chain is the index of their generations (a reserve each, newest
    // last), read by `_id`: a page costs the same with 100 or 100,000 generations stored.
    let total = 0;
    let ids: string[] = [];
    /** Generations already read on the way (not read again for the page). */
    const read = new Map<string, GenerationDoc>();
    const skip = (Math.max(1, options.page) - 1) * HISTORY_PAGE_SIZE;
    if (accountId && !options.status) {
      const recent = await economy.recentHolds(accountId, { skip, limit: HISTORY_PAGE_SIZE });
      total = recent.total;
      ids = recent.holdIds;
    } else if (accountId && options.status) {
      // One walk of the member's chain: ended holds carry their outcome in their settle
      // entry; open ones are looked up (at most the member's generations in flight).
      const status = options.status;
      const holds = await economy.holdOutcomes(accountId);
      const open = await Promise.all(
        holds.filter((h) => !h.outcome).map((h) => this.find(h.holdId)),
      );
      for (const doc of open) if (doc) read.set(doc._id, doc);
      const matching = holds.filter((h) => (h.outcome ?? read.get(h.holdId)?.status) === status);
      total = matching.length;
      ids = matching.slice(skip, skip + HISTORY_PAGE_SIZE).map((h) => h.holdId);
    }
    const pages = Math.max(1, Math.ceil(total / HISTORY_PAGE_SIZE));
    if (options.page > pages && total > 0) {
      const which = options.status ? `${options.status} generations` : 'history';
      throw new UserError(
        'invalid_input',
        `There is no page ${options.page}: your ${which} has ${pages} ${pages === 1 ? 'page' : 'pages'} (${total} ${total === 1 ? 'generation' : 'generations'}). Try /history ${pages}.`,
        { details: { pages, total } },
      );
    }
    const page = Math.min(Math.max(1, options.page), pages);
    const docs = await Promise.all(
      ids.map((id) => {
        const known = read.get(id);
        return known ? Promise.resolve(known) : this.find(id);
      }),
    );
    const items = docs.filter((d) => d !== undefined).map(summarize);
    const result: HistoryPage = { items, page, pages, total };
    if (options.status) result.status = options.status;
    return result;
  }
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

function shortText(text: string): string {
  return clip(oneLine(text), 48);
}

/**
 * The BullMQ priority of a member's k-th open job: none for their first (BullMQ's plain wait
 * list, which runs before any prioritized job, in order of arrival), then k (lower first,
 * in order of arrival within one). So every member's first job runs before anyone's second,
 * every second before anyone's third: round robin between the members who wait.
 */
const MAX_PRIORITY = 2_097_152;
export function fairPriority(rank: number): number | undefined {
  return rank <= 1 ? undefined : Math.min(rank, MAX_PRIORITY);
}

/** A limit's refusal, saying what it is and what the member can do. */
export function limitRefusal(refusal: LimitRefusal): UserError {
  switch (refusal.reason) {
    case 'queued':
      return new UserError(
        'limit_reached',
        `You have ${refusal.open} generations waiting or running; the limit is ${refusal.limit}. Wait for one to finish or /cancel one.`,
        { details: { ...refusal } },
      );
    case 'cooldown':
      return new UserError(
        'limit_reached',
        `Please wait ${Math.ceil(refusal.waitMs / 1000)} s before your next generation.`,
        { details: { ...refusal } },
      );
    case 'daily':
      return new UserError(
        'limit_reached',
        `You have made ${refusal.today} generations today; the limit is ${refusal.limit} a day. It starts again in ${describeWait(refusal.resetInMs)} (midnight UTC).`,
        { details: { ...refusal } },
      );
  }
}

function describeWait(ms: number): string {
  const minutes = Math.ceil(ms / 60_000);
  const hours = Math.floor(minutes / 60);
  return hours > 0 ? `${hours} h ${minutes % 60} min` : `${minutes} min`;
}

/** The refusal for someone else's generation: says whose it is and who may act on it. */
export function notYours(
  generation: GenerationSummary,
  verb: string,
  moderatorsMay: boolean,
): UserError {
  const owner = generation.requesterName ? `${generation.requesterName}'s` : "another member's";
  return new UserError(
    'forbidden',
    `Generation ${generation.id} is ${owner}; only they${moderatorsMay ? ' or a moderator' : ''} can ${verb} it.`,
    { details: { generationId: generation.id } },
  );
}

function cancelledOrFailed(outcome: SettleOutcome): { code: string; message: string } | undefined {
  if (outcome === 'cancelled')
    return {
      code: 'cancelled',
      message: 'The generation was cancelled. Your points were returned.',
    };
  if (outcome === 'failed')
    return {
      code: 'provider_failed',
      message: 'The generation failed. Your points were returned.',
    };
  return undefined;
}
