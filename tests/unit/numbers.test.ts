import { describe, expect, it } from 'vitest';
import { parseWholeNumber } from '../../src/core/numbers.js';

describe('parseWholeNumber', () => {
  it.each([
    ['7', 7],
    ['0', 0],
    ['-5', -5],
    ['007', 7],
  ])('reads %s as %d', (text, n) => {
    expect(parseWholeNumber(text)).toBe(n);
  });

  it.each(['', '-', '+5', '1.5', '2.0', '1e2', '0x10', '768px', 'two', ' 5', '5 ', '7,5'])(
    'refuses "%s"',
    (text) => {
      expect(parseWholeNumber(text)).toBeUndefined();
    },
  );

  it('keeps a number too long to hold exactly, for the option bounds to judge', () => {
    expect(parseWholeNumber('99999999999999999999')).toBe(1e20);
  });
});
