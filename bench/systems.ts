import { performance } from 'node:perf_hooks';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import mongoose, { Schema, type Connection, type InferSchemaType } from 'mongoose';
import { pino } from 'pino';
import type { App } from '../src/app.js';
import type { DeliverySink } from '../src/delivery/sink.js';
import { drawStill } from '../src/providers/local/draw.js';
import { fundMembers } from './support.js';

/**
 * The three systems `npm run bench` runs side by side on the same servers: genbot as it is
 * (createApp, the built-in `local` provider, the real delivery consumer), a minimal bot
 * (BullMQ plus mongoose, the least a bot with points must do), and raw BullMQ.
 */

export type Size = 64 | 1024;

/** Counts finished generations (delivered, or completed where there is no delivery). */
export class Done {
  count = 0;
  lastAt = 0;
  #waiters: { n: number; resolve: () => void }[] = [];

  mark(): void {
    this.count += 1;
    this.lastAt = performance.now();
    this.#waiters = this.#waiters.filter((w) => {
      if (this.count < w.n) return true;
      w.resolve();
      return false;
    });
  }

  /** True once `n` are done; false if `timeoutMs` passed first. */
  async until(n: number, timeoutMs: number): Promise<boolean> {
    if (this.count >= n) return true;
    let timer: NodeJS.Timeout | undefined;
    const reached = new Promise<boolean>((resolve) => {
      this.#waiters.push({ n, resolve: () => resolve(true) });
    });
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, timeoutMs));
    });
    const result = await Promise.race([reached, timedOut]);
    clearTimeout(timer);
    return result;
  }
}

export interface System {
  readonly name: 'genbot' | 'minimal' | 'raw';
  /** Every Redis key this system uses starts with it. */
  readonly redisPrefix: string;
  readonly done: Done;
  /** Submits generation number `i` (unique per system) of the given output size. */
  submit(i: number, size: Size): Promise<void>;
  close(): Promise<void>;
}

/** Members the benchmark submits as; submitter `i` is member `i % MEMBERS`. */
export const MEMBERS = 50;
const FUNDS = 100_000;

// ---------------------------------------------------------------------------------------
// genbot

/**
 * The models every genbot of the benchmark offers: the built-in `local` provider with one
 * step and no delay, at 64x64 (`bench`) and at 1024x1024 (`bench1024`), 1 point an image.
 * Entries of a catalog file, as an operator would write them.
 */
export function benchModels() {
  const model = (id: string, size: Size) => ({
    id,
    name: id,
    provider: 'local',
    ref: id,
    kind: 'image' as const,
    limits: { maxWidth: size, maxHeight: size },
    defaults: { width: size, height: size, steps: 1 },
    price: { perImage: 1 },
    options: { stepDelayMs: 0 },
  });
  return [model('bench', 64), model('bench1024', 1024)];
}

export interface Genbot extends System {
  readonly app: App;
  /** Progress events the notifier handed to the sink. */
  progress: number;
}

export async function startGenbot(options: {
  redisUrl: string;
  mongodbUri: string;
  prefix: string;
  concurrency: number;
}): Promise<Genbot> {
  // Loaded here, not at the top: a process running only the minimal bot does not load genbot.
  const [{ createApp }, { Catalog }, { loadConfig }] = await Promise.all([
    import('../src/app.js'),
    import('../src/catalog/catalog.js'),
    import('../src/config.js'),
  ]);
  const config = loadConfig({
    NODE_ENV: 'test',
    // Many generations per member in flight: the member limits are off here.
    MEMBER_MAX_QUEUED: '0',
    LOG_LEVEL: 'silent',
    REDIS_URL: options.redisUrl,
    MONGODB_URI: options.mongodbUri,
    QUEUE_PREFIX: options.prefix,
    WORKER_CONCURRENCY: String(options.concurrency),
  });
  const catalog = Catalog.fromEntries(benchModels());
  const app = await createApp(config, pino({ level: 'silent' }), { catalog });
  const done = new Done();
  const system: Genbot = {
    name: 'genbot',
    redisPrefix: options.prefix,
    done,
    app,
    progress: 0,
    async submit(i, size) {
      const member = `m${i % MEMBERS}`;
      await app.generations.submit({
        requester: {
          identity: { platform: 'console', id: member },
          displayName: member,
          isModerator: false,
        },
        invocationKey: `bench:${options.prefix}:${i}`,
        // A chat like a real one: the result goes through the platform's delivery stream.
        origin: { platform: 'telegram', chatId: 1_000_000 + i, messageId: i + 1 },
        request: {
          prompt: `bench image ${i}`,
          seed: i,
          model: size === 1024 ? 'bench1024' : 'bench',
        },
      });
    },
    close: () => app.close(),
  };
  // A no-op chat: counts what reaches it. The real DeliveryConsumer and ProgressNotifier
  // read and mark the generation as they would for Discord or Telegram.
  const sink: DeliverySink = {
    platform: 'telegram',
    showProgress: async () => {
      system.progress += 1;
    },
    deliver: async () => {
      done.mark();
    },
  };
  await fundMembers(app, MEMBERS, FUNDS, 'bench-fund');
  await app.startDelivery([sink]);
  await app.startWorkers();
  return system;
}

// ---------------------------------------------------------------------------------------
// the minimal bot

/**
 * What a simple bot does per generation, no more: insert the generation, hold the points
 * with one guarded `$inc` on the member's balance document, add a job; the worker stores the
 * output in GridFS, writes it to the generation in one update and settles in one more.
 * The image is made once per size (the same renderer genbot's `local` provider uses, so the
 * bytes stored are the same) and reused.
 */
export const minimalGenerationSchema = new Schema(
  {
    _id: { type: String, required: true },
    accountId: { type: String, required: true },
    prompt: { type: String, required: true },
    seed: { type: Number, required: true },
    width: { type: Number, required: true },
    height: { type: Number, required: true },
    price: { type: Number, required: true },
    status: { type: String, required: true },
    output: { fileId: String, bytes: Number, mime: String },
  },
  { timestamps: true, versionKey: false },
);
export const minimalBalanceSchema = new Schema(
  {
    _id: { type: String, required: true },
    available: { type: Number, required: true },
    held: { type: Number, required: true },
  },
  { versionKey: false },
);

export interface Minimal extends System {
  readonly conn: Connection;
  /** How long making the reused image took, per size (ms). */
  readonly renderMs: Record<Size, number>;
}

export interface MinimalJob {
  id: string;
  accountId: string;
  price: number;
  size: Size;
}

/** The minimal bot's two collections on a connection (bound once per connection). */
export function minimalModels(conn: Connection) {
  if (!conn.models.Generation) {
    conn.model('Generation', minimalGenerationSchema, 'generations');
    conn.model('Balance', minimalBalanceSchema, 'balances');
  }
  return {
    Generation: conn.model<InferSchemaType<typeof minimalGenerationSchema>>('Generation'),
    Balance: conn.model<InferSchemaType<typeof minimalBalanceSchema>>('Balance'),
  };
}

/**
 * The images the minimal bot stores, made once per size by the renderer genbot's `local`
 * provider uses (so the bytes stored are the same), and how long making each took.
 */
export async function renderImages(): Promise<{
  images: Map<Size, Buffer>;
  renderMs: Record<Size, number>;
}> {
  const images = new Map<Size, Buffer>();
  const renderMs = { 64: 0, 1024: 0 };
  for (const size of [64, 1024] as const) {
    const at = performance.now();
    const image = await drawStill(
      { prompt: 'bench image', model: 'bench', seed: 1, width: size, height: size, index: 0 },
      'png',
    );
    renderMs[size] = performance.now() - at;
    images.set(size, image.data);
  }
  return { images, renderMs };
}

/** What the minimal bot's worker returns: where the output is, for whoever delivers it. */
export interface MinimalResult {
  fileId: string;
}

/** The minimal bot's job: store the output in GridFS, write it to the generation, settle. */
export function minimalProcessor(
  conn: Connection,
  images: Map<Size, Buffer>,
): (job: Job<MinimalJob>) => Promise<MinimalResult> {
  const { Generation, Balance } = minimalModels(conn);
  const bucket = new mongoose.mongo.GridFSBucket(conn.db!, { bucketName: 'media' });
  return async (job) => {
    const { id, accountId, price, size } = job.data;
    const data = images.get(size)!;
    const upload = bucket.openUploadStream(`${id}.png`, { metadata: { generationId: id } });
    await new Promise<void>((resolve, reject) => {
      upload.once('error', reject);
      upload.once('finish', () => resolve());
      upload.end(data);
    });
    const fileId = upload.id.toString();
    await Generation.updateOne(
      { _id: id },
      { $set: { status: 'completed', output: { fileId, bytes: data.length, mime: 'image/png' } } },
    );
    await Balance.updateOne({ _id: accountId }, { $inc: { held: -price } });
    return { fileId };
  };
}

/**
 * The minimal bot's submit: insert the generation, hold the points with one guarded `$inc`
 * on the member's balance document, add the job.
 */
export async function minimalSubmit(
  to: {
    Generation: ReturnType<typeof minimalModels>['Generation'];
    Balance: ReturnType<typeof minimalModels>['Balance'];
    queue: Queue<MinimalJob>;
  },
  i: number,
  accountId: string,
  size: Size,
): Promise<string> {
  const id = `g${String(i).padStart(10, '0')}`;
  const price = 1;
  await to.Generation.create({
    _id: id,
    accountId,
    prompt: `bench image ${i}`,
    seed: i,
    width: size,
    height: size,
    price,
    status: 'queued',
  });
  const held = await to.Balance.updateOne(
    { _id: accountId, available: { $gte: price } },
    { $inc: { available: -price, held: price } },
  );
  if (held.modifiedCount === 0) {
    await to.Generation.deleteOne({ _id: id });
    throw new Error('not enough points');
  }
  await to.queue.add(
    'generate',
    { id, accountId, price, size },
    { jobId: id, removeOnComplete: { count: 5000 }, removeOnFail: { count: 5000 } },
  );
  return id;
}

export async function startMinimal(options: {
  redisUrl: string;
  mongodbUri: string;
  prefix: string;
  concurrency: number;
}): Promise<Minimal> {
  const conn = await mongoose.createConnection(options.mongodbUri).asPromise();
  const { Generation, Balance } = minimalModels(conn);
  const { images, renderMs } = await renderImages();
  await Balance.insertMany(
    Array.from({ length: MEMBERS }, (_, m) => ({ _id: `m${m}`, available: FUNDS, held: 0 })),
  );
  const producer = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  const workerConnection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue<MinimalJob>('generate', { connection: producer, prefix: options.prefix });
  const done = new Done();
  const worker = new Worker<MinimalJob, MinimalResult>('generate', minimalProcessor(conn, images), {
    connection: workerConnection,
    prefix: options.prefix,
    concurrency: options.concurrency,
  });
  worker.on('completed', () => done.mark());
  await worker.waitUntilReady();
  await queue.waitUntilReady();
  return {
    name: 'minimal',
    redisPrefix: options.prefix,
    done,
    conn,
    renderMs,
    async submit(i, size) {
      await minimalSubmit({ Generation, Balance, queue }, i, `m${i % MEMBERS}`, size);
    },
    async close() {
      await worker.close();
      await queue.close();
      producer.disconnect();
      workerConnection.disconnect();
      await conn.close();
    },
  };
}

// ---------------------------------------------------------------------------------------
// raw BullMQ

/** BullMQ alone: add a job, a worker that returns at once. The floor of any BullMQ bot. */
export async function startRaw(options: {
  redisUrl: string;
  prefix: string;
  concurrency: number;
}): Promise<System> {
  const producer = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  const workerConnection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue('raw', { connection: producer, prefix: options.prefix });
  const done = new Done();
  const worker = new Worker('raw', async () => undefined, {
    connection: workerConnection,
    prefix: options.prefix,
    concurrency: options.concurrency,
  });
  worker.on('completed', () => done.mark());
  await worker.waitUntilReady();
  await queue.waitUntilReady();
  return {
    name: 'raw',
    redisPrefix: options.prefix,
    done,
    async submit(i) {
      await queue.add(
        'raw',
        { i },
        { jobId: `r${i}`, removeOnComplete: { count: 5000 }, removeOnFail: { count: 5000 } },
      );
    },
    async close() {
      await worker.close();
      await queue.close();
      producer.disconnect();
      workerConnection.disconnect();
    },
  };
}
