import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRedis } from '../../scripts/services/redis.js';
import type { RunningService } from '../../scripts/services/process.js';
import { pino } from 'pino';
import { QueueUnavailableError } from '../../src/queue/queues.js';
import { createRedis, isConnectionError } from '../../src/queue/redis.js';
import { command, createTestApp, fund, type TestApp } from '../support/app.js';
import { startOwnedRedis, type OwnedServer } from '../support/servers.js';

type Outcome = { ok: true; id: string } | { ok: false; code: string; message: string };

/** A /generate from the console, settled either way. */
async function generate(app: TestApp, member: string, prompt: string): Promise<Outcome> {
  return command(app, member, 'generate', { prompt }).then(
    (r): Outcome => ({ ok: true, id: r.generation?.id ?? '' }),
    (e: unknown): Outcome => {
      const { code, message } = e as { code: string; message: string };
      return { ok: false, code, message };
    },
  );
}

const REFUSED = {
  ok: false,
  code: 'provider_unavailable',
  message:
    'The generation queue is unavailable right now. Nothing was charged; please try again in a minute.',
};

/**
 * A Redis of its own that first refuses writes (out of memory, `noeviction`), as a full
 * Redis does, and then goes away: either way the member's slot cannot be taken, which comes
 * before anything is held, and the member must hear it at once, truly: nothing was charged.
 */
describe('when the queue refuses the job', () => {
  let redis: RunningService;
  let dir: string;
  let app: TestApp;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'genbot-redis-'));
    redis = await startRedis({ dir, log: () => undefined, persistent: false, mayInstall: false });
    app = await createTestApp({ config: { REDIS_URL: redis.url } });
  });
  afterAll(async () => {
    await app.conn.dropDatabase();
    await app.close();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fails the generation at once and tells the member nothing was charged', async () => {
    await fund(app, 'uma', 10);
    await app.redis.config('SET', 'maxmemory-policy', 'noeviction');
    await app.redis.config('SET', 'maxmemory', '1');
    const error = await command(app, 'uma', 'generate', { prompt: 'no queue' }).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    await app.redis.config('SET', 'maxmemory', '0');
    expect(error).toMatchObject({
      code: 'provider_unavailable',
      message:
        'The generation queue is unavailable right now. Nothing was charged; please try again in a minute.',
    });
    const accountId = await app.economy.findAccount({ platform: 'console', id: 'uma' });
    expect(await app.economy.balance(accountId!)).toEqual({ available: 10, held: 0 });
    const [doc] = await app.collections.Generation.find({ accountId }).lean();
    expect(doc?.status).toBe('failed');
    // The refusal was the answer: no second "failed" message is queued, now or by the reconciler.
    expect(await app.queues.deliveryQueued(doc!._id)).toBe(false);
    await app.reconciler.run(0);
    expect(await app.queues.deliveryQueued(doc!._id)).toBe(false);
    expect(await app.economy.check()).toEqual([]);
  });

  it('fails at once while Redis is down, and says nothing was charged', async () => {
    await fund(app, 'val', 10);
    await redis.stop();
    const error = await command(app, 'val', 'generate', { prompt: 'redis is gone' }).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(error).toMatchObject({
      code: 'provider_unavailable',
      message:
        'The generation queue is unavailable right now. Nothing was charged; please try again in a minute.',
    });
    const accountId = await app.economy.findAccount({ platform: 'console', id: 'val' });
    expect(await app.economy.balance(accountId!)).toEqual({ available: 10, held: 0 });
    expect(await app.economy.check()).toEqual([]);
  });
});

/**
 * A fresh app whose producer has never touched a queue (as after a deploy), on a Redis the
 * test owns: taken away (stopped, or frozen with SIGSTOP so the socket stays open and
 * nothing answers) and given back on the same port. The submission must settle while Redis
 * is still away, refused with the points back; once Redis is back, generations go through.
 */
describe('when Redis goes away under a running app', () => {
  let redis: OwnedServer;
  let app: TestApp;

  beforeEach(async () => {
    redis = await startOwnedRedis();
    app = await createTestApp({ config: { REDIS_URL: redis.url } });
  });
  afterEach(async () => {
    redis.resume(); // if a test failed while Redis was frozen
    await app.conn.dropDatabase();
    await app.close();
    await redis.stop();
  });

  async function expectPointsBack(member: string, funds: number): Promise<void> {
    const accountId = await app.economy.findAccount({ platform: 'console', id: member });
    expect(await app.economy.balance(accountId!)).toEqual({ available: funds, held: 0 });
    expect(await app.economy.check()).toEqual([]);
  }

  /** Submits until one is queued (the producer reconnects on its own backoff), at most 40. */
  async function submitUntilQueued(member: string): Promise<{ id: string; refused: number }> {
    for (let refused = 0; refused < 40; refused += 1) {
      const outcome = await generate(app, member, `after the outage ${refused}`);
      if (outcome.ok) return { id: outcome.id, refused };
      expect(outcome).toEqual(REFUSED);
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error('no generation was queued after Redis came back');
  }

  it('refuses at once while Redis is stopped, then queues again once it is back', async () => {
    await fund(app, 'wes', 10);
    const { port } = redis;
    await redis.stop();
    const whileDown = await generate(app, 'wes', 'redis is stopped');
    // Settled while Redis is still down: only now does it come back.
    expect(whileDown).toEqual(REFUSED);
    await expectPointsBack('wes', 10);

    redis = await startOwnedRedis(port);
    const { id, refused } = await submitUntilQueued('wes');
    expect((await app.generations.summary(id)).status).toBe('queued');
    expect(await app.queues.generation('local').getJob(id)).toBeDefined();
    const accountId = await app.economy.findAccount({ platform: 'console', id: 'wes' });
    const price = (await app.generations.summary(id)).price;
    expect(await app.economy.balance(accountId!)).toEqual({ available: 10 - price, held: price });
    expect(refused).toBeLessThan(40);
  });

  it('refuses within the command timeout while Redis is frozen, then queues again', async () => {
    await fund(app, 'xia', 10);
    redis.pause();
    const first = await command(app, 'xia', 'generate', { prompt: 'redis is frozen' }).catch(
      (e: unknown) => e as { code: string; cause?: Error },
    );
    expect(first).toMatchObject({ code: 'provider_unavailable' });
    expect((first as { cause?: Error }).cause?.message).toBe('Command timed out');
    // The producer dropped the silent socket: the next one is refused without waiting.
    const second = await command(app, 'xia', 'generate', { prompt: 'still frozen' }).catch(
      (e: unknown) => e as { code: string; cause?: Error },
    );
    expect(second).toMatchObject({ code: 'provider_unavailable' });
    expect((second as { cause?: Error }).cause).toBeInstanceOf(QueueUnavailableError);
    await expectPointsBack('xia', 10);
    redis.resume();

    // The queue whose set-up timed out was dropped: a new one is made and works.
    const { id } = await submitUntilQueued('xia');
    expect((await app.generations.summary(id)).status).toBe('queued');
    expect(await app.queues.generation('local').getJob(id)).toBeDefined();
  });
});

describe('logging a Redis outage', () => {
  it('logs one line when the connection is lost and one when it is back, not one per attempt', async () => {
    let redis = await startOwnedRedis();
    const lines: { level: number; msg: string }[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => void lines.push(JSON.parse(line) as never) },
    );
    const connection = createRedis(redis.url, logger, 'watched');
    try {
      await new Promise((done) => connection.once('ready', done));
      // Several failed reconnect attempts, each an 'error' event of the connection.
      const attempts = new Promise<void>((done) => {
        let seen = 0;
        connection.on('error', () => {
          seen += 1;
          if (seen === 3) done();
        });
      });
      const { port } = redis;
      await redis.stop();
      await attempts;
      expect(lines.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([
        'redis connection lost; reconnecting',
      ]);
      const back = new Promise((done) => connection.once('ready', done));
      redis = await startOwnedRedis(port);
      await back;
      expect(lines.map((l) => l.msg)).toEqual([
        'redis connection lost; reconnecting',
        'redis connection restored',
      ]);
      expect(isConnectionError(new Error('connect ECONNREFUSED 127.0.0.1:1'))).toBe(true);
      expect(isConnectionError(new Error('WRONGPASS invalid username-password pair'))).toBe(false);
    } finally {
      connection.disconnect();
      await redis.stop();
    }
  });
});
