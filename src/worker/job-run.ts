import type { Catalog } from '../catalog/catalog.js';
import type { FinishInput, GenerationService } from '../generation/generation-service.js';
import type { EndedSummary } from '../generation/summary.js';
import type { Logger } from '../logger.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type {
  GenerationJob,
  GenerationJobHandle,
  GenerationJobResult,
} from '../queue/contracts.js';
import type { ProgressChannel } from '../queue/progress-channel.js';
import type { MediaStore } from '../store/media-store.js';

export interface ProcessorDeps {
  generations: GenerationService;
  catalog: Catalog;
  providers: ProviderRegistry;
  media: MediaStore;
  logger: Logger;
  /** Least time between two progress writes to Redis; the last step always goes out. */
  progressIntervalMs?: number;
  /** How long a job runs before it is shown (and recorded) as running; default 1 s. */
  runningAfterMs?: number;
  /** Where progress goes (the bot shows it); none: progress is not published. */
  progress?: ProgressChannel;
  /** Whether a cancel for this generation arrived before its job started here. */
  wasCancelled?: (generationId: string) => boolean;
}

export type ProcessResult = GenerationJobResult;

/** One run of one generation job: what every step needs. */
export interface JobRun {
  deps: ProcessorDeps;
  job: GenerationJobHandle;
  data: GenerationJob;
  id: string;
  /** 1 on the first try. */
  attempt: number;
  log: Logger;
}

/** Writes the generation's final state; waits for the running mark first. */
export type End = (input: FinishInput) => Promise<EndedSummary>;
