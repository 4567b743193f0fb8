import type { Redis, Result } from 'ioredis';
import type { DeliveryJob } from './contracts.js';
import {
  addDeliveryLua,
  DELIVERY_MARKER_SECONDS,
  DELIVERY_MAX_ENTRIES,
} from './delivery-streams.js';
import type { RedisKeys } from './keys.js';

/**
 * What Redis learns when a generation ends, in one script call: the member's slot is given
 * back (and, for a completed run, its run time feeds the wait estimates), the account's
 * ledger hint moves to the settle, and the finished generation is queued for delivery. A
 * slot given back alone (a refused hold, the reconciler) is the same script without the rest.
 */

/** One slot of the reconciler's list: whose, which generation, which day it counts on. */
export interface HeldSlot {
  accountId: string;
  generationId: string;
  day: string;
}

export interface GenerationEnd {
  slot: HeldSlot;
  /** Failed or cancelled: it also leaves its day's count. */
  refunded: boolean;
  /** A completed run's time, for the wait estimates. */
  run?: { provider: string; model: string; ms: number } | undefined;
  /** The settle's place in the account's ledger chain: the hint the next submit starts from. */
  ledgerSeq?: number | undefined;
  /** The delivery to queue (none: the member was answered already, or the console follows it). */
  delivery?: Extract<DeliveryJob, { v: 2 }> | undefined;
}

/** How long an account's ledger hint is kept after its last generation. */
const LEDGER_HINT_SECONDS = 30 * 86_400;

/**
 * KEYS: open, day, held, durations, ledger hint[, delivery stream, delivery marker].
 * ARGV: id, refunded (1: it no longer counts today), held member, provider field, model
 * field, run ms (0: not measured), ledger seq (0: none), hint seconds, then for a delivery:
 * id, entry JSON, max entries, marker seconds. A measured run moves the provider's and the
 * model's averages (weight 0.3 for the newest); the hint only ever moves forward. Returns
 * the delivery's stream id, or false when none was added.
 */
const END_SCRIPT = `
redis.call('SREM', KEYS[1], ARGV[1])
if ARGV[2] == '1' then redis.call('SREM', KEYS[2], ARGV[1]) end
redis.call('ZREM', KEYS[3], ARGV[3])
local ms = tonumber(ARGV[6])
if ms > 0 then
  for _, field in ipairs({ARGV[4], ARGV[5]}) do
    local old = tonumber(redis.call('HGET', KEYS[4], field) or '0')
    local avg = ms
    if old > 0 then avg = old * 0.7 + ms * 0.3 end
    redis.call('HSET', KEYS[4], field, math.floor(avg))
  end
end
local seq = tonumber(ARGV[7])
if seq > 0 and seq > tonumber(redis.call('GET', KEYS[5]) or '0') then
  redis.call('SET', KEYS[5], seq, 'EX', tonumber(ARGV[8]))
end
if #KEYS < 7 then return false end
${addDeliveryLua(6, 9)}`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** `END_SCRIPT`; the first argument is the number of keys (5, or 7 with a delivery). */
    genbotEndGeneration(numKeys: number, ...args: (string | number)[]): Result<unknown, Context>;
  }
}

const defined = new WeakSet<Redis>();

/** The member in the reconciler's list of held slots. */
export function heldMember(slot: HeldSlot): string {
  return `${slot.accountId}|${slot.generationId}|${slot.day}`;
}

export function parseHeld(member: string): HeldSlot | undefined {
  const [accountId, generationId, day] = member.split('|');
  return accountId && generationId && day ? { accountId, generationId, day } : undefined;
}

/** Runs the end of a generation (see `END_SCRIPT`); true when a delivery was queued. */
export async function endGeneration(
  redis: Redis,
  keys: RedisKeys,
  end: GenerationEnd,
): Promise<boolean> {
  if (!defined.has(redis)) {
    redis.defineCommand('genbotEndGeneration', { lua: END_SCRIPT });
    defined.add(redis);
  }
  const { slot, run, delivery } = end;
  const args: (string | number)[] = [
    keys.memberLimit('open', slot.accountId),
    keys.memberDay(slot.accountId, slot.day),
    keys.heldSlots,
    keys.runTimes,
    keys.ledgerHint(slot.accountId),
  ];
  if (delivery) {
    args.push(keys.deliveryStream(delivery.platform), keys.deliveryMarker(delivery.generationId));
  }
  const keyCount = args.length;
  args.push(
    slot.generationId,
    end.refunded ? '1' : '0',
    heldMember(slot),
    `provider:${run?.provider ?? ''}`,
    `model:${run?.model ?? ''}`,
    run ? Math.max(1, Math.round(run.ms)) : 0,
    end.ledgerSeq ?? 0,
    LEDGER_HINT_SECONDS,
  );
  if (delivery) {
    // Built by `finish` from typed values, and the schema checks nothing the type does not:
    // it is validated once, where a bot reads it back (not parsed here on every finish).
    const entry = JSON.stringify(delivery);
    args.push(delivery.generationId, entry, DELIVERY_MAX_ENTRIES, DELIVERY_MARKER_SECONDS);
  }
  const added = await redis.genbotEndGeneration(keyCount, ...args);
  return typeof added === 'string';
}
