import type { Collections, LedgerEntryDoc } from '../store/collections.js';
import {
  recordedResultOf,
  type RecordedResult,
  type SettleOutcome,
} from '../store/recorded-result.js';
import { notEnoughPoints } from './balance.js';
import type { LedgerChain } from './chain.js';
import { headOf, type Head } from './head-cache.js';

/** A hold's reserve entry's key: one reserve per generation, whatever replays its submit. */
export const reserveKey = (holdId: string): string => `hold:${holdId}:reserve`;
/** A hold's settle entry's key: its uniqueness is what lets only the first settle win. */
export const settleKey = (holdId: string): string => `hold:${holdId}:settle`;

/** How a hold ended, as its single settle entry decided; every later settle is told this. */
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
  /** The deciding settle's place in the account's chain. */
  seq?: number;
}

/** The hold a settle ends, when the caller knows it (a v2 job carries it). */
export interface HeldPoints {
  accountId: string;
  amount: number;
}

/** A settle as the worker, a cancel or the reconciler asks for it; see `settle`. */
export interface SettleInput {
  holdId: string;
  capture: number;
  outcome: SettleOutcome;
  hold?: HeldPoints | undefined;
  result?: RecordedResult | undefined;
  /** The head the hold left (a job carries it): the settle is tried right after it, no read. */
  after?: Head | undefined;
}

/** A settle for a hold that was never reserved (nothing to end). */
class NoHold extends Error {
  override readonly name = 'NoHold';
}

/** A settle entry read back; one written before outcomes were required counts as failed. */
function settlementOf(entry: LedgerEntryDoc): Omit<Settlement, 'won'> {
  const result = recordedResultOf(entry.result);
  return {
    captured: -entry.amount,
    released: entry.availableDelta,
    outcome: entry.outcome ?? 'failed',
    ...(entry.createdAt ? { at: new Date(entry.createdAt) } : {}),
    seq: entry.seq,
    ...(result ? { result } : {}),
  };
}

/**
 * Holds `amount` points for a generation. Throws `not_enough_points` (with the price and
 * the balance) when the member cannot pay; nothing is written then. Not replayable: a hold is
 * never asked twice (its generation's insert decided who holds), so a refusal costs no
 * lookup by key. `hintSeq`: where a shared hint says the chain stands (see `append`). Returns
 * the head the hold left, which its job carries to the settle.
 */
export async function reserve(
  chain: LedgerChain,
  input: { accountId: string; amount: number; holdId: string; hintSeq?: number | undefined },
): Promise<Head> {
  if (!Number.isInteger(input.amount) || input.amount < 0)
    throw new Error(`bad hold amount ${input.amount}`);
  const { entry } = await chain.append(
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
    { replayable: false, hintSeq: input.hintSeq },
  );
  return headOf(entry);
}

/**
 * Ends a hold: captures `capture` points and returns the rest. The first settle of a hold
 * wins and decides the outcome; later ones (a replayed job, a cancel racing a finish) get
 * that first result back, so nothing is ever captured twice. `hold` is the account and
 * amount held when the caller knows them (the job carries them); without it the reserve
 * entry is looked up. `result` is recorded with the deciding settle. Undefined: no hold.
 */
export async function settle(
  chain: LedgerChain,
  input: SettleInput,
): Promise<Settlement | undefined> {
  const hold = input.hold ?? (await reservedHold(chain, input.holdId));
  if (!hold) return undefined;
  const held = hold.amount;
  const capture = Math.max(0, Math.min(held, Math.floor(input.capture)));
  const { entry, inserted } = await chain
    .append(
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
      { from: input.after },
    )
    .catch((error: unknown) => {
      if (error instanceof NoHold) return { entry: undefined, inserted: false };
      throw error;
    });
  if (!entry) return undefined;
  return { ...settlementOf(entry), won: inserted };
}

/** The account and amount of a hold, from its reserve entry (off the hot path: by key). */
async function reservedHold(chain: LedgerChain, holdId: string): Promise<HeldPoints | undefined> {
  const reserve = await chain.byKey(reserveKey(holdId));
  return reserve ? { accountId: reserve.accountId, amount: reserve.heldDelta } : undefined;
}

/** Whether points are (or were) held for `holdId`: its reserve entry exists. */
export async function holdOf(chain: LedgerChain, holdId: string): Promise<boolean> {
  return (await chain.byKey(reserveKey(holdId))) !== undefined;
}

/** The settle entry of a hold, if the hold was settled. */
export async function settlement(
  chain: LedgerChain,
  holdId: string,
): Promise<Settlement | undefined> {
  const entry = await chain.byKey(settleKey(holdId));
  return entry ? { ...settlementOf(entry), won: false } : undefined;
}

/**
 * Reserve entries whose hold is still open, oldest first, for the reconciler's full sweep:
 * two reads of the ledger (its reserves, its settles), not one lookup per hold.
 */
export async function openHolds(
  entries: Collections['LedgerEntry'],
  olderThan: Date,
): Promise<{ holdId: string; accountId: string; amount: number }[]> {
  const [reserves, settles] = await Promise.all([
    entries
      .find(
        { kind: 'reserve', createdAt: { $lte: olderThan } },
        { holdId: 1, accountId: 1, heldDelta: 1, createdAt: 1 },
      )
      .lean(),
    entries.find({ kind: 'settle' }, { holdId: 1 }).lean(),
  ]);
  const settled = new Set(settles.map((e) => e.holdId));
  return reserves
    .filter((r) => r.holdId && !settled.has(r.holdId))
    .sort((a, b) => new Date(a.createdAt).getTime() - new Date(b.createdAt).getTime())
    .map((r) => ({ holdId: r.holdId!, accountId: r.accountId, amount: r.heldDelta }));
}
