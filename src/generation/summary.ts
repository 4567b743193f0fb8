import type { GenerationSummary } from '../core/outputs.js';
import { isPrivateOrigin } from '../core/origin.js';
import type { GenerationDoc } from '../store/collections.js';
import type { SettleOutcome } from '../store/recorded-result.js';

export type { GenerationSummary };

/** A generation as `finish` leaves it: with the outcome its settle decided as its status. */
export type EndedSummary = GenerationSummary & { status: SettleOutcome };

export function summarize(doc: GenerationDoc): GenerationSummary {
  const { request } = doc;
  const summary: GenerationSummary = {
    id: doc._id,
    accountId: doc.accountId,
    status: doc.status,
    model: doc.model,
    kind: doc.kind,
    prompt: request.prompt,
    price: doc.price,
    captured: doc.captured,
    count: request.count,
    seed: request.seed,
    width: request.width,
    height: request.height,
    createdAt: new Date(doc.createdAt).toISOString(),
    updatedAt: new Date(doc.updatedAt).toISOString(),
    cancelRequested: doc.cancelRequested,
    outputs: doc.outputs.map((o) => ({
      index: o.index,
      fileId: o.fileId,
      mime: o.mime,
      bytes: o.bytes,
      sha256: o.sha256,
      width: o.width,
      height: o.height,
      seed: o.seed,
    })),
    failedOutputs: doc.failedOutputs.map((f) => ({
      index: f.index ?? 0,
      code: f.code ?? 'provider_failed',
      message: f.message ?? '',
    })),
  };
  if (doc.requesterName) summary.requesterName = doc.requesterName;
  if (isPrivateOrigin(doc.origin)) summary.privateChat = true;
  if (doc.queuePosition !== undefined && doc.queuePosition !== null)
    summary.queuePosition = doc.queuePosition;
  if (doc.error?.code) summary.error = { code: doc.error.code, message: doc.error.message ?? '' };
  return summary;
}
