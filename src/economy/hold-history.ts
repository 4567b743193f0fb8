import type { SettleOutcome } from '../store/recorded-result.js';
import { WALK_CHUNK, type LedgerChain } from './chain.js';
import type { Head } from './head-cache.js';

/**
 * An account's holds (one per generation it paid for), newest first: `skip` of them left
 * out, at most `limit` returned, and how many there are. The chain is the `/history` index,
 * so a page costs the same at any ledger size: the newest wanted reserve is found by halving
 * on `holds` (a count every link carries), then links are read backwards by `_id` until
 * enough reserves are found.
 */
export async function recentHolds(
  chain: LedgerChain,
  accountId: string,
  page: { skip: number; limit: number },
): Promise<{ total: number; holdIds: string[] }> {
  const head = await chain.head(accountId);
  const wanted = head.holds - page.skip;
  if (wanted <= 0 || page.limit <= 0) return { total: head.holds, holdIds: [] };
  const from = wanted < head.holds ? await reserveNumber(chain, accountId, head, wanted) : head.seq;
  const holdIds: string[] = [];
  for await (const entry of chain.backwards(accountId, from, page.limit * 3)) {
    if (entry.kind === 'reserve' && entry.holdId) holdIds.push(entry.holdId);
    if (holdIds.length >= page.limit) break;
  }
  return { total: head.holds, holdIds };
}

/** The seq of an account's reserve number `wanted`: the first link whose count reaches it. */
async function reserveNumber(
  chain: LedgerChain,
  accountId: string,
  head: Head,
  wanted: number,
): Promise<number> {
  let low = 0;
  let high = head.seq;
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    const entry = await chain.link(accountId, mid);
    if ((entry?.holds ?? 0) >= wanted) high = mid;
    else low = mid;
  }
  return high;
}

/**
 * Every hold of an account, newest first, with how it ended (undefined: still open), from
 * one backwards walk of its chain (a settle comes after its reserve, so it is seen first):
 * a status filter on `/history` costs one member's chain, not a scan of the ledger.
 */
export async function holdOutcomes(
  chain: LedgerChain,
  accountId: string,
): Promise<{ holdId: string; outcome?: SettleOutcome }[]> {
  const head = await chain.head(accountId);
  const ended = new Map<string, SettleOutcome>();
  const holds: { holdId: string; outcome?: SettleOutcome }[] = [];
  for await (const entry of chain.backwards(accountId, head.seq, WALK_CHUNK)) {
    if (!entry.holdId) continue;
    if (entry.kind === 'settle') ended.set(entry.holdId, entry.outcome ?? 'failed');
    if (entry.kind === 'reserve') {
      const outcome = ended.get(entry.holdId);
      holds.push(outcome ? { holdId: entry.holdId, outcome } : { holdId: entry.holdId });
    }
  }
  return holds;
}
