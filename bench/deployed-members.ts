import type { Identity } from '../src/core/identity.js';
import { accountIdFor } from '../src/economy/ledger.js';

/**
 * The members of the deployed benchmark: Telegram users numbered 0 .. count-1, each with a
 * history in genbot's ledger (and a balance document in the minimal bot's store). The same
 * number names the same member in both systems' databases.
 */

/** Member `k`'s Telegram user id. */
export const memberUserId = (k: number): string => String(100_000_000 + k);

export const memberIdentity = (k: number): Identity => ({
  platform: 'telegram',
  id: memberUserId(k),
});

/** Member `k`'s genbot account, as genbot derives it from the identity. */
export const memberAccountId = (k: number): string => accountIdFor(memberIdentity(k));

/** Member `k`'s balance document in the minimal bot (keyed by the identity, as a bot would). */
export const minimalMemberId = (k: number): string => `telegram:${memberUserId(k)}`;

/**
 * Hands out members no process has seen yet, spread over the whole population (a fixed
 * permutation of 0 .. count-1, so consecutive picks are not neighbours in the store).
 */
export class MemberPool {
  readonly #count: number;
  #next = 0;

  constructor(count: number) {
    this.#count = count;
  }

  get used(): number {
    return this.#next;
  }

  /** `n` members never handed out before. */
  take(n: number): number[] {
    if (this.#next + n > this.#count)
      throw new Error(`member pool: ${n} more wanted, ${this.#count - this.#next} left`);
    const picked: number[] = [];
    for (let i = 0; i < n; i += 1) picked.push(this.#permuted((this.#next += 1) - 1));
    return picked;
  }

  /** A bijection of 0 .. count-1: multiply by a prime that does not divide the count. */
  #permuted(i: number): number {
    const primes = [7919, 7907, 7901, 7883];
    const step = primes.find((p) => this.#count % p !== 0) ?? 1;
    return (i * step + 13) % this.#count;
  }
}
