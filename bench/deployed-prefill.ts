import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Connection, mongo } from 'mongoose';
import { ensureIndexes, registerCollections, type Collections } from '../src/store/collections.js';
import {
  memberAccountId,
  memberIdentity,
  memberUserId,
  minimalMemberId,
} from './deployed-members.js';

/**
 * The deployed benchmark's members and their history, written straight into each system's
 * database before any process starts (on a connection that bypasses the counting proxy):
 *
 * - genbot: per member an account, a Telegram identity, and a ledger chain of `entries` links
 *   `<accountId>:<seq>` in genbot's own layout (each carries the balance after it and the
 *   running count of holds): a grant, then a reserve and a settle per past generation, and a
 *   top-up grant if one link is left over. The chains add up, so `ledger check` stays clean.
 *   Their generations' documents are not written: nothing on a generation's path reads them.
 * - the minimal bot: per member the balance document those chains end at.
 */

const BATCH_MEMBERS = 500;
const LEDGER_BATCH = 2000;
const FIRST_GRANT = 1000;
const TOP_UP = 100;
/** How far back the history reaches. */
const HISTORY_DAYS = 30;

export interface MembersPrefill {
  members: number;
  accounts: number;
  identities: number;
  ledger: number;
  ms: number;
}

type Doc = { _id: string } & Record<string, unknown>;

const hex = (text: string, length: number): string =>
  createHash('sha256').update(text).digest('hex').slice(0, length);

/** What a member's chain of `entries` links leaves available (nothing is held at its end). */
export function availableAfterHistory(entries: number): number {
  const pairs = Math.max(0, Math.floor((entries - 1) / 2));
  const topUp = entries >= 2 && (entries - 1) % 2 === 1 ? TOP_UP : 0;
  return (entries >= 1 ? FIRST_GRANT : 0) - pairs + topUp;
}

/** One member's ledger chain, oldest link first. */
function chainOf(k: number, entries: number, now: number): Doc[] {
  const accountId = memberAccountId(k);
  const links: Doc[] = [];
  let available = 0;
  let holds = 0;
  const start = now - HISTORY_DAYS * 86_400_000 + (k % 86_400) * 1000;
  const link = (fields: Record<string, unknown> & { kind: string; key: string }): void => {
    const seq = links.length + 1;
    const at = new Date(start + seq * 3_600_000);
    const availableDelta = fields.availableDelta as number;
    const heldDelta = fields.heldDelta as number;
    available += availableDelta;
    if (fields.kind === 'reserve') holds += 1;
    links.push({
      ...fields,
      _id: `${accountId}:${seq}`,
      accountId,
      seq,
      amount: availableDelta + heldDelta,
      availableAfter: available,
      heldAfter: fields.kind === 'reserve' ? heldDelta : 0,
      holds,
      createdAt: at,
      updatedAt: at,
    });
  };
  const grant = (key: string, amount: number, reason: string): void =>
    link({
      key: `grant:${key}`,
      kind: 'grant',
      availableDelta: amount,
      heldDelta: 0,
      actor: 'bench',
      reason,
    });
  if (entries >= 1) grant(`bench-history-${accountId}`, FIRST_GRANT, 'bench history');
  while (entries - links.length >= 2) {
    const holdId = `h${hex(`${k}:${links.length}`, 15)}`;
    link({
      key: `hold:${holdId}:reserve`,
      kind: 'reserve',
      availableDelta: -1,
      heldDelta: 1,
      holdId,
    });
    link({
      key: `hold:${holdId}:settle`,
      kind: 'settle',
      availableDelta: 0,
      heldDelta: -1,
      holdId,
      outcome: 'completed',
    });
  }
  if (entries - links.length === 1) grant(`bench-topup-${accountId}`, TOP_UP, 'bench top-up');
  return links;
}

function membersOf(k: number, now: number): { account: Doc; identity: Doc } {
  const identity = memberIdentity(k);
  const accountId = memberAccountId(k);
  const name = `member ${k}`;
  const at = new Date(now - HISTORY_DAYS * 86_400_000);
  return {
    account: { _id: accountId, displayName: name, createdAt: at, updatedAt: at },
    identity: {
      _id: `${identity.platform}:${identity.id}`,
      accountId,
      platform: identity.platform,
      platformId: memberUserId(k),
      displayName: name,
      createdAt: at,
      updatedAt: at,
    },
  };
}

/** Refuses documents genbot's own schemas would not accept (checked on the first member). */
function checkShapes(c: Collections, account: Doc, identity: Doc, ledger: Doc[]): void {
  const errors = [
    new c.Account(account).validateSync(),
    new c.Identity(identity).validateSync(),
    ...ledger.map((l) => new c.LedgerEntry(l).validateSync()),
  ].filter((e) => e !== undefined);
  if (errors.length > 0) throw new Error(`prefill: ${errors[0]!.message}`);
}

/**
 * Writes `members` members with `entries` ledger links each into genbot's database (its
 * indexes made first, as genbot makes them).
 */
export async function prefillGenbotMembers(
  conn: Connection,
  members: number,
  entries: number,
): Promise<{ stats: MembersPrefill; collections: Collections }> {
  const started = performance.now();
  const collections = registerCollections(conn);
  await ensureIndexes(collections);
  // The driver's collection under each model: no casting, no defaults, what was built goes in.
  const raw = (model: { collection: { collectionName: string } }) =>
    conn.db!.collection<Doc>(model.collection.collectionName);
  const now = Date.now();
  const stats: MembersPrefill = { members, accounts: 0, identities: 0, ledger: 0, ms: 0 };
  for (let from = 0; from < members; from += BATCH_MEMBERS) {
    const accounts: Doc[] = [];
    const identities: Doc[] = [];
    const ledger: Doc[] = [];
    for (let k = from; k < Math.min(members, from + BATCH_MEMBERS); k += 1) {
      const { account, identity } = membersOf(k, now);
      const chain = chainOf(k, entries, now);
      if (k === 0) checkShapes(collections, account, identity, chain);
      accounts.push(account);
      identities.push(identity);
      ledger.push(...chain);
    }
    await raw(collections.Account).insertMany(accounts, { ordered: false });
    await raw(collections.Identity).insertMany(identities, { ordered: false });
    for (let at = 0; at < ledger.length; at += LEDGER_BATCH)
      await raw(collections.LedgerEntry).insertMany(ledger.slice(at, at + LEDGER_BATCH), {
        ordered: false,
      });
    stats.accounts += accounts.length;
    stats.identities += identities.length;
    stats.ledger += ledger.length;
  }
  stats.ms = performance.now() - started;
  return { stats, collections };
}

/** The same members' balances in the minimal bot's `balances` collection. */
export async function prefillMinimalMembers(
  db: mongo.Db,
  members: number,
  entries: number,
): Promise<number> {
  const started = performance.now();
  const available = availableAfterHistory(entries);
  for (let from = 0; from < members; from += 2000) {
    const docs: Doc[] = [];
    for (let k = from; k < Math.min(members, from + 2000); k += 1)
      docs.push({ _id: minimalMemberId(k), available, held: 0 });
    await db.collection<Doc>('balances').insertMany(docs, { ordered: false });
  }
  return performance.now() - started;
}
