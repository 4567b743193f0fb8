import type { Redis, Result } from 'ioredis';
import type { DeliveryJob } from './contracts.js';
import type { RedisKeys } from './keys.js';

/**
 * The producer side of the delivery streams (the consumer is delivery/delivery-stream.ts):
 * one Redis stream of finished generations per platform.
 */

/** Each platform's stream keeps at most about this many entries (delivered ones included). */
export const DELIVERY_MAX_ENTRIES = 100_000;
/** A marker makes a second add of the same generation's delivery a no-op for a day. */
export const DELIVERY_MARKER_SECONDS = 86_400;
/** The consumer group of the bot processes on each platform's stream. */
export const DELIVERY_GROUP = 'bots';

/**
 * Lua that adds a delivery unless its marker says it was added: KEYS[k] is the stream and
 * KEYS[k+1] the marker; ARGV[a] the generation id, then the entry JSON, max entries and
 * marker seconds. Returns the entry's id, or false. Also the end of `END_SCRIPT`
 * (generation-end.ts), which queues a finished generation's delivery.
 */
export function addDeliveryLua(k: number, a: number): string {
  return `
if redis.call('SET', KEYS[${k + 1}], ARGV[${a}], 'NX', 'EX', tonumber(ARGV[${a + 3}])) then
  return redis.call('XADD', KEYS[${k}], 'MAXLEN', '~', tonumber(ARGV[${a + 2}]), '*', 'd', ARGV[${a + 1}])
end
return false`;
}

/** KEYS: stream, marker; ARGV: generation id, entry JSON, max entries, marker seconds. */
export const ADD_DELIVERY_SCRIPT = addDeliveryLua(1, 1);

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** `ADD_DELIVERY_SCRIPT`, defined on a connection by its first `addDelivery`. */
    genbotAddDelivery(
      stream: string,
      marker: string,
      generationId: string,
      entry: string,
      maxEntries: number,
      markerSeconds: number,
    ): Result<string | null, Context>;
  }
}

/** Connections that have the delivery script as a command. */
const withAddDelivery = new WeakSet<Redis>();

/**
 * Adds a finished generation's delivery; false when one was already added (a replayed
 * finish). Runs on the caller's connection: the producer's, which fails fast.
 */
export async function addDelivery(
  connection: Redis,
  keys: RedisKeys,
  data: Extract<DeliveryJob, { v: 2 }>,
): Promise<boolean> {
  if (!withAddDelivery.has(connection)) {
    connection.defineCommand('genbotAddDelivery', { numberOfKeys: 2, lua: ADD_DELIVERY_SCRIPT });
    withAddDelivery.add(connection);
  }
  const id = await connection.genbotAddDelivery(
    keys.deliveryStream(data.platform),
    keys.deliveryMarker(data.generationId),
    data.generationId,
    JSON.stringify(data),
    DELIVERY_MAX_ENTRIES,
    DELIVERY_MARKER_SECONDS,
  );
  return id !== null;
}
