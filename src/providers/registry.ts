import type { Provider } from '../core/provider.js';
import { withBackendTextLog } from './backend-text-log.js';
import { PROVIDER_MODULES } from './index.js';
import type { ProviderLogger, SharedProviderSettings } from './provider-module.js';
import type { ProvidersConfig } from './providers-config.js';

/** The providers this process can run, by id. */
export class ProviderRegistry {
  readonly #providers: ReadonlyMap<string, Provider>;

  constructor(providers: readonly Provider[]) {
    this.#providers = new Map(providers.map((p) => [p.id, p]));
  }

  get(id: string): Provider {
    const provider = this.#providers.get(id);
    if (!provider) throw new Error(`provider "${id}" is not configured in this process`);
    return provider;
  }

  has(id: string): boolean {
    return this.#providers.has(id);
  }

  ids(): string[] {
    return [...this.#providers.keys()];
  }
}

/**
 * Every provider whose settings are configured (the local one always is), built by its own
 * module in the order of `PROVIDER_MODULES`. `logger` gets, at debug, the failures their runs
 * go on without (a cancel that failed), and at warn the backend's own words when a run fails
 * (members are shown a fixed sentence instead).
 */
export function createProviders(
  config: Pick<ProvidersConfig, 'settings' | 'outputMaxBytes'>,
  logger?: ProviderLogger,
): ProviderRegistry {
  const shared: SharedProviderSettings = { outputMaxBytes: config.outputMaxBytes, logger };
  return new ProviderRegistry(
    PROVIDER_MODULES.flatMap((module) => {
      const settings = config.settings[module.id];
      if (!settings) return [];
      const provider = module.create(settings, shared);
      return [logger ? withBackendTextLog(provider, logger) : provider];
    }),
  );
}
