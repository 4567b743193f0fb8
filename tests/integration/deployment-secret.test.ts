import { afterAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { testMongoUri, uniqueName } from '../support/env.js';

describe('the key of generation ids', () => {
  const apps: TestApp[] = [];
  afterAll(async () => {
    await apps[0]?.conn.dropDatabase();
    for (const app of apps) await app.close();
  });

  it('is made once per deployment and shared by every process, or taken from the environment', async () => {
    const MONGODB_URI = testMongoUri(uniqueName('genbot_secret'));
    const [a, b] = await Promise.all([
      createTestApp({ config: { MONGODB_URI } }),
      createTestApp({ config: { MONGODB_URI } }),
    ]);
    apps.push(a, b);
    const key = 'console:same-event';
    expect(a.generations.idFor(key)).toBe(b.generations.idFor(key));
    expect(await a.conn.db!.collection('secrets').countDocuments()).toBe(1);

    const configured = await createTestApp({
      config: { MONGODB_URI, GENERATION_ID_SECRET: 'x'.repeat(40) },
    });
    apps.push(configured);
    expect(configured.generations.idFor(key)).not.toBe(a.generations.idFor(key));
  });
});
