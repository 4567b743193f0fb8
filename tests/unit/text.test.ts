import { describe, expect, it } from 'vitest';
import { characterCount, clip } from '../../src/core/text.js';

/** True when every surrogate in `text` is half of a pair (what Telegram and Discord accept). */
function wellFormed(text: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

describe('clipping text to a platform limit', () => {
  it('leaves text that fits alone', () => {
    expect(clip('a red fox', 9)).toBe('a red fox');
  });

  it('never cuts an emoji in half, wherever the limit falls', () => {
    const text = `${'x'.repeat(197)}🦊🦊🦊 in the snow`;
    for (let max = 190; max <= 210; max += 1) {
      const out = clip(text, max);
      expect(out.length).toBeLessThanOrEqual(max);
      expect(wellFormed(out)).toBe(true);
    }
    // At 200 units one fox (two units) and the ellipsis fit; at 199 only the ellipsis does.
    expect(clip(text, 200)).toBe(`${'x'.repeat(197)}🦊…`);
    expect(clip(text, 199)).toBe(`${'x'.repeat(197)}…`);
  });

  it('keeps combined characters whole (flags, families, accents)', () => {
    const family = '👨‍👩‍👧‍👦';
    const flag = '🇳🇴';
    const accent = 'e\u0301';
    for (const piece of [family, flag, accent]) {
      const text = `${'a'.repeat(10)}${piece}${'b'.repeat(10)}`;
      for (let max = 8; max < text.length; max += 1) {
        const out = clip(text, max).replace('…', '');
        const kept = out.slice(10);
        // Either the whole grapheme is kept or none of it.
        expect(kept === '' || kept.startsWith(piece)).toBe(true);
        expect(wellFormed(out)).toBe(true);
      }
    }
  });

  it('counts characters as code points', () => {
    expect(characterCount('🦊🦊')).toBe(2);
    expect(characterCount('fox')).toBe(3);
    expect('🦊🦊'.length).toBe(4);
  });
});
