import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Origin } from '../../src/core/origin.js';
import type { DeliverySink } from '../../src/delivery/sink.js';
import { createTestApp, testModel, waitForStatus, type TestApp } from '../support/app.js';
import { until } from '../support/until.js';

const TOKEN = 'interaction-token-that-must-never-leave-mongodb-0123456789';

/** Everything stored under the app's Redis prefix, as text. */
async function redisContents(app: TestApp): Promise<string> {
  const parts: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await app.redis.scan(cursor, 'MATCH', `${app.prefix}*`, 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      const type = await app.redis.type(key);
      if (type === 'string') parts.push(String(await app.redis.get(key)));
      if (type === 'hash') parts.push(JSON.stringify(await app.redis.hgetall(key)));
      if (type === 'list') parts.push(JSON.stringify(await app.redis.lrange(key, 0, -1)));
      if (type === 'zset') parts.push(JSON.stringify(await app.redis.zrange(key, 0, -1)));
      if (type === 'set') parts.push(JSON.stringify(await app.redis.smembers(key)));
      if (type === 'stream') parts.push(JSON.stringify(await app.redis.xrange(key, '-', '+')));
    }
  } while (cursor !== '0');
  return parts.join('\n');
}

describe('credentials in an origin', () => {
  let app: TestApp;
  const delivered: Origin[] = [];
  const progressSeen: string[] = [];
  const sink: DeliverySink = {
    platform: 'discord',
    showProgress: async (origin) => {
      progressSeen.push(origin.platform);
    },
    deliver: async (origin) => {
      delivered.push(origin);
    },
  };

  beforeAll(async () => {
    app = await createTestApp({
      models: [
        testModel(
          't-steps',
          { stepDelayMs: 20 },
          { defaults: { width: 64, height: 64, steps: 5, guidance: 5 } },
        ),
      ],
    });
    await app.startDelivery([sink]);
    await app.startWorkers();
  });
  afterAll(async () => {
    await app.conn.dropDatabase();
    await app.close();
  });

  it('reach the platform adapter, and never a job, an event, a progress message or a stream', async () => {
    const identity = { platform: 'discord' as const, id: '123456789012345678' };
    const accountId = await app.economy.ensureAccount(identity);
    await app.economy.grant({ accountId, amount: 50, key: 'cred', actor: 't', reason: 't' });
    const messages: string[] = [];
    const subscription = await app.progress.subscribe(
      (p) => messages.push(JSON.stringify(p)),
      app.logger,
    );
    const origin: Origin = {
      platform: 'discord',
      applicationId: '1',
      interactionId: '2',
      interactionToken: TOKEN,
      tokenExpiresAt: Date.now() + 900_000,
      channelId: '3',
      userId: identity.id,
      attachmentLimit: 8 * 1024 * 1024,
    };
    const { generation } = await app.generations.submit({
      requester: { identity, displayName: 'dee', isModerator: false },
      invocationKey: 'discord:interaction:cred-1',
      origin,
      request: { prompt: 'a secret keeper' },
    });
    expect((await waitForStatus(app, generation.id)).status).toBe('completed');
    await until('delivered', () => delivered.length === 1);
    await subscription.close();
    expect(delivered[0]).toMatchObject({ interactionToken: TOKEN });
    expect(progressSeen.length).toBeGreaterThan(0);
    expect(messages.length).toBeGreaterThan(0);
    expect(messages.some((m) => m.includes(TOKEN))).toBe(false);
    const stored = await redisContents(app);
    expect(stored).toContain(generation.id);
    expect(stored.includes(TOKEN)).toBe(false);
  });
});
