import { UserError } from '../core/errors.js';
import type { Identity } from '../core/identity.js';
import type { Collections } from '../store/collections.js';
import type { SettleOutcome } from '../store/recorded-result.js';
import { Accounts } from './accounts.js';
import { checkLedger, type LedgerViolation } from './audit.js';
import type { Balance } from './balance.js';
import { LedgerChain } from './chain.js';
import { HeadCache, type Head } from './head-cache.js';
import { holdOutcomes, recentHolds } from './hold-history.js';
import * as holds from './holds.js';
import type { Settlement, SettleInput } from './holds.js';
import { migrateLedger } from './migration.js';

export { accountIdFor } from './accounts.js';
export type { LedgerViolation } from './audit.js';
export { notEnoughPoints, type Balance } from './balance.js';
export { linkId, type LedgerKind } from './chain.js';
export type { Head } from './head-cache.js';
export { reserveKey, settleKey, type Settlement } from './holds.js';
export type { SettleOutcome };

/** A moderator's grant or revoke; `key` makes a repeated request a no-op. */
export interface PointsChange {
  accountId: string;
  amount: number;
  key: string;
  actor: string;
  reason: string;
}

/** From the config; `maxGrant` caps one grant or revoke, so a typo cannot move a fortune. */
export interface EconomyOptions {
  welcomePoints: number;
  maxGrant: number;
}

/**
 * The points economy, one object per process: the commands, the generation service and the
 * reconciler all go through it, so the caches it owns (account heads, identities' accounts)
 * and the per-account queue of changes are shared by every change the process makes. The
 * ledger itself is the chain of links in `chain.ts`; holds, accounts, the audit and the
 * migration each have their module, and this facade only composes them.
 */
export class Economy {
  readonly #m: Collections;
  readonly #options: EconomyOptions;
  /** Per account, the newest head this process has seen (a hint: the next insert confirms it). */
  readonly #heads = new HeadCache();
  readonly #chain: LedgerChain;
  readonly #accounts: Accounts;

  constructor(collections: Collections, options: EconomyOptions) {
    this.#m = collections;
    this.#options = options;
    this.#chain = new LedgerChain(collections, this.#heads);
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

  /** The head's balance: a ledger has no balance document, its newest link carries it. */
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
   * the balance) when the member cannot pay; nothing is written then. `hintSeq`: where a
   * shared hint says the account's chain stands. Returns the head the hold left.
   */
  async reserve(input: {
    accountId: string;
    amount: number;
    holdId: string;
    hintSeq?: number | undefined;
  }): Promise<Head> {
    return holds.reserve(this.#chain, input);
  }

  /**
   * Ends a hold; the first settle of a hold decides its outcome and later ones are told it
   * (see `settle` in `holds.ts`). Undefined: no hold.
   */
  async settle(input: SettleInput): Promise<Settlement | undefined> {
    return holds.settle(this.#chain, input);
  }

  /** An account's holds, newest first, a page at a time: `/history` and `/queue` read these. */
  async recentHolds(
    accountId: string,
    page: { skip: number; limit: number },
  ): Promise<{ total: number; holdIds: string[] }> {
    return recentHolds(this.#chain, accountId, page);
  }

  /** Every hold of an account, newest first, with how it ended (undefined: still open). */
  async holdOutcomes(accountId: string): Promise<{ holdId: string; outcome?: SettleOutcome }[]> {
    return holdOutcomes(this.#chain, accountId);
  }

  /** Whether points are (or were) held for `holdId`: its reserve entry exists. */
  async holdOf(holdId: string): Promise<boolean> {
    return holds.holdOf(this.#chain, holdId);
  }

  /** The settle entry of a hold, if the hold was settled. */
  async settlement(holdId: string): Promise<Settlement | undefined> {
    return holds.settlement(this.#chain, holdId);
  }

  /** Holds still open, oldest first, for the reconciler's full sweep. */
  async openHolds(
    olderThan: Date,
  ): Promise<{ holdId: string; accountId: string; amount: number }[]> {
    return holds.openHolds(this.#m.LedgerEntry, olderThan);
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
