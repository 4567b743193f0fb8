import { setTimeout as sleep } from 'node:timers/promises';
import type { Collections, LedgerEntryDoc } from '../store/collections.js';
import type { RecordedResult, SettleOutcome } from '../store/recorded-result.js';
import { isDuplicateKey } from '../store/server-errors.js';
import type { Balance } from './balance.js';
import { EMPTY_HEAD, headOf, type Head, type HeadCache } from './head-cache.js';

export type LedgerKind = LedgerEntryDoc['kind'];

/** One change to a balance, as `append`'s `build` decides it from the head it saw. */
export interface Change {
  kind: LedgerKind;
  availableDelta: number;
  heldDelta: number;
  holdId?: string;
  outcome?: SettleOutcome;
  result?: RecordedResult | undefined;
  actor?: string;
  reason?: string;
}

/** The entry of a change's key, and whether this append wrote it (false: it was made before). */
export interface Appended {
  entry: LedgerEntryDoc;
  inserted: boolean;
}

/**
 * The `_id` of an account's link number `seq`: the embedded server answers only an exact
 * `_id` from an index, so every read of the chain on the hot path is one of these.
 */
export const linkId = (accountId: string, seq: number): string => `${accountId}:${seq}`;

/** Where the caller of `append` believes an account's chain stands. */
export interface AppendOptions {
  /** A refused change is first looked up by its key (default true). */
  replayable?: boolean;
  /**
   * The head as the caller saw it (a job carries the one its hold left): tried at once, no
   * read; only a change another writer made since costs a retry.
   */
  from?: Head | undefined;
  /** The seq a shared hint says the chain reached (Redis): its link is read, no search. */
  hintSeq?: number | undefined;
}

/** An append's starting head, and whether it is known to be the newest. */
interface Start {
  head: Head;
  confirmed: boolean;
}

/** The later of two heads. */
function newer(a: Head | undefined, b: Head | undefined): Head | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.seq > a.seq ? b : a;
}

/** How many times a change is retried when other changes to the same account win the race. */
const MAX_ATTEMPTS = 100;

/** Entries read at once when walking a chain backwards. */
export const WALK_CHUNK = 32;

/**
 * Per account, a chain of entries `<account>:1`, `<account>:2`, ..., each carrying the
 * balance after it. A change starts from the newest head it knows (this process's, the
 * caller's, or a shared hint's link), checks its guard and inserts the next link: the insert
 * itself confirms the head, since the unique `_id` lets exactly one of any concurrent changes
 * take a seq; the others read the link that won, move to the new head and try again. A
 * refusal is only ever decided on a confirmed head. One insert is the whole change, so a
 * crash never leaves it half applied, and the unique `key` makes a repeated change a no-op.
 * No transactions, no atomic conditional update, no sorted query: a change in the steady
 * state is one insert.
 */
export class LedgerChain {
  readonly #entries: Collections['LedgerEntry'];
  readonly #direct: Collections['direct']['ledger'];
  readonly #heads: HeadCache;
  /** Per account, the last queued change of this process. */
  readonly #tails = new Map<string, Promise<void>>();

  constructor(collections: Pick<Collections, 'LedgerEntry' | 'direct'>, heads: HeadCache) {
    this.#entries = collections.LedgerEntry;
    this.#direct = collections.direct.ledger;
    this.#heads = heads;
  }

  /** An account's link number `seq`, if it exists (straight from the driver: a hot read). */
  async link(accountId: string, seq: number): Promise<LedgerEntryDoc | undefined> {
    return (await this.#direct.findOne({ _id: linkId(accountId, seq) })) ?? undefined;
  }

  /**
   * The newest link of an account. From the remembered head (or `from`, when newer): one
   * probe of the next `_id` (and a walk forward if other processes appended). Without one,
   * see `#search`.
   */
  async head(accountId: string, from?: Head): Promise<Head> {
    let head = newer(this.#heads.get(accountId), from) ?? (await this.#search(accountId));
    for (;;) {
      const next = await this.link(accountId, head.seq + 1);
      if (!next) break;
      head = headOf(next);
    }
    this.#heads.remember(accountId, head);
    return head;
  }

  /**
   * A head this process has not seen: probes 1, 2, 4, ... until a link is missing, then
   * halves the gap, about 2·log2(n) `_id` reads once per process and account.
   */
  async #search(accountId: string): Promise<Head> {
    let low = 0; // a seq known to exist (0: the empty chain)
    let lowEntry: LedgerEntryDoc | undefined;
    let high = 1;
    for (;;) {
      const entry = await this.link(accountId, high);
      if (!entry) break;
      low = high;
      lowEntry = entry;
      high *= 2;
    }
    while (high - low > 1) {
      const mid = Math.floor((low + high) / 2);
      const entry = await this.link(accountId, mid);
      if (entry) {
        low = mid;
        lowEntry = entry;
      } else high = mid;
    }
    return lowEntry ? headOf(lowEntry) : EMPTY_HEAD;
  }

  /**
   * The entry of a change by its key. Off the hot path (a replayed or refused change, the
   * reconciler): `key` is indexed on mongod; the embedded server answers only `_id` lookups
   * from an index and scans for this one.
   */
  async byKey(key: string): Promise<LedgerEntryDoc | undefined> {
    return (await this.#entries.findOne({ key }).lean()) ?? undefined;
  }

  /**
   * Appends one change to an account's chain. `build` sees the current head and returns the
   * change, or throws to refuse it (nothing is written then). A refused change whose key is
   * `replayable` is first looked up by key, so a change already made is returned, not refused
   * now that its effect is in the balance. `from` and `hintSeq` say where the caller believes
   * the chain stands (see `AppendOptions`).
   */
  async append(
    accountId: string,
    key: string,
    build: (head: Balance) => Change,
    options: AppendOptions = {},
  ): Promise<Appended> {
    // Changes to one account from this process queue up here instead of racing each other
    // in the database; the unique `_id` still decides between processes.
    const previous = this.#tails.get(accountId) ?? Promise.resolve();
    const run = previous.then(() => this.#appendNow(accountId, key, build, options));
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

  /**
   * Where an append starts: the newest head this process or the caller knows, taken as it is
   * (the insert at the next seq is what confirms it), or the link a shared hint names (one
   * read), or, knowing nothing, the head searched for (confirmed).
   */
  async #start(accountId: string, options: AppendOptions): Promise<Start> {
    let best = newer(this.#heads.get(accountId), options.from);
    const hint = options.hintSeq;
    if (hint !== undefined && hint > 0 && (!best || best.seq < hint)) {
      const link = await this.link(accountId, hint);
      if (link) best = headOf(link);
    }
    if (best) return { head: best, confirmed: false };
    return { head: await this.head(accountId), confirmed: true };
  }

  async #appendNow(
    accountId: string,
    key: string,
    build: (head: Balance) => Change,
    options: AppendOptions,
  ): Promise<Appended> {
    let { head, confirmed } = await this.#start(accountId, options);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
      let change: Change;
      try {
        change = build(head);
      } catch (refusal) {
        // Only the newest head may refuse: one taken on trust is confirmed first.
        if (!confirmed) {
          head = await this.head(accountId, head);
          confirmed = true;
          continue;
        }
        // A change already made is not refused now that its effect is in the balance. A hold
        // is never asked twice (its generation's insert decided who holds), so a refused hold
        // (a member out of points, the common refusal) costs no lookup by key.
        const done = options.replayable !== false ? await this.byKey(key) : undefined;
        if (done) return { entry: done, inserted: false };
        throw refusal;
      }
      const seq = head.seq + 1;
      try {
        const doc = nextLink(accountId, key, head, change);
        // Built whole and typed here (see `nextLink`): no mongoose document on the hot path.
        await this.#direct.insertOne(doc, { ignoreUndefined: true });
        this.#heads.remember(accountId, headOf(doc));
        return { entry: doc, inserted: true };
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        // Either another change took this seq, or this key was applied before (its unique
        // index). The link at this seq tells which.
        const taken = await this.link(accountId, seq);
        if (taken?.key === key) return { entry: taken, inserted: false };
        if (!taken) {
          const done = await this.byKey(key);
          if (done) return { entry: done, inserted: false };
          continue;
        }
        this.#heads.remember(accountId, headOf(taken));
        // Another change took this seq first: try again at the newest head, after a random
        // pause that grows with each loss so a crowd of contenders spreads out (none the
        // first time: a head taken on trust is usually just one link behind).
        if (confirmed) await sleep(Math.floor(Math.random() * Math.min(250, 2 ** attempt)));
        head = await this.head(accountId, headOf(taken));
        confirmed = true;
      }
    }
    throw new Error(
      `ledger: account ${accountId} is too contended; gave up after ${MAX_ATTEMPTS} attempts`,
    );
  }

  /** An account's links from `fromSeq` down to 1, read by `_id` a chunk at a time. */
  async *backwards(
    accountId: string,
    fromSeq: number,
    firstChunk: number,
  ): AsyncGenerator<LedgerEntryDoc> {
    let chunk = Math.max(1, Math.min(WALK_CHUNK, firstChunk));
    for (let top = fromSeq; top >= 1; top -= chunk, chunk = WALK_CHUNK) {
      const seqs: number[] = [];
      for (let seq = top; seq > Math.max(0, top - chunk); seq -= 1) seqs.push(seq);
      const entries = await Promise.all(seqs.map((seq) => this.link(accountId, seq)));
      for (const entry of entries) if (entry) yield entry;
    }
  }
}

/**
 * The link that `change` makes after `head`: its deltas, the balance and count after it, and
 * the timestamps mongoose would add. Typed as the stored entry, so the compiler checks every
 * field the schema requires (it is inserted by the driver, without mongoose's casting).
 */
function nextLink(accountId: string, key: string, head: Head, change: Change): LedgerEntryDoc {
  const seq = head.seq + 1;
  const now = new Date();
  return {
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
    // Left out when absent, as mongoose would (the driver would store null).
    ...(change.holdId !== undefined ? { holdId: change.holdId } : {}),
    ...(change.outcome !== undefined ? { outcome: change.outcome } : {}),
    ...(change.result !== undefined ? { result: change.result } : {}),
    ...(change.actor !== undefined ? { actor: change.actor } : {}),
    ...(change.reason !== undefined ? { reason: change.reason } : {}),
    createdAt: now,
    updatedAt: now,
  };
}
