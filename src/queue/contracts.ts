import type { Job, Queue } from 'bullmq';
import { z } from 'zod';
import { storedRequestSchema } from '../core/generation-request.js';
import { failedOutputSchema, storedOutputSchema } from '../core/outputs.js';
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

const generationId = z.string().regex(/^[a-z0-9]{8,32}$/);

const generationJobV1 = z.object({
  v: z.literal(1),
  generationId,
  accountId: z.string().min(1),
  provider: z.string().min(1),
  model: z.string().min(1),
  price: z.int().min(0),
  request: storedRequestSchema,
});

/**
 * v2 also carries what the worker needs to finish without reading the generation back: the
 * platform the result goes to (never its credentials: those stay in MongoDB), who asked, and
 * when. Its points are held when a v2 job exists (it is added after the hold).
 */
const generationJobV2 = generationJobV1.extend({
  v: z.literal(2),
  platform: z.string().min(1),
  kind: z.enum(['image', 'video']),
  requesterName: z.string().optional(),
  createdAt: z.iso.datetime(),
});

/** Jobs queued by the release before v2 still run: the worker reads their generation. */
export const generationJobSchema = z.discriminatedUnion('v', [generationJobV1, generationJobV2]);
export type GenerationJob = z.output<typeof generationJobSchema>;
export type GenerationJobV2 = z.output<typeof generationJobV2>;

/** What a generation job returns to BullMQ: how it ended. */
export interface GenerationJobResult {
  status: 'completed' | 'failed' | 'cancelled';
}

/** A provider's queue and its jobs, typed end to end (the worker still validates `data`). */
export type GenerationQueue = Queue<GenerationJob, GenerationJobResult, typeof GENERATE_JOB>;
export type GenerationJobHandle = Job<GenerationJob, GenerationJobResult, typeof GENERATE_JOB>;

export const generationSummarySchema = z.object({
  id: z.string(),
  accountId: z.string(),
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
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  outputs: z.array(storedOutputSchema),
  failedOutputs: z.array(failedOutputSchema),
});

const deliveryJobV1 = z.object({ v: z.literal(1), generationId });
/** v2 carries the finished generation, so delivery reads at most its origin. */
const deliveryJobV2 = z.object({
  v: z.literal(2),
  generationId,
  platform: z.string().min(1),
  generation: generationSummarySchema,
});
export const deliveryJobSchema = z.discriminatedUnion('v', [deliveryJobV1, deliveryJobV2]);
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
