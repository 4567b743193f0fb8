import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis } from '../../scripts/services/redis.js';
import type { RunningService } from '../../scripts/services/process.js';
import { command, createTestApp, fund, type TestApp } from '../support/app.js';

/**
 * A Redis of its own that first refuses writes (out of memory, `noeviction`), as a full
 * Redis does, and then goes away: either way the job cannot be queued after the points
 * were held, and the member must hear it at once with the points back.
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

  it('fails the generation at once, tells the member, and returns the points', async () => {
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
      message: 'The generation queue is unavailable right now. Your points were returned.',
    });
    const accountId = await app.economy.findAccount({ platform: 'console', id: 'uma' });
    expect(await app.economy.balance(accountId!)).toEqual({ available: 10, held: 0 });
    const [doc] = await app.models.Generation.find({ accountId }).lean();
    expect(doc?.status).toBe('failed');
    expect(await app.economy.check()).toEqual([]);
  });

  it('fails at once, with the points returned, while Redis is down', async () => {
    await fund(app, 'val', 10);
    await redis.stop();
    const error = await command(app, 'val', 'generate', { prompt: 'redis is gone' }).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(error).toMatchObject({
      code: 'provider_unavailable',
      message: 'The generation queue is unavailable right now. Your points were returned.',
    });
    const accountId = await app.economy.findAccount({ platform: 'console', id: 'val' });
    expect(await app.economy.balance(accountId!)).toEqual({ available: 10, held: 0 });
    expect(await app.economy.check()).toEqual([]);
  });
});
