import type { ProviderSettings, SharedProviderSettings } from './provider-module.js';

/** The `providers` part of the configuration: src/config.ts builds it from the modules. */
export interface ProvidersConfig extends SharedProviderSettings {
  /** Each configured provider's settings by id; a provider whose key or URL is unset is absent. */
  settings: Readonly<Record<string, ProviderSettings>>;
  /** Jobs one worker process runs at once for a provider (else WORKER_CONCURRENCY). */
  concurrency: Record<string, number>;
  /** At most `max` jobs per `durationMs` for a provider, across all workers (BullMQ limiter). */
  rateLimits: Record<string, { max: number; durationMs: number }>;
  /** Providers whose runs, stopped after they started (cancel, timeout), are charged in full. */
  chargedWhenStopped: string[];
}
