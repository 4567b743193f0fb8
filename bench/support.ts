import { pino } from 'pino';
import type { App } from '../src/app.js';
import type { Services } from '../scripts/services/provision.js';

/**
 * The app every benchmark measures: its own database and queue prefix on the provisioned
 * services, silent logs, and one local 64x64 model at 1 point an image.
 */
export async function benchApp(services: Services): Promise<App> {
  // Loaded when an app is built: `fundMembers` alone does not load genbot.
  const [{ createApp }, { Catalog }, { loadConfig }] = await Promise.all([
    import('../src/app.js'),
    import('../src/catalog/catalog.js'),
    import('../src/config.js'),
  ]);
  const stamp = Date.now();
  const config = loadConfig({
    NODE_ENV: 'test',
    // Many generations per member in flight: the member limits are off here.
    MEMBER_MAX_QUEUED: '0',
    LOG_LEVEL: 'silent',
    REDIS_URL: services.redisUrl,
    MONGODB_URI: `${services.mongodbUri.replace(/\/$/, '')}/genbot_bench_${stamp}`,
    QUEUE_PREFIX: `bench${stamp}`,
    WORKER_CONCURRENCY: process.env.WORKER_CONCURRENCY ?? '4',
  });
  const catalog = Catalog.fromEntries([
    {
      id: 'bench',
      name: 'bench',
      provider: 'local',
      ref: 'bench',
      kind: 'image',
      limits: { maxWidth: 64, maxHeight: 64 },
      defaults: { width: 64, height: 64, steps: 4 },
      price: { perImage: 1 },
    },
  ]);
  return createApp(config, pino({ level: 'silent' }), { catalog });
}

/** Console members `m0` .. `m<count-1>`, each with an account granted `points`. */
export async function fundMembers(
  app: App,
  count: number,
  points: number,
  keyPrefix: string,
): Promise<void> {
  for (let m = 0; m < count; m += 1) {
    const accountId = await app.economy.ensureAccount(
      { platform: 'console', id: `m${m}` },
      `m${m}`,
    );
    await app.economy.grant({
      accountId,
      amount: points,
      key: `${keyPrefix}-${m}`,
      actor: 'bench',
      reason: 'bench',
    });
  }
}
