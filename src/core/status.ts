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
 * The only place that says which status may follow which. `processing -> queued` is a
 * retry after a retryable provider error; everything terminal stays terminal.
 */
const TRANSITIONS: Readonly<Record<GenerationStatus, readonly GenerationStatus[]>> = {
  pending: ['queued', 'failed', 'cancelled'],
  queued: ['processing', 'failed', 'cancelled'],
  processing: ['queued', 'completed', 'failed', 'cancelled'],
  completed: [],
  failed: [],
  cancelled: [],
};

export const TERMINAL_STATUSES: readonly GenerationStatus[] = ['completed', 'failed', 'cancelled'];

export function isTerminal(status: GenerationStatus): boolean {
  return TRANSITIONS[status].length === 0;
}

export function canTransition(from: GenerationStatus, to: GenerationStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Statuses from which `to` may be reached; used as the guard of atomic updates. */
export function allowedSources(to: GenerationStatus): GenerationStatus[] {
  return GENERATION_STATUSES.filter((from) => canTransition(from, to));
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

export function assertTransition(from: GenerationStatus, to: GenerationStatus): void {
  if (!canTransition(from, to)) throw new InvalidTransitionError(from, to);
}
