import { randomUUID } from 'node:crypto';
import { SLOT_TTL_MS, type QueueEstimates } from '../queue/queue-estimates.js';
import { Worker } from 'bullmq';
import { LRUCache } from 'lru-cache';
import { ProviderError } from '../core/errors.js';
import type { Logger } from '../logger.js';
import type { CancelBus } from '../queue/cancel-bus.js';
import type { GENERATE_JOB } from '../queue/contracts.js';
import {
  generationQueueName,
  type GenerationJob,
  type GenerationJobHandle,
  type GenerationJobResult,
} from '../queue/contracts.js';
import { isConnectionError } from '../queue/redis.js';
import type { Redis } from 'ioredis';
import { createProcessor, type ProcessorDeps } from './processor.js';

export interface WorkerPoolOptions {
  connection: Redis;
  /** Every key's prefix (BullMQ's queues are named under it). */
  keyPrefix: string;
  providers: readonly string[];
  concurrency: number;
  /** Per-provider concurrency, overriding `concurrency`: a GPU box may take one job at a time. */
  providerConcurrency?: Readonly<Record<string, number>>;
  /** Per-provider rate limits (BullMQ limiter: at most `max` jobs per `durationMs`, across workers). */
  rateLimits?: Readonly<Record<string, { max: number; durationMs: number }>>;
  /** Base delay of the exponential backoff, when the provider gave no Retry-After. */
  backoffMs: number;
  cancelBus: CancelBus;
  /** How long a job lock lasts; a worker that dies releases its jobs after this. */
  lockDurationMs?: number;
  /** How often a worker looks for jobs whose worker died (BullMQ's default: 30 s). */
  stalledIntervalMs?: number;
  /** Where this process's worker slots are registered, for the wait estimates. */
  estimates?: QueueEstimates;
}

/**
 * Exponential backoff that honours the wait a provider asked for (Retry-After), so a rate
 * limited backend is not hammered while it asks us to wait.
 */
export function providerBackoff(baseMs: number) {
  return (attemptsMade: number, _type?: string, error?: Error): number => {
    if (error instanceof ProviderError && error.retryAfterMs !== undefined)
      return error.retryAfterMs;
    return baseMs * 2 ** Math.max(0, attemptsMade - 1);
  };
}

type GenerationWorker = Worker<GenerationJob, GenerationJobResult, typeof GENERATE_JOB>;

/** One BullMQ worker per provider queue, plus the cancel-bus subscription that aborts jobs. */
export class WorkerPool {
  readonly #workers: GenerationWorker[] = [];
  readonly #options: WorkerPoolOptions;
  readonly #logger: Logger;

  /**
   * Cancels that reached this process for no job it was running: the job may be about to
   * start here (taken from the queue just as its cancel went out). Kept for a minute.
   */
  readonly #recentCancels = new LRUCache<string, true>({ max: 10_000, ttl: 60_000 });

  constructor(deps: ProcessorDeps, options: WorkerPoolOptions) {
    this.#options = options;
    this.#logger = deps.logger;
    const processor = createProcessor({
      ...deps,
      wasCancelled: (id) => this.#recentCancels.has(id) || deps.wasCancelled?.(id) === true,
    });
    for (const provider of options.providers) {
      const limit = options.rateLimits?.[provider];
      // One queue and one worker per provider: a slow or throttled backend only ever holds
      // its own jobs back.
      const worker = new Worker<GenerationJob, GenerationJobResult, typeof GENERATE_JOB>(
        generationQueueName(provider),
        processor,
        {
          connection: options.connection,
          prefix: options.keyPrefix,
          concurrency: this.#concurrencyOf(provider),
          ...(limit ? { limiter: { max: limit.max, duration: limit.durationMs } } : {}),
          lockDuration: options.lockDurationMs ?? 30_000,
          ...(options.stalledIntervalMs === undefined
            ? {}
            : { stalledInterval: options.stalledIntervalMs }),
          settings: { backoffStrategy: providerBackoff(options.backoffMs) },
          name: `genbot-worker-${provider}`,
        },
      );
      worker.on('failed', (job: GenerationJobHandle | undefined, error: Error) => {
        this.#logger.debug({ jobId: job?.id, err: error }, 'job attempt failed');
      });
      worker.on('error', (error: Error) => {
        // A Redis outage is logged once by the connection itself (logOutages), not per retry.
        if (isConnectionError(error))
          this.#logger.debug({ err: error, provider }, 'worker lost Redis');
        else this.#logger.error({ err: error, provider }, 'worker error');
      });
      this.#workers.push(worker);
    }
  }

  async start(): Promise<void> {
    await this.#options.cancelBus.subscribe((generationId) => {
      let running = false;
      for (const worker of this.#workers) {
        if (worker.cancelJob(generationId, 'cancelled by member')) {
          running = true;
          this.#logger.info({ generationId }, 'aborting running generation');
        }
      }
      if (!running) this.#recentCancels.set(generationId, true);
    }, this.#logger);
    await Promise.all(this.#workers.map((w) => w.waitUntilReady()));
    await this.#registerSlots();
    // Refreshed well within their lifetime; a process that dies drops out on its own.
    this.#slotTimer = setInterval(() => {
      this.#registerSlots().catch((error: unknown) =>
        this.#logger.debug({ err: error }, 'could not refresh the worker slots'),
      );
    }, SLOT_TTL_MS / 3);
    this.#slotTimer.unref();
  }

  readonly #processId = randomUUID();
  #slotTimer: NodeJS.Timeout | undefined;

  async #registerSlots(): Promise<void> {
    const { estimates, providers } = this.#options;
    if (!estimates) return;
    await Promise.all(
      providers.map((provider) =>
        estimates.register(provider, this.#processId, this.#concurrencyOf(provider)),
      ),
    );
  }

  #concurrencyOf(provider: string): number {
    return this.#options.providerConcurrency?.[provider] ?? this.#options.concurrency;
  }

  /** Stops taking jobs and waits for running ones (graceful shutdown). */
  async close(force = false): Promise<void> {
    clearInterval(this.#slotTimer);
    const { estimates, providers } = this.#options;
    if (estimates)
      await Promise.all(providers.map((p) => estimates.unregister(p, this.#processId))).catch(
        (error: unknown) =>
          this.#logger.debug({ err: error }, 'could not take the worker slots back'),
      );
    await Promise.all(this.#workers.map((w) => w.close(force)));
    await this.#options.cancelBus.close();
  }
}
