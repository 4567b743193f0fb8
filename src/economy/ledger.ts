import { UserError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import type { LedgerEntryDoc, Collections } from '../store/collections.js';
import {
  recordedResultOf,
  type RecordedResult,
  type SettleOutcome,
} from '../store/recorded-result.js';
import { Accounts } from './accounts.js';
import { checkLedger, type LedgerViolation } from './audit.js';
import { notEnoughPoints, type Balance } from './balance.js';
import { LedgerChain, WALK_CHUNK } from './chain.js';
import { HeadCache } from './head-cache.js';
import { migrateLedger } from './migration.js';

export { accountIdFor } from './accounts.js';
export type { LedgerKind } from './chain.js';
export { linkId } from './chain.js';
export { notEnoughPoints, type Balance } from './balance.js';
export type { SettleOutcome };
export type { LedgerViolation } from './audit.js';

/** A moderator's grant or revoke; `key` makes a repeated request a no-op. */
export interface PointsChange {
  accountId: string;
  amount: number;
  key: string;
  actor: string;
  reason: string;
}

export interface EconomyOptions {
  welcomePoints: number;
  maxGrant: number;
}

/** A settle for a hold that was never reserved (nothing to end). */
class NoHold extends Error {
  override readonly name = 'NoHold';
}

function settlementOf(entry: LedgerEntryDoc): Omit<Settlement, 'won'> {
  const result = recordedResultOf(entry.result);
  return {
    captured: -entry.amount,
    released: entry.availableDelta,
    outcome: entry.outcome ?? 'failed',
    ...(entry.createdAt ? { at: new Date(entry.createdAt) } : {}),
    ...(result ? { result } : {}),
  };
}

export const reserveKey = (holdId: string): string => `hold:${holdId}:reserve`;
export const settleKey = (holdId: string): string => `hold:${holdId}:settle`;

export interface Settlement {
  captured: number;
  released: number;
  outcome: SettleOutcome;
  /** False when an earlier settle had already decided the outcome. */
  won: boolean;
  /**
   * What the deciding settle recorded of the result (see `settle`'s `result`); none on an
   * entry written before results were recorded with the settle.
   */
  result?: RecordedResult;
  /** When the deciding settle was written. */
  at?: Date;
}

/**
 * The points ledger: per account, a chain of entries `<account>:1`, `<account>:2`, ..., each
 * carrying the balance after it. A change finds the head (this process remembers the last
 * head it saw and probes the next `_id` to confirm it is still the newest), checks its guard
 * (`available >= cost`), and inserts the next link. The unique `_id` lets exactly one of any
 * concurrent changes take a seq; the others move to the new head and try again. One insert
 * is the whole change, so a crash never leaves it half applied, and the unique `key` makes a
 * repeated change a no-op. No transactions, no atomic conditional update, no sorted query:
 * a change in the steady state is one `_id` read and one insert.
 */
export class Economy {
  readonly #m: Collections;
  readonly #options: EconomyOptions;
  /** Per account, the newest head this process has seen (a hint: always confirmed). */
  readonly #heads = new HeadCache();
  readonly #chain: LedgerChain;
  readonly #accounts: Accounts;

  constructor(collections: Collections, options: EconomyOptions) {
    this.#m = collections;
    this.#options = options;
    this.#chain = new LedgerChain(collections.LedgerEntry, this.#heads);
    this.#accounts = new Accounts({
      collections,
      chain: this.#chain,
      welcomePoints: options.welcomePoints,
    });
  }

  /** The account behind an identity, created (with any welcome points) on first use. */
  async ensureAccount(identity: Identity, displayName = ''): Promise<string> {
    return this.#accounts.ensure(identity, displayName);
  }

  /** The account of an identity, without creating one. */
  async findAccount(identity: Identity): Promise<string | undefined> {
    return this.#accounts.find(identity);
  }

  /** What a member who has no account yet would start with (nothing is created). */
  openingBalance(): Balance {
    return { available: this.#options.welcomePoints, held: 0 };
  }

  /** The balance of an identity, without creating an account for it. */
  async balanceOf(identity: Identity): Promise<Balance> {
    const accountId = await this.findAccount(identity);
    return accountId ? this.balance(accountId) : this.openingBalance();
  }

  async balance(accountId: string): Promise<Balance> {
    const { available, held } = await this.#chain.head(accountId);
    return { available, held };
  }

  /** Refuses an amount no grant or revoke may move, before anything is looked up or written. */
  checkAmount(amount: number): void {
    if (!Number.isInteger(amount) || amount <= 0) {
      throw new UserError(
        'invalid_input',
        `Points must be a whole number above zero (got ${amount}).`,
      );
    }
    if (amount > this.#options.maxGrant) {
      throw new UserError(
        'invalid_input',
        `At most ${this.#options.maxGrant} points can be moved at once (got ${amount}).`,
      );
    }
  }

  /** Adds points. Moderators only: the command layer checks the role. */
  async grant(input: PointsChange): Promise<Balance> {
    this.checkAmount(input.amount);
    await this.#chain.append(input.accountId, `grant:${input.key}`, () => ({
      kind: 'grant',
      availableDelta: input.amount,
      heldDelta: 0,
      actor: input.actor,
      reason: input.reason,
    }));
    return this.balance(input.accountId);
  }

  /** Takes available points away; never more than the member has available. */
  async revoke(input: PointsChange): Promise<Balance> {
    this.checkAmount(input.amount);
    await this.#chain.append(input.accountId, `revoke:${input.key}`, (head) => {
      if (head.available < input.amount) {
        throw new UserError(
          'not_enough_points',
          `Cannot revoke ${input.amount} points: only ${head.available} are available.`,
          { details: { available: head.available, held: head.held } },
        );
      }
      return {
        kind: 'revoke',
        availableDelta: -input.amount,
        heldDelta: 0,
        actor: input.actor,
        reason: input.reason,
      };
    });
    return this.balance(input.accountId);
  }

  /**
   * Holds `amount` points for a generation. Throws `not_enough_points` (with the price and
   * the balance) when the member cannot pay; nothing is written then.
   */
  async reserve(input: { accountId: string; amount: number; holdId: string }): Promise<void> {
    if (!Number.isInteger(input.amount) || input.amount < 0)
      throw new Error(`bad hold amount ${input.amount}`);
    await this.#chain.append(
      input.accountId,
      reserveKey(input.holdId),
      (head) => {
        if (head.available < input.amount) throw notEnoughPoints(input.amount, head);
        return {
          kind: 'reserve',
          availableDelta: -input.amount,
          heldDelta: input.amount,
          holdId: input.holdId,
        };
      },
      false,
    );
  }

  /**
   * Ends a hold: captures `capture` points and returns the rest. The first settle of a hold
   * wins and decides the outcome; later ones (a replayed job, a cancel racing a finish) get
   * that first result back, so nothing is ever captured twice. `hold` is the account and
   * amount held when the caller knows them (the job carries them); without it the reserve
   * entry is looked up. `result` is recorded with the deciding settle. Undefined: no hold.
   */
  async settle(input: {
    holdId: string;
    capture: number;
    outcome: SettleOutcome;
    hold?: { accountId: string; amount: number } | undefined;
    result?: RecordedResult | undefined;
  }): Promise<Settlement | undefined> {
    let hold = input.hold;
    if (!hold) {
      const reserve = await this.#chain.byKey(reserveKey(input.holdId));
      if (!reserve) return undefined;
      hold = { accountId: reserve.accountId, amount: reserve.heldDelta };
    }
    const held = hold.amount;
    const capture = Math.max(0, Math.min(held, Math.floor(input.capture)));
    const { entry, inserted } = await this.#chain
      .append(hold.accountId, settleKey(input.holdId), (head) => {
        // A hold is part of `held`; a head holding less cannot contain it (never reserved).
        if (head.held < held) throw new NoHold(input.holdId);
        return {
          kind: 'settle',
          availableDelta: held - capture,
          heldDelta: -held,
          holdId: input.holdId,
          outcome: input.outcome,
          result: input.result,
        };
      })
      .catch((error: unknown) => {
        if (error instanceof NoHold) return { entry: undefined, inserted: false };
        throw error;
      });
    if (!entry) return undefined;
    return { ...settlementOf(entry), won: inserted };
  }

  /**
   * An account's holds (one per generation it paid for), newest first: `skip` of them left
   * out, at most `limit` returned, and how many there are. The chain is the index: the
   * newest wanted is found by halving on `holds` (a count every link carries), then links
   * are read backwards by `_id` until enough reserves are found.
   */
  async recentHolds(
    accountId: string,
    page: { skip: number; limit: number },
  ): Promise<{ total: number; holdIds: string[] }> {
    const head = await this.#chain.head(accountId);
    const wanted = head.holds - page.skip;
    if (wanted <= 0 || page.limit <= 0) return { total: head.holds, holdIds: [] };
    // The first link whose count reaches `wanted` is that reserve.
    let from = head.seq;
    if (wanted < head.holds) {
      let low = 0;
      let high = head.seq;
      while (high - low > 1) {
        const mid = Math.floor((low + high) / 2);
        const entry = await this.#chain.link(accountId, mid);
        if ((entry?.holds ?? 0) >= wanted) high = mid;
        else low = mid;
      }
      from = high;
    }
    const holdIds: string[] = [];
    for await (const entry of this.#chain.backwards(accountId, from, page.limit * 3)) {
      if (entry.kind === 'reserve' && entry.holdId) holdIds.push(entry.holdId);
      if (holdIds.length >= page.limit) break;
    }
    return { total: head.holds, holdIds };
  }

  /**
   * Every hold of an account, newest first, with how it ended (undefined: still open), from
   * one backwards walk of its chain (a settle comes after its reserve, so it is seen first).
   */
  async holdOutcomes(accountId: string): Promise<{ holdId: string; outcome?: SettleOutcome }[]> {
    const head = await this.#chain.head(accountId);
    const ended = new Map<string, SettleOutcome>();
    const holds: { holdId: string; outcome?: SettleOutcome }[] = [];
    for await (const entry of this.#chain.backwards(accountId, head.seq, WALK_CHUNK)) {
      if (!entry.holdId) continue;
      if (entry.kind === 'settle') ended.set(entry.holdId, entry.outcome ?? 'failed');
      if (entry.kind === 'reserve') {
        const outcome = ended.get(entry.holdId);
        holds.push(outcome ? { holdId: entry.holdId, outcome } : { holdId: entry.holdId });
      }
    }
    return holds;
  }

  /** Whether points are (or were) held for `holdId`: its reserve entry exists. */
  async holdOf(holdId: string): Promise<boolean> {
    return (await this.#chain.byKey(reserveKey(holdId))) !== undefined;
  }

  /** The settle entry of a hold, if the hold was settled. */
  async settlement(holdId: string): Promise<Settlement | undefined> {
    const entry = await this.#chain.byKey(settleKey(holdId));
    return entry ? { ...settlementOf(entry), won: false } : undefined;
  }

  /**
   * Reserve entries whose hold is still open, oldest first, for the reconciler's full sweep:
   * two reads of the ledger (its reserves, its settles), not one lookup per hold.
   */
  async openHolds(
    olderThan: Date,
  ): Promise<{ holdId: string; accountId: string; amount: number }[]> {
    const [reserves, settles] = await Promise.all([
      this.#m.LedgerEntry.find(
        { kind: 'reserve', createdAt: { $lte: olderThan } },
        { holdId: 1, accountId: 1, heldDelta: 1, createdAt: 1 },
      ).lean(),
      this.#m.LedgerEntry.find({ kind: 'settle' }, { holdId: 1 }).lean(),
    ]);
    const settled = new Set(settles.map((e) => e.holdId));
    return reserves
      .filter((r) => r.holdId && !settled.has(r.holdId))
      .sort((a, b) => new Date(a.createdAt).getTime() - new Date(b.createdAt).getTime())
      .map((r) => ({ holdId: r.holdId!, accountId: r.accountId, amount: r.heldDelta }));
  }

  /**
   * Moves entries of the layout before `<account>:<seq>` links into this one (see
   * `migrateLedger`); run at every start-up, cheap once done.
   */
  async migrateLedger(): Promise<number> {
    return migrateLedger(this.#m.LedgerEntry, this.#heads);
  }

  /**
   * Verifies every account's chain (see `checkLedger`); the answer of
   * `npm run cli -- ledger check`.
   */
  async check(): Promise<LedgerViolation[]> {
    return checkLedger(this.#m.LedgerEntry);
  }
}
