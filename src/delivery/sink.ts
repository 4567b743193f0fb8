import type { Origin } from '../core/origin.js';
import type { GenerationSummary } from '../generation/summary.js';
import type { ProgressView } from './progress-view.js';

/**
 * What a platform adapter offers the delivery side: show progress in the member's status
 * message and deliver the final result. `origin` is what the adapter stored at submit time.
 */
export interface DeliverySink {
  readonly platform: string;
  showProgress(origin: Origin, view: ProgressView): Promise<void>;
  deliver(origin: Origin, generation: GenerationSummary, view: ProgressView): Promise<void>;
}
