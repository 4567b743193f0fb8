import { LRUCache } from 'lru-cache';
import { UserError } from '../core/errors.js';
import {
  generationRequestSchema,
  type GenerationRequest,
  type GenerationRequestInput,
} from '../core/generation-request.js';
import type { GenerationSummary } from '../core/outputs.js';
import { prepareRequest, type PreparedRequest } from '../core/prepared-request.js';
import type { GenerationStatus } from '../core/status.js';
import { zodToUserError } from '../core/validation.js';
import type { GenerationDoc } from '../store/collections.js';
import { generationOf } from '../store/stored-generation.js';
import { awaitEnd, cancel, summaryOf } from './cancel.js';
import type {
  GenerationCard,
  GenerationContext,
  GenerationServiceDeps,
  WaitingGeneration,
} from './context.js';
import type { FaultPoint } from './faults.js';
import { finish, resumeFinish, resumeIfInterrupted, type FinishInput } from './finish.js';
import { history, type HistoryPage } from './history.js';
import type { KnownGeneration } from './known.js';
import * as status from './status-writes.js';
import { submitPrepared, type SubmitFrom, type Submitted } from './submit.js';
import { summarize, type EndedSummary } from './summary.js';

export type { GenerationCard, GenerationServiceDeps } from './context.js';
export type { FinishInput } from './finish.js';
export { HISTORY_PAGE_SIZE, type HistoryPage } from './history.js';
export { knownFromJob, knownOf, platformOf, type KnownGeneration } from './known.js';
export { limitRefusal, notYours } from './refusals.js';
export { fairPriority, type SubmitFrom, type Submitted } from './submit.js';

/** A submit with the request as a caller sent it (the console, the HTTP API, a test). */
export interface SubmitInput extends SubmitFrom {
  request: GenerationRequestInput;
}

/**
 * The life of a generation: submit (document, hold, job), cancel, finish (settle points,
 * final status, delivery) and history. Every step is idempotent by the generation id, so a
 * redelivered event, a replayed job or the reconciler can run any of them again safely.
 * Each step is a module of this folder; this class holds what they share.
 */
export class GenerationService {
  readonly #ctx: GenerationContext;

  constructor(deps: GenerationServiceDeps) {
    const collections = deps.collections;
    this.#ctx = {
      deps,
      cards: new LRUCache<string, GenerationCard>({ max: 20_000 }),
      waiting: new LRUCache<string, WaitingGeneration>({ max: 20_000 }),
      fault: (point: FaultPoint, id: string) => deps.faults?.(point, id),
      find: async (id: string) => {
        const raw = await collections.Generation.findById(id).lean();
        return raw ? generationOf(raw) : undefined;
      },
    };
  }

  /**
   * Resolves a request the caller has validated (the command layer has) against its model
   * and prices it, drawing the seed: the one resolve of a request in this process.
   */
  prepare(asked: GenerationRequest): PreparedRequest {
    const { catalog, randomSeed } = this.#ctx.deps;
    const seed = randomSeed ?? (() => Math.floor(Math.random() * 2 ** 32));
    return prepareRequest(catalog.get(asked.model), asked, seed);
  }

  /** The id a generation for this platform event has (or will have). */
  idFor(invocationKey: string): string {
    return this.#ctx.deps.ids.idFor(invocationKey);
  }

  /** Submits what `prepare` made (with the images a surface stored, if any). */
  submitPrepared(from: SubmitFrom, prepared: PreparedRequest): Promise<Submitted> {
    return submitPrepared(this.#ctx, from, prepared);
  }

  /** The checked entry point for a request as sent (raw input): validated, then submitted. */
  async submit(input: SubmitInput): Promise<Submitted> {
    const { request, ...from } = input;
    const parsed = generationRequestSchema.safeParse(request);
    if (!parsed.success) throw zodToUserError(parsed.error);
    return submitPrepared(this.#ctx, from, this.prepare(parsed.data));
  }

  /**
   * The same request again with a new seed, paid by whoever asks (the Reroll button).
   * `invocationKey` is the new event's, so a double click is still one generation. The
   * stored request is read back as raw input: it is checked against today's limits.
   */
  async reroll(id: string, from: SubmitFrom): Promise<Submitted> {
    const doc = await this.#ctx.find(id);
    if (!doc) throw new UserError('not_found', `There is no generation ${id} to reroll.`);
    const { seed: _seed, ...request } = doc.request;
    return this.submit({ ...from, request });
  }

  /** Generations this process submitted that may still wait in a queue. */
  waitingHere(): [string, WaitingGeneration][] {
    return [...this.#ctx.waiting.entries()];
  }

  /** One of `waitingHere` that has started or ended. */
  notWaiting(id: string): void {
    this.#ctx.waiting.delete(id);
  }

  summary(id: string): Promise<GenerationSummary> {
    return summaryOf(this.#ctx, id);
  }

  /** A generation by `_id`, its stored subdocuments read (see `generationOf`). */
  find(id: string): Promise<GenerationDoc | undefined> {
    return this.#ctx.find(id);
  }

  /**
   * Where a generation's progress and result go, and what it was: remembered from its submit
   * in this process, else read once and remembered. Undefined: no such generation.
   */
  async card(id: string): Promise<GenerationCard | undefined> {
    const known = this.#ctx.cards.get(id);
    if (known) return known;
    const doc = await this.#ctx.find(id);
    const origin = doc?.origin;
    if (!doc || !origin) return undefined;
    const card = { origin, summary: summarize(doc) };
    this.#ctx.cards.set(id, card);
    return card;
  }

  /** Forgets a delivered generation's card (its progress events, if any arrive late, drop). */
  forgetCard(id: string): void {
    this.#ctx.cards.delete(id);
  }

  requeue(doc: GenerationDoc): Promise<void> {
    return status.requeue(this.#ctx, doc);
  }

  markProcessing(id: string, attempt: number, from: GenerationStatus): Promise<void> {
    return status.markProcessing(this.#ctx, id, attempt, from);
  }

  redeliver(doc: GenerationDoc): Promise<boolean> {
    return status.redeliver(this.#ctx, doc);
  }

  markDeliveryFailed(id: string): Promise<void> {
    return status.markDeliveryFailed(this.#ctx, id);
  }

  markRetrying(id: string, reason: string, from: GenerationStatus): Promise<void> {
    return status.markRetrying(this.#ctx, id, reason, from);
  }

  finish(id: string, input: FinishInput, known?: KnownGeneration): Promise<EndedSummary> {
    return finish(this.#ctx, id, input, known);
  }

  resumeFinish(id: string): Promise<EndedSummary | undefined> {
    return resumeFinish(this.#ctx, id);
  }

  resumeIfInterrupted(
    doc: GenerationDoc,
  ): Promise<{ ended: EndedSummary | undefined } | undefined> {
    return resumeIfInterrupted(this.#ctx, doc);
  }

  cancel(
    id: string,
    by: { accountId: string | undefined; isModerator: boolean },
    options?: { acceptCharge?: boolean },
  ): Promise<GenerationSummary> {
    return cancel(this.#ctx, id, by, options);
  }

  awaitEnd(id: string, attempts?: number, intervalMs?: number): Promise<GenerationSummary> {
    return awaitEnd(this.#ctx, id, attempts, intervalMs);
  }

  history(
    accountId: string | undefined,
    options: { page: number; status?: GenerationStatus },
  ): Promise<HistoryPage> {
    return history(this.#ctx, accountId, options);
  }
}
