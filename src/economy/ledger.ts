import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../core/errors.js';
import { identityKey, type Identity } from '../core/identity.js';
import type { LedgerEntryDoc, StoreModels } from '../store/models.js';

export type LedgerKind = LedgerEntryDoc['kind'];
export type SettleOutcome = 'completed' | 'failed' | 'cancelled';

export interface Balance {
  available: number;
  held: number;
}

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

interface Change {
  kind: LedgerKind;
  availableDelta: number;
  heldDelta: number;
  holdId?: string;
  outcome?: SettleOutcome;
  actor?: string;
  reason?: string;
}

/** The refusal a member sees when a generation costs more than they have available. */
export function notEnoughPoints(price: number, balance: Balance): UserError {
  return new UserError(
    'not_enough_points',
    `Not enough points: this costs ${price} and you have ${balance.available} available.`,
    { details: { price, ...balance } },
  );
}

/** How many times a change is retried when other changes to the same account win the race. */
const MAX_ATTEMPTS = 100;
const DUPLICATE_KEY = 11000;

function isDuplicateKey(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { code?: unknown }).code === DUPLICATE_KEY
  );
}

/** Account ids are derived from the first identity, so concurrent first commands agree. */
export function accountIdFor(identity: Identity): string {
  return `acc_${createHash('sha256').update(identityKey(identity)).digest('hex').slice(0, 20)}`;
}

export const reserveKey = (holdId: string): string => `hold:${holdId}:reserve`;
export const settleKey = (holdId: string): string => `hold:${holdId}:settle`;

export interface Settlement {
  captured: number;
  released: number;
  outcome: SettleOutcome;
  /** False when an earlier settle had already decided the outcome. */
  won: boolean;
}

/**
 * The points ledger: per account, a chain of entries, each carrying the balance after it.
 * A change reads the head, checks its guard (`available >= cost`), and inserts the next link
 * with `seq = head.seq + 1`. The unique `(accountId, seq)` index lets exactly one of any
 * concurrent changes win; the others re-read and retry. One insert is the whole change, so a
 * crash can never leave it half applied, and the `_id` (the idempotency key) makes a
 * repeated change a no-op. This needs no transactions and no atomic conditional update.
 */
export class Economy {
  readonly #m: StoreModels;
  readonly #options: EconomyOptions;
  /** Per account, the last queued change of this process. */
  readonly #tails = new Map<string, Promise<void>>();

  constructor(models: StoreModels, options: EconomyOptions) {
    this.#m = models;
    this.#options = options;
  }

  /** The account behind an identity, created (with any welcome points) on first use. */
  async ensureAccount(identity: Identity, displayName = ''): Promise<string> {
    const key = identityKey(identity);
    const existing = await this.#m.Identity.findById(key).lean();
    if (existing) {
      if (displayName && existing.displayName !== displayName) {
        await this.#m.Identity.updateOne({ _id: key }, { $set: { displayName } });
      }
      return existing.accountId;
    }
    const accountId = accountIdFor(identity);
    await ignoreDuplicate(this.#m.Account.create({ _id: accountId, displayName }));
    await ignoreDuplicate(
      this.#m.Identity.create({
        _id: key,
        accountId,
        platform: identity.platform,
        platformId: identity.id,
        displayName,
      }),
    );
    const identityDoc = await this.#m.Identity.findById(key).lean();
    if (!identityDoc) throw new Error(`identity ${key} vanished after insert`);
    if (this.#options.welcomePoints > 0) {
      await this.#append(identityDoc.accountId, `welcome:${identityDoc.accountId}`, () => ({
        kind: 'grant',
        availableDelta: this.#options.welcomePoints,
        heldDelta: 0,
        actor: 'system',
        reason: 'welcome points',
      }));
    }
    return identityDoc.accountId;
  }

  /** The account of an identity, without creating one. */
  async findAccount(identity: Identity): Promise<string | undefined> {
    const doc = await this.#m.Identity.findById(identityKey(identity)).lean();
    return doc?.accountId;
  }

  async #head(accountId: string): Promise<{ seq: number; available: number; held: number }> {
    const head = await this.#m.LedgerEntry.findOne({ accountId }).sort({ seq: -1 }).lean();
    return head
      ? { seq: head.seq, available: head.availableAfter, held: head.heldAfter }
      : { seq: 0, available: 0, held: 0 };
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
    const { available, held } = await this.#head(accountId);
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
    await this.#append(input.accountId, `grant:${input.key}`, () => ({
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
    await this.#append(input.accountId, `revoke:${input.key}`, (head) => {
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
    await this.#append(input.accountId, reserveKey(input.holdId), (head) => {
      if (head.available < input.amount) throw notEnoughPoints(input.amount, head);
      return {
        kind: 'reserve',
        availableDelta: -input.amount,
        heldDelta: input.amount,
        holdId: input.holdId,
      };
    });
  }

  /**
   * Ends a hold: captures `capture` points and returns the rest. The first settle of a hold
   * wins and decides the outcome; later ones (a replayed job, a cancel racing a finish) get
   * that first result back, so nothing is ever captured twice. Undefined: no hold exists.
   */
  async settle(input: {
    holdId: string;
    capture: number;
    outcome: SettleOutcome;
  }): Promise<Settlement | undefined> {
    const reserve = await this.#m.LedgerEntry.findById(reserveKey(input.holdId)).lean();
    if (!reserve) return undefined;
    const held = reserve.heldDelta;
    const capture = Math.max(0, Math.min(held, Math.floor(input.capture)));
    const inserted = await this.#append(reserve.accountId, settleKey(input.holdId), () => ({
      kind: 'settle',
      availableDelta: held - capture,
      heldDelta: -held,
      holdId: input.holdId,
      outcome: input.outcome,
    }));
    const entry = await this.#m.LedgerEntry.findById(settleKey(input.holdId)).lean();
    if (!entry) throw new Error(`settle entry for ${input.holdId} vanished`);
    return {
      captured: -entry.amount,
      released: entry.availableDelta,
      outcome: entry.outcome ?? input.outcome,
      won: inserted,
    };
  }

  /** Whether points are (or were) held for `holdId`: its reserve entry exists. */
  async holdOf(holdId: string): Promise<boolean> {
    return this.#exists(reserveKey(holdId));
  }

  /** The settle entry of a hold, if the hold was settled. */
  async settlement(holdId: string): Promise<Settlement | undefined> {
    const entry = await this.#m.LedgerEntry.findById(settleKey(holdId)).lean();
    if (!entry) return undefined;
    return {
      captured: -entry.amount,
      released: entry.availableDelta,
      outcome: entry.outcome ?? 'failed',
      won: false,
    };
  }

  /**
   * Appends one change to an account's chain. `build` sees the current head and returns the
   * change, or throws to refuse it (nothing is written then). Returns true when this call
   * wrote the entry, false when an entry with the same key already existed.
   */
  async #append(
    accountId: string,
    key: string,
    build: (head: Balance) => Change,
  ): Promise<boolean> {
    // Changes to one account from this process queue up here instead of racing each other
    // in the database; the unique seq still decides between processes.
    const previous = this.#tails.get(accountId) ?? Promise.resolve();
    const run = previous.then(() => this.#appendNow(accountId, key, build));
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(accountId, tail);
    void tail.then(() => {
      if (this.#tails.get(accountId) === tail) this.#tails.delete(accountId);
    });
    return run;
  }

  async #appendNow(
    accountId: string,
    key: string,
    build: (head: Balance) => Change,
  ): Promise<boolean> {
    if (await this.#exists(key)) return false;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
      const head = await this.#head(accountId);
      const change = build(head);
      try {
        await this.#m.LedgerEntry.create({
          _id: key,
          accountId,
          seq: head.seq + 1,
          kind: change.kind,
          availableDelta: change.availableDelta,
          heldDelta: change.heldDelta,
          amount: change.availableDelta + change.heldDelta,
          availableAfter: head.available + change.availableDelta,
          heldAfter: head.held + change.heldDelta,
          holdId: change.holdId,
          outcome: change.outcome,
          actor: change.actor,
          reason: change.reason,
        });
        return true;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        if (await this.#exists(key)) return false;
        // Another process took this seq first: re-read the head and try again, after a
        // random pause that grows with each loss so a crowd of contenders spreads out.
        await sleep(Math.floor(Math.random() * Math.min(250, 2 ** attempt)));
      }
    }
    throw new Error(
      `ledger: account ${accountId} is too contended; gave up after ${MAX_ATTEMPTS} attempts`,
    );
  }

  async #exists(key: string): Promise<boolean> {
    return (await this.#m.LedgerEntry.countDocuments({ _id: key })) > 0;
  }

  /** Reserve entries whose hold is still open, oldest first, for the reconciler. */
  async openHolds(
    olderThan: Date,
  ): Promise<{ holdId: string; accountId: string; amount: number }[]> {
    const reserves = await this.#m.LedgerEntry.find({
      kind: 'reserve',
      createdAt: { $lte: olderThan },
    })
      .sort({ createdAt: 1 })
      .lean();
    const open: { holdId: string; accountId: string; amount: number }[] = [];
    for (const reserve of reserves) {
      if (!reserve.holdId) continue;
      if ((await this.#m.LedgerEntry.countDocuments({ _id: settleKey(reserve.holdId) })) === 0) {
        open.push({
          holdId: reserve.holdId,
          accountId: reserve.accountId,
          amount: reserve.heldDelta,
        });
      }
    }
    return open;
  }

  /**
   * Verifies every account's chain: each link follows from the one before, the balance
   * (available + held) equals the sum of the ledger, held equals the sum of open holds,
   * nothing is negative, and no hold is settled that was never reserved.
   */
  async check(): Promise<LedgerViolation[]> {
    const violations: LedgerViolation[] = [];
    const cursor = this.#m.LedgerEntry.find({}).sort({ accountId: 1, seq: 1 }).lean().cursor();
    let current: AccountTally | undefined;
    const finish = (t: AccountTally): void => {
      let openHolds = 0;
      for (const [holdId, amount] of t.reserves) if (!t.settled.has(holdId)) openHolds += amount;
      for (const holdId of t.settled) {
        if (!t.reserves.has(holdId)) {
          violations.push({
            accountId: t.accountId,
            rule: 'settle-without-hold',
            detail: `hold ${holdId} settled but never reserved`,
          });
        }
      }
      if (t.available + t.held !== t.total) {
        violations.push({
          accountId: t.accountId,
          rule: 'balance-equals-ledger',
          detail: `available ${t.available} + held ${t.held} != sum of ledger ${t.total}`,
        });
      }
      if (t.held !== openHolds) {
        violations.push({
          accountId: t.accountId,
          rule: 'held-equals-open-holds',
          detail: `held ${t.held} != open holds ${openHolds}`,
        });
      }
    };
    for await (const raw of cursor) {
      const e = raw as LedgerEntryDoc;
      if (!current || current.accountId !== e.accountId) {
        if (current) finish(current);
        current = {
          accountId: e.accountId,
          seq: 0,
          available: 0,
          held: 0,
          total: 0,
          reserves: new Map(),
          settled: new Set(),
        };
      }
      const t = current;
      if (e.seq !== t.seq + 1) {
        violations.push({
          accountId: t.accountId,
          rule: 'chain',
          detail: `entry ${e._id} has seq ${e.seq} after ${t.seq}`,
        });
      }
      if (
        e.availableAfter !== t.available + e.availableDelta ||
        e.heldAfter !== t.held + e.heldDelta
      ) {
        violations.push({
          accountId: t.accountId,
          rule: 'chain',
          detail: `entry ${e._id} does not follow from the one before`,
        });
      }
      if (e.amount !== e.availableDelta + e.heldDelta) {
        violations.push({
          accountId: t.accountId,
          rule: 'chain',
          detail: `entry ${e._id} amount is not its deltas' sum`,
        });
      }
      t.seq = e.seq;
      t.available = e.availableAfter;
      t.held = e.heldAfter;
      t.total += e.amount;
      if (t.available < 0 || t.held < 0) {
        violations.push({
          accountId: t.accountId,
          rule: 'not-negative',
          detail: `after ${e._id}: available ${t.available}, held ${t.held}`,
        });
      }
      if (e.kind === 'reserve' && e.holdId) t.reserves.set(e.holdId, e.heldDelta);
      if (e.kind === 'settle' && e.holdId) t.settled.add(e.holdId);
    }
    if (current) finish(current);
    return violations;
  }
}

interface AccountTally {
  accountId: string;
  seq: number;
  available: number;
  held: number;
  total: number;
  reserves: Map<string, number>;
  settled: Set<string>;
}

export interface LedgerViolation {
  accountId: string;
  rule:
    | 'balance-equals-ledger'
    | 'held-equals-open-holds'
    | 'not-negative'
    | 'settle-without-hold'
    | 'chain';
  detail: string;
}

async function ignoreDuplicate(write: Promise<unknown>): Promise<void> {
  try {
    await write;
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
  }
}
