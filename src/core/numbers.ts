/**
 * Whole numbers as members and operators type them: digits with an optional minus sign,
 * nothing else (no spaces, no `+`, no `1e3`, no `0x10`). One rule for every typed surface,
 * so `--seed 7` means the same on Telegram and on the console. Each caller words its own
 * refusal.
 */
const WHOLE_NUMBER = /^-?\d+$/;

/**
 * The whole number `text` spells, or `undefined` when it is not one. A number too long to
 * hold exactly loses precision rather than being refused here: the option's own bounds
 * judge it.
 */
export function parseWholeNumber(text: string): number | undefined {
  return WHOLE_NUMBER.test(text) ? Number(text) : undefined;
}
