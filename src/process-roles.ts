import { createApp, type App } from './app.js';
import type { Config } from './config.js';
import type { DeliverySink } from './delivery/sink.js';
import { ReconcileLoop } from './generation/reconcile-loop.js';
import type { Logger } from './logger.js';
import { createDiscordAdapter, type DiscordAdapter } from './platforms/discord/discord-bot.js';
import { createTelegramAdapter, type TelegramAdapter } from './platforms/telegram/telegram-bot.js';

/**
 * Runs a role: `worker` (provider workers), `bot` (platform adapters, progress relay and
 * delivery) or `all` (both, for development and small communities). The reconciler runs
 * at start-up (beside the work, which does not wait for it) and then every
 * RECONCILE_INTERVAL_SECONDS, one process at a time. SIGINT/SIGTERM stop taking work, let
 * running jobs finish (up to SHUTDOWN_TIMEOUT_MS), then close connections.
 */
export async function start(
  config: Config,
  logger: Logger,
): Promise<{ app: App; stop: () => Promise<void> }> {
  const app = await createApp(config, logger);
  const reconcile = new ReconcileLoop({
    reconciler: app.reconciler,
    redis: app.redis,
    keys: app.keys,
    logger,
    intervalMs: config.reconcileIntervalMs,
    graceMs: config.reconcileGraceMs,
  });
  // The start-up sweep runs beside the work: a restart never waits for it.
  reconcile.start().then(
    (report) =>
      logger.info(
        report ? { report } : { skipped: 'another process is sweeping' },
        'start-up reconcile done',
      ),
    (error: unknown) => logger.error({ err: error }, 'start-up reconcile failed'),
  );

  if (config.role === 'worker' || config.role === 'all') {
    await app.startWorkers();
    logger.info(
      { providers: app.catalog.providers(), concurrency: config.worker.concurrency },
      'workers started',
    );
  }
  let telegram: TelegramAdapter | undefined;
  let discord: DiscordAdapter | undefined;
  let delivery: { close(): Promise<void> } | undefined;
  if (config.role === 'bot' || config.role === 'all') {
    const sinks: DeliverySink[] = [];
    // What every chat adapter is built from.
    const shared = {
      services: app.services,
      media: app.media,
      redis: app.redis,
      keys: app.keys,
      logger,
    };
    if (config.discord) {
      discord = createDiscordAdapter({ ...shared, config: config.discord });
      sinks.push(discord.sink);
    }
    if (config.telegram) {
      telegram = createTelegramAdapter({ ...shared, config: config.telegram });
      sinks.push(telegram.sink);
    }
    delivery = await app.startDelivery(sinks);
    if (telegram) await telegram.start();
    if (discord) await discord.start();
    if (sinks.length === 0)
      logger.info('no chat platform token is set; use `npm run cli` to drive the bot');
  }
  logger.info(
    { role: config.role, models: app.catalog.list().map((m) => m.id) },
    'genbot is running',
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      logger.info('shutting down: finishing running jobs');
      const timer = setTimeout(() => {
        logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; exiting');
        process.exit(1);
      }, config.shutdownTimeoutMs);
      timer.unref();
      await reconcile.stop();
      // Stop taking deliveries first, so none is left waiting on a closed platform client.
      await delivery?.close();
      await Promise.all([telegram?.stop(), discord?.stop()]);
      await app.close();
      clearTimeout(timer);
      logger.info('stopped');
    })());
  return { app, stop };
}
