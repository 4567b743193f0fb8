import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { RedisKeys } from './keys.js';

/** How long an event is remembered: platforms redeliver within minutes to hours, not days. */
const CLAIM_TTL_SECONDS = 24 * 3600;
/** A claim that Redis does not answer in this time lets the event through (fail open). */
const CLAIM_TIMEOUT_MS = 1500;

/**
 * One platform event, one answer, across every bot process. Telegram redelivers an update
 * when polling restarts before its offset was confirmed, and retries a webhook call that took
 * too long; the generation itself is idempotent by its id, but each delivery would otherwise
 * post its own status message or reply. The first process to claim the event's key handles
 * it; the others drop it. If Redis cannot answer, the event is handled (a rare duplicate
 * reply is better than a lost command).
 */
export class EventClaims {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    /** Whose events: a platform (or one bot of it), part of each claim's key. */
    private readonly platform: string,
    private readonly logger: Logger,
  ) {}

  async claim(key: string): Promise<boolean> {
    const digest = createHash('sha256').update(key).digest('hex').slice(0, 32);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), CLAIM_TIMEOUT_MS);
    });
    try {
      const answer = await Promise.race([
        this.redis.set(
          this.keys.eventClaim(this.platform, digest),
          '1',
          'EX',
          CLAIM_TTL_SECONDS,
          'NX',
        ),
        timeout,
      ]);
      if (answer === 'timeout') {
        this.logger.warn({ event: key }, 'event claim timed out; handling the event');
        return true;
      }
      return answer === 'OK';
    } catch (error) {
      this.logger.warn({ err: error, event: key }, 'event claim failed; handling the event');
      return true;
    } finally {
      clearTimeout(timer);
    }
  }
}
