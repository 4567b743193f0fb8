/**
 * Waits for a condition the code under test brings about on its own (a fake platform seeing
 * a message), re-checking every 25 ms; fails naming `what` after `ms`.
 */
export async function until<T>(
  what: string,
  check: () => T | undefined | false,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
