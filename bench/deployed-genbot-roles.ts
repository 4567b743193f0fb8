import { createApp } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';
import type { DeliverySink } from '../src/delivery/sink.js';
import { createLogger } from '../src/logger.js';
import { memberIdentity, memberUserId } from './deployed-members.js';
import type { Delivered, RoleOptions, RunningRole } from './deployed-roles.js';

/**
 * genbot's halves in the deployed benchmark's child processes:
 *
 * - `bot`: createApp and startDelivery with a sink that reads every output's bytes back
 *   through the media store, as the Telegram and Discord sinks do before uploading; submits
 *   through GenerationService.submit.
 * - `worker`: createApp and startWorkers.
 * - `worker-as-deployed`: the worker role exactly as `ROLE=worker` starts it
 *   (src/process-roles.ts), start-up reconcile sweep included.
 */

/**
 * genbot's environment: its defaults, except MEMBER_MAX_QUEUED, raised from 3 so that no
 * member is ever refused (the limits still run: their script is called for every submit),
 * and the worker slots, the same for every system.
 */
export function genbotEnv(o: RoleOptions, role: 'bot' | 'worker'): Record<string, string> {
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    ROLE: role,
    REDIS_URL: o.redisUrl,
    MONGODB_URI: o.mongodbUri,
    QUEUE_PREFIX: o.prefix,
    CATALOG_FILE: o.catalogFile,
    WORKER_CONCURRENCY: String(o.concurrency),
    MEMBER_MAX_QUEUED: '1000',
  };
}

function genbotConfig(o: RoleOptions, role: 'bot' | 'worker'): Config {
  return loadConfig(genbotEnv(o, role));
}

export async function genbotBot(o: RoleOptions, delivered: Delivered): Promise<RunningRole> {
  const config = genbotConfig(o, 'bot');
  const app = await createApp(config, createLogger({ level: config.logLevel }));
  // A chat whose API costs nothing: what the Telegram sink reads before it uploads is read.
  const sink: DeliverySink = {
    platform: 'telegram',
    showProgress: async () => undefined,
    deliver: async (_origin, generation) => {
      const files = await Promise.all(generation.outputs.map((o) => app.media.get(o.fileId)));
      const bytes = files.reduce((sum, f) => sum + f.length, 0);
      delivered(generation.id, generation.status === 'completed' && bytes > 0);
    },
  };
  const delivery = await app.startDelivery([sink]);
  return {
    async submit(k, member) {
      const { generation } = await app.generations.submit({
        requester: {
          identity: memberIdentity(member),
          displayName: `member ${member}`,
          isModerator: false,
        },
        invocationKey: `bench:${o.prefix}:${k}`,
        origin: {
          platform: 'telegram',
          chatId: Number(memberUserId(member)),
          messageId: 2 * k + 2,
          replyTo: 2 * k + 1,
        },
        request: { prompt: `bench image ${k}`, seed: k, model: 'bench' },
      });
      return generation.id;
    },
    async stop() {
      await delivery.close();
      await app.close();
    },
  };
}

export async function genbotWorker(o: RoleOptions): Promise<RunningRole> {
  const config = genbotConfig(o, 'worker');
  const app = await createApp(config, createLogger({ level: config.logLevel }));
  await app.startWorkers();
  return { stop: () => app.close() };
}

export async function genbotWorkerAsDeployed(o: RoleOptions): Promise<RunningRole> {
  const config = genbotConfig(o, 'worker');
  // Loaded only here: the role's module brings every chat platform's library with it.
  const { start } = await import('../src/process-roles.js');
  const { stop } = await start(config, createLogger({ level: config.logLevel }));
  return { stop };
}
