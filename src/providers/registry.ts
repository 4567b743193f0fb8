import type { Provider } from '../core/provider.js';
import { LocalProvider } from './local/local-provider.js';

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

/** The built-in providers. Real backends (issue: provider adapters) join here when configured. */
export function createProviders(): ProviderRegistry {
  return new ProviderRegistry([new LocalProvider()]);
}
