import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { RedisKeys } from './keys.js';
import { logOutages } from './redis.js';

/**
 * Cancels running jobs across processes. BullMQ's `worker.cancelJob` only reaches jobs in
 * the calling process, so a cancel is published on a Redis channel and every worker process
 * aborts the job if it is running it. The generation's `cancelRequested` flag covers a
 * worker that picks the job up after the message went out.
 */
export class CancelBus {
  readonly #publisher: Redis;
  readonly #channel: string;
  #subscriber: { connection: Redis; logger: Logger } | undefined;

  constructor(connection: Redis, keys: RedisKeys) {
    this.#publisher = connection;
    this.#channel = keys.cancelChannel;
  }

  async publish(generationId: string): Promise<void> {
    await this.#publisher.publish(this.#channel, generationId);
  }

  async subscribe(onCancel: (generationId: string) => void, logger: Logger): Promise<void> {
    if (this.#subscriber) throw new Error('cancel bus: already subscribed');
    const subscriber = this.#publisher.duplicate();
    // Without an error listener ioredis prints every failed reconnect with its stack.
    logOutages(subscriber, logger, 'cancel-subscriber');
    this.#subscriber = { connection: subscriber, logger };
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      try {
        onCancel(message);
      } catch (error) {
        logger.error({ err: error, generationId: message }, 'cancel handler failed');
      }
    });
    await subscriber.subscribe(this.#channel);
  }

  async close(): Promise<void> {
    if (this.#subscriber) {
      const { connection, logger } = this.#subscriber;
      // quit needs Redis; disconnect does not.
      await connection.quit().catch((error: unknown) => {
        logger.debug({ err: error }, 'cancel subscriber could not quit; disconnecting');
        connection.disconnect();
      });
      this.#subscriber = undefined;
    }
  }
}
