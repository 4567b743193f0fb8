/**
 * The writes of a generation's life, in order. After each one a crash would leave the
 * generation half done; the reconciler must repair every such state. Production passes no
 * hook; the crash tests throw from it, exactly where a killed process would stop.
 */
export const SUBMIT_WRITES = ['generation-inserted', 'reserved', 'enqueued'] as const;
export const FINISH_WRITES = ['settled', 'delivery-queued', 'status-set'] as const;

export type FaultPoint = (typeof SUBMIT_WRITES)[number] | (typeof FINISH_WRITES)[number];
export type FaultHook = (point: FaultPoint, generationId: string) => void;
