import type { Redis, Result } from 'ioredis';
import {
  endGeneration,
  heldMember,
  parseHeld,
  type GenerationEnd,
  type HeldSlot,
} from './generation-end.js';
import type { RedisKeys } from './keys.js';

export type { GenerationEnd, HeldSlot } from './generation-end.js';

/**
 * Per-member limits and fair ordering, in Redis: one Lua script takes a slot for a
 * generation (or refuses, saying why) and one gives it back. Their state is per account, so
 * identities linked to one account share it, and holds across every bot and worker process
 * and under concurrent submits (the script runs alone). The embedded MongoDB server applies
 * no guarded update atomically, so none of this is in MongoDB.
 *
 * - open: the account's generations waiting or running (a set of ids);
 * - last: when the account last submitted (for the cooldown; expires with it);
 * - day: the account's generations of one UTC day that still count (failed and refunded
 *   ones are taken out when they end);
 * - held: every slot taken, oldest first, for the reconciler to free what a crash leaked.
 */
export interface LimitSettings {
  /** Most generations waiting or running per member; 0: no limit. */
  maxQueued: number;
  /** Least time between two of a member's submissions; 0: none. */
  cooldownMs: number;
  /** Most generations per member per UTC day; 0: no limit. */
  dailyLimit: number;
  /** Moderators are not limited (fair ordering still counts their jobs). */
  exemptModerators: boolean;
}

export type LimitRefusal =
  | { reason: 'queued'; open: number; limit: number }
  | { reason: 'cooldown'; waitMs: number }
  | { reason: 'daily'; today: number; limit: number; resetInMs: number };

export type SlotResult =
  /** `rank`: how many of the member's generations are open with this one (1 = alone). */
  | {
      ok: true;
      rank: number;
      /** This call took the slot (false: the generation had it already). */
      taken: boolean;
      /** The UTC day it counts on. */
      day: string;
      /** Where a finish last saw the account's ledger chain (0: no hint). */
      ledgerSeq: number;
    }
  | { ok: false; refusal: LimitRefusal };

/** What a member may still do now, for /queue. */
export interface LimitsLeft {
  open: number;
  today: number;
  /** Undefined: that limit is off (or the member is exempt). */
  maxQueued?: number;
  dailyLimit?: number;
  cooldownLeftMs: number;
}

const DAY_MS = 86_400_000;

/**
 * KEYS: open, last, day, held, ledger hint. ARGV: id, now ms, max queued, cooldown ms, daily
 * limit, held member, day set seconds. Returns {status, count, wait ms, ledger hint}: the
 * account's ledger hint (see `RedisKeys.ledgerHint`) rides along, so a submit in a process
 * that has not seen the account yet finds its ledger head without another call.
 */
const ACQUIRE_SCRIPT = `
local hint = tonumber(redis.call('GET', KEYS[5]) or '0')
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then
  return {'ok', redis.call('SCARD', KEYS[1]), 0, hint}
end
local open = redis.call('SCARD', KEYS[1])
local max = tonumber(ARGV[3])
if max > 0 and open >= max then return {'queued', open, 0, hint} end
local cooldown = tonumber(ARGV[4])
if cooldown > 0 then
  local last = tonumber(redis.call('GET', KEYS[2]) or '0')
  local wait = last + cooldown - tonumber(ARGV[2])
  if wait > 0 then return {'cooldown', open, wait, hint} end
end
local daily = tonumber(ARGV[5])
local today = redis.call('SCARD', KEYS[3])
if daily > 0 and today >= daily then return {'daily', today, 0, hint} end
redis.call('SADD', KEYS[1], ARGV[1])
if cooldown > 0 then redis.call('SET', KEYS[2], ARGV[2], 'PX', cooldown) end
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[7]))
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[6])
return {'ok', open + 1, 1, hint}`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    genbotAcquireSlot(
      open: string,
      last: string,
      day: string,
      held: string,
      ledgerHint: string,
      id: string,
      now: number,
      maxQueued: number,
      cooldownMs: number,
      dailyLimit: number,
      heldMember: string,
      daySeconds: number,
    ): Result<[string, number, number, number], Context>;
  }
}

const defined = new WeakSet<Redis>();

/** The connection a call runs on, with the scripts defined on it. */
function scripted(redis: Redis): Redis {
  if (!defined.has(redis)) {
    redis.defineCommand('genbotAcquireSlot', { numberOfKeys: 5, lua: ACQUIRE_SCRIPT });
    defined.add(redis);
  }
  return redis;
}

/** Runs a call on a Redis connection (the producer's, which refuses at once while Redis is away). */
export type RedisRunner = <T>(call: (redis: Redis) => Promise<T>) => Promise<T>;

/** The UTC day of a moment, as the day keys name it. */
export function utcDay(at: Date | number): string {
  return new Date(at).toISOString().slice(0, 10);
}

export class MemberLimits {
  constructor(
    private readonly run: RedisRunner,
    private readonly keys: RedisKeys,
    readonly settings: LimitSettings,
  ) {}

  #key(kind: 'open' | 'last', accountId: string): string {
    return this.keys.memberLimit(kind, accountId);
  }

  #dayKey(accountId: string, day: string): string {
    return this.keys.memberDay(accountId, day);
  }

  get #heldKey(): string {
    return this.keys.heldSlots;
  }

  /**
   * Takes a slot for a generation about to be submitted, or refuses. Taking it again for the
   * same generation (a redelivered event) is a no-op that succeeds.
   */
  async acquire(
    accountId: string,
    generationId: string,
    options: { exempt: boolean; now?: number },
  ): Promise<SlotResult> {
    const now = options.now ?? Date.now();
    const day = utcDay(now);
    const limited = !options.exempt;
    const s = this.settings;
    const [status, count, extra, ledgerSeq] = await this.run((redis) =>
      scripted(redis).genbotAcquireSlot(
        this.#key('open', accountId),
        this.#key('last', accountId),
        this.#dayKey(accountId, day),
        this.#heldKey,
        this.keys.ledgerHint(accountId),
        generationId,
        now,
        limited ? s.maxQueued : 0,
        limited ? s.cooldownMs : 0,
        limited ? s.dailyLimit : 0,
        heldMember({ accountId, generationId, day }),
        2 * 86_400,
      ),
    );
    switch (status) {
      case 'ok':
        return { ok: true, rank: count, taken: extra === 1, day, ledgerSeq };
      case 'queued':
        return { ok: false, refusal: { reason: 'queued', open: count, limit: s.maxQueued } };
      case 'cooldown':
        return { ok: false, refusal: { reason: 'cooldown', waitMs: extra } };
      default:
        return {
          ok: false,
          refusal: {
            reason: 'daily',
            today: count,
            limit: s.dailyLimit,
            resetInMs: DAY_MS - (now % DAY_MS),
          },
        };
    }
  }

  /**
   * Gives a generation's slot back when it ends; `refunded` (failed or cancelled) also takes
   * it out of its day's count. Safe to repeat.
   */
  async release(
    slot: HeldSlot,
    refunded: boolean,
    run?: { provider: string; model: string; ms: number },
  ): Promise<void> {
    await this.end({ slot, refunded, run });
  }

  /**
   * A generation's end, in one script call: its slot back, its run time, the account's
   * ledger hint and its delivery (see generation-end.ts). True when a delivery was queued.
   */
  async end(end: GenerationEnd): Promise<boolean> {
    return this.run((redis) => endGeneration(redis, this.keys, end));
  }

  /** Slots taken before `before` (ms), oldest first: what the reconciler checks. */
  async heldBefore(before: number, limit = 1000): Promise<HeldSlot[]> {
    const members = await this.run((redis) =>
      redis.zrangebyscore(this.#heldKey, 0, before, 'LIMIT', 0, limit),
    );
    return members.flatMap((m) => {
      const slot = parseHeld(m);
      return slot ? [slot] : [];
    });
  }

  /** The member's open generations, in no order. */
  open(accountId: string): Promise<string[]> {
    return this.run((redis) => redis.smembers(this.#key('open', accountId)));
  }

  /** What is left of the member's limits now. */
  async left(accountId: string, exempt: boolean, now = Date.now()): Promise<LimitsLeft> {
    const [open, today, cooldown] = await this.run((redis) =>
      Promise.all([
        redis.scard(this.#key('open', accountId)),
        redis.scard(this.#dayKey(accountId, utcDay(now))),
        redis.pttl(this.#key('last', accountId)),
      ]),
    );
    const s = this.settings;
    const limited = !exempt;
    return {
      open,
      today,
      ...(limited && s.maxQueued > 0 ? { maxQueued: s.maxQueued } : {}),
      ...(limited && s.dailyLimit > 0 ? { dailyLimit: s.dailyLimit } : {}),
      cooldownLeftMs: limited && cooldown > 0 ? cooldown : 0,
    };
  }
}
