import type { z } from 'zod';
import type { Provider } from '../core/provider.js';
import type { DownloadPolicy } from './http/download.js';

/**
 * One provider's settings, as its module made them from the environment (a hosted API's URL
 * and key, a self-hosted backend's URL). Plain data in the config, handed back to the same
 * module's `create`.
 */
export type ProviderSettings = object;

/**
 * Where a provider puts the failures a run goes on without: at debug a best-effort cleanup (a
 * cancel sent after the run already failed), a lost progress poll, an optional part of an
 * answer it could not read; at warn what the operator should fix (a progress channel that
 * never works). The app's pino logger is one; providers may not import it (they only know
 * core).
 */
export interface ProviderLogger {
  debug(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** What every provider is built with besides its own settings. */
export interface SharedProviderSettings {
  /** Largest output accepted from any backend (OUTPUT_MAX_MB). */
  outputMaxBytes: number;
  /** Unset (a test, the console listing ids): such failures go unlogged. */
  logger?: ProviderLogger | undefined;
}

export interface ProviderDefaults {
  /**
   * Jobs one worker process runs at once unless PROVIDER_CONCURRENCY names the provider;
   * unset: WORKER_CONCURRENCY.
   */
  readonly concurrency?: number;
  /**
   * Whether aborting a run stops the backend's work (and its bill). False for a backend whose
   * API cannot cancel a started task: a run stopped after it started (a member's cancel, the
   * model's time limit) is then charged in full unless PROVIDER_CHARGE_STOPPED says otherwise.
   * Default true.
   */
  readonly stopsWhenAborted?: boolean;
}

/**
 * Everything the app knows about one provider, so that config and registry iterate a list
 * instead of naming providers: adding one is its file and a line in `PROVIDER_MODULES`.
 * `settings` and `create` are methods (checked bivariantly) so modules with their own
 * settings types fit in one list; config only ever hands a module what it made itself.
 */
export interface ProviderModule<
  Env extends z.ZodObject<z.ZodRawShape> = z.ZodObject<z.ZodRawShape>,
  Settings extends ProviderSettings = ProviderSettings,
> {
  /** The provider's id: catalog entries name it, and its queue is `generate-<id>`. */
  readonly id: string;
  /** Exactly its environment variables, each with a description; `.env.example` lists them. */
  readonly env: Env;
  readonly defaults: ProviderDefaults;
  /** Its settings from its parsed variables; undefined while it is not configured (no key). */
  settings(env: z.output<Env>): Settings | undefined;
  create(settings: Settings, shared: SharedProviderSettings): Provider;
}

/** Declares a module with its types inferred from it: `settings` sees its own variables typed. */
export function defineProvider<
  Env extends z.ZodObject<z.ZodRawShape>,
  Settings extends ProviderSettings,
>(module: ProviderModule<Env, Settings>): ProviderModule<Env, Settings> {
  return module;
}

/**
 * Where a provider's outputs may be downloaded from. Hosted APIs may never hand us a private
 * or loopback address; a self-hosted backend (ComfyUI, A1111) lives on the operator's
 * network, so its outputs may be on a private one.
 */
export function downloadPolicy(
  shared: SharedProviderSettings,
  network: 'public' | 'private',
): DownloadPolicy {
  return { maxBytes: shared.outputMaxBytes, allowPrivate: network === 'private' };
}
