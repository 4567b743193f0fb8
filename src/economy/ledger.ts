import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { identityKey, type Identity } from '../core/identity.js';
import type { LedgerEntryDoc, Collections } from '../store/collections.js';
import {
  recordedResultOf,
  type RecordedResult,
  type SettleOutcome,
} from '../store/recorded-result.js';
import { isDuplicateKey, serverErrorCode } from '../store/server-errors.js';
import { checkLedger, type LedgerViolation } from './audit.js';

export type LedgerKind = LedgerEntryDoc['kind'];
export type { SettleOutcome };
export type { LedgerViolation } from './audit.js';

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
  result?: RecordedResult | undefined;
  actor?: string;
  reason?: string;
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

/** The refusal a member sees when a generation costs more than they have available. */
export function notEnoughPoints(price: number, balance: Balance): UserError {
  return new UserError(
    'not_enough_points',
    `Not enough points: this costs ${price} and you have ${balance.available} available.`,
    { details: { price, ...balance } },
  );
}

/** MongoDB's "ns not found": the collection does not exist yet (a new database). */
const NAMESPACE_NOT_FOUND = 26;
/** The `migrations` marker of the move to `<account>:<seq>` links. */
const LEDGER_MIGRATION = 'ledger-links-v2';

/**
 * An entry of the layout before `<account>:<seq>` links, whose `_id` was its key: what the
 * migration reads of it; every other field is copied as it is.
 */
const oldLayoutEntrySchema = z.looseObject({
  _id: z.string(),
  accountId: z.string(),
  seq: z.number(),
  kind: z.string(),
});

/** How many times a change is retried when other changes to the same account win the race. */
const MAX_ATTEMPTS = 100;

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
  /**
   * What the deciding settle recorded of the result (see `settle`'s `result`); none on an
   * entry written before results were recorded with the settle.
   */
  result?: RecordedResult;
  /** When the deciding settle was written. */
  at?: Date;
}

/** The `_id` of an account's link number `seq`. */
export const linkId = (accountId: string, seq: number): string => `${accountId}:${seq}`;

/** An account's newest link as this process last saw it. */
interface Head {
  seq: number;
  available: number;
  held: number;
  /** Reserve entries in the chain up to here: the account's generations, in order. */
  holds: number;
}

const EMPTY_HEAD: Head = { seq: 0, available: 0, held: 0, holds: 0 };

function headOf(entry: LedgerEntryDoc): Head {
  return {
    seq: entry.seq,
    available: entry.availableAfter,
    held: entry.heldAfter,
    holds: entry.holds ?? 0,
  };
}

/** Entries read at once when walking a chain backwards. */
const WALK_CHUNK = 32;

/** How many account heads a process remembers (the least recently used are forgotten). */
const HEAD_CACHE_SIZE = 50_000;

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
  /** Per account, the last queued change of this process. */
  readonly #tails = new Map<string, Promise<void>>();
  /**
   * Identity to account, as found: an identity's account never changes once made, so a
   * submit does not read it again (kept ten minutes, for when accounts can be linked).
   */
  readonly #accounts = new LRUCache<string, string>({ max: 50_000, ttl: 600_000 });
  /** Per account, the newest head this process has seen (a hint: always confirmed). */
  readonly #heads = new Map<string, Head>();

  constructor(collections: Collections, options: EconomyOptions) {
    this.#m = collections;
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
    const key = identityKey(identity);
    const known = this.#accounts.get(key);
    if (known) return known;
    const doc = await this.#m.Identity.findById(key).lean();
    if (doc) this.#accounts.set(key, doc.accountId);
    return doc?.accountId;
  }

  async #link(accountId: string, seq: number): Promise<LedgerEntryDoc | undefined> {
    return (await this.#m.LedgerEntry.findById(linkId(accountId, seq)).lean()) ?? undefined;
  }

  /**
   * The newest link of an account. From the remembered head: one probe of the next `_id`
   * (and a walk forward if other processes appended). Without one: probes 1, 2, 4, ... until a
   * link is missing, then halves the gap, about 2·log2(n) `_id` reads once per process.
   */
  async #head(accountId: string): Promise<Head> {
    let head = this.#heads.get(accountId);
    if (!head) {
      let low = 0; // a seq known to exist (0: the empty chain)
      let lowEntry: LedgerEntryDoc | undefined;
      let high = 1;
      for (;;) {
        const entry = await this.#link(accountId, high);
        if (!entry) break;
        low = high;
        lowEntry = entry;
        high *= 2;
      }
      while (high - low > 1) {
        const mid = Math.floor((low + high) / 2);
        const entry = await this.#link(accountId, mid);
        if (entry) {
          low = mid;
          lowEntry = entry;
        } else high = mid;
      }
      head = lowEntry ? headOf(lowEntry) : EMPTY_HEAD;
    }
    for (;;) {
      const next = await this.#link(accountId, head.seq + 1);
      if (!next) break;
      head = headOf(next);
    }
    this.#remember(accountId, head);
    return head;
  }

  #remember(accountId: string, head: Head): void {
    const known = this.#heads.get(accountId);
    if (known && known.seq > head.seq) return;
    this.#heads.delete(accountId);
    this.#heads.set(accountId, head);
    if (this.#heads.size > HEAD_CACHE_SIZE) {
      const oldest = this.#heads.keys().next().value;
      if (oldest !== undefined) this.#heads.delete(oldest);
    }
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
    await this.#append(
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
      const reserve = await this.#byKey(reserveKey(input.holdId));
      if (!reserve) return undefined;
      hold = { accountId: reserve.accountId, amount: reserve.heldDelta };
    }
    const held = hold.amount;
    const capture = Math.max(0, Math.min(held, Math.floor(input.capture)));
    const { entry, inserted } = await this.#append(
      hold.accountId,
      settleKey(input.holdId),
      (head) => {
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
      },
    ).catch((error: unknown) => {
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
    const head = await this.#head(accountId);
    const wanted = head.holds - page.skip;
    if (wanted <= 0 || page.limit <= 0) return { total: head.holds, holdIds: [] };
    // The first link whose count reaches `wanted` is that reserve.
    let from = head.seq;
    if (wanted < head.holds) {
      let low = 0;
      let high = head.seq;
      while (high - low > 1) {
        const mid = Math.floor((low + high) / 2);
        const entry = await this.#link(accountId, mid);
        if ((entry?.holds ?? 0) >= wanted) high = mid;
        else low = mid;
      }
      from = high;
    }
    const holdIds: string[] = [];
    for await (const entry of this.#backwards(accountId, from, page.limit * 3)) {
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
    const head = await this.#head(accountId);
    const ended = new Map<string, SettleOutcome>();
    const holds: { holdId: string; outcome?: SettleOutcome }[] = [];
    for await (const entry of this.#backwards(accountId, head.seq, WALK_CHUNK)) {
      if (!entry.holdId) continue;
      if (entry.kind === 'settle') ended.set(entry.holdId, entry.outcome ?? 'failed');
      if (entry.kind === 'reserve') {
        const outcome = ended.get(entry.holdId);
        holds.push(outcome ? { holdId: entry.holdId, outcome } : { holdId: entry.holdId });
      }
    }
    return holds;
  }

  /** An account's links from `fromSeq` down to 1, read by `_id` a chunk at a time. */
  async *#backwards(
    accountId: string,
    fromSeq: number,
    firstChunk: number,
  ): AsyncGenerator<LedgerEntryDoc> {
    let chunk = Math.max(1, Math.min(WALK_CHUNK, firstChunk));
    for (let top = fromSeq; top >= 1; top -= chunk, chunk = WALK_CHUNK) {
      const seqs: number[] = [];
      for (let seq = top; seq > Math.max(0, top - chunk); seq -= 1) seqs.push(seq);
      const entries = await Promise.all(seqs.map((seq) => this.#link(accountId, seq)));
      for (const entry of entries) if (entry) yield entry;
    }
  }

  /** Whether points are (or were) held for `holdId`: its reserve entry exists. */
  async holdOf(holdId: string): Promise<boolean> {
    return (await this.#byKey(reserveKey(holdId))) !== undefined;
  }

  /** The settle entry of a hold, if the hold was settled. */
  async settlement(holdId: string): Promise<Settlement | undefined> {
    const entry = await this.#byKey(settleKey(holdId));
    return entry ? { ...settlementOf(entry), won: false } : undefined;
  }

  /**
   * The entry of a change by its key. Off the hot path (a replayed or refused change, the
   * reconciler): `key` is indexed on mongod; the embedded server answers only `_id` lookups
   * from an index and scans for this one.
   */
  async #byKey(key: string): Promise<LedgerEntryDoc | undefined> {
    return (await this.#m.LedgerEntry.findOne({ key }).lean()) ?? undefined;
  }

  /**
   * Appends one change to an account's chain. `build` sees the current head and returns the
   * change, or throws to refuse it (nothing is written then). Returns the entry of that key
   * and whether this call wrote it (false: an entry with the same key already existed).
   */
  async #append(
    accountId: string,
    key: string,
    build: (head: Balance) => Change,
    replayable = true,
  ): Promise<{ entry: LedgerEntryDoc; inserted: boolean }> {
    // Changes to one account from this process queue up here instead of racing each other
    // in the database; the unique `_id` still decides between processes.
    const previous = this.#tails.get(accountId) ?? Promise.resolve();
    const run = previous.then(() => this.#appendNow(accountId, key, build, replayable));
    // The tail only orders the next change after this one; this change's error reaches its
    // caller through `run`, so the tail drops it.
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
    replayable: boolean,
  ): Promise<{ entry: LedgerEntryDoc; inserted: boolean }> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
      const head = await this.#head(accountId);
      let change: Change;
      try {
        change = build(head);
      } catch (refusal) {
        // A change already made is not refused now that its effect is in the balance. A hold
        // is never asked twice (its generation's insert decided who holds), so a refused hold
        // (a member out of points, the common refusal) costs no lookup by key.
        const done = replayable ? await this.#byKey(key) : undefined;
        if (done) return { entry: done, inserted: false };
        throw refusal;
      }
      const seq = head.seq + 1;
      const entry = {
        _id: linkId(accountId, seq),
        key,
        accountId,
        seq,
        kind: change.kind,
        availableDelta: change.availableDelta,
        heldDelta: change.heldDelta,
        amount: change.availableDelta + change.heldDelta,
        availableAfter: head.available + change.availableDelta,
        heldAfter: head.held + change.heldDelta,
        holds: head.holds + (change.kind === 'reserve' ? 1 : 0),
        holdId: change.holdId,
        outcome: change.outcome,
        result: change.result,
        actor: change.actor,
        reason: change.reason,
      };
      try {
        const created = await this.#m.LedgerEntry.create(entry);
        const doc: LedgerEntryDoc = created.toObject();
        this.#remember(accountId, headOf(doc));
        return { entry: doc, inserted: true };
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        // Either another change took this seq, or this key was applied before (its unique
        // index). The link at this seq tells which.
        const taken = await this.#link(accountId, seq);
        if (taken?.key === key) return { entry: taken, inserted: false };
        if (!taken) {
          const done = await this.#byKey(key);
          if (done) return { entry: done, inserted: false };
          continue;
        }
        this.#remember(accountId, headOf(taken));
        // Another process took this seq first: try again at the new head, after a random
        // pause that grows with each loss so a crowd of contenders spreads out.
        await sleep(Math.floor(Math.random() * Math.min(250, 2 ** attempt)));
      }
    }
    throw new Error(
      `ledger: account ${accountId} is too contended; gave up after ${MAX_ATTEMPTS} attempts`,
    );
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
   * Rewrites entries of the layout before `<account>:<seq>` ids (their `_id` was the key) into
   * this one, keeping seq, balances and time. Idempotent and safe to run from every process at
   * start-up: an entry is inserted under its new id (a duplicate means another run did it)
   * before its old one is deleted, so a crash between the two leaves a copy that the next run
   * removes. Returns how many entries were moved.
   */
  async migrateLedger(): Promise<number> {
    const collection = this.#m.LedgerEntry.collection;
    // Cheap when there is nothing to do (every start-up but the first after the upgrade): an
    // old ledger still has the old layout's unique (accountId, seq) index, which would refuse
    // the new copy of each entry and is dropped first; a migration cut short after that left
    // its marker behind. Neither: no old entries, and no scan of the ledger.
    const markers = this.#m.LedgerEntry.db.collection<{ _id: string; done: boolean }>('migrations');
    const indexes = await collection.indexes().catch((error: unknown) => {
      if (serverErrorCode(error) === NAMESPACE_NOT_FOUND) return [];
      throw error;
    });
    const oldIndex = indexes.some((i) => i.name === 'accountId_1_seq_1');
    if (!oldIndex) {
      const marker = await markers.findOne({ _id: LEDGER_MIGRATION });
      if (!marker || marker.done) return 0;
    } else {
      await markers.updateOne(
        { _id: LEDGER_MIGRATION },
        { $set: { done: false } },
        { upsert: true },
      );
      await collection.dropIndex('accountId_1_seq_1');
    }
    const old = await collection
      .find({ key: { $exists: false } })
      .sort({ accountId: 1, seq: 1 })
      .toArray();
    // Written as they are, by the driver: keys and timestamps copied, not made anew.
    const links = this.#m.LedgerEntry.db.collection<{ _id: string; [field: string]: unknown }>(
      collection.collectionName,
    );
    // Each link also gets its running count of reserves (old entries of an account are all
    // old: the layout changes with this release, for every account at once).
    const holds = new Map<string, number>();
    for (const doc of old) {
      const { _id: oldId, ...rest } = oldLayoutEntrySchema.parse(doc);
      const accountId = rest.accountId;
      const count = (holds.get(accountId) ?? 0) + (rest.kind === 'reserve' ? 1 : 0);
      holds.set(accountId, count);
      const id = linkId(accountId, rest.seq);
      if (oldId === id) continue;
      try {
        await links.insertOne({ ...rest, holds: count, _id: id, key: oldId });
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      await links.deleteOne({ _id: oldId });
    }
    await markers.updateOne({ _id: LEDGER_MIGRATION }, { $set: { done: true } });
    this.#heads.clear();
    return old.length;
  }

  /**
   * Verifies every account's chain (see `checkLedger`); the answer of
   * `npm run cli -- ledger check`.
   */
  async check(): Promise<LedgerViolation[]> {
    return checkLedger(this.#m.LedgerEntry);
  }
}

async function ignoreDuplicate(write: Promise<unknown>): Promise<void> {
  try {
    await write;
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
  }
}
