import { z } from 'zod';
import { GENERATION_STATUSES } from './status.js';

/**
 * Why a generation (or one of its outputs) did not succeed: a stable code for programs and
 * the sentence the member reads. The one shape of an error wherever a generation carries one
 * (its document, its settle entry, its job's delivery, the summary surfaces show).
 */
export const generationErrorSchema = z.object({ code: z.string(), message: z.string() });
export type GenerationError = z.output<typeof generationErrorSchema>;

/** One output of a generation as stored (GridFS file id and what it is). */
export const storedOutputSchema = z.object({
  index: z.number(),
  fileId: z.string(),
  mime: z.string(),
  bytes: z.number(),
  sha256: z.string(),
  width: z.number(),
  height: z.number(),
  seed: z.number(),
});
export type StoredOutput = z.output<typeof storedOutputSchema>;

/** One requested output the backend could not make, by its place in the batch. */
export const failedOutputSchema = generationErrorSchema.extend({ index: z.number() });
export type FailedOutput = z.output<typeof failedOutputSchema>;

/**
 * What commands, adapters and deliveries show of a generation: plain data, safe to print as
 * JSON, and carried in a delivery (so it is validated where a bot reads it back).
 */
export const generationSummarySchema = z.object({
  id: z.string(),
  /** The account that asked (and pays). */
  accountId: z.string(),
  /** The requester's display name, when it was recorded. */
  requesterName: z.string().optional(),
  status: z.enum(GENERATION_STATUSES),
  model: z.string(),
  kind: z.enum(['image', 'video']),
  prompt: z.string(),
  price: z.number(),
  captured: z.number(),
  count: z.number(),
  seed: z.number(),
  width: z.number(),
  height: z.number(),
  createdAt: z.string(),
  updatedAt: z.string(),
  cancelRequested: z.boolean(),
  queuePosition: z.number().optional(),
  /** Asked for in a private chat (see `isPrivateOrigin`): its details are its owner's. */
  privateChat: z.boolean().optional(),
  error: generationErrorSchema.optional(),
  outputs: z.array(storedOutputSchema),
  failedOutputs: z.array(failedOutputSchema),
});
export type GenerationSummary = z.output<typeof generationSummarySchema>;
