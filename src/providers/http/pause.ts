import { setTimeout as wait } from 'node:timers/promises';
import { abortError } from './errors.js';

/** Waits, or throws the abort reason as soon as the job is cancelled or times out. */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await wait(ms, undefined, { signal });
  } catch {
    throw abortError(signal);
  }
}
