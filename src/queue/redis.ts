import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../logger.js';

/**
 * How long a producer command may take. A Redis that is up answers in well under a
 * millisecond; one that stopped answering (a frozen host, a half-open socket) would
 * otherwise hold a member's /generate until the socket times out, minutes later.
 */
export const PRODUCER_COMMAND_TIMEOUT_MS = 1500;

/** Errors a connection of ours emitted (and logged once per outage), for others to skip. */
const connectionErrors = new WeakSet<object>();

/** Whether `error` is a connection error a Redis connection of ours already reported. */
export function isReportedConnectionError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && connectionErrors.has(error);
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * Whether `error` says only that Redis is unreachable (refused, reset, closed, timed out),
 * as every reconnect attempt of every connection reports it, BullMQ's own duplicates
 * included. Such errors are worth one line per outage (see `logOutages`), not one each.
 */
export function isConnectionError(error: unknown): boolean {
  if (isReportedConnectionError(error)) return true;
  if (typeof error !== 'object' || error === null) return false;
  const code = 'code' in error ? error.code : undefined;
  const message = 'message' in error ? error.message : undefined;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  return (
    typeof message === 'string' &&
    (message.startsWith('Connection is closed') ||
      /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE)\b/.test(message))
  );
}

/**
 * Gives a connection an error listener that logs one warn line when an established
 * connection is lost and one info line when it is back, instead of one line per reconnect
 * attempt (ioredis reports each, about one every 2 s; without a listener it prints each as
 * an unhandled error with its stack). Failures before the first `ready` are left to whoever
 * opens it (see `openRedis`). Use it on any connection made outside `createRedis`, such as a
 * `duplicate()` for a subscriber.
 */
export function logOutages(redis: Redis, logger: Logger, name: string): void {
  // host:port only: never the credentials.
  const where = `${redis.options.host ?? ''}:${redis.options.port ?? ''}`;
  let established = redis.status === 'ready';
  let lost = false;
  redis.on('error', (error: Error) => {
    connectionErrors.add(error);
    if (!established || lost) return;
    lost = true;
    logger.warn(
      { redis: where, connection: name, reason: error.message },
      'redis connection lost; reconnecting',
    );
  });
  redis.on('ready', () => {
    if (lost) logger.info({ redis: where, connection: name }, 'redis connection restored');
    established = true;
    lost = false;
  });
}

/**
 * ioredis hangs a failed command's arguments on its error (`command.args`): a refused AUTH's
 * are the user and the password. Every error this connection reports, and every one of each
 * connection duplicated from it (BullMQ duplicates ours for its blocking reads and its
 * QueueEvents), keeps the command's name and loses them, before any listener sees it: a BullMQ
 * object nobody listens to prints its errors to stderr as they are.
 */
export function withoutCommandArguments(redis: Redis): Redis {
  redis.prependListener('error', dropCommandArguments);
  const duplicate = redis.duplicate.bind(redis);
  redis.duplicate = (override?: Partial<RedisOptions>): Redis =>
    withoutCommandArguments(duplicate(override));
  return redis;
}

function dropCommandArguments(error: unknown): void {
  if (typeof error !== 'object' || error === null || !('command' in error)) return;
  const { command } = error;
  const name =
    typeof command === 'object' && command !== null && 'name' in command ? command.name : '';
  Object.assign(error, { command: { name: typeof name === 'string' ? name : '' } });
}

/**
 * An ioredis connection for BullMQ. Workers and event listeners need
 * `maxRetriesPerRequest: null`, so blocking commands wait through a reconnect. Producers
 * (`failFast`) must not wait: no offline queue (a command while disconnected fails at
 * once) and a command timeout, so with Redis down or frozen a member's /generate fails
 * with the points returned instead of hanging until the platform gives up.
 *
 * Outages are logged once each (`logOutages`); failures before the first `ready` are the
 * start-up's to report (see `openRedis`). No error it reports carries a command's arguments
 * (`withoutCommandArguments`).
 */
export function createRedis(
  url: string,
  logger: Logger,
  name: string,
  options: { failFast?: boolean; commandTimeoutMs?: number } = {},
): Redis {
  const redis = new Redis(url, {
    ...(options.failFast
      ? {
          maxRetriesPerRequest: 1,
          enableOfflineQueue: false,
          commandTimeout: options.commandTimeoutMs ?? PRODUCER_COMMAND_TIMEOUT_MS,
        }
      : { maxRetriesPerRequest: null }),
    connectionName: name,
    lazyConnect: false,
  });
  withoutCommandArguments(redis);
  logOutages(redis, logger, name);
  return redis;
}

/**
 * One connection attempt: resolves with the connection once it is ready; rejects with the
 * first error (or after `timeoutMs` without an answer) and drops the connection, so it does
 * not go on reconnecting in the background. The caller decides whether to try again.
 */
export async function openRedis(
  url: string,
  logger: Logger,
  name: string,
  options: { failFast?: boolean; timeoutMs?: number } = {},
): Promise<Redis> {
  const redis = createRedis(url, logger, name, options);
  const timeoutMs = options.timeoutMs ?? 10_000;
  try {
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error): void => {
        clearTimeout(timer);
        redis.off('ready', onReady);
        redis.off('error', onError);
        redis.off('end', onEnd);
        if (error) reject(error);
        else resolve();
      };
      const onReady = (): void => done();
      const onError = (error: Error): void => done(error);
      const onEnd = (): void => done(new Error('connection closed'));
      const timer = setTimeout(
        () => done(new Error(`no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      redis.once('ready', onReady);
      redis.once('error', onError);
      redis.once('end', onEnd);
    });
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  return redis;
}

/** Closes a connection without waiting on a Redis that is gone. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    // A quit that fails (Redis went away meanwhile) is why disconnect exists: it needs no
    // answer. Either way the connection is closed, which is all the caller asked for.
    await redis.quit().catch(() => redis.disconnect());
  } else {
    redis.disconnect();
  }
}
