import { ProviderError } from '../../core/errors.js';
import { clip as clipText, oneLine } from '../../core/text.js';

/** Longest wait we accept from a Retry-After header; beyond it the backend is effectively down. */
const MAX_RETRY_AFTER_MS = 10 * 60_000;

/** How much of a raw error body is kept when nothing better can be read out of it. */
const EXCERPT_CHARS = 300;

/** The start of a raw body, for an error text when the body has no shape we know. */
export function excerpt(raw: string): string {
  return raw.slice(0, EXCERPT_CHARS);
}

/** What a zod parse found wrong, on one line: where, and what. */
export function issuesText(error: {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}): string {
  return error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ');
}

/** The message of anything thrown (a library may throw a non-Error). */
export function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The reason a cancel or timeout aborted a signal, always as an Error (BullMQ hands a string;
 * retry helpers and the worker expect an Error).
 */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new Error(typeof reason === 'string' ? reason : 'aborted');
}

/** Retry-After in seconds (fractions allowed) or as an HTTP date, in milliseconds. */
export function parseRetryAfter(
  value: string | null | undefined,
  now = Date.now(),
): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, Math.round(ms)));
}

const REFUSAL =
  /content[ _-]?polic|safety (system|checker|filter)|nsfw|moderation|flagged|inappropriate|prohibited content|sensitive content|censor/i;

/** Whether a backend's error text says it refused the content (not a fault of ours or theirs). */
export function looksLikeRefusal(text: string): boolean {
  return REFUSAL.test(text);
}

function clip(text: string, max = 200): string {
  // An HTML error page (a proxy's) says nothing worth a log line's room.
  if (/^\s*</.test(text)) return 'an error page';
  return clipText(oneLine(text), max);
}

/** How much of a backend's own words the operator's log keeps. */
const BACKEND_TEXT_CHARS = 2000;

/** The backend's words as the log keeps them: one line, clipped; nothing when there are none. */
function backendText(text: string): { backendText?: string } {
  return text ? { backendText: clipText(oneLine(text), BACKEND_TEXT_CHARS) } : {};
}

/** What the backend said in an error an adapter reclassifies, or `otherwise`. */
export function backendTextOf(error: unknown, otherwise: string): string {
  return (error instanceof ProviderError ? error.backendText : undefined) ?? otherwise;
}

/**
 * What a member reads for each kind of backend failure. Fixed sentences, never the backend's
 * words: those name checkpoint files, carry stack fragments and billing notes, and go to the
 * operator's log instead (`ProviderError.backendText`).
 */
export const MEMBER_SENTENCES = {
  refused: 'The generator refused this prompt. Your points were returned.',
  rateLimited: 'The generator is busy right now. Your points were returned; try again in a moment.',
  unavailable: 'The generator is unavailable right now. Your points were returned.',
  badRequest: 'The generator rejected this request. Your points were returned.',
  timedOut: 'The generator did not answer in time. Your points were returned.',
  failed: 'The generator failed. Your points were returned.',
} as const;

/** A content refusal: never retried. The member is told it was refused, not the backend's why. */
export function refused(provider: string, reason: string): ProviderError {
  return new ProviderError(`${provider} refused the request: ${clip(reason)}`, {
    code: 'provider_refused',
    retryable: false,
    userMessage: MEMBER_SENTENCES.refused,
    ...backendText(reason),
  });
}

/** An answer we cannot read: a broken or changed API. Retrying would not help. */
export function malformed(provider: string, what: string, cause?: unknown): ProviderError {
  return new ProviderError(`${provider} sent a malformed response: ${what}`, {
    code: 'provider_failed',
    retryable: false,
    userMessage: 'The generator sent an answer the bot could not read. Your points were returned.',
    ...(cause === undefined ? {} : { cause }),
  });
}

/** An output over the size limit: never stored, never retried. */
export function tooLarge(provider: string, maxBytes: number): ProviderError {
  return new ProviderError(`${provider}: an output is larger than ${maxBytes} bytes`, {
    code: 'provider_failed',
    retryable: false,
    userMessage: `The generated file is larger than the bot accepts (${Math.round(maxBytes / (1024 * 1024))} MB). Your points were returned.`,
  });
}

/** The backend said the generation failed on its side. */
export function failed(provider: string, reason: string, retryable = false): ProviderError {
  return new ProviderError(`${provider} failed: ${clip(reason)}`, {
    code: 'provider_failed',
    retryable,
    userMessage: MEMBER_SENTENCES.failed,
    ...backendText(reason),
  });
}

/** The backend could not be reached; worth another try later. */
export function unavailable(provider: string, reason: string, cause?: unknown): ProviderError {
  return new ProviderError(`${provider} is unavailable: ${reason}`, {
    code: 'provider_unavailable',
    retryable: true,
    userMessage: MEMBER_SENTENCES.unavailable,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** A call or download that got no (whole) answer within its own limit; worth another try. */
export function timedOut(provider: string, what: string, cause?: unknown): ProviderError {
  return new ProviderError(`${provider} timed out: ${what}`, {
    code: 'timeout',
    retryable: true,
    userMessage: MEMBER_SENTENCES.timedOut,
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Classifies an HTTP error answer. 429 and 5xx are retried (after Retry-After when given);
 * 401/403/402 mean the operator's key or credit is the problem; other 4xx are the request's
 * fault, and a refusal when the text says so. `message` is the backend's own error text: it
 * goes into the error's `backendText` for the log, and the member reads a fixed sentence.
 */
export function httpError(
  provider: string,
  status: number,
  headers: { get(name: string): string | null },
  message: string,
): ProviderError {
  const retryAfterMs = parseRetryAfter(headers.get('retry-after'));
  const detail = `HTTP ${status}${message ? `: ${clip(message)}` : ''}`;
  const words = backendText(message);
  const wait = retryAfterMs === undefined ? {} : { retryAfterMs };
  if (status === 429) {
    return new ProviderError(`${provider} rate limited us (${detail})`, {
      code: 'rate_limited',
      retryable: true,
      ...wait,
      userMessage: MEMBER_SENTENCES.rateLimited,
      ...words,
    });
  }
  if (status >= 500 || status === 408) {
    return new ProviderError(`${provider} server error (${detail})`, {
      code: 'provider_unavailable',
      retryable: true,
      ...wait,
      userMessage: MEMBER_SENTENCES.unavailable,
      ...words,
    });
  }
  if (status === 401 || status === 403) {
    return new ProviderError(`${provider} refused our credentials (${detail})`, {
      code: 'provider_unavailable',
      retryable: false,
      userMessage:
        'The generator is not available: it refused the bot’s credentials. Your points were returned; please tell a moderator.',
      ...words,
    });
  }
  if (status === 402) {
    return new ProviderError(`${provider} account has no credit (${detail})`, {
      code: 'provider_unavailable',
      retryable: false,
      userMessage:
        'The generator is not available right now (out of credit). Your points were returned.',
      ...words,
    });
  }
  if (looksLikeRefusal(message)) return refused(provider, message);
  return new ProviderError(`${provider} rejected the request (${detail})`, {
    code: 'provider_failed',
    retryable: false,
    userMessage: MEMBER_SENTENCES.badRequest,
    ...words,
  });
}
