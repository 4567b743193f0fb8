import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import {
  createTelegramAdapter,
  type TelegramAdapter,
} from '../../src/platforms/telegram/telegram-bot.js';
import { freePort } from '../../scripts/services/process.js';
import { FakeTelegram } from '../fakes/telegram/fake-telegram.js';
import { createTestApp, type TestApp } from '../support/app.js';

/**
 * A webhook URL's path is where an operator may put a secret of its own
 * (`https://bot.example.com/telegram/<random>`): the bot logs where it listens by the URL's
 * origin only, and never the secret token Telegram sends back.
 */

const PATH_SECRET = randomBytes(16).toString('hex');
const SECRET_TOKEN = `token-${randomBytes(16).toString('hex')}`;

describe('the Telegram webhook, as the log shows it', () => {
  const lines: string[] = [];
  const logger = createLogger(
    { level: 'trace' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(
          ...chunk
            .toString('utf8')
            .split('\n')
            .filter((l) => l !== ''),
        );
        done();
      },
    }),
  );
  let fake: FakeTelegram;
  let app: TestApp;
  let adapter: TelegramAdapter;
  let origin: string;

  beforeAll(async () => {
    fake = await FakeTelegram.start();
    app = await createTestApp();
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    adapter = createTelegramAdapter({
      config: {
        token: fake.token,
        apiRoot: fake.apiRoot,
        mode: 'webhook',
        webhook: {
          url: `${origin}/telegram/${PATH_SECRET}?from=telegram`,
          secret: SECRET_TOKEN,
          host: '127.0.0.1',
          port,
        },
        moderators: [],
        adminGroups: [],
      },
      services: app.services,
      media: app.media,
      redis: app.redis,
      keys: app.keys,
      logger,
    });
    await adapter.start();
  });

  afterAll(async () => {
    await adapter?.stop();
    await app?.conn.dropDatabase();
    await app?.close();
    await fake?.stop();
  });

  it('is logged by its origin, without the path or the secret token', () => {
    const listening = lines
      .map((l) => JSON.parse(l) as { msg?: string; url?: string })
      .find((l) => l.msg === 'telegram webhook listening');
    expect(listening?.url).toBe(origin);
    expect(fake.webhook?.url).toContain(PATH_SECRET);
    const leaks = lines.filter((l) => l.includes(PATH_SECRET) || l.includes(SECRET_TOKEN));
    expect(leaks).toEqual([]);
  });
});
