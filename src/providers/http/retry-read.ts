import pRetry from 'p-retry';
import { ProviderError } from '../../core/errors.js';
import { pause } from './pause.js';

/**
 * A read that may be repeated (a status poll, a result fetch): a retryable failure is tried
 * again a few times (after the backend's Retry-After when it gave one) before the job as a
 * whole is retried, which would start a second remote task.
 */
export function retryRead<T>(read: () => Promise<T>, signal: AbortSignal, retries = 3): Promise<T> {
  return pRetry(read, {
    retries,
    minTimeout: 250,
    maxTimeout: 5000,
    signal,
    shouldRetry: (error) => error instanceof ProviderError && error.retryable,
    onFailedAttempt: async (error) => {
      if (
        error instanceof ProviderError &&
        error.retryAfterMs !== undefined &&
        error.retriesLeft > 0
      )
        await pause(Math.min(error.retryAfterMs, 30_000), signal);
    },
  });
}
