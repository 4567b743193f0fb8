import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { mongo } from 'mongoose';

type Db = mongo.Db;
type Document = mongo.Document;

/**
 * History for the "cost as history grows" rows: documents inserted straight into the
 * collections a system uses (insertMany in batches, on a connection that bypasses the
 * counting proxy), shaped like the system's own. A real finished generation and real ledger
 * entries of the run are the templates, so every field the application writes is there. The
 * history belongs to accounts of its own, with ledger chains that add up (grant, then a
 * reserve and a settle per generation), so the ledger check stays clean.
 */

const BATCH = 1000;
/** Accounts the history is spread over. */
const HISTORY_ACCOUNTS = 1000;

const hex = (text: string, length: number): string =>
  createHash('sha256').update(text).digest('hex').slice(0, length);

async function insertBatched(db: Db, collection: string, docs: Document[]): Promise<void> {
  for (let at = 0; at < docs.length; at += BATCH)
    await db.collection(collection).insertMany(docs.slice(at, at + BATCH), { ordered: false });
}

/**
 * Inserts the collections' documents batch by batch, side by side, until they are all in or
 * `deadline` (performance.now()) has passed; returns how many of each went in.
 */
async function insertUntil(
  db: Db,
  lists: Record<string, Document[]>,
  deadline: number,
): Promise<Record<string, number>> {
  const inserted: Record<string, number> = Object.fromEntries(
    Object.keys(lists).map((name) => [name, 0]),
  );
  const longest = Math.max(0, ...Object.values(lists).map((docs) => docs.length));
  for (let at = 0; at < longest; at += BATCH) {
    if (at > 0 && performance.now() > deadline) break;
    for (const [name, docs] of Object.entries(lists)) {
      const slice = docs.slice(at, at + BATCH);
      if (slice.length === 0) continue;
      await db.collection(name).insertMany(slice, { ordered: false });
      inserted[name] = (inserted[name] ?? 0) + slice.length;
    }
  }
  return inserted;
}

export interface Grown {
  /** Inserted by this call. */
  generations: number;
  ledger: number;
  /** In the collections now. */
  totalGenerations: number;
  totalLedger: number;
  ms: number;
  /** False when the time limit stopped it short of the target. */
  complete: boolean;
}

function strip(doc: Document | null, what: string): Document {
  if (!doc) throw new Error(`prefill: no ${what} to copy the shape from`);
  const { _id: _unused, ...rest } = doc;
  return rest;
}

interface Chain {
  accountId: string;
  seq: number;
  available: number;
  /** Reserve entries so far (genbot's links carry this running count). */
  holds: number;
}

/** Grows genbot's `generations` and `ledger` collections to the given sizes. */
export class GenbotHistory {
  readonly #db: Db;
  readonly #chains: Chain[] = [];
  #made = 0;

  constructor(db: Db) {
    this.#db = db;
  }

  /** Inserts what is missing to reach `target` documents in each of the two collections. */
  async growTo(target: number, limitMs: number): Promise<Grown> {
    const started = performance.now();
    const db = this.#db;
    const haveGenerations = await db.collection('generations').estimatedDocumentCount();
    const haveLedger = await db.collection('ledger').estimatedDocumentCount();
    const template = strip(
      await db.collection('generations').findOne({ status: 'completed' }),
      'completed generation',
    );
    const grantTemplate = strip(await db.collection('ledger').findOne({ kind: 'grant' }), 'grant');
    const reserveTemplate = strip(
      await db.collection('ledger').findOne({ kind: 'reserve' }),
      'reserve',
    );
    const settleTemplate = strip(
      await db.collection('ledger').findOne({ kind: 'settle' }),
      'settle',
    );

    if (this.#chains.length === 0) {
      const account = strip(await db.collection('accounts').findOne({}), 'account');
      const identity = strip(await db.collection('identities').findOne({}), 'identity');
      const accounts: Document[] = [];
      const identities: Document[] = [];
      for (let a = 0; a < HISTORY_ACCOUNTS; a += 1) {
        const accountId = `acc_${hex(`history:${a}`, 20)}`;
        this.#chains.push({ accountId, seq: 0, available: 0, holds: 0 });
        accounts.push({ ...account, _id: accountId, displayName: `h${a}` });
        identities.push({
          ...identity,
          _id: `console:h${a}`,
          accountId,
          platformId: `h${a}`,
          displayName: `h${a}`,
        });
      }
      await insertBatched(db, 'accounts', accounts);
      await insertBatched(db, 'identities', identities);
    }

    const newGenerations = Math.max(0, target - haveGenerations);
    let newLedger = Math.max(0, target - haveLedger);
    const now = Date.now();
    const generations: Document[] = [];
    const ledger: Document[] = [];
    const entry = (base: Document, chain: Chain, fields: Document, at: Date): void => {
      chain.seq += 1;
      // genbot's layout: a link's `_id` is `<account>:<seq>`, its idempotency key a field.
      const { _id: key, ...change } = fields as { _id: string } & Document;
      if (base.kind === 'reserve') chain.holds += 1;
      ledger.push({
        ...base,
        ...change,
        _id: `${chain.accountId}:${chain.seq}`,
        key,
        accountId: chain.accountId,
        seq: chain.seq,
        holds: chain.holds,
        createdAt: at,
        updatedAt: at,
      });
      newLedger -= 1;
    };
    for (let g = 0; g < newGenerations; g += 1) {
      const n = (this.#made += 1);
      const chain = this.#chains[n % this.#chains.length]!;
      const id = `hist${hex(`generation:${n}`, 20)}`;
      // Older than anything the run makes, one a second, oldest first.
      const created = new Date(now - (newGenerations - g + 1) * 1000 - 10 * 86_400_000);
      const finished = new Date(created.getTime() + 2000);
      const request = { ...(template.request as Document), prompt: `history ${n}`, seed: n };
      generations.push({
        ...template,
        _id: id,
        accountId: chain.accountId,
        requestedBy: `console:h${n % this.#chains.length}`,
        requesterName: `h${n % this.#chains.length}`,
        requestHash: hex(`hash:${n}`, 32),
        invocationKey: `history:${n}`,
        request,
        statusHistory: (template.statusHistory as Document[]).map((s, i) => ({
          ...s,
          at: new Date(created.getTime() + i * 500),
        })),
        outputs: (template.outputs as Document[]).map((o) => ({
          ...o,
          fileId: hex(`file:${n}`, 24),
          seed: n,
        })),
        createdAt: created,
        updatedAt: finished,
      });
      if (newLedger <= 0) continue;
      if (chain.seq === 0) {
        entry(
          grantTemplate,
          chain,
          {
            _id: `grant:history-${chain.accountId}`,
            availableDelta: 1_000_000,
            heldDelta: 0,
            amount: 1_000_000,
            availableAfter: 1_000_000,
            heldAfter: 0,
          },
          new Date(created.getTime() - 1000),
        );
        chain.available = 1_000_000;
      }
      if (newLedger < 2) continue;
      chain.available -= 1;
      entry(
        reserveTemplate,
        chain,
        {
          _id: `hold:${id}:reserve`,
          holdId: id,
          availableDelta: -1,
          heldDelta: 1,
          amount: 0,
          availableAfter: chain.available,
          heldAfter: 1,
        },
        created,
      );
      entry(
        settleTemplate,
        chain,
        {
          _id: `hold:${id}:settle`,
          holdId: id,
          outcome: 'completed',
          availableDelta: 0,
          heldDelta: -1,
          amount: -1,
          availableAfter: chain.available,
          heldAfter: 0,
        },
        finished,
      );
    }
    const inserted = await insertUntil(db, { generations, ledger }, started + limitMs);
    const g = inserted.generations ?? 0;
    const l = inserted.ledger ?? 0;
    return {
      generations: g,
      ledger: l,
      totalGenerations: haveGenerations + g,
      totalLedger: haveLedger + l,
      ms: performance.now() - started,
      complete: g === generations.length && l === ledger.length,
    };
  }
}

/** Grows the minimal bot's `generations` collection (and its balances) to `target`. */
export class MinimalHistory {
  readonly #db: Db;
  #made = 0;

  constructor(db: Db) {
    this.#db = db;
  }

  async growTo(target: number, limitMs: number): Promise<Grown> {
    const started = performance.now();
    const db = this.#db;
    const have = await db.collection('generations').estimatedDocumentCount();
    const template = strip(
      await db.collection('generations').findOne({ status: 'completed' }),
      'completed generation',
    );
    if (this.#made === 0) {
      await insertBatched(
        db,
        'balances',
        Array.from({ length: HISTORY_ACCOUNTS }, (_, a) => ({
          _id: `h${a}`,
          available: 1_000_000,
          held: 0,
        })),
      );
    }
    const docs: Document[] = [];
    const now = Date.now();
    const count = Math.max(0, target - have);
    for (let g = 0; g < count; g += 1) {
      const n = (this.#made += 1);
      const created = new Date(now - (count - g + 1) * 1000 - 10 * 86_400_000);
      docs.push({
        ...template,
        _id: `hist${hex(`generation:${n}`, 20)}`,
        accountId: `h${n % HISTORY_ACCOUNTS}`,
        prompt: `history ${n}`,
        seed: n,
        output: { ...(template.output as Document), fileId: hex(`file:${n}`, 24) },
        createdAt: created,
        updatedAt: new Date(created.getTime() + 2000),
      });
    }
    const inserted = await insertUntil(db, { generations: docs }, started + limitMs);
    const g = inserted.generations ?? 0;
    return {
      generations: g,
      ledger: 0,
      totalGenerations: have + g,
      totalLedger: 0,
      ms: performance.now() - started,
      complete: g === docs.length,
    };
  }
}
