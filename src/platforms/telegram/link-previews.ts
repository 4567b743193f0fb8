import type { Transformer } from 'grammy';

/** Bot API methods that write a message's text, and so could unfurl a link in it. */
const TEXT_WRITES = new Set<string>(['sendMessage', 'editMessageText']);

/**
 * Turns link previews off on every text the bot writes, whoever calls the API: a prompt is
 * the member's text, and a URL in it must not unfurl into someone else's page under the
 * bot's name (nor change the look of a status message as it is edited).
 */
export const withoutLinkPreviews: Transformer = (prev, method, payload, signal) =>
  TEXT_WRITES.has(method)
    ? prev(method, { ...payload, link_preview_options: { is_disabled: true } }, signal)
    : prev(method, payload, signal);
