import { performance } from 'node:perf_hooks';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import mongoose, { type Connection } from 'mongoose';
import { minimalMemberId } from './deployed-members.js';
import {
  minimalModels,
  minimalProcessor,
  minimalSubmit,
  renderImages,
  type MinimalJob,
  type MinimalResult,
} from './systems.js';

/**
 * What one child process of the deployed benchmark runs (see deployed-child.ts): one half of
 * a system, as it would run in its own process in production. Each child loads only its own
 * system's code (genbot's roles are in deployed-genbot-roles.ts, imported when asked for).
 *
 * - genbot: see deployed-genbot-roles.ts.
 * - the minimal bot's `bot`: its submit (insert, guarded `$inc`, add) and a QueueEvents
 *   listener that reads each output back from GridFS when its job completes; its `worker`: a
 *   BullMQ worker that stores the output and settles.
 * - raw BullMQ: `bot` adds jobs and listens for their completion, `worker` returns at once.
 */

export type RoleName =
  | 'genbot-bot'
  | 'genbot-worker'
  | 'genbot-worker-as-deployed'
  | 'minimal-bot'
  | 'minimal-worker'
  | 'raw-bot'
  | 'raw-worker';

export interface RoleOptions {
  role: RoleName;
  redisUrl: string;
  /** With the database name. */
  mongodbUri: string;
  prefix: string;
  concurrency: number;
  /** genbot: the catalog file it offers (CATALOG_FILE). */
  catalogFile: string;
}

/** How a bot half tells the parent that a generation reached the member. */
export type Delivered = (id: string, ok: boolean) => void;

export interface RunningRole {
  /** Bot halves: generation number `k` for member `member`; resolves with its id. */
  submit?(k: number, member: number): Promise<string>;
  /** Stops gracefully: running jobs finish, connections close. */
  stop(): Promise<void>;
}

/** A BullMQ listener's own connection (it blocks reading the events stream). */
const blocking = (url: string): Redis => new Redis(url, { maxRetriesPerRequest: null });

async function minimalBot(o: RoleOptions, delivered: Delivered): Promise<RunningRole> {
  const conn: Connection = await mongoose.createConnection(o.mongodbUri).asPromise();
  const { Generation, Balance } = minimalModels(conn);
  const bucket = new mongoose.mongo.GridFSBucket(conn.db!, { bucketName: 'media' });
  const producer = new Redis(o.redisUrl, { maxRetriesPerRequest: 1 });
  const listener = blocking(o.redisUrl);
  const queue = new Queue<MinimalJob>('generate', { connection: producer, prefix: o.prefix });
  const events = new QueueEvents<MinimalResult>('generate', {
    connection: listener,
    prefix: o.prefix,
  });
  const deliver = async (jobId: string, result: MinimalResult): Promise<void> => {
    const chunks: Buffer[] = [];
    const stream = bucket.openDownloadStream(new mongoose.mongo.ObjectId(result.fileId));
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    delivered(jobId, chunks.length > 0);
  };
  events.on('completed', ({ jobId, returnvalue }) => {
    deliver(jobId, returnvalue).catch((error: unknown) => {
      console.error(`minimal bot: delivery of ${jobId} failed:`, error);
      delivered(jobId, false);
    });
  });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  return {
    async submit(k, member) {
      return minimalSubmit({ Generation, Balance, queue }, k, minimalMemberId(member), 64);
    },
    async stop() {
      await events.close();
      await queue.close();
      producer.disconnect();
      listener.disconnect();
      await conn.close();
    },
  };
}

async function minimalWorker(o: RoleOptions): Promise<RunningRole> {
  const conn: Connection = await mongoose.createConnection(o.mongodbUri).asPromise();
  const { images } = await renderImages();
  const connection = blocking(o.redisUrl);
  const worker = new Worker<MinimalJob, MinimalResult>('generate', minimalProcessor(conn, images), {
    connection,
    prefix: o.prefix,
    concurrency: o.concurrency,
  });
  await worker.waitUntilReady();
  return {
    async stop() {
      await worker.close();
      connection.disconnect();
      await conn.close();
    },
  };
}

async function rawBot(o: RoleOptions, delivered: Delivered): Promise<RunningRole> {
  const producer = new Redis(o.redisUrl, { maxRetriesPerRequest: 1 });
  const listener = blocking(o.redisUrl);
  const queue = new Queue('raw', { connection: producer, prefix: o.prefix });
  const events = new QueueEvents('raw', { connection: listener, prefix: o.prefix });
  events.on('completed', ({ jobId }) => delivered(jobId, true));
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  return {
    async submit(k) {
      const id = `r${k}`;
      await queue.add(
        'raw',
        { k },
        { jobId: id, removeOnComplete: { count: 5000 }, removeOnFail: { count: 5000 } },
      );
      return id;
    },
    async stop() {
      await events.close();
      await queue.close();
      producer.disconnect();
      listener.disconnect();
    },
  };
}

async function rawWorker(o: RoleOptions): Promise<RunningRole> {
  const connection = blocking(o.redisUrl);
  const worker = new Worker('raw', async () => undefined, {
    connection,
    prefix: o.prefix,
    concurrency: o.concurrency,
  });
  await worker.waitUntilReady();
  return {
    async stop() {
      await worker.close();
      connection.disconnect();
    },
  };
}

/** Starts one role in this process; resolves once it takes work. */
export async function startRole(
  o: RoleOptions,
  delivered: Delivered,
): Promise<{ role: RunningRole; startMs: number }> {
  const at = performance.now();
  const genbot = () => import('./deployed-genbot-roles.js');
  const starters: Record<RoleName, () => Promise<RunningRole>> = {
    'genbot-bot': async () => (await genbot()).genbotBot(o, delivered),
    'genbot-worker': async () => (await genbot()).genbotWorker(o),
    'genbot-worker-as-deployed': async () => (await genbot()).genbotWorkerAsDeployed(o),
    'minimal-bot': () => minimalBot(o, delivered),
    'minimal-worker': () => minimalWorker(o),
    'raw-bot': () => rawBot(o, delivered),
    'raw-worker': () => rawWorker(o),
  };
  const role = await starters[o.role]();
  return { role, startMs: performance.now() - at };
}
