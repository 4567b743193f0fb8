import type { Origin } from '../core/origin.js';
import type { GenerationSummary } from '../core/outputs.js';
import type { Head } from '../economy/ledger.js';
import type { GenerationJobV3, SelfContainedJob } from '../queue/contracts.js';
import type { GenerationDoc } from '../store/collections.js';
import { summarize } from './summary.js';

/**
 * What a caller of `finish` already knows of the generation, so finish reads nothing:
 * `reserved` true when its points are known to be held (its job exists), 'unknown' when the
 * ledger must be asked.
 */
export interface KnownGeneration {
  summary: GenerationSummary;
  platform: string;
  reserved: true | 'unknown';
  /** Where the account's ledger stood right after the hold (a first run's job carries it). */
  ledger?: Head | undefined;
}

/** The platform a stored origin belongs to (`console` when it is not one we deliver to). */
export function platformOf(origin: Origin | undefined): string {
  return origin?.platform ?? 'console';
}

/**
 * What a generation's document says for `finish`: `reserved` true when its points are known
 * to be held (a worker has its job), 'unknown' when the ledger must be asked.
 */
export function knownOf(
  doc: GenerationDoc,
  reserved: KnownGeneration['reserved'] = true,
): KnownGeneration {
  return { summary: summarize(doc), platform: platformOf(doc.origin), reserved };
}

/**
 * What a worker knows of a generation from its job alone (v2 and later): enough to run and
 * finish it. Its job exists, so its points are held, and a first run finds it queued.
 */
export function knownFromJob(job: SelfContainedJob): KnownGeneration {
  const summary: GenerationSummary = {
    id: job.generationId,
    accountId: job.accountId,
    status: 'queued',
    model: job.model,
    kind: job.kind,
    prompt: job.request.prompt,
    price: job.price,
    captured: 0,
    count: job.request.count,
    seed: job.request.seed,
    width: job.request.width,
    height: job.request.height,
    createdAt: job.createdAt,
    updatedAt: job.createdAt,
    cancelRequested: false,
    outputs: [],
    failedOutputs: [],
  };
  if (job.requesterName) summary.requesterName = job.requesterName;
  return {
    summary,
    platform: job.platform,
    reserved: true,
    ...(job.v === 3 && job.ledger ? { ledger: job.ledger } : {}),
  };
}

/**
 * The job of a generation: everything its worker needs, so it reads nothing back; `ledger`,
 * where the hold left the account's chain, so its settle reads nothing either.
 */
export function jobOf(doc: GenerationDoc, ledger?: Head): GenerationJobV3 {
  return {
    v: 3,
    generationId: doc._id,
    accountId: doc.accountId,
    provider: doc.provider,
    model: doc.model,
    price: doc.price,
    request: doc.request,
    platform: platformOf(doc.origin),
    kind: doc.kind,
    ...(doc.requesterName ? { requesterName: doc.requesterName } : {}),
    createdAt: new Date(doc.createdAt).toISOString(),
    ...(ledger ? { ledger } : {}),
  };
}
