import { escapeMarkdown } from 'discord.js';
import { clip } from '../../core/text.js';

/**
 * Mentions nobody: the bot's messages may show what members typed (`@everyone`, `<@id>`,
 * `<@&role>`), and none of it may ping. Sent with every message the bot writes.
 */
export const NO_MENTIONS: { parse: [] } = { parse: [] };

/**
 * What discord.js escapes here: backslashes, code, strikethrough, spoilers, headings and
 * lists. Bold, italics and underline are escaped below instead: discord.js pairs asterisks
 * up and mangles a long run (`**** x ****` keeps a bare one and gains a backslash), and its
 * masked-link option escapes only the first link of a line (one greedy match).
 */
const DISCORD_JS = {
  bold: false,
  italic: false,
  underline: false,
  heading: true,
  bulletedList: true,
  numberedList: true,
} as const;

/** A web address: its characters are left alone, as Discord links it before markdown. */
const WEB_ADDRESS = /(https?:\/\/\S+)/;

/** An emphasis mark after an even number of backslashes (none included): not yet escaped. */
const BARE_EMPHASIS = /(?<!\\)((?:\\\\)*)([*_])/g;

/**
 * Member text (a prompt, a name, a refusal that quotes them) as Discord will show it: exactly
 * as typed. Markdown, masked links (`[text](url)`), mentions, channels, timestamps and custom
 * emoji (`<...>`), block quotes and subtext are escaped, so a prompt cannot dress itself up as
 * a link or a ping in the bot's embed.
 */
export function asTyped(text: string): string {
  return escapeMarkdown(text, DISCORD_JS)
    .replace(/[[<]/g, '\\$&')
    .replace(/^(\s*)(>|-#)/gm, '$1\\$2')
    .split(WEB_ADDRESS)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(BARE_EMPHASIS, '$1\\$2')))
    .join('');
}

/**
 * `asTyped(text)` in at most `max` UTF-16 units. Escaping lengthens the text, so the cut is
 * made before escaping (between graphemes, by `clip`) and made shorter until the escaped
 * text fits; no escape is ever cut in half.
 */
export function asTypedWithin(text: string, max: number): string {
  let budget = max;
  for (;;) {
    const escaped = asTyped(clip(text, budget));
    if (escaped.length <= max || budget <= 1) return escaped;
    budget = Math.max(1, budget - (escaped.length - max));
  }
}
