import type { Collections, LedgerEntryDoc } from '../store/collections.js';

/**
 * A rule of the ledger that an account's chain breaks. The chain is the only record of a
 * balance, so `npm run cli -- ledger check` names each broken rule and the account, for an
 * operator to repair by hand.
 */
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

/** What the audit has added up of one account's chain so far. */
interface AccountTally {
  accountId: string;
  seq: number;
  available: number;
  held: number;
  total: number;
  reserves: Map<string, number>;
  settled: Set<string>;
}

/**
 * Verifies every account's chain: each link follows from the one before, the balance
 * (available + held) equals the sum of the ledger, held equals the sum of open holds,
 * nothing is negative, and no hold is settled that was never reserved. One sorted pass over
 * the whole ledger: an operator's command, never on a member's path.
 */
export async function checkLedger(entries: Collections['LedgerEntry']): Promise<LedgerViolation[]> {
  const violations: LedgerViolation[] = [];
  const cursor = entries.find({}).sort({ accountId: 1, seq: 1 }).lean().cursor();
  let current: AccountTally | undefined;
  for await (const e of cursor) {
    if (!current || current.accountId !== e.accountId) {
      if (current) closeAccount(current, violations);
      current = openAccount(e.accountId);
    }
    followLink(current, e, violations);
  }
  if (current) closeAccount(current, violations);
  return violations;
}

function openAccount(accountId: string): AccountTally {
  return {
    accountId,
    seq: 0,
    available: 0,
    held: 0,
    total: 0,
    reserves: new Map(),
    settled: new Set(),
  };
}

/** Checks one link against the tally of the links before it, then adds it to the tally. */
function followLink(t: AccountTally, e: LedgerEntryDoc, violations: LedgerViolation[]): void {
  const broken = (detail: string): void => {
    violations.push({ accountId: t.accountId, rule: 'chain', detail });
  };
  if (e.seq !== t.seq + 1) broken(`entry ${e._id} has seq ${e.seq} after ${t.seq}`);
  if (e.availableAfter !== t.available + e.availableDelta || e.heldAfter !== t.held + e.heldDelta)
    broken(`entry ${e._id} does not follow from the one before`);
  if (e.amount !== e.availableDelta + e.heldDelta)
    broken(`entry ${e._id} amount is not its deltas' sum`);
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

/** The rules that hold for an account's chain as a whole, checked after its last link. */
function closeAccount(t: AccountTally, violations: LedgerViolation[]): void {
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
}
