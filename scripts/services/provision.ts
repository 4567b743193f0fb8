import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMongo } from './mongo.js';
import { canConnect, isAlive, stopPid, type Log, type RunningService } from './process.js';
import { startRedis } from './redis.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STATE_DIR = join(ROOT, '.genbot');
const STATE_FILE = join(STATE_DIR, 'services.json');

export interface Services {
  redisUrl: string;
  mongodbUri: string;
  /** Stops what this call started (ephemeral mode only; persistent services keep running). */
  stop(): Promise<void>;
}

interface SavedService {
  url: string;
  pid: number;
}
interface SavedState {
  redis?: SavedService;
  mongo?: SavedService;
}

function readState(): SavedState {
  try {
    return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as SavedState;
  } catch {
    return {};
  }
}

async function stillRunning(saved: SavedService | undefined): Promise<boolean> {
  if (!saved || !isAlive(saved.pid)) return false;
  const url = new URL(saved.url);
  return canConnect(url.hostname, Number(url.port));
}

/**
 * Finds or starts Redis and a MongoDB-protocol server, in the order DESIGN.md gives:
 * REDIS_URL / MONGODB_URI when set; else (persistent mode) the ones a previous `npm run dev`
 * left running; else new ones on free loopback ports. Each choice is logged in one line.
 *
 * - `ephemeral`: data in a temp dir, stopped by `stop()` (tests).
 * - `persistent`: data in .genbot/, left running for the next run and the CLI (dev).
 */
export async function provisionServices(options: {
  env: Record<string, string | undefined>;
  mode: 'ephemeral' | 'persistent';
  log: Log;
}): Promise<Services> {
  const { env, mode, log } = options;
  const mayInstall = env.GENBOT_NO_INSTALL !== '1';
  const started: RunningService[] = [];
  const saved = mode === 'persistent' ? readState() : {};
  const root = mode === 'persistent' ? STATE_DIR : mkdtempSync(join(tmpdir(), 'genbot-services-'));
  mkdirSync(root, { recursive: true });

  try {
    let redisUrl = env.REDIS_URL;
    if (redisUrl) {
      log('redis: using REDIS_URL from the environment');
    } else if (await stillRunning(saved.redis)) {
      redisUrl = saved.redis!.url;
      log(
        `redis: reusing the local redis-server started earlier (${redisUrl}, pid ${saved.redis!.pid})`,
      );
    } else {
      const redis = await startRedis({
        dir: join(root, 'redis'),
        log,
        persistent: mode === 'persistent',
        mayInstall,
      });
      started.push(redis);
      saved.redis = { url: redis.url, pid: redis.pid };
      redisUrl = redis.url;
      log(`redis: ${redis.description}`);
    }

    let mongodbUri = env.MONGODB_URI;
    if (mongodbUri) {
      log('mongo: using MONGODB_URI from the environment');
    } else if (await stillRunning(saved.mongo)) {
      mongodbUri = saved.mongo!.url;
      log(
        `mongo: reusing the local MongoDB-protocol server started earlier (${mongodbUri}, pid ${saved.mongo!.pid})`,
      );
    } else {
      const mongo = await startMongo({
        dir: join(root, 'mongo'),
        log,
        persistent: mode === 'persistent',
      });
      started.push(mongo);
      saved.mongo = { url: mongo.url, pid: mongo.pid };
      mongodbUri = mongo.url;
      log(`mongo: ${mongo.description}`);
    }

    if (mode === 'persistent') {
      writeFileSync(STATE_FILE, `${JSON.stringify(saved, null, 2)}\n`);
      return { redisUrl, mongodbUri, stop: async () => {} };
    }
    return {
      redisUrl,
      mongodbUri,
      stop: async () => {
        await Promise.all(started.map((s) => s.stop()));
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (mode === 'ephemeral') await Promise.all(started.map((s) => s.stop()));
    throw error;
  }
}

/** Stops the services a persistent run left behind (by the PIDs it recorded). */
export async function stopPersistentServices(log: Log): Promise<void> {
  const saved = readState();
  for (const [name, service] of Object.entries(saved) as [string, SavedService | undefined][]) {
    if (service && isAlive(service.pid)) {
      await stopPid(service.pid);
      log(`${name}: stopped pid ${service.pid}`);
    }
  }
  rmSync(STATE_FILE, { force: true });
}
