import { z } from 'zod';
import { resolvedRequestSchema } from '../core/generation-request.js';
import { progressEventSchema } from '../core/progress.js';
import { GENERATION_STATUSES } from '../core/status.js';

/**
 * Job contracts: one zod schema per job name, used by the producer before `add` and by the
 * worker before it trusts `job.data`, because queued jobs outlive deploys. Bump `v` when a
 * field changes meaning, and keep accepting the old shape until old jobs have drained.
 */

export const GENERATE_JOB = 'generate';
export const DELIVER_JOB = 'deliver';
export const DELIVERIES_QUEUE = 'deliveries';

/** One queue per provider, so each backend scales and rate-limits on its own. */
export function generationQueueName(provider: string): string {
  return `generate-${provider}`;
}

export const generationJobSchema = z.object({
  v: z.literal(1),
  generationId: z.string().regex(/^[a-z0-9]{8,32}$/),
  accountId: z.string().min(1),
  provider: z.string().min(1),
  model: z.string().min(1),
  price: z.int().min(0),
  request: resolvedRequestSchema,
});
export type GenerationJob = z.output<typeof generationJobSchema>;

export const deliveryJobSchema = z.object({
  v: z.literal(1),
  generationId: z.string().regex(/^[a-z0-9]{8,32}$/),
});
export type DeliveryJob = z.output<typeof deliveryJobSchema>;

/** What a worker publishes with `job.updateProgress`; the notifier and the CLI read it. */
export const progressPayloadSchema = progressEventSchema.extend({
  generationId: z.string(),
  status: z.enum(GENERATION_STATUSES),
  attempt: z.int().min(1),
});
export type ProgressPayload = z.output<typeof progressPayloadSchema>;

export function deliveryJobId(generationId: string): string {
  return `${generationId}-final`;
}
