import type { Job, Queue } from 'bullmq';
import { z } from 'zod';
import { storedRequestSchema } from '../core/generation-request.js';
import { generationSummarySchema } from '../core/outputs.js';
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

/**
 * v3 is v2 with room to grow: every field a later capability adds to the job (the place's
 * policy decisions, a trace id, where the ledger stood at the hold) is an optional field of
 * v3, never a v4, so producers and workers of neighbouring releases read each other's jobs
 * (zod drops a field a worker does not know yet; one it knows but finds missing is a job
 * from before the field). A field whose absence a worker could not handle needs a v4.
 */
const generationJobV3 = generationJobV2.extend({
  v: z.literal(3),
  /** Follows one platform event through every log line of its generation. */
  traceId: z.string().min(1).max(64).optional(),
  /**
   * Where the account's ledger chain stood right after the hold: the settle is
   * inserted right after it without reading the chain; a change made since costs a retry.
   */
  ledger: z
    .object({
      seq: z.int().min(1),
      available: z.int(),
      held: z.int().min(0),
      holds: z.int().min(0),
    })
    .optional(),
});

/** Jobs queued by earlier releases still run (see "Compatibility" in docs/decisions.md). */
export const generationJobSchema = z.discriminatedUnion('v', [
  generationJobV1,
  generationJobV2,
  generationJobV3,
]);
export type GenerationJob = z.output<typeof generationJobSchema>;
/** A job that carries everything its worker needs (v2 and later): nothing is read first. */
export type SelfContainedJob = Extract<GenerationJob, { v: 2 | 3 }>;
/** The job this release writes. */
export type GenerationJobV3 = z.output<typeof generationJobV3>;

/** What a generation job returns to BullMQ: how it ended. */
export interface GenerationJobResult {
  status: 'completed' | 'failed' | 'cancelled';
}

/** A provider's queue and its jobs, typed end to end (the worker still validates `data`). */
export type GenerationQueue = Queue<GenerationJob, GenerationJobResult, typeof GENERATE_JOB>;
export type GenerationJobHandle = Job<GenerationJob, GenerationJobResult, typeof GENERATE_JOB>;

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
