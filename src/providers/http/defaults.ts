/** The timings every HTTP adapter takes as options; tests shorten them, operators rarely need to. */
export interface HttpTimings {
  /** Limit of one HTTP call (the model's timeout bounds the whole generation). */
  callTimeoutMs?: number;
  /** Between two status polls. */
  pollIntervalMs?: number;
  /** A best-effort cancel, sent after the run has already failed, waits no longer than this. */
  cancelTimeoutMs?: number;
}

/** What every HTTP adapter falls back to; an adapter's own defaults object overrides a few. */
export const HTTP_DEFAULTS = {
  callTimeoutMs: 60_000,
  pollIntervalMs: 1000,
  cancelTimeoutMs: 5000,
} as const satisfies Required<HttpTimings>;

/** An adapter's timings, resolved once at construction: its options over its defaults. */
export function resolveTimings(
  options: HttpTimings,
  defaults: Required<HttpTimings>,
): Required<HttpTimings> {
  return {
    callTimeoutMs: options.callTimeoutMs ?? defaults.callTimeoutMs,
    pollIntervalMs: options.pollIntervalMs ?? defaults.pollIntervalMs,
    cancelTimeoutMs: options.cancelTimeoutMs ?? defaults.cancelTimeoutMs,
  };
}

/**
 * How much of a backend's answer is read before it is refused; the read stops there, so one
 * call never makes the worker hold more.
 */
export const HTTP_LIMITS = {
  /**
   * A JSON answer: status polls, task ids and error bodies are a few KB, so 10 MiB is far past
   * any honest one. Answers that carry outputs in base64 are sized from OUTPUT_MAX_MB instead
   * (`base64AnswerLimit`).
   */
  answerMaxBytes: 10 * 1024 * 1024,
  /** Room in an answer carrying base64 outputs for everything besides them (info, seeds). */
  answerOverheadBytes: 1024 * 1024,
} as const;
