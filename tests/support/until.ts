import { inspect } from 'node:util';

/** The most of a last value (or error) a timeout message shows. */
const SHOWN_CHARS = 600;

/** A value as a short description for a failure message (an error by its message alone). */
function compact(value: unknown): string {
  const text =
    value instanceof Error
      ? `${value.name}: ${value.message}`
      : inspect(value, { depth: 2, breakLength: Infinity, maxArrayLength: 10 });
  return text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}… (${text.length} chars)` : text;
}

/**
 * Waits for a condition the code under test brings about on its own (a fake platform seeing
 * a message), re-checking every 25 ms; a check may be async. A check that throws is tried again. After `ms` it
 * fails naming `what`, with the last value the check returned and the last error it threw,
 * so a timeout says how far things got.
 */
export async function until<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let checks = 0;
  let last: { value: unknown } | undefined;
  let lastError: { error: unknown } | undefined;
  for (;;) {
    checks += 1;
    try {
      const value = await check();
      if (value) return value;
      last = { value };
    } catch (error) {
      lastError = { error };
    }
    if (Date.now() > deadline) {
      const seen = [`after ${checks} checks in ${ms} ms`];
      if (last) seen.push(`the check last returned ${compact(last.value)}`);
      if (lastError) seen.push(`it last threw ${compact(lastError.error)}`);
      // The last error, with its stack, is the cause.
      throw new Error(`timed out waiting for ${what} (${seen.join('; ')})`, {
        cause: lastError?.error,
      });
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
