import type { Redis } from 'ioredis';
import type { Catalog } from '../catalog/catalog.js';
import type { Economy } from '../economy/ledger.js';
import type { LimitsLeft, MemberLimits } from '../queue/member-limits.js';
import { estimateWait, type QueueEstimates, type WaitEstimate } from '../queue/queue-estimates.js';
import type { Queues } from '../queue/queues.js';
import type { GenerationService } from './generation-service.js';
import { queuePositions } from './queue-positions.js';

/** How many of a member's latest generations /queue looks at for ones still open. */
export const QUEUE_LOOKBACK = 10;

export interface ProviderLine {
  provider: string;
  /** Jobs a worker is running now. */
  running: number;
  /** Jobs waiting for a worker (including ones waiting to be retried). */
  waiting: number;
  models: string[];
}

export interface OpenGeneration {
  id: string;
  model: string;
  provider: string;
  status: 'queued' | 'processing';
  /** 1 = next to start on its provider's queue; undefined while running or retrying. */
  position?: number;
  /** When it should start and be done, while it waits (undefined: no estimate yet). */
  wait?: WaitEstimate;
  createdAt: string;
}

/** A job waiting on a provider's queue, as moderators see it in /queue. */
export interface WaitingJob {
  id: string;
  provider: string;
  model: string;
  position: number;
  requester: string;
}

export interface ProviderCapacity {
  running: number;
  slots: number;
  providerMs: number | undefined;
  modelMs: ReadonlyMap<string, number>;
}

export interface QueueOverview {
  providers: ProviderLine[];
  /** The member's generations waiting or running, oldest first. */
  mine: OpenGeneration[];
  /** The member's limits and what is left of them (none: no account yet). */
  limits?: LimitsLeft;
}

/**
 * What runs and waits on each provider's queue, and where a member's own generations
 * stand: the read side behind /queue. Counts come from BullMQ; a position is the job's place
 * in the order workers take its queue's jobs (the plain wait list, then the prioritized set).
 */
export interface QueueBoardDeps {
  queues: Queues;
  /** The connection the queues' lists are read with. */
  redis: Redis;
  catalog: Catalog;
  economy: Economy;
  generations: GenerationService;
  limits: MemberLimits;
  estimates: QueueEstimates;
}

export class QueueBoard {
  readonly #d: QueueBoardDeps;

  constructor(deps: QueueBoardDeps) {
    this.#d = deps;
  }

  /** Whether moderators are exempt from the member limits. */
  get exemptsModerators(): boolean {
    return this.#d.limits.settings.exemptModerators;
  }

  /** `exempt`: the member is not limited (a moderator, unless the operator says otherwise). */
  async overview(accountId: string | undefined, exempt = false): Promise<QueueOverview> {
    const { catalog } = this.#d;
    const byProvider = new Map<string, string[]>();
    for (const model of catalog.list())
      byProvider.set(model.provider, [...(byProvider.get(model.provider) ?? []), model.id]);
    const [providers, mine, limits] = await Promise.all([
      Promise.all([...byProvider].map(([provider, models]) => this.#line(provider, models))),
      accountId ? this.#open(accountId) : Promise.resolve([]),
      accountId ? this.#d.limits.left(accountId, exempt) : Promise.resolve(undefined),
    ]);
    return { providers, mine, ...(limits ? { limits } : {}) };
  }

  /**
   * When a job at `position` of `provider`'s queue should start and be done, from the
   * provider's worker slots and recent run times; undefined while that is unknown.
   */
  async waitFor(
    provider: string,
    model: string,
    position: number,
  ): Promise<WaitEstimate | undefined> {
    return this.estimate(await this.capacity(provider), model, position);
  }

  /**
   * The next `limit` jobs of each provider's queue, in the order they will start, with who
   * asked for them (one read each): what a moderator sees, and may cancel, in /queue.
   */
  async waiting(limit: number): Promise<WaitingJob[]> {
    const { queues, redis, generations, catalog } = this.#d;
    const providers = [...new Set(catalog.list().map((m) => m.provider))];
    const jobs: WaitingJob[] = [];
    for (const provider of providers) {
      const queue = queues.generation(provider);
      const plain = (await redis.lrange(queue.toKey('wait'), -limit, -1)).reverse();
      const later =
        plain.length < limit
          ? await redis.zrange(queue.toKey('prioritized'), 0, limit - plain.length - 1)
          : [];
      const docs = await Promise.all([...plain, ...later].map((id) => generations.find(id)));
      docs.forEach((doc, i) => {
        if (doc)
          jobs.push({
            id: doc._id,
            provider,
            model: doc.model,
            position: i + 1,
            requester: doc.requesterName ?? doc.requestedBy,
          });
      });
    }
    return jobs;
  }

  /** What serves `provider` now: running jobs, worker slots, recent run times by model. */
  async capacity(provider: string): Promise<ProviderCapacity> {
    const { queues, estimates } = this.#d;
    const [counts, slots, durations] = await Promise.all([
      queues.generation(provider).getJobCounts('active'),
      estimates.slots(provider),
      estimates.durationsOf(provider),
    ]);
    return { running: counts.active ?? 0, slots, ...durations };
  }

  estimate(c: ProviderCapacity, model: string, position: number): WaitEstimate | undefined {
    return estimateWait({
      position,
      running: c.running,
      slots: c.slots,
      providerMs: c.providerMs,
      modelMs: c.modelMs.get(model),
    });
  }

  async #line(provider: string, models: string[]): Promise<ProviderLine> {
    const counts = await this.#d.queues
      .generation(provider)
      .getJobCounts('active', 'waiting', 'prioritized', 'delayed');
    return {
      provider,
      running: counts.active ?? 0,
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0) + (counts.delayed ?? 0),
      models,
    };
  }

  /**
   * The member's open generations, oldest first: the slots their account holds (the member
   * limits keep that set), with what older releases left found among their newest holds.
   */
  async #open(accountId: string): Promise<OpenGeneration[]> {
    const { economy, generations, limits } = this.#d;
    const { held } = await economy.balance(accountId);
    if (held === 0) return [];
    const [slots, recent] = await Promise.all([
      limits.open(accountId),
      economy.recentHolds(accountId, { skip: 0, limit: QUEUE_LOOKBACK }),
    ]);
    const ids = [...new Set([...slots, ...recent.holdIds])];
    const docs = (await Promise.all(ids.map((id) => generations.find(id)))).sort(
      (a, b) => (a?.createdAt.getTime() ?? 0) - (b?.createdAt.getTime() ?? 0),
    );
    const capacity = new Map<string, Promise<ProviderCapacity>>();
    const open: OpenGeneration[] = [];
    for (const doc of docs) {
      if (!doc || (doc.status !== 'queued' && doc.status !== 'processing')) continue;
      const provider = doc.provider;
      const entry: OpenGeneration = {
        id: doc._id,
        model: doc.model,
        provider,
        status: doc.status,
        createdAt: doc.createdAt.toISOString(),
      };
      if (doc.status === 'queued') {
        const position = await this.position(provider, doc._id);
        if (position !== undefined) {
          entry.position = position;
          let known = capacity.get(provider);
          if (!known) capacity.set(provider, (known = this.capacity(provider)));
          const wait = this.estimate(await known, doc.model, position);
          if (wait) entry.wait = wait;
        }
      }
      open.push(entry);
    }
    return open;
  }

  /** A waiting job's place in its queue, 1 = next; undefined once it is not waiting. */
  async position(provider: string, id: string): Promise<number | undefined> {
    const [position] = await this.positions(provider, [id]);
    return position;
  }

  /**
   * The places of waiting jobs in `provider`'s queue, in the order asked (see
   * `queuePositions`: O(log n) each, one script call per few hundred ids).
   */
  async positions(provider: string, ids: readonly string[]): Promise<(number | undefined)[]> {
    const queue = this.#d.queues.generation(provider);
    return queuePositions(
      this.#d.redis,
      { wait: queue.toKey('wait'), prioritized: queue.toKey('prioritized') },
      ids,
    );
  }
}
