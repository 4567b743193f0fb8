import type { LedgerEntryDoc } from '../store/collections.js';

/** An account's newest link as this process last saw it. */
export interface Head {
  seq: number;
  available: number;
  held: number;
  /** Reserve entries in the chain up to here: the account's generations, in order. */
  holds: number;
}

/** The head of an account that has no link yet. */
export const EMPTY_HEAD: Head = { seq: 0, available: 0, held: 0, holds: 0 };

/** A link as a head; a link written before links counted their holds counts none. */
export function headOf(entry: LedgerEntryDoc): Head {
  return {
    seq: entry.seq,
    available: entry.availableAfter,
    held: entry.heldAfter,
    holds: entry.holds ?? 0,
  };
}

/** How many account heads a process remembers (the least recently used are forgotten). */
const HEAD_CACHE_SIZE = 50_000;

/**
 * Per account, the newest head this process has seen. Only a hint: the next change is
 * inserted right after it, and that insert confirms it (a change another process made since
 * takes the seq first, and this one reads it and moves on), so a change in the steady state
 * reads nothing. Shared by every change of the process, so it is owned by the `Economy` and handed
 * to whatever reads or rewrites the chain.
 */
export class HeadCache {
  readonly #heads = new Map<string, Head>();

  get(accountId: string): Head | undefined {
    return this.#heads.get(accountId);
  }

  /** Keeps `head` unless a newer one is known; the account becomes the most recently used. */
  remember(accountId: string, head: Head): void {
    const known = this.#heads.get(accountId);
    if (known && known.seq > head.seq) return;
    this.#heads.delete(accountId);
    this.#heads.set(accountId, head);
    if (this.#heads.size > HEAD_CACHE_SIZE) {
      const oldest = this.#heads.keys().next().value;
      if (oldest !== undefined) this.#heads.delete(oldest);
    }
  }

  /** Forgets every head: the links they point at were rewritten (the ledger migration). */
  clear(): void {
    this.#heads.clear();
  }
}
