import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../core/errors.js';
import { clip, oneLine } from '../core/text.js';
import {
  generationRequestSchema,
  resolveRequest,
  resolvedRequestSchema,
  type GenerationRequest,
  type GenerationRequestInput,
  type ResolvedRequest,
} from '../core/generation-request.js';
import type { LegacyInvocation } from '../core/chat.js';
import { identityKey, type Identity } from '../core/identity.js';
import { captureFor, quote } from '../core/pricing.js';
import {
  allowedSources,
  canTransition,
  isTerminal,
  TERMINAL_STATUSES,
  type GenerationStatus,
} from '../core/status.js';
import type { Catalog } from '../catalog/catalog.js';
import { notEnoughPoints, type Economy, type SettleOutcome } from '../economy/ledger.js';
import type { Logger } from '../logger.js';
import type { CancelBus } from '../queue/cancel-bus.js';
import type { Queues } from '../queue/queues.js';
import type { MediaStore } from '../store/media-store.js';
import type { GenerationDoc, StoreModels } from '../store/models.js';
import type { FaultHook, FaultPoint } from './faults.js';
import { generationIdFor } from './ids.js';
import { summarize, type GenerationSummary } from './summary.js';
import { zodToUserError } from '../core/validation.js';

export const HISTORY_PAGE_SIZE = 5;

export interface Requester {
  identity: Identity;
  displayName: string;
  isModerator: boolean;
}

export interface SubmitInput {
  requester: Requester;
  /** Unique per platform event: a redelivered event has the same key. */
  invocationKey: string;
  /**
   * Keys an older release derived for the same event. A redelivered event that an older
   * release already submitted must find that generation, not start a second one; one made
   * before `notBefore` is another event's that happened to get the same old key.
   */
  legacyInvocation?: LegacyInvocation | undefined;
  /** Where to deliver progress and the result. Opaque to this service. */
  origin: Record<string, unknown>;
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
}

export interface HistoryPage {
  items: GenerationSummary[];
  page: number;
  pages: number;
  total: number;
  status?: GenerationStatus;
}

export interface GenerationServiceDeps {
  models: StoreModels;
  economy: Economy;
  catalog: Catalog;
  queues: Queues;
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

  constructor(deps: GenerationServiceDeps) {
    this.#d = deps;
  }

  #fault(point: FaultPoint, id: string): void {
    this.#d.faults?.(point, id);
  }

  async submit(input: SubmitInput): Promise<{ generation: GenerationSummary; duplicate: boolean }> {
    const { models, economy, catalog, queues, logger } = this.#d;
    const parsed = generationRequestSchema.safeParse(input.request);
    if (!parsed.success) throw zodToUserError(parsed.error);
    const model = catalog.get(parsed.data.model);
    const randomSeed = this.#d.randomSeed ?? (() => Math.floor(Math.random() * 2 ** 32));
    const request = resolveRequest(model, parsed.data, randomSeed);
    const price = quote(model, request).total;
    const id = generationIdFor(input.invocationKey);
    const requestHash = fingerprint(parsed.data);

    const existing = await models.Generation.findById(id).lean();
    if (existing) return this.#duplicate(existing, requestHash);
    for (const key of input.legacyInvocation?.keys ?? []) {
      const old = await models.Generation.findById(generationIdFor(key)).lean();
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
    const balance = await economy.balance(accountId);
    // Refuse early, before any write; the hold below is what actually guarantees it.
    if (balance.available < price) throw notEnoughPoints(price, balance);

    const now = new Date();
    try {
      await models.Generation.create({
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
        status: 'pending',
        statusHistory: [{ status: 'pending', at: now }],
      });
    } catch (error) {
      if ((error as { code?: unknown }).code !== 11000) throw error;
      const winner = await models.Generation.findById(id).lean();
      if (!winner) throw error;
      return this.#duplicate(winner, requestHash);
    }
    this.#fault('generation-inserted', id);
    const log = logger.child({ generationId: id });

    try {
      await economy.reserve({ accountId, amount: price, holdId: id });
    } catch (error) {
      // Refused: the member keeps their points and no trace of the attempt stays behind.
      await models.Generation.deleteOne({ _id: id, status: 'pending' });
      throw error;
    }
    this.#fault('reserved', id);

    // From here on the points are held: any failure ends the generation at once, so the
    // member is told the truth and gets the points back (the reconciler covers a crash).
    const abandon = async (error: unknown): Promise<never> => {
      log.error({ err: error }, 'could not queue the generation');
      const message = 'The generation queue is unavailable right now. Your points were returned.';
      await this.finish(id, {
        outcome: 'failed',
        error: { code: 'provider_unavailable', message },
        answered: true,
      }).catch((e: unknown) =>
        log.error({ err: e }, 'could not fail the unqueued generation; the reconciler will'),
      );
      throw new UserError('provider_unavailable', message, { cause: error });
    };
    let position = 0;
    try {
      position = (await queues.waitingCount(model.provider)) + 1;
      await this.#transition(id, 'queued', { queuePosition: position });
    } catch (error) {
      await abandon(error);
    }
    this.#fault('queued', id);
    try {
      await queues.enqueueGeneration({
        v: 1,
        generationId: id,
        accountId,
        provider: model.provider,
        model: model.id,
        price,
        request,
      });
    } catch (error) {
      await abandon(error);
    }
    this.#fault('enqueued', id);
    log.info({ model: model.id, price, position }, 'generation queued');
    return { generation: await this.summary(id), duplicate: false };
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
    const doc = await this.#d.models.Generation.findById(id).lean();
    if (!doc) throw new UserError('not_found', `There is no generation ${id} to reroll.`);
    const { seed: _seed, ...request } = doc.request as ResolvedRequest;
    return this.submit({ ...input, request });
  }

  async summary(id: string): Promise<GenerationSummary> {
    const doc = await this.#d.models.Generation.findById(id).lean();
    if (!doc) throw new UserError('not_found', `There is no generation ${id}.`);
    return summarize(doc);
  }

  async find(id: string): Promise<GenerationDoc | undefined> {
    return (await this.#d.models.Generation.findById(id).lean()) ?? undefined;
  }

  /**
   * Moves a generation to `to` if the current status allows it (the one table in
   * core/status.ts decides). Returns false when it was not allowed, for example because the
   * generation already ended.
   */
  async #transition(
    id: string,
    to: GenerationStatus,
    set: Record<string, unknown> = {},
    note?: string,
  ): Promise<boolean> {
    const entry: Record<string, unknown> = { status: to, at: new Date() };
    if (note) entry.note = note;
    const res = await this.#d.models.Generation.updateOne(
      { _id: id, status: { $in: allowedSources(to) } },
      { $set: { status: to, ...set }, $push: { statusHistory: entry } },
    );
    return res.modifiedCount > 0;
  }

  /**
   * Queues a generation again whose job was lost (a crash between hold and enqueue, or Redis
   * lost its data). Its points are still held, so it runs as paid for; adding the job is a
   * no-op if it exists after all.
   */
  async requeue(doc: GenerationDoc): Promise<void> {
    if (doc.status === 'pending') await this.#transition(doc._id, 'queued', {}, 'requeued');
    await this.#d.queues.enqueueGeneration({
      v: 1,
      generationId: doc._id,
      accountId: doc.accountId,
      provider: doc.provider,
      model: doc.model,
      price: doc.price,
      request: resolvedRequestSchema.parse(doc.request),
    });
  }

  /** Marks the start of an attempt. False when the generation can no longer run. */
  async markProcessing(id: string, attempt: number): Promise<boolean> {
    const doc = await this.#d.models.Generation.findById(id).lean();
    if (!doc) return false;
    if (doc.status === 'processing') {
      await this.#d.models.Generation.updateOne({ _id: id }, { $set: { attempts: attempt } });
      return true;
    }
    if (!canTransition(doc.status, 'processing')) return false;
    return this.#transition(
      id,
      'processing',
      { attempts: attempt },
      attempt > 1 ? `attempt ${attempt}` : undefined,
    );
  }

  async markDelivered(id: string): Promise<void> {
    await this.#d.models.Generation.updateOne({ _id: id }, { $set: { deliveredAt: new Date() } });
  }

  /** Delivery gave up after its tries; the reconciler leaves it alone from now on. */
  async markDeliveryFailed(id: string): Promise<void> {
    await this.#d.models.Generation.updateOne(
      { _id: id },
      { $set: { deliveryFailedAt: new Date() } },
    );
  }

  /** A retryable failure: back to queued until the backoff ends. */
  async markRetrying(id: string, reason: string): Promise<void> {
    await this.#transition(id, 'queued', {}, `retrying: ${reason}`);
  }

  /**
   * Ends a generation. The settle entry of its hold is the atomic decision: if a cancel and
   * a finish race, whichever settles first wins and the other adopts its outcome (and its
   * stored outputs are deleted). Then the status is set and the result is queued for delivery.
   */
  async finish(id: string, input: FinishInput): Promise<GenerationSummary> {
    const { models, economy, queues, media, logger } = this.#d;
    const doc = await models.Generation.findById(id).lean();
    if (!doc) throw new Error(`generation ${id} not found`);
    const log = logger.child({ generationId: id });
    const outputs = input.outputs ?? [];
    if (!isTerminal(doc.status)) {
      await models.Generation.updateOne(
        { _id: id, status: { $nin: TERMINAL_STATUSES } },
        {
          $set: {
            proposed: {
              outcome: input.outcome,
              outputs,
              failedOutputs: input.failedOutputs ?? [],
              error: input.error,
            },
          },
        },
      );
      this.#fault('result-recorded', id);
    }
    const request = doc.request as { count: number };
    const capture =
      input.outcome === 'completed' ? captureFor(doc.price, outputs.length, request.count) : 0;
    const settlement = await economy.settle({ holdId: id, capture, outcome: input.outcome });
    this.#fault('settled', id);
    const outcome = settlement?.outcome ?? input.outcome;
    const ours = outcome === input.outcome;
    if (!ours) {
      await Promise.all(outputs.map((o) => media.delete(o.fileId).catch(() => undefined)));
    }
    const captured = settlement?.captured ?? 0;
    const moved = await this.#applyOutcome(
      id,
      ours ? { ...input, captured } : { outcome, captured, error: cancelledOrFailed(outcome) },
    );
    if (ours && !moved && outputs.length > 0) {
      // Another run (a stalled job taken over) finished first: its outputs stay, ours go.
      const kept = new Set(
        (await models.Generation.findById(id).lean())?.outputs.map((o) => o.fileId),
      );
      await Promise.all(
        outputs
          .filter((o) => !kept.has(o.fileId))
          .map((o) => media.delete(o.fileId).catch(() => undefined)),
      );
    }
    this.#fault('status-set', id);
    if (input.answered) await this.markDelivered(id);
    else await queues.enqueueDelivery({ v: 1, generationId: id });
    const final = await this.summary(id);
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

  /** Sets the final status and result; false when the generation had already ended. */
  async #applyOutcome(id: string, r: FinishInput & { captured: number }): Promise<boolean> {
    const set: Record<string, unknown> = {
      captured: r.captured,
      outputs: r.outcome === 'completed' ? (r.outputs ?? []) : [],
      failedOutputs: r.failedOutputs ?? [],
    };
    if (r.error) set.error = r.error;
    const moved = await this.#transition(id, r.outcome, set);
    if (!moved) {
      // Already terminal (a replay): make sure the recorded capture matches the ledger.
      await this.#d.models.Generation.updateOne({ _id: id }, { $set: { captured: r.captured } });
    }
    await this.#d.models.Generation.updateOne({ _id: id }, { $unset: { proposed: 1 } });
    return moved;
  }

  /**
   * Finishes a generation from its recorded proposal or its settle entry; used by the
   * reconciler after a crash between the writes of `finish`.
   */
  async resumeFinish(id: string): Promise<void> {
    const raw = await this.#d.models.Generation.findById(id).lean();
    if (!raw) return;
    const settlement = await this.#d.economy.settlement(id);
    const proposed = raw.proposed as FinishInput | undefined;
    if (proposed) {
      await this.finish(id, proposed);
      return;
    }
    if (settlement) {
      await this.finish(id, {
        outcome: settlement.outcome,
        error: cancelledOrFailed(settlement.outcome),
      });
      return;
    }
    await this.finish(id, {
      outcome: 'failed',
      error: {
        code: 'interrupted',
        message: 'The generation was interrupted. Your points were returned.',
      },
    });
  }

  /** Finishes a generation whose finish was cut short; false when there was none to resume. */
  async resumeIfInterrupted(doc: GenerationDoc): Promise<boolean> {
    if (isTerminal(doc.status)) return false;
    if (doc.proposed === undefined && !(await this.#d.economy.settlement(doc._id))) return false;
    await this.resumeFinish(doc._id);
    return true;
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
    const { models, queues, cancelBus, logger } = this.#d;
    const doc = await models.Generation.findById(id).lean();
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
    await models.Generation.updateOne({ _id: id }, { $set: { cancelRequested: true } });
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
        if (removed)
          return this.finish(id, { outcome: 'cancelled', error: cancelledOrFailed('cancelled') });
      }
    } else if (doc.status === 'queued') {
      // No job (the reconciler would re-add it): nothing runs, so cancel right here.
      return this.finish(id, { outcome: 'cancelled', error: cancelledOrFailed('cancelled') });
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
    const filter: Record<string, unknown> = { accountId };
    if (options.status) filter.status = options.status;
    const total = accountId ? await this.#d.models.Generation.countDocuments(filter) : 0;
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
    if (!accountId)
      return {
        items: [],
        page,
        pages,
        total,
        ...(options.status ? { status: options.status } : {}),
      };
    const docs = await this.#d.models.Generation.find(filter)
      .sort({ createdAt: -1, _id: -1 })
      .skip((page - 1) * HISTORY_PAGE_SIZE)
      .limit(HISTORY_PAGE_SIZE)
      .lean();
    const result: HistoryPage = { items: docs.map(summarize), page, pages, total };
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
