import { describe, expect, it } from 'vitest';
import { until } from '../support/until.js';

/** The error `until` failed with (it must fail). */
async function failureOf(waiting: Promise<unknown>): Promise<Error> {
  const error = await waiting.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error))
    throw new Error(`until did not fail with an Error: ${String(error)}`);
  return error;
}

describe('until', () => {
  it('returns the first truthy value the check gives', async () => {
    let looks = 0;
    expect(await until('the third look', () => (++looks >= 3 ? looks : undefined), 5_000)).toBe(3);
  });

  it('fails naming what it waited for and the last value the check returned', async () => {
    const photos: string[] = [];
    const error = await failureOf(until('a photo', () => photos.length, 100));
    expect(error.message).toMatch(/^timed out waiting for a photo \(/);
    expect(error.message).toContain('the check last returned 0');
  });

  it('tries a check that throws again, and reports the last error it threw', async () => {
    let looks = 0;
    const error = await failureOf(
      until(
        'a readable answer',
        () => {
          looks += 1;
          throw new Error(`not yet (look ${looks})`);
        },
        100,
      ),
    );
    expect(looks).toBeGreaterThan(1);
    expect(error.message).toMatch(/^timed out waiting for a readable answer \(/);
    expect(error.message).toContain(`it last threw Error: not yet (look ${looks})`);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('keeps the message short when the last error is large', async () => {
    const error = await failureOf(
      until(
        'a small answer',
        () => {
          throw new Error(`refused: ${'x'.repeat(5_000)}`);
        },
        100,
      ),
    );
    expect(error.message).toContain('it last threw Error: refused: xxx');
    expect(error.message.length).toBeLessThan(1_000);
  });
});
