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
