import type { Provider } from '../core/provider.js';
import type { DownloadPolicy } from './http/download.js';
import { LocalProvider } from './local/local-provider.js';
import { A1111Provider } from './remote/a1111.js';
import { ComfyUiProvider } from './remote/comfyui/comfyui.js';
import { FalProvider } from './remote/fal.js';
import { HordeProvider } from './remote/horde.js';
import { KieProvider } from './remote/kie.js';
import { OpenAiProvider } from './remote/openai.js';
import { ReplicateProvider } from './remote/replicate.js';

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

interface Remote {
  url: string;
  key?: string | undefined;
}

/** What the registry needs from the configuration (the `providers` part of it). */
export interface ProviderSettings {
  replicate?: Remote | undefined;
  fal?: Remote | undefined;
  openai?: Remote | undefined;
  comfyui?: (Remote & { workflowsDir?: string | undefined }) | undefined;
  a1111?: Remote | undefined;
  horde?: Remote | undefined;
  kie?: Remote | undefined;
  outputMaxBytes: number;
}

/**
 * The built-in local provider and every backend whose key or URL is configured. Hosted APIs
 * may never hand us a private or loopback address to download from; the self-hosted ones
 * (ComfyUI, A1111) live on the operator's network, so theirs may be private.
 */
export function createProviders(settings?: ProviderSettings): ProviderRegistry {
  const providers: Provider[] = [new LocalProvider()];
  if (!settings) return new ProviderRegistry(providers);
  const hosted: DownloadPolicy = { maxBytes: settings.outputMaxBytes, allowPrivate: false };
  const local: DownloadPolicy = { maxBytes: settings.outputMaxBytes, allowPrivate: true };
  const { replicate, fal, openai, comfyui, a1111, horde, kie } = settings;
  if (replicate)
    providers.push(
      new ReplicateProvider({ apiUrl: replicate.url, apiKey: replicate.key, download: hosted }),
    );
  if (fal) providers.push(new FalProvider({ apiUrl: fal.url, apiKey: fal.key, download: hosted }));
  if (openai)
    providers.push(
      new OpenAiProvider({ apiUrl: openai.url, apiKey: openai.key, download: hosted }),
    );
  if (comfyui)
    providers.push(
      new ComfyUiProvider({
        apiUrl: comfyui.url,
        download: local,
        workflowDir: comfyui.workflowsDir,
      }),
    );
  if (a1111) providers.push(new A1111Provider({ apiUrl: a1111.url, download: local }));
  if (horde)
    providers.push(new HordeProvider({ apiUrl: horde.url, apiKey: horde.key, download: hosted }));
  if (kie) providers.push(new KieProvider({ apiUrl: kie.url, apiKey: kie.key, download: hosted }));
  return new ProviderRegistry(providers);
}
