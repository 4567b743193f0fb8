import type { DownloadPolicy } from '../http/download.js';
import type { ProviderLogger } from '../provider-module.js';

/** What every remote adapter is built with; its module fills it from the configuration. */
export interface RemoteOptions {
  apiUrl: string;
  apiKey?: string | undefined;
  download: DownloadPolicy;
  /** Between two status polls. */
  pollIntervalMs?: number;
  /** Limit of one HTTP call (the model's timeout bounds the whole generation). */
  callTimeoutMs?: number;
  /** Gets the failures a run goes on without (a cancel that failed), at debug. */
  logger?: ProviderLogger | undefined;
}

/** A remote provider's settings: where its API is and, for a hosted one, the key. */
export type RemoteSettings = Pick<RemoteOptions, 'apiUrl' | 'apiKey'>;

export const DEFAULT_POLL_MS = 1000;
