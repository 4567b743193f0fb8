import type { LRUCache } from 'lru-cache';
import type { Catalog } from '../catalog/catalog.js';
import type { Origin } from '../core/origin.js';
import type { GenerationSummary } from '../core/outputs.js';
import type { Economy } from '../economy/ledger.js';
import type { Logger } from '../logger.js';
import type { CancelBus } from '../queue/cancel-bus.js';
import type { MemberLimits } from '../queue/member-limits.js';
import type { Queues } from '../queue/queues.js';
import type { Collections, GenerationDoc } from '../store/collections.js';
import type { MediaStore } from '../store/media-store.js';
import type { FaultHook, FaultPoint } from './faults.js';
import type { GenerationIds } from './ids.js';

export interface GenerationServiceDeps {
  collections: Collections;
  economy: Economy;
  catalog: Catalog;
  queues: Queues;
  limits: MemberLimits;
  /** Member ids (any platform, or `platform:id`) whose jobs go first. */
  priorityMembers?: readonly string[];
  cancelBus: CancelBus;
  media: MediaStore;
  logger: Logger;
  /** Keyed generation ids (see `GenerationIds`). */
  ids: GenerationIds;
  randomSeed?: () => number;
  faults?: FaultHook;
}

/** Where a generation's progress and result go, and what it is (for its status message). */
export interface GenerationCard {
  origin: Origin;
  summary: GenerationSummary;
}

/** A generation this process submitted that has not started yet, for QueueWatch. */
export interface WaitingGeneration {
  provider: string;
  model: string;
}

/**
 * What every step of a generation's life (submit, finish, cancel, the status writes, history)
 * shares: the services, this process's memory of the generations it submitted, and the one
 * read of a generation by `_id`. The `GenerationService` facade owns it.
 */
export interface GenerationContext {
  readonly deps: GenerationServiceDeps;
  /** Generations in flight that this process submitted or has shown: their origin and facts. */
  readonly cards: LRUCache<string, GenerationCard>;
  readonly waiting: LRUCache<string, WaitingGeneration>;
  /** The crash tests' hook after each write; nothing in production. */
  fault(point: FaultPoint, id: string): void;
  /** A generation by `_id`, its stored subdocuments read (see `generationOf`). */
  find(id: string): Promise<GenerationDoc | undefined>;
}
