import type { Connection } from 'mongoose';
import { ReplyError, type Redis } from 'ioredis';
import pRetry, { AbortError } from 'p-retry';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { openRedis } from './queue/redis.js';
import { connectMongo } from './store/connection.js';
import { ensureIndexes, registerCollections, type Collections } from './store/collections.js';

/**
 * A service named by a variable could not be reached at start-up, after every retry. Its
 * message names the variable and the host (never the credentials in the URL), so `main`
 * prints it as the one line an operator needs.
 */
export class ServiceUnreachableError extends Error {
  override readonly name = 'ServiceUnreachableError';
  constructor(
    readonly service: string,
    readonly variable: string,
    readonly endpoint: string,
    readonly attempts: number,
    readonly reason: string,
  ) {
    super(
      `cannot connect to ${service} at ${endpoint} (${variable}) after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${reason}`,
    );
  }
}

/** `host:port` of a mongodb:// or redis:// URL (several for a replica set), without credentials. */
export function endpointOf(url: string): string {
  const defaultPort = url.startsWith('mongodb+srv:')
    ? undefined
    : url.startsWith('mongodb:')
      ? 27017
      : 6379;
  const authority = url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split(/[/?#]/)[0] ?? '';
  const hosts = authority.slice(authority.lastIndexOf('@') + 1);
  return hosts
    .split(',')
    .map((h) => (defaultPort === undefined || /:\d+$/.test(h) ? h : `${h}:${defaultPort}`))
    .join(',');
}

/** An error's own words, without any credential of `url` that might be quoted in them. */
function reasonOf(error: unknown, url: string): string {
  let text = error instanceof Error ? error.message : String(error);
  for (const secret of credentialsOf(url))
    if (secret.length >= 3) text = text.split(secret).join('***');
  return text.replace(/\/\/[^/\s@]+@/g, '//***@');
}

/**
 * The password and user name of `url`, as an error may quote them (the password also
 * %-decoded). A URL that does not parse has none we could find: the error's words then
 * stay as they are, bar the `//user:pass@` pattern `reasonOf` blanks anyway.
 */
function credentialsOf(url: string): string[] {
  const u = URL.parse(url);
  if (!u) return [];
  return [u.password, u.username, decodedOrAsIs(u.password)];
}

/** `text` with its %-escapes decoded; as it is when one is malformed (a stray `%`). */
function decodedOrAsIs(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Runs `attempt` until it succeeds or `budgetMs` is spent: backoff 0.5, 1, 2, 4, 4… s (p-retry),
 * one warn line per failed attempt that will be retried, and a `ServiceUnreachableError`
 * after the last. An error `retryable` refuses (a wrong password) ends it at once.
 */
export async function connectWithRetry<T>(
  target: { service: string; variable: string; url: string },
  options: { budgetMs: number; logger: Logger; retryable?: (error: unknown) => boolean },
  attempt: (timeoutMs: number) => Promise<T>,
): Promise<T> {
  const endpoint = endpointOf(target.url);
  const minTimeout = 500;
  const factor = 2;
  const maxTimeout = 4000;
  const deadline = Date.now() + options.budgetMs;
  const retryable = options.retryable ?? (() => true);
  const fail = (error: unknown, attempts: number) =>
    new ServiceUnreachableError(
      target.service,
      target.variable,
      endpoint,
      attempts,
      reasonOf(error, target.url),
    );
  try {
    return await pRetry(
      async (attemptNumber) => {
        try {
          // An attempt waits a third of the budget, 1 to 5 s (a refused connection fails at
          // once), and not much past the deadline.
          const timeoutMs = Math.min(5000, options.budgetMs / 3, deadline - Date.now());
          return await attempt(Math.max(1000, timeoutMs));
        } catch (error) {
          if (!retryable(error)) throw new AbortError(fail(error, attemptNumber));
          throw error instanceof Error ? error : new Error(String(error));
        }
      },
      {
        retries: 100,
        minTimeout,
        factor,
        maxTimeout,
        randomize: false,
        onFailedAttempt: (error) => {
          const delayMs = Math.min(maxTimeout, minTimeout * factor ** (error.attemptNumber - 1));
          // Throwing here ends the retries: this was the last attempt the budget allows.
          if (Date.now() + delayMs >= deadline) throw fail(error, error.attemptNumber);
          options.logger.warn(
            {
              variable: target.variable,
              endpoint,
              attempt: error.attemptNumber,
              retryInMs: delayMs,
              reason: reasonOf(error, target.url),
            },
            `${target.service} is not reachable yet; retrying`,
          );
        },
      },
    );
  } catch (error) {
    if (error instanceof ServiceUnreachableError) throw error;
    throw fail(error, attemptsOf(error));
  }
}

/** How many attempts p-retry counted on the error it ends with (it adds `attemptNumber`). */
function attemptsOf(error: unknown): number {
  return typeof error === 'object' &&
    error !== null &&
    'attemptNumber' in error &&
    typeof error.attemptNumber === 'number'
    ? error.attemptNumber
    : 1;
}

/** Bad credentials (code 18) or a malformed URI: MongoDB's answer does not change by waiting. */
function refusedByMongo(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  return (
    ('name' in error && error.name === 'MongoParseError') || ('code' in error && error.code === 18)
  );
}

/**
 * Connects to MongoDB, then Redis (a connection that waits through reconnects, for
 * workers and event listeners, and a fail-fast one for producers), each retried for
 * STARTUP_RETRY_SECONDS. Nothing is left open when it fails.
 */
export async function connectServices(
  config: Config,
  logger: Logger,
): Promise<{ conn: Connection; collections: Collections; redis: Redis; producer: Redis }> {
  const budgetMs = config.startupRetryMs;
  const conn = await connectWithRetry(
    { service: 'MongoDB', variable: 'MONGODB_URI', url: config.mongodbUri },
    {
      budgetMs,
      logger,
      retryable: (error) => !refusedByMongo(error),
    },
    (timeoutMs) => connectMongo(config.mongodbUri, logger, { timeoutMs }),
  );
  try {
    const collections = registerCollections(conn);
    await ensureIndexes(collections);
    const { redis, producer } = await connectWithRetry(
      { service: 'Redis', variable: 'REDIS_URL', url: config.redisUrl },
      // A reply from the server (WRONGPASS, NOAUTH) is an answer, not an outage.
      { budgetMs, logger, retryable: (error) => !(error instanceof ReplyError) },
      async (timeoutMs) => {
        const [redis, producer] = await Promise.allSettled([
          openRedis(config.redisUrl, logger, 'genbot', { timeoutMs }),
          openRedis(config.redisUrl, logger, 'genbot-producer', { failFast: true, timeoutMs }),
        ]);
        // Both or neither: the one that opened is closed before the failure is retried.
        if (redis.status === 'rejected') {
          if (producer.status === 'fulfilled') producer.value.disconnect();
          throw redis.reason;
        }
        if (producer.status === 'rejected') {
          redis.value.disconnect();
          throw producer.reason;
        }
        return { redis: redis.value, producer: producer.value };
      },
    );
    logger.info({ redis: endpointOf(config.redisUrl) }, 'connected to Redis');
    return { conn, collections, redis, producer };
  } catch (error) {
    // The start-up error is what the operator needs; a failed close only goes to debug.
    await conn
      .close()
      .catch((err: unknown) =>
        logger.debug({ err }, 'could not close MongoDB after the start-up failed'),
      );
    throw error;
  }
}
