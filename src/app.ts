import type { Connection } from 'mongoose';
import type { CommandServices } from '../commands/index.js';
import type { Redis } from 'ioredis';
import {
  BUILTIN_CATALOG_URL,
  loadCatalog,
  offeredModels,
  type Catalog,
} from './catalog/catalog.js';
import type { Config } from './config.js';
import { connectServices } from './connect-services.js';
import { DeliveryConsumer } from './delivery/delivery-consumer.js';
import { ProgressNotifier } from './delivery/progress-notifier.js';
import { QueueWatch } from './delivery/queue-watch.js';
import type { DeliverySink } from './delivery/sink.js';
import { Economy } from './economy/ledger.js';
import type { FaultHook } from './generation/faults.js';
import { GenerationService } from './generation/generation-service.js';
import { GenerationIds } from './generation/ids.js';
import { QueueBoard } from './generation/queue-board.js';
import { Reconciler } from './generation/reconciler.js';
import type { Logger } from './logger.js';
import { createProviders, type ProviderRegistry } from './providers/registry.js';
import { CancelBus } from './queue/cancel-bus.js';
import { MemberLimits } from './queue/member-limits.js';
import { QueueEstimates } from './queue/queue-estimates.js';
import { ProgressChannel } from './queue/progress-channel.js';
import { RedisKeys } from './queue/keys.js';
import { Queues } from './queue/queues.js';
import { closeRedis } from './queue/redis.js';
import { deploymentSecret } from './store/deployment-secret.js';
import { MediaStore } from './store/media-store.js';
import type { Collections } from './store/collections.js';
import { WorkerPool } from './worker/workers.js';

/** Replacements for tests and tools; production passes none. */
export interface AppOverrides {
  catalog?: Catalog;
  providers?: ProviderRegistry;
  faults?: FaultHook;
  randomSeed?: () => number;
  /** Worker lock duration; tests shorten it to exercise stalled-job recovery. */
  lockDurationMs?: number;
  /** How often workers look for stalled jobs; tests shorten it with the lock. */
  stalledIntervalMs?: number;
  progressIntervalMs?: number;
  /** How long a job runs before it is shown as running (default 1 s); tests use 0. */
  runningAfterMs?: number;
  /** How often waiting generations' positions are refreshed (default 3 s); tests shorten it. */
  queueWatchMs?: number;
  /** Tries and first delay of final deliveries; tests shorten them. */
  deliveryRetry?: { attempts: number; backoffMs: number };
}

export interface App {
  config: Config;
  logger: Logger;
  conn: Connection;
  collections: Collections;
  media: MediaStore;
  economy: Economy;
  catalog: Catalog;
  providers: ProviderRegistry;
  redis: Redis;
  queues: Queues;
  generations: GenerationService;
  reconciler: Reconciler;
  /** Per-member limits and fair ordering (Redis). */
  limits: MemberLimits;
  /** What the commands use, for every surface. */
  services: CommandServices;
  /** Workers' progress, for whoever shows it (the bot's notifier, the console). */
  progress: ProgressChannel;
  /** Every Redis key and channel of this deployment (under `config.keyPrefix`). */
  keys: RedisKeys;
  /** Starts the provider workers of this process (the `worker` role). */
  startWorkers(): Promise<WorkerPool>;
  /** Starts progress relay and final delivery to the given platform adapters (the `bot` role). */
  startDelivery(sinks: readonly DeliverySink[]): Promise<{ close(): Promise<void> }>;
  close(): Promise<void>;
}

/**
 * The composition root: builds every service from the config with explicit dependencies,
 * no global container. Each role (bot, worker, all, the CLI, a test) takes what it needs.
 */
export async function createApp(
  config: Config,
  logger: Logger,
  overrides: AppOverrides = {},
): Promise<App> {
  const providers = overrides.providers ?? createProviders(config.providers, logger);
  const catalog = await offeredCatalog(config, logger, providers, overrides.catalog);
  const connections = await connectServices(config, logger);
  const { conn, collections, redis } = connections;
  const media = new MediaStore(conn);
  const economy = await openEconomy(collections, config, logger);
  const ids = new GenerationIds(
    config.generationIdSecret === undefined
      ? await deploymentSecret(conn, 'generation-ids')
      : Buffer.from(config.generationIdSecret, 'utf8'),
  );
  const s = buildServices({ config, logger, overrides, connections, catalog, economy, media, ids });
  const closers: (() => Promise<void>)[] = [];
  const parts = { config, logger, overrides, closers, keys: s.keys, redis, catalog };
  const { generations, progress, estimates, queueBoard, queues } = s;
  return {
    config,
    logger,
    conn,
    collections,
    media,
    economy,
    catalog,
    providers,
    redis,
    queues,
    generations,
    reconciler: s.reconciler,
    limits: s.limits,
    services: { generations, economy, catalog, queueBoard },
    progress,
    keys: s.keys,
    startWorkers: () => startWorkers(parts, { generations, providers, media, progress, estimates }),
    startDelivery: (sinks) => startDelivery(parts, { generations, progress, queueBoard }, sinks),
    async close() {
      for (const close of closers.reverse())
        await close().catch((error: unknown) => logger.warn({ err: error }, 'close failed'));
      closers.length = 0;
      await queues.close();
      await closeConnections(connections);
    },
  };
}

/** The services on Redis and MongoDB that every role shares, wired to each other. */
function buildServices(b: {
  config: Config;
  logger: Logger;
  overrides: AppOverrides;
  connections: { collections: Collections; redis: Redis; producer: Redis };
  catalog: Catalog;
  economy: Economy;
  media: MediaStore;
  ids: GenerationIds;
}) {
  const { config, logger, overrides, catalog, economy, media, ids } = b;
  const { collections, redis, producer } = b.connections;
  const keys = new RedisKeys(config.keyPrefix);
  const queues = new Queues(producer, redis, {
    keys,
    logger,
    attempts: config.worker.attempts,
    backoffMs: config.worker.backoffMs,
  });
  const limits = new MemberLimits((call) => queues.produce(call), keys, config.limits);
  const generations = new GenerationService({
    collections,
    economy,
    catalog,
    queues,
    limits,
    priorityMembers: config.priorityMembers,
    cancelBus: new CancelBus(producer, keys),
    media,
    logger,
    ids,
    ...(overrides.randomSeed ? { randomSeed: overrides.randomSeed } : {}),
    ...(overrides.faults ? { faults: overrides.faults } : {}),
  });
  const reconciler = new Reconciler({
    collections,
    economy,
    generations,
    queues,
    limits,
    logger,
    providers: catalog.providers(),
  });
  const estimates = new QueueEstimates((call) => queues.produce(call), keys);
  const queueBoard = new QueueBoard({
    queues,
    redis,
    catalog,
    economy,
    generations,
    limits,
    estimates,
  });
  const progress = new ProgressChannel(redis, keys);
  return { keys, queues, limits, generations, reconciler, estimates, queueBoard, progress };
}

/**
 * The models this deployment offers: the catalog (the operator's or the built-in one) less
 * those whose backend is not configured, and less the demo models once a real backend is
 * (unless the operator shows them). Says in the log what it left out and why.
 */
async function offeredCatalog(
  config: Config,
  logger: Logger,
  providers: ProviderRegistry,
  override: Catalog | undefined,
): Promise<Catalog> {
  const fullCatalog =
    override ?? (await loadCatalog(config.catalogFile ?? BUILTIN_CATALOG_URL, config.defaultModel));
  const offered = offeredModels(fullCatalog, {
    providers: providers.ids(),
    demoModels: config.demoModels,
    production: config.env === 'production',
    chargedWhenStopped: config.providers.chargedWhenStopped,
  });
  const unconfigured = offered.hidden.filter((m) => !providers.has(m.provider));
  if (unconfigured.length > 0) {
    // The built-in catalog lists every backend; only an operator's own catalog naming an
    // unconfigured provider is worth a warning.
    const level = config.catalogFile ? 'warn' : 'info';
    logger[level](
      { models: unconfigured.map((m) => `${m.id} (${m.provider})`) },
      'catalog models whose provider is not configured are hidden',
    );
  }
  if (offered.hidden.length > unconfigured.length)
    logger.info(
      { models: offered.hidden.filter((m) => m.demo).map((m) => m.id) },
      'demo models are hidden because a real backend is configured (DEMO_MODELS=on shows them)',
    );
  if (offered.onlyDemos && config.env === 'production')
    logger.warn(
      { models: offered.catalog.list().map((m) => m.id) },
      'only demo models are offered: no generation backend is configured (see README, Generation backends)',
    );
  return offered.catalog;
}

/** What the role starters share with the app they belong to. */
interface AppParts {
  config: Config;
  logger: Logger;
  overrides: AppOverrides;
  /** Closed by `app.close()`, last started first. */
  closers: (() => Promise<void>)[];
  keys: RedisKeys;
  redis: Redis;
  catalog: Catalog;
}

/** The `worker` role: one BullMQ worker per provider of the catalog. */
async function startWorkers(
  app: AppParts,
  own: {
    generations: GenerationService;
    providers: ProviderRegistry;
    media: MediaStore;
    progress: ProgressChannel;
    estimates: QueueEstimates;
  },
): Promise<WorkerPool> {
  const { config, overrides } = app;
  const pool = new WorkerPool(
    {
      generations: own.generations,
      catalog: app.catalog,
      providers: own.providers,
      media: own.media,
      logger: app.logger,
      progress: own.progress,
      ...(overrides.runningAfterMs === undefined
        ? {}
        : { runningAfterMs: overrides.runningAfterMs }),
      ...(overrides.progressIntervalMs === undefined
        ? {}
        : { progressIntervalMs: overrides.progressIntervalMs }),
    },
    {
      connection: app.redis,
      keyPrefix: app.keys.keyPrefix,
      providers: [...new Set(app.catalog.list().map((m) => m.provider))],
      concurrency: config.worker.concurrency,
      providerConcurrency: config.providers.concurrency,
      rateLimits: config.providers.rateLimits,
      backoffMs: config.worker.backoffMs,
      cancelBus: new CancelBus(app.redis, app.keys),
      estimates: own.estimates,
      ...(overrides.lockDurationMs === undefined
        ? {}
        : { lockDurationMs: overrides.lockDurationMs }),
      ...(overrides.stalledIntervalMs === undefined
        ? {}
        : { stalledIntervalMs: overrides.stalledIntervalMs }),
    },
  );
  await pool.start();
  app.closers.push(() => pool.close());
  return pool;
}

/**
 * The `bot` role's relay: final deliveries from the platforms' streams, progress from the
 * channel, and the live queue positions of the generations this process submitted.
 */
async function startDelivery(
  app: AppParts,
  own: { generations: GenerationService; progress: ProgressChannel; queueBoard: QueueBoard },
  sinks: readonly DeliverySink[],
): Promise<{ close(): Promise<void> }> {
  const { logger, overrides } = app;
  const { generations } = own;
  const consumer = new DeliveryConsumer({
    connection: app.redis,
    keys: app.keys,
    ...(overrides.deliveryRetry ? { retry: overrides.deliveryRetry } : {}),
    generations,
    sinks,
    logger,
  });
  const notifier = new ProgressNotifier({ progress: own.progress, generations, sinks, logger });
  await Promise.all([consumer.ready(), notifier.start()]);
  const watch = new QueueWatch({
    generations,
    board: own.queueBoard,
    notifier,
    logger,
    ...(overrides.queueWatchMs === undefined ? {} : { intervalMs: overrides.queueWatchMs }),
  });
  watch.start();
  let closing: Promise<void> | undefined;
  // Once: the roles close delivery before the adapters, and app.close() again.
  const close = (): Promise<void> =>
    (closing ??= Promise.all([consumer.close(), notifier.close(), watch.close()]).then(
      () => undefined,
    ));
  app.closers.push(close);
  return { close };
}

/** The points ledger; ledgers written before entries were keyed `<account>:<seq>` are rewritten once. */
async function openEconomy(
  collections: Collections,
  config: Config,
  logger: Logger,
): Promise<Economy> {
  const economy = new Economy(collections, config.economy);
  const migrated = await economy.migrateLedger();
  if (migrated > 0) logger.info({ entries: migrated }, 'migrated ledger entries to the new layout');
  return economy;
}

async function closeConnections(c: { conn: Connection; redis: Redis; producer: Redis }) {
  await Promise.all([closeRedis(c.producer), closeRedis(c.redis)]);
  await c.conn.close();
}
