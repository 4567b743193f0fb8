import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { progressPayloadSchema, type ProgressPayload } from './contracts.js';
import type { RedisKeys } from './keys.js';
import { logOutages } from './redis.js';

/**
 * Progress of running generations, from workers to whoever shows it, over one Redis pub/sub
 * channel: one PUBLISH per change, nothing stored and nothing polled. Progress is best effort
 * (a bot that is away misses some and the next one replaces them; the final result travels
 * through the durable deliveries queue). A message carries the generation's id and its
 * progress only: where it goes, and any credentials, stay in MongoDB and the bot's cache.
 */
export class ProgressChannel {
  readonly #connection: Redis;
  readonly #channel: string;

  constructor(connection: Redis, keys: RedisKeys) {
    this.#connection = connection;
    this.#channel = keys.progressChannel;
  }

  async publish(payload: ProgressPayload): Promise<void> {
    await this.#connection.publish(this.#channel, JSON.stringify(payload));
  }

  /** Calls `onProgress` for every valid message from now on, until `close`. */
  async subscribe(
    onProgress: (payload: ProgressPayload) => void,
    logger: Logger,
  ): Promise<{ close(): Promise<void> }> {
    const subscriber = this.#connection.duplicate();
    logOutages(subscriber, logger, 'progress-subscriber');
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(message);
      } catch (error) {
        logger.debug({ err: error }, 'progress message is not JSON; ignored');
        return;
      }
      const payload = progressPayloadSchema.safeParse(parsed);
      if (!payload.success) {
        logger.debug({ issues: payload.error.issues }, 'progress message is invalid; ignored');
        return;
      }
      try {
        onProgress(payload.data);
      } catch (error) {
        logger.error(
          { err: error, generationId: payload.data.generationId },
          'progress handler failed',
        );
      }
    });
    await subscriber.subscribe(this.#channel);
    return {
      close: async () => {
        // quit needs Redis; disconnect does not.
        await subscriber.quit().catch((error: unknown) => {
          logger.debug({ err: error }, 'progress subscriber could not quit; disconnecting');
          subscriber.disconnect();
        });
      },
    };
  }
}
