import {
  checkInputImages,
  resolveRequest,
  type GenerationRequest,
  type InputImageRef,
  type ResolvedRequest,
} from './generation-request.js';
import type { ModelSpec } from './model-spec.js';
import { quote } from './pricing.js';

/**
 * A request validated, resolved against its model and priced, once: what the command shows
 * the member (the price in the status message) is what the generation service submits, with
 * nothing parsed or resolved again in between.
 */
export interface PreparedRequest {
  /** The options as the member gave them: the duplicate check compares these. */
  asked: GenerationRequest;
  model: ModelSpec;
  /** Every value decided, the seed drawn: what the worker runs. */
  request: ResolvedRequest;
  /** The quoted price in points, held at submit. */
  price: number;
}

export function prepareRequest(
  model: ModelSpec,
  asked: GenerationRequest,
  randomSeed: () => number,
): PreparedRequest {
  const request = resolveRequest(model, asked, randomSeed);
  return { asked, model, request, price: quote(model, request).total };
}

/**
 * The same request with the images a surface stored for it. Images do not change the price;
 * the model's limits on them are checked again (a surface checks the count before it
 * downloads).
 */
export function withInputImages(
  prepared: PreparedRequest,
  images: InputImageRef[],
): PreparedRequest {
  checkInputImages(prepared.model, images.length);
  return {
    ...prepared,
    asked: { ...prepared.asked, inputImages: images },
    request: { ...prepared.request, inputImages: images },
  };
}
