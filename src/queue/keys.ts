/**
 * Every Redis key and pub/sub channel genbot names, built here and nowhere else, under one
 * prefix: `keyPrefix` in code, `QUEUE_PREFIX` in the environment (default `genbot`). Two
 * deployments on one Redis differ by it. BullMQ builds its queues' own keys under the same
 * prefix (`<keyPrefix>:generate-<provider>:wait`, `...:prioritized`, `...:failed`, ...), read
 * through `queue.toKey(...)`. The map of keys, with who writes and who reads each, is in
 * docs/architecture.md ("Redis keys").
 */
export class RedisKeys {
  constructor(readonly keyPrefix: string) {}

  /** Pub/sub: a running generation's progress, from workers to bots. */
  get progressChannel(): string {
    return `${this.keyPrefix}:progress`;
  }

  /** Pub/sub: a generation to abort, to every worker. */
  get cancelChannel(): string {
    return `${this.keyPrefix}:cancel`;
  }

  /**
   * String, no TTL: a random token set once. Every process remembers the one it saw; when it
   * is gone or different, Redis lost its data (a restart without persistence, a flush) and the
   * process repairs at once instead of at the next full sweep.
   */
  get dataEpoch(): string {
    return `${this.keyPrefix}:epoch`;
  }

  /** String with a TTL: the process that sweeps (reconciles) now. */
  get reconcileLock(): string {
    return `${this.keyPrefix}:reconcile:lock`;
  }

  /** Stream: finished generations for one platform's bots (a consumer group). */
  deliveryStream(platform: string): string {
    return `${this.keyPrefix}:deliveries:${platform}`;
  }

  /** String with a TTL: a generation's delivery was added (a replayed finish adds none). */
  deliveryMarker(generationId: string): string {
    return `${this.keyPrefix}:delivery:${generationId}`;
  }

  /** String with a TTL: one platform event was claimed by a bot process (answered once). */
  eventClaim(platform: string, digest: string): string {
    return `${this.keyPrefix}:${platform}:event:${digest}`;
  }

  /** Set: a member's open generations (`open`), or string: their last start (`last`, a TTL). */
  memberLimit(kind: 'open' | 'last', accountId: string): string {
    return `${this.keyPrefix}:limits:${kind}:${accountId}`;
  }

  /** Set with a TTL: a member's generations of one UTC day that count against the limit. */
  memberDay(accountId: string, day: string): string {
    return `${this.keyPrefix}:limits:day:${accountId}:${day}`;
  }

  /** Sorted set: every slot taken, by when, for the reconciler to free a crash's. */
  get heldSlots(): string {
    return `${this.keyPrefix}:limits:held`;
  }

  /**
   * String with a TTL: the seq of an account's newest ledger link a finish saw. A hint only
   * (the insert after it confirms it): a submit in a process that has not seen the account
   * reads that link instead of searching the chain.
   */
  ledgerHint(accountId: string): string {
    return `${this.keyPrefix}:ledger:hint:${accountId}`;
  }

  /** Hash: average run times by `provider:<id>` and `model:<id>`, for wait estimates. */
  get runTimes(): string {
    return `${this.keyPrefix}:eta`;
  }

  /** Hash: worker process -> `slots:expiry`, the slots serving one provider. */
  workerSlots(provider: string): string {
    return `${this.keyPrefix}:slots:${provider}`;
  }

  /** String with a TTL: where a Discord generation went on after its token expired. */
  discordContinued(generationId: string): string {
    return `${this.keyPrefix}:discord:continued:${generationId}`;
  }
}
