import type { DownloadPolicy } from '../http/download.js';
import type { HttpTimings } from '../http/defaults.js';
import type { ProviderLogger } from '../provider-module.js';

/** What every remote adapter is built with; its module fills it from the configuration. */
export interface RemoteOptions extends HttpTimings {
  apiUrl: string;
  apiKey?: string | undefined;
  download: DownloadPolicy;
  /** Gets the failures a run goes on without (a cancel that failed, a lost progress poll). */
  logger?: ProviderLogger | undefined;
}

/** A remote provider's settings: where its API is and, for a hosted one, the key. */
export type RemoteSettings = Pick<RemoteOptions, 'apiUrl' | 'apiKey'>;
