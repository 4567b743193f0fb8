/**
 * Text limits as the chat platforms count them. Telegram and Discord measure lengths in
 * UTF-16 code units (what `String.length` counts), and both refuse a string that is not valid
 * UTF-16, so a cut inside a surrogate pair makes the whole message fail. Shortening here
 * always cuts between graphemes, so no emoji, flag or combined character is ever split.
 */

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

const ELLIPSIS = '…';

/**
 * `text` in at most `max` UTF-16 code units: unchanged when it fits, else cut at the last
 * grapheme boundary that leaves room for an ellipsis.
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 0) return '';
  const room = max - ELLIPSIS.length;
  let end = 0;
  for (const { index, segment } of graphemes.segment(text)) {
    if (index + segment.length > room) break;
    end = index + segment.length;
  }
  return `${text.slice(0, end)}${ELLIPSIS}`;
}

/** `text` on one line: runs of white space (new lines included) become one space. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * How many characters a member would count: Unicode code points, so an accented letter
 * typed as one character is one, and most emoji are one (a few combined ones are several).
 */
export function characterCount(text: string): number {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}
