import { storedRequestSchema } from '../core/generation-request.js';
import { parseOrigin } from '../core/origin.js';
import type { GenerationDoc, StoredGeneration } from './collections.js';
import { legacyProposalSchema } from './recorded-result.js';

/**
 * Reads a stored generation's Mixed subdocuments, the one place they are checked: documents
 * outlive deploys, so each is parsed with the schema its writer used. An origin this release
 * cannot deliver to reads as undefined (its generation still shows and finishes); a request
 * or a proposal that does not parse is a damaged document, and reading it throws, naming it.
 */
export function generationOf(raw: StoredGeneration): GenerationDoc {
  const { origin, request, proposed, ...fields } = raw;
  const parsedRequest = storedRequestSchema.safeParse(request);
  if (!parsedRequest.success)
    throw new Error(`generation ${raw._id}: its stored request cannot be read`, {
      cause: parsedRequest.error,
    });
  const doc: GenerationDoc = {
    ...fields,
    origin: parseOrigin(origin),
    request: parsedRequest.data,
  };
  if (proposed === undefined || proposed === null) return doc;
  const parsedProposal = legacyProposalSchema.safeParse(proposed);
  if (!parsedProposal.success)
    throw new Error(`generation ${raw._id}: its stored proposal cannot be read`, {
      cause: parsedProposal.error,
    });
  doc.proposed = parsedProposal.data;
  return doc;
}
