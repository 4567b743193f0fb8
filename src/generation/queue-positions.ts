import type { Redis, Result } from 'ioredis';

/** Where a provider queue's waiting jobs are: BullMQ's plain wait list and prioritized set. */
export interface WaitingKeys {
  wait: string;
  prioritized: string;
}

/** Ids looked up per script call: a call stays well under a millisecond of Redis time. */
export const POSITIONS_PER_CALL = 500;

/**
 * KEYS: wait list, prioritized set. ARGV: job ids. Each job's place (1 = next), 0 when it is
 * in neither (running, delayed or gone), in the order asked; one snapshot for all of them.
 *
 * BullMQ 6 workers take the plain wait list first, from its right end (RPOPLPUSH), then the
 * prioritized set's lowest score (ZPOPMIN; score = priority * 2^32 + an arrival counter), so
 * a prioritized job's place is the wait list's length plus its rank: O(log n). Only priority
 * members' jobs and ones an older release queued are on the wait list, which stays short:
 * they are found from the end workers take from (cost: the place), and only when the set
 * does not have them.
 */
const POSITIONS_SCRIPT = `
local waiting = redis.call('LLEN', KEYS[1])
local places = {}
for i = 1, #ARGV do
  local rank = redis.call('ZRANK', KEYS[2], ARGV[i])
  local place = 0
  if rank then
    place = waiting + rank + 1
  elseif waiting > 0 then
    local index = redis.call('LPOS', KEYS[1], ARGV[i], 'RANK', -1)
    if index then place = waiting - index end
  end
  places[i] = place
end
return places`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    genbotQueuePositions(
      ...keysThenIds: [wait: string, prioritized: string, ...ids: string[]]
    ): Result<number[], Context>;
  }
}

const withScript = new WeakSet<Redis>();

function withPositionsScript(redis: Redis): Redis {
  if (!withScript.has(redis)) {
    redis.defineCommand('genbotQueuePositions', { numberOfKeys: 2, lua: POSITIONS_SCRIPT });
    withScript.add(redis);
  }
  return redis;
}

/**
 * The places of waiting jobs in one provider queue (1 = next to start), undefined for one that
 * is not waiting: one script call per `POSITIONS_PER_CALL` ids. Each call is one atomic
 * snapshot; between two calls a worker may have started a job, which moves the later ones.
 */
export async function queuePositions(
  redis: Redis,
  keys: WaitingKeys,
  ids: readonly string[],
): Promise<(number | undefined)[]> {
  const script = withPositionsScript(redis);
  const calls: Promise<number[]>[] = [];
  for (let start = 0; start < ids.length; start += POSITIONS_PER_CALL)
    calls.push(
      script.genbotQueuePositions(
        keys.wait,
        keys.prioritized,
        ...ids.slice(start, start + POSITIONS_PER_CALL),
      ),
    );
  return (await Promise.all(calls)).flat().map((place) => (place > 0 ? place : undefined));
}
