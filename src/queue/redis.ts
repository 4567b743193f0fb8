import { Redis } from 'ioredis';
import { redactUrl } from '../config.js';
import type { Logger } from '../logger.js';

/**
 * An ioredis connection fit for BullMQ: `maxRetriesPerRequest: null` so blocking commands
 * wait through reconnects instead of failing jobs.
 */
export function createRedis(url: string, logger: Logger, name: string): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    connectionName: name,
    lazyConnect: false,
  });
  redis.on('error', (error: Error) => {
    logger.warn({ err: error, redis: redactUrl(url), connection: name }, 'redis connection error');
  });
  return redis;
}
