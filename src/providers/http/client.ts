import { fetch, FormData, type Response } from 'undici';
import { z } from 'zod';
import type { ProviderError } from '../../core/errors.js';
import { HTTP_DEFAULTS, HTTP_LIMITS } from './defaults.js';
import {
  abortError,
  excerpt,
  httpError,
  issuesText,
  malformed,
  reasonOf,
  timedOut,
  unavailable,
} from './errors.js';
import { BodyTooLarge, readLimited } from './read-body.js';

export interface HttpClientOptions {
  /** Named in errors and logs. */
  provider: string;
  baseUrl: string;
  headers?: Record<string, string>;
  /** Limit of one call; the job's own signal still applies. Unset: HTTP_DEFAULTS.callTimeoutMs. */
  timeoutMs?: number;
}

export interface CallOptions<T> {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  /** Relative to the base URL, or absolute (fal hands back full status URLs). */
  path: string;
  json?: unknown;
  form?: FormData;
  schema: z.ZodType<T>;
  signal: AbortSignal;
  /** Pull the backend's error text out of an error body; defaults to common shapes. */
  errorText?: (body: unknown, raw: string) => string;
  /** How much of the answer is read; unset: HTTP_LIMITS.answerMaxBytes, a malformed answer past it. */
  limit?: AnswerLimit;
}

/** The most of an answer a call reads, and what a longer answer is. */
export interface AnswerLimit {
  maxBytes: number;
  /** The error for an answer past `maxBytes` (one carrying outputs: an output too large). */
  refuse: () => ProviderError;
}

/** The fields common error bodies put their words in; any of them may be anything. */
const commonErrorBody = z.looseObject({
  error: z.unknown().optional(),
  detail: z.unknown().optional(),
  message: z.unknown().optional(),
  msg: z.unknown().optional(),
  title: z.unknown().optional(),
});
const withMessage = z.looseObject({ message: z.string() });

function defaultErrorText(body: unknown, raw: string): string {
  const parsed = commonErrorBody.safeParse(body);
  if (!parsed.success) return excerpt(raw);
  const { error, detail, message, msg, title } = parsed.data;
  if (typeof error === 'string') return error;
  const nested = withMessage.safeParse(error);
  if (nested.success) return nested.data.message;
  // FastAPI's validation errors put a list in `detail`: better than nothing, as JSON.
  if (typeof detail === 'string') return detail;
  if (detail !== undefined) return JSON.stringify(detail);
  for (const v of [message, msg, title]) if (typeof v === 'string') return v;
  return excerpt(raw);
}

/** Basic auth from `http://user:pass@host` (A1111's --api-auth), kept out of the URL. */
export function splitAuth(url: string): { baseUrl: string; headers: Record<string, string> } {
  const u = new URL(url);
  if (!u.username) return { baseUrl: url, headers: {} };
  const auth = Buffer.from(
    `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`,
  ).toString('base64');
  u.username = '';
  u.password = '';
  return { baseUrl: u.toString(), headers: { authorization: `Basic ${auth}` } };
}

/**
 * JSON over HTTP for one backend: every call has a timeout on top of the job's signal,
 * error answers are classified (retryable or not, with the member's sentence), and every
 * answer is checked against the shape the API documents before anything reads it.
 */
export class HttpClient {
  readonly #timeoutMs: number;

  constructor(private readonly options: HttpClientOptions) {
    this.#timeoutMs = options.timeoutMs ?? HTTP_DEFAULTS.callTimeoutMs;
  }

  url(path: string): string {
    if (/^https?:\/\//.test(path)) return path;
    return `${this.options.baseUrl.replace(/\/$/, '')}/${path.replace(/^\//, '')}`;
  }

  async call<T>(call: CallOptions<T>): Promise<T> {
    const { response, raw } = await this.#exchange(call);
    return this.#read(call, response, raw);
  }

  /**
   * Sends the request and reads the body as text, no more of it than the call's limit; a
   * failure to do so is classified.
   */
  async #exchange(call: CallOptions<unknown>): Promise<{ response: Response; raw: string }> {
    const { provider } = this.options;
    const limit = call.limit ?? this.#defaultLimit();
    // One controller per call, its timer cleared and its listener removed when the call ends:
    // a worker polling a thousand jobs makes about a thousand calls a second, and a timeout
    // signal per call (AbortSignal.timeout) kept a timer pending for its full minute after the
    // call had ended, tied to the job's signal (AbortSignal.any).
    const controller = new AbortController();
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      controller.abort(new Error('timeout'));
    }, this.#timeoutMs);
    const forward = (): void => controller.abort(call.signal.reason);
    if (call.signal.aborted) forward();
    else call.signal.addEventListener('abort', forward, { once: true });
    try {
      const response = await fetch(this.url(call.path), {
        ...this.#request(call),
        signal: controller.signal,
        // API calls carry keys in headers (some not named Authorization, which fetch would drop
        // on a cross-origin redirect): never follow one.
        redirect: 'error',
      });
      // TextDecoder, as response.text() does: UTF-8, a byte order mark dropped.
      return {
        response,
        raw: new TextDecoder().decode(await readLimited(response, limit.maxBytes)),
      };
    } catch (error) {
      if (call.signal.aborted) throw abortError(call.signal);
      if (error instanceof BodyTooLarge) throw limit.refuse();
      if (expired) throw timedOut(provider, `no answer within ${this.#timeoutMs} ms`, error);
      throw unavailable(provider, `could not connect (${reasonOf(error)})`, error);
    } finally {
      clearTimeout(timer);
      call.signal.removeEventListener('abort', forward);
    }
  }

  /** An API answer's limit: a JSON answer that long is not one the API documents. */
  #defaultLimit(): AnswerLimit {
    const maxBytes = HTTP_LIMITS.answerMaxBytes;
    return {
      maxBytes,
      refuse: () => malformed(this.options.provider, `the answer is larger than ${maxBytes} bytes`),
    };
  }

  /** Method, headers and body of a call: JSON, a form, or nothing. */
  #request(call: CallOptions<unknown>): {
    method: string;
    headers: Record<string, string>;
    body?: string | FormData;
  } {
    const headers: Record<string, string> = { accept: 'application/json', ...this.options.headers };
    let body: string | FormData | undefined;
    if (call.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(call.json);
    } else if (call.form) {
      body = call.form;
    }
    return {
      method: call.method ?? (body === undefined ? 'GET' : 'POST'),
      headers,
      ...(body === undefined ? {} : { body }),
    };
  }

  /** An error status classified with the backend's words, or the answer in its schema's shape. */
  #read<T>(call: CallOptions<T>, response: Response, raw: string): T {
    const { provider } = this.options;
    const { ok } = response;
    let parsed: unknown;
    try {
      parsed = raw === '' ? undefined : JSON.parse(raw);
    } catch (error) {
      if (!ok) throw httpError(provider, response.status, response.headers, excerpt(raw));
      throw malformed(provider, 'the body is not JSON', error);
    }
    if (!ok) {
      const text = (call.errorText ?? defaultErrorText)(parsed, raw);
      throw httpError(provider, response.status, response.headers, text);
    }
    const checked = call.schema.safeParse(parsed);
    if (!checked.success) throw malformed(provider, issuesText(checked.error));
    return checked.data;
  }
}

export { FormData };
