import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeliveryStreamConsumer } from '../../src/delivery/delivery-stream.js';
import type { GenerationSummary } from '../../src/generation/summary.js';
import type { DeliveryJob } from '../../src/queue/contracts.js';
import { addDelivery, DELIVERY_GROUP } from '../../src/queue/delivery-streams.js';
import { testRedisUrl, uniqueName } from '../support/env.js';
import { silentLogger } from '../support/store.js';
import { until } from '../support/until.js';
import { RedisKeys } from '../../src/queue/keys.js';

function finished(id: string): GenerationSummary {
  return {
    id,
    accountId: 'acc_stream',
    status: 'completed',
    model: 'm',
    kind: 'image',
    prompt: 'p',
    price: 1,
    captured: 1,
    count: 1,
    seed: 1,
    width: 64,
    height: 64,
    createdAt: new Date(0).toISOString(),
    updatedAt: new Date(0).toISOString(),
    cancelRequested: false,
    outputs: [],
    failedOutputs: [],
  };
}

describe('delivery streams', () => {
  let redis: Redis;
  let prefix: string;
  const consumers: DeliveryStreamConsumer[] = [];

  beforeAll(() => {
    redis = new Redis(testRedisUrl());
  });
  afterAll(async () => {
    for (const c of consumers) await c.close();
    await redis.quit();
  });

  function consumer(
    deliver: (data: DeliveryJob) => Promise<unknown>,
    extra: { attempts?: number; onGiveUp?: (d: DeliveryJob) => void } = {},
  ): DeliveryStreamConsumer {
    const c = new DeliveryStreamConsumer({
      connection: redis,
      keys: new RedisKeys(prefix),
      platforms: ['telegram'],
      deliver,
      onGiveUp: async (data) => extra.onGiveUp?.(data),
      logger: silentLogger,
      concurrency: 4,
      retry: { attempts: extra.attempts ?? 3, backoffMs: 10 },
      reclaimIdleMs: 200,
      reclaimEveryMs: 50,
    });
    consumers.push(c);
    return c;
  }

  const add = (id: string) =>
    addDelivery(redis, new RedisKeys(prefix), {
      v: 2,
      generationId: id,
      platform: 'telegram',
      generation: finished(id),
    });

  it('adds a generation once, and keeps what finished while no bot ran', async () => {
    prefix = uniqueName('ds');
    expect(await add('gena00000001')).toBe(true);
    expect(await add('gena00000001')).toBe(false);
    expect(await add('gena00000002')).toBe(true);
    const seen: string[] = [];
    await consumer(async (d) => seen.push(d.generationId)).start();
    await until('both delivered', () => seen.length === 2);
    expect(seen.sort()).toEqual(['gena00000001', 'gena00000002']);
    const key = new RedisKeys(prefix).deliveryStream('telegram');
    let pending = 1;
    for (let i = 0; i < 200 && pending > 0; i += 1) {
      pending = Number((await redis.xpending(key, DELIVERY_GROUP))[0]);
      if (pending > 0) await new Promise((r) => setTimeout(r, 10));
    }
    expect(pending).toBe(0);
  });

  it('takes over an entry a dead bot left pending, and retries a failing one, then gives up', async () => {
    prefix = uniqueName('ds');
    const key = new RedisKeys(prefix).deliveryStream('telegram');
    await redis.xgroup('CREATE', key, DELIVERY_GROUP, '0', 'MKSTREAM');
    await add('genb00000001');
    // A bot reads it and dies before delivering: it stays pending under that bot's name.
    const read = (await redis.xreadgroup(
      'GROUP',
      DELIVERY_GROUP,
      'dead-bot',
      'COUNT',
      1,
      'STREAMS',
      key,
      '>',
    )) as [string, [string, string[]][]][];
    expect(read[0]?.[1]).toHaveLength(1);
    await add('genb00000002');
    const seen: string[] = [];
    let failures = 0;
    const gaveUp: string[] = [];
    await consumer(
      async (d) => {
        if (d.generationId === 'genb00000002') {
          failures += 1;
          throw new Error('refused');
        }
        seen.push(d.generationId);
      },
      { attempts: 3, onGiveUp: (d) => gaveUp.push(d.generationId) },
    ).start();
    await until('the dead bot’s entry taken over', () => seen.includes('genb00000001'));
    await until('the failing one given up', () => gaveUp.length === 1);
    expect(failures).toBe(3);
    expect(gaveUp).toEqual(['genb00000002']);
    expect(seen).toEqual(['genb00000001']);
  });
});
