import type { ResolvedRequest } from './generation-request.js';
import type { ModelSpec } from './model-spec.js';
import type { ProgressEvent } from './progress.js';

/** An input image handed to the provider as bytes, already re-encoded by us. */
export interface ProviderInputImage {
  data: Uint8Array;
  mime: string;
  width: number;
  height: number;
}

export interface ProviderJob {
  generationId: string;
  model: ModelSpec;
  request: ResolvedRequest;
  inputImages: readonly ProviderInputImage[];
  /** 1 on the first try; providers use it for test knobs and idempotency keys. */
  attempt: number;
}

export interface ProviderRunContext {
  /** Aborted on cancel and on the model's timeout; pass it to every network call. */
  signal: AbortSignal;
  onProgress: (event: ProgressEvent) => void;
  /** An intermediate image, when the backend offers one; the worker shrinks and throttles it. */
  onPreview?: (image: { data: Uint8Array; mime: string }) => void;
}

export interface ProviderOutputOk {
  ok: true;
  data: Uint8Array;
  mime: string;
  width: number;
  height: number;
  seed: number;
}

export interface ProviderOutputFailed {
  ok: false;
  code: 'provider_failed' | 'provider_refused';
  message: string;
}

export type ProviderOutput = ProviderOutputOk | ProviderOutputFailed;

/**
 * A generation backend. One result per requested output, in order, so a batch where some
 * images fail can still be delivered (and partly charged). Throw `ProviderError` when the
 * whole run failed; anything else thrown is treated as an internal, non-retryable error.
 */
export interface Provider {
  readonly id: string;
  readonly label: string;
  generate(job: ProviderJob, ctx: ProviderRunContext): Promise<ProviderOutput[]>;
}
