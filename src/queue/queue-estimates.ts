import type { RedisKeys } from './keys.js';
import type { RedisRunner } from './member-limits.js';

/**
 * What a wait estimate is made of, kept in Redis for every process: how long runs of each
 * model and each provider took lately (a moving average the slot release updates when a
 * generation completes), and the worker slots serving each provider (each worker process
 * registers its own, refreshed while it runs, gone when it stops or dies).
 */
export const SLOT_TTL_MS = 45_000;

export interface WaitEstimate {
  startsInMs: number;
  doneInMs: number;
  /** Seconds until it starts (0: it is next and a slot is free). */
  startsInSeconds: number;
  /** Seconds until it is done. */
  doneInSeconds: number;
}

export class QueueEstimates {
  constructor(
    private readonly run: RedisRunner,
    private readonly keys: RedisKeys,
  ) {}

  get durationsKey(): string {
    return this.keys.runTimes;
  }

  #slotsKey(provider: string): string {
    return this.keys.workerSlots(provider);
  }

  /** A worker process serving `provider` with `slots` jobs at once, for the next TTL. */
  async register(provider: string, processId: string, slots: number, now = Date.now()) {
    await this.run((redis) =>
      redis.hset(this.#slotsKey(provider), processId, `${slots}:${now + SLOT_TTL_MS}`),
    );
  }

  async unregister(provider: string, processId: string): Promise<void> {
    await this.run((redis) => redis.hdel(this.#slotsKey(provider), processId));
  }

  /** Worker slots serving `provider` now, across processes. */
  async slots(provider: string, now = Date.now()): Promise<number> {
    const all = await this.run((redis) => redis.hgetall(this.#slotsKey(provider)));
    let total = 0;
    for (const value of Object.values(all)) {
      const [slots, until] = value.split(':').map(Number);
      if (slots && until && until > now) total += slots;
    }
    return total;
  }

  /** Recent run times (ms) of a provider's jobs, and of each model's, as far as known. */
  async durationsOf(
    provider: string,
  ): Promise<{ providerMs: number | undefined; modelMs: Map<string, number> }> {
    const all = await this.run((redis) => redis.hgetall(this.durationsKey));
    const modelMs = new Map<string, number>();
    for (const [field, value] of Object.entries(all))
      if (field.startsWith('model:')) modelMs.set(field.slice(6), Number(value));
    const p = all[`provider:${provider}`];
    return { providerMs: p ? Number(p) : undefined, modelMs };
  }
}

/**
 * When a waiting job should start and finish: the jobs ahead of it are shared by the free
 * and then all slots, each taking the provider's recent run time; then its own model's.
 * Undefined when a part is unknown (no slot serving, nothing measured yet): the member is
 * told there is no estimate rather than a guess.
 */
export function estimateWait(p: {
  position: number;
  running: number;
  slots: number;
  providerMs: number | undefined;
  modelMs: number | undefined;
}): WaitEstimate | undefined {
  if (p.slots <= 0 || p.providerMs === undefined) return undefined;
  const own = p.modelMs ?? p.providerMs;
  const ahead = Math.max(0, p.position - 1);
  const free = Math.max(0, p.slots - p.running);
  const rounds = ahead < free ? 0 : Math.floor((ahead - free) / p.slots) + 1;
  const startsInMs = rounds * p.providerMs;
  const doneInMs = startsInMs + own;
  return {
    startsInMs,
    doneInMs,
    startsInSeconds: Math.ceil(startsInMs / 1000),
    doneInSeconds: Math.ceil(doneInMs / 1000),
  };
}
