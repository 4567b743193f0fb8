import { describe, expect, it } from 'vitest';
import { asTyped, asTypedWithin } from '../../src/platforms/discord/plain-text.js';

describe('Discord: member text shown as typed', () => {
  it('escapes markdown, masked links, mentions, quotes and subtext', () => {
    expect(asTyped('[free](https://x.example)')).toBe('\\[free](https://x.example)');
    expect(asTyped('[a](https://a.example) and [b](https://b.example)')).toBe(
      '\\[a](https://a.example) and \\[b](https://b.example)',
    );
    expect(asTyped('**** x ****')).toBe('\\*\\*\\*\\* x \\*\\*\\*\\*');
    expect(asTyped('<@123> <#456> <@&789> <t:1:R>')).toBe('\\<@123> \\<#456> \\<@&789> \\<t:1:R>');
    expect(asTyped('**b** _i_ ~~s~~ ||x|| `c`')).toBe(
      '\\*\\*b\\*\\* \\_i\\_ \\~\\~s\\~\\~ \\|\\|x\\|\\| \\`c\\`',
    );
    expect(asTyped('> q\n# h\n-# small\n- item\n1. one')).toBe(
      '\\> q\n\\# h\n\\-# small\n\\- item\n1\\. one',
    );
    expect(asTyped('a\\b')).toBe('a\\\\b');
    expect(asTyped('https://x.example/a_b_c')).toBe('https://x.example/a_b_c');
  });

  it('fits the escaped text in its limit without cutting an escape in half', () => {
    const links = asTypedWithin('[a](b) <@1> '.repeat(400), 4000);
    // Lengths in UTF-16 units (Discord's 4,000-unit limit): within it, and not cut far short.
    expect(links.length).toBeLessThanOrEqual(4000);
    expect(links.length).toBeGreaterThan(3800);
    expect(links.endsWith('…')).toBe(true);
    const slashes = asTypedWithin('\\'.repeat(3000), 4000);
    expect(slashes.length).toBeLessThanOrEqual(4000);
    // Backslashes come in escaped pairs: the cut fell between two of them, never inside one.
    expect(slashes.slice(0, -1)).toMatch(/^(\\\\)+$/);
    expect(asTypedWithin('plain words', 4000)).toBe('plain words');
  });
});
