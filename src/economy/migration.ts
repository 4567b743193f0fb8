import { z } from 'zod';
import type { Collections } from '../store/collections.js';
import { isDuplicateKey, serverErrorCode } from '../store/server-errors.js';
import type { HeadCache } from './head-cache.js';
import { linkId } from './chain.js';

/** MongoDB's "ns not found": the collection does not exist yet (a new database). */
const NAMESPACE_NOT_FOUND = 26;
/** The `migrations` marker of the move to `<account>:<seq>` links. */
const LEDGER_MIGRATION = 'ledger-links-v2';
/** The unique index of the layout before, which would refuse the new copy of each entry. */
const OLD_INDEX = 'accountId_1_seq_1';

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

type LedgerModel = Collections['LedgerEntry'];
type Markers = ReturnType<typeof markersOf>;

/**
 * Rewrites entries of the layout before `<account>:<seq>` ids (their `_id` was the key) into
 * this one, keeping seq, balances and time. Idempotent and safe to run from every process at
 * start-up: an entry is inserted under its new id (a duplicate means another run did it)
 * before its old one is deleted, so a crash between the two leaves a copy that the next run
 * removes. Returns how many entries were moved.
 */
export async function migrateLedger(entries: LedgerModel, heads: HeadCache): Promise<number> {
  const markers = markersOf(entries);
  if (!(await migrationPending(entries, markers))) return 0;
  const moved = await moveOldEntries(entries);
  await markers.updateOne({ _id: LEDGER_MIGRATION }, { $set: { done: true } });
  heads.clear();
  return moved;
}

function markersOf(entries: LedgerModel) {
  return entries.db.collection<{ _id: string; done: boolean }>('migrations');
}

/**
 * Cheap when there is nothing to do (every start-up but the first after the upgrade): an
 * old ledger still has the old layout's unique (accountId, seq) index, which would refuse
 * the new copy of each entry and is dropped first (the marker set before, so a run cut short
 * after the drop is finished by the next); a migration cut short after that left its marker
 * behind. Neither: no old entries, and no scan of the ledger.
 */
async function migrationPending(entries: LedgerModel, markers: Markers): Promise<boolean> {
  const collection = entries.collection;
  const indexes = await collection.indexes().catch((error: unknown) => {
    if (serverErrorCode(error) === NAMESPACE_NOT_FOUND) return [];
    throw error;
  });
  if (!indexes.some((i) => i.name === OLD_INDEX)) {
    const marker = await markers.findOne({ _id: LEDGER_MIGRATION });
    return marker !== null && !marker.done;
  }
  await markers.updateOne({ _id: LEDGER_MIGRATION }, { $set: { done: false } }, { upsert: true });
  await collection.dropIndex(OLD_INDEX);
  return true;
}

/** Copies each old-layout entry to its `<account>:<seq>` id, then deletes the old one. */
async function moveOldEntries(entries: LedgerModel): Promise<number> {
  const collection = entries.collection;
  const old = await collection
    .find({ key: { $exists: false } })
    .sort({ accountId: 1, seq: 1 })
    .toArray();
  // Written as they are, by the driver: keys and timestamps copied, not made anew.
  const links = entries.db.collection<{ _id: string; [field: string]: unknown }>(
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
  return old.length;
}
