import { Redis } from 'ioredis';
import { redactUrl } from '../config.js';
import type { Logger } from '../logger.js';

/**
 * An ioredis connection for BullMQ. Workers and event listeners need
 * `maxRetriesPerRequest: null`, so blocking commands wait through a reconnect. Producers
 * (`failFast`) must not wait: with Redis down, a member's /generate should fail at once with
 * the points returned, not hang until the platform gives up.
 */
export function createRedis(
  url: string,
  logger: Logger,
  name: string,
  options: { failFast?: boolean } = {},
): Redis {
  const redis = new Redis(url, {
    ...(options.failFast
      ? { maxRetriesPerRequest: 1, enableOfflineQueue: false }
      : { maxRetriesPerRequest: null }),
    connectionName: name,
    lazyConnect: false,
  });
  redis.on('error', (error: Error) => {
    logger.warn({ err: error, redis: redactUrl(url), connection: name }, 'redis connection error');
  });
  return redis;
}

/** Resolves once the connection is ready (a fail-fast one refuses commands before that). */
export async function redisReady(redis: Redis, url: string, timeoutMs = 15_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error(`cannot connect to Redis at ${redactUrl(url)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}

/** Closes a connection without waiting on a Redis that is gone. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    await redis.quit().catch(() => redis.disconnect());
  } else {
    redis.disconnect();
  }
}
