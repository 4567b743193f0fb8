import { z } from 'zod';
import { TERMINAL_STATUSES, type TerminalStatus } from '../core/status.js';
import {
  failedOutputSchema,
  generationErrorSchema,
  storedOutputSchema,
  type FailedOutput,
  type StoredOutput,
} from '../core/outputs.js';

/**
 * The result of a generation as it is persisted: with its settle entry (the ledger's `result`)
 * and, from the release before, as the generation's `proposed`. Both are Mixed in MongoDB, so
 * they are read back through these schemas, once, where they are loaded.
 */

/** How a generation can end (its terminal statuses); its hold's first settle decides which. */
export const SETTLE_OUTCOMES = TERMINAL_STATUSES;
export type SettleOutcome = TerminalStatus;

export { failedOutputSchema, storedOutputSchema, type FailedOutput, type StoredOutput };

/** What a finish records with its settle entry: outputs, failures and the member's error. */
export const recordedResultSchema = z.object({
  outputs: z.array(storedOutputSchema),
  failedOutputs: z.array(failedOutputSchema),
  error: generationErrorSchema.optional(),
});
export type RecordedResult = z.output<typeof recordedResultSchema>;

/**
 * A settle entry's recorded result; undefined when it has none this release can read (an
 * entry written before results were recorded with the settle).
 */
export function recordedResultOf(raw: unknown): RecordedResult | undefined {
  const parsed = recordedResultSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

/**
 * The result a worker of the release before wrote to the generation (`proposed`) before it
 * settled. Its `error` was written even when there was none, so it may be stored as null.
 */
export const legacyProposalSchema = z.object({
  outcome: z.enum(SETTLE_OUTCOMES),
  outputs: z.array(storedOutputSchema),
  failedOutputs: z.array(failedOutputSchema),
  error: generationErrorSchema.nullish().transform((error) => error ?? undefined),
});
export type LegacyProposal = z.output<typeof legacyProposalSchema>;
