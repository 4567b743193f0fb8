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
  // An HTML error page (a proxy's) says nothing a member can use.
  if (/^\s*</.test(text)) return 'an error page';
  return clipText(oneLine(text), max);
}

/** A content refusal: never retried, and the member is told why. */
export function refused(provider: string, reason: string): ProviderError {
  return new ProviderError(`${provider} refused the request: ${clip(reason)}`, {
    code: 'provider_refused',
    retryable: false,
    userMessage: `The generator refused this prompt${reason ? ` (${clip(reason, 120)})` : ''}. Your points were returned.`,
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
    userMessage: `The generator failed${reason ? ` (${clip(reason, 120)})` : ''}. Your points were returned.`,
  });
}

/** The backend could not be reached or did not answer in time; worth another try later. */
export function unavailable(provider: string, reason: string, cause?: unknown): ProviderError {
  return new ProviderError(`${provider} is unavailable: ${reason}`, {
    code: 'provider_unavailable',
    retryable: true,
    userMessage: 'The generator is unavailable right now. Your points were returned.',
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Classifies an HTTP error answer. 429 and 5xx are retried (after Retry-After when given);
 * 401/403/402 mean the operator's key or credit is the problem; other 4xx are the request's
 * fault, and a refusal when the text says so. `message` is the backend's own error text.
 */
export function httpError(
  provider: string,
  status: number,
  headers: { get(name: string): string | null },
  message: string,
): ProviderError {
  const retryAfterMs = parseRetryAfter(headers.get('retry-after'));
  const detail = `HTTP ${status}${message ? `: ${clip(message)}` : ''}`;
  if (status === 429) {
    return new ProviderError(`${provider} rate limited us (${detail})`, {
      code: 'rate_limited',
      retryable: true,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      userMessage:
        'The generator is busy right now. Your points were returned; try again in a moment.',
    });
  }
  if (status >= 500 || status === 408) {
    return new ProviderError(`${provider} server error (${detail})`, {
      code: 'provider_unavailable',
      retryable: true,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  if (status === 401 || status === 403) {
    return new ProviderError(`${provider} refused our credentials (${detail})`, {
      code: 'provider_unavailable',
      retryable: false,
      userMessage:
        'The generator is not available: it refused the bot’s credentials. Your points were returned; please tell a moderator.',
    });
  }
  if (status === 402) {
    return new ProviderError(`${provider} account has no credit (${detail})`, {
      code: 'provider_unavailable',
      retryable: false,
      userMessage:
        'The generator is not available right now (out of credit). Your points were returned.',
    });
  }
  if (looksLikeRefusal(message)) return refused(provider, message);
  return new ProviderError(`${provider} rejected the request (${detail})`, {
    code: 'provider_failed',
    retryable: false,
    userMessage: `The generator rejected this request${message ? ` (${clip(message, 120)})` : ''}. Your points were returned.`,
  });
}
