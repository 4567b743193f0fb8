import pRetry from 'p-retry';
import { ProviderError } from '../../core/errors.js';
import { pause } from './pause.js';

/** How a repeatable read is retried. */
export interface RetryReadPolicy {
  /** Tries after the first, before the failure goes to the job (which would retry it all). */
  retries: number;
  minTimeoutMs: number;
  maxTimeoutMs: number;
  /** The longest Retry-After honoured between two tries. */
  maxRetryAfterMs: number;
}

/** A few quick tries: a poll that keeps failing is the job's to retry, not the poll's. */
export const RETRY_READ_DEFAULTS = {
  retries: 3,
  minTimeoutMs: 250,
  maxTimeoutMs: 5000,
  maxRetryAfterMs: 30_000,
} as const satisfies RetryReadPolicy;

/**
 * A read that may be repeated (a status poll, a result fetch): a retryable failure is tried
 * again a few times (after the backend's Retry-After when it gave one) before the job as a
 * whole is retried, which would start a second remote task.
 */
export function retryRead<T>(
  read: () => Promise<T>,
  signal: AbortSignal,
  policy: RetryReadPolicy = RETRY_READ_DEFAULTS,
): Promise<T> {
  return pRetry(read, {
    retries: policy.retries,
    minTimeout: policy.minTimeoutMs,
    maxTimeout: policy.maxTimeoutMs,
    signal,
    shouldRetry: (error) => error instanceof ProviderError && error.retryable,
    onFailedAttempt: async (error) => {
      if (
        error instanceof ProviderError &&
        error.retryAfterMs !== undefined &&
        error.retriesLeft > 0
      )
        await pause(Math.min(error.retryAfterMs, policy.maxRetryAfterMs), signal);
    },
  });
}
