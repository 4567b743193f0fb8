export const GENERATION_STATUSES = [
  'pending',
  'queued',
  'processing',
  'completed',
  'failed',
  'cancelled',
] as const;

export type GenerationStatus = (typeof GENERATION_STATUSES)[number];

/**
 * The only place that says which status may follow which; every status write that is not a
 * final one is checked against it by the writer, which knows the status it moves from
 * (`GenerationService`'s status writes). `queued -> completed | failed` is a job that ended
 * before it was shown as running; `processing -> queued` is a retry after a retryable
 * provider error; everything terminal stays terminal. `pending` is what a release before the
 * current one wrote first; it is still read.
 *
 * Final statuses are decided by the hold's settle entry in the ledger (the first settle
 * wins), not by this table: `finish` writes whatever the settle decided.
 */
const TRANSITIONS: Readonly<Record<GenerationStatus, readonly GenerationStatus[]>> = {
  pending: ['queued', 'failed', 'cancelled'],
  queued: ['processing', 'completed', 'failed', 'cancelled'],
  processing: ['queued', 'completed', 'failed', 'cancelled'],
  completed: [],
  failed: [],
  cancelled: [],
};

/** How a generation can end; the hold's first settle in the ledger decides which. */
export const TERMINAL_STATUSES = [
  'completed',
  'failed',
  'cancelled',
] as const satisfies readonly GenerationStatus[];
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

export function isTerminal(status: GenerationStatus): boolean {
  return TRANSITIONS[status].length === 0;
}

export function canTransition(from: GenerationStatus, to: GenerationStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export class InvalidTransitionError extends Error {
  override readonly name = 'InvalidTransitionError';
  constructor(
    readonly from: GenerationStatus,
    readonly to: GenerationStatus,
  ) {
    super(`generation cannot go from ${from} to ${to}`);
  }
}

/** Throws unless `to` may follow `from`; staying where it is (a note in the history) is fine. */
export function assertTransition(from: GenerationStatus, to: GenerationStatus): void {
  if (from !== to && !canTransition(from, to)) throw new InvalidTransitionError(from, to);
}
