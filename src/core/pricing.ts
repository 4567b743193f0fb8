import type { ResolvedRequest } from './generation-request.js';
import type { ModelSpec } from './model-spec.js';

export interface Quote {
  /** Whole points held at enqueue and captured on full success. */
  total: number;
  /** Price of one output before rounding; shown in /models and Details. */
  perOutput: number;
  megapixels: number;
}

/**
 * The price of a request: base + count x (per image + per megapixel + per step + per second).
 * Pure, so /models, the progress message and the ledger always agree on a number.
 */
export function quote(
  model: ModelSpec,
  request: Pick<ResolvedRequest, 'width' | 'height' | 'steps' | 'count' | 'seconds'>,
): Quote {
  const p = model.price;
  const megapixels = (request.width * request.height) / 1_000_000;
  const perOutput =
    p.perImage +
    p.perMegapixel * megapixels +
    p.perStep * request.steps +
    p.perSecond * (request.seconds ?? 0);
  // Rounded to cents first so float noise (0.1 + 0.2) never adds a point.
  const exact = Math.round((p.base + request.count * perOutput) * 100) / 100;
  return { total: Math.ceil(exact), perOutput, megapixels };
}

/**
 * Points to capture when `succeeded` of `count` outputs were delivered. Rounded down: any
 * rounding favours the member, and a full success captures exactly the quoted total.
 */
export function captureFor(total: number, succeeded: number, count: number): number {
  if (succeeded <= 0) return 0;
  if (succeeded >= count) return total;
  return Math.floor((total * succeeded) / count);
}
