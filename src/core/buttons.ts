/**
 * Buttons, platform-neutral. A button stands for an action of the command layer and its
 * arguments, written as one short string (`cancel:k3v9q2m7x1c8ab`): Telegram carries it as
 * callback data (at most 64 bytes), Discord as a custom id (at most 100 characters). Both
 * hand it back verbatim from any client, so the command layer parses it strictly.
 */
export type ButtonStyle = 'primary' | 'secondary' | 'danger';

export interface ButtonRef {
  label: string;
  emoji?: string;
  /** Where a text-only surface puts the emoji: `Older ▶` rather than `◀ Newer`. */
  emojiLast?: boolean;
  style: ButtonStyle;
  /** The action and its arguments, as `actionData` writes them. */
  data: string;
}

/** Telegram's limit for callback data, the smaller of the two platforms'. */
export const BUTTON_DATA_LIMIT = 64;

const ARG = /^[A-Za-z0-9_.-]*$/;

/**
 * `name:arg:arg`, `-` standing for an argument left out; undefined when it would not fit in
 * a button (then the surface offers no button: a console name can be longer than a chat id).
 */
export function actionData(
  name: string,
  args: readonly (string | number | undefined)[],
): string | undefined {
  const parts = [name, ...args.map((a) => (a === undefined || a === '' ? '-' : String(a)))];
  for (const part of parts)
    if (part.includes(':') || !ARG.test(part))
      throw new Error(`button data part "${part}" of ${name} is not a plain word`);
  const data = parts.join(':');
  return Buffer.byteLength(data) > BUTTON_DATA_LIMIT ? undefined : data;
}

/** The action name and its arguments (undefined where `-`), or undefined if malformed. */
export function splitActionData(
  data: string,
): { name: string; args: (string | undefined)[] } | undefined {
  if (data.length === 0 || data.length > 100) return undefined;
  const [name, ...args] = data.split(':');
  if (!name || !/^[a-z][a-z-]*$/.test(name) || !args.every((a) => ARG.test(a))) return undefined;
  return { name, args: args.map((a) => (a === '-' ? undefined : a)) };
}

/** How a button looks; the action it stands for is its command's. */
export type ButtonLook = Omit<ButtonRef, 'data'>;

/** A button's text on a surface that has no separate emoji: `🎲 Reroll`, `Older ▶`. */
export function buttonText(button: ButtonRef): string {
  if (!button.emoji) return button.label;
  return button.emojiLast ? `${button.label} ${button.emoji}` : `${button.emoji} ${button.label}`;
}
