import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import type { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DeliverySink } from '../../src/delivery/sink.js';
import { createLogger } from '../../src/logger.js';
import { command, createTestApp, fund, waitForStatus, type TestApp } from '../support/app.js';
import { startOwnedRedis, type OwnedServer } from '../support/servers.js';
import { until } from '../support/until.js';

/**
 * A Redis password rotated under a running bot and worker: every connection (ours and
 * BullMQ's own) fails AUTH on each reconnect, and ioredis hangs the AUTH command, password
 * and all, on the error it reports. Not one log line may carry either password, nor what the
 * libraries print to the console themselves (a BullMQ object nobody listens to, as the
 * console's `--wait` makes, prints its errors there).
 */

const OLD_PASSWORD = `old-${randomBytes(16).toString('hex')}`;
const NEW_PASSWORD = `new-${randomBytes(16).toString('hex')}`;

/** Lines at warn or above, or carrying an error: what an outage writes. */
const ERROR_LINES_TO_WAIT_FOR = 20;

interface LogLine {
  level: number;
  msg?: string;
  err?: unknown;
}

/** Every line the app logs, as written (raw JSON), at every level. */
function capturedLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== ''),
      );
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'trace' }, stream) };
}

function isErrorLine(raw: string): boolean {
  const line = JSON.parse(raw) as LogLine;
  return line.level >= 40 || line.err !== undefined;
}

/** Runs a command on a connection of the test's own, authenticated with `password`. */
async function asAdmin<T>(
  redis: OwnedServer,
  password: string,
  run: (r: Redis) => Promise<T>,
): Promise<T> {
  const admin = new Redis({ host: '127.0.0.1', port: redis.port, password, lazyConnect: true });
  admin.on('error', () => undefined);
  try {
    await admin.connect();
    return await run(admin);
  } finally {
    admin.disconnect();
  }
}

describe('a Redis password rotated under a running bot and worker', () => {
  let redis: OwnedServer;
  let app: TestApp;
  let events: QueueEvents;
  const { lines, logger } = capturedLogger();
  const sink: DeliverySink = {
    platform: 'discord',
    showProgress: async () => undefined,
    deliver: async () => undefined,
  };

  /** What anything printed through the console meanwhile, as the console would show it. */
  const printed: string[] = [];
  const print = (...args: unknown[]) => {
    printed.push(args.map((a) => (typeof a === 'string' ? a : inspect(a))).join(' '));
  };

  beforeAll(async () => {
    for (const method of ['error', 'warn', 'log', 'info'] as const)
      vi.spyOn(console, method).mockImplementation(print);
    redis = await startOwnedRedis();
    await asAdmin(redis, '', (r) => r.config('SET', 'requirepass', OLD_PASSWORD));
    app = await createTestApp({
      config: {
        REDIS_URL: `redis://:${OLD_PASSWORD}@127.0.0.1:${redis.port}`,
        STARTUP_RETRY_SECONDS: '0',
      },
      logger,
    });
    await app.startDelivery([sink]);
    await app.startWorkers();
    // A listener without an error handler, as `generate --wait` follows a generation.
    events = app.queues.events('local');
    await events.waitUntilReady();
  });

  afterAll(async () => {
    // The password the app has works again, so it closes as it would in production.
    await asAdmin(redis, NEW_PASSWORD, (r) => r.config('SET', 'requirepass', OLD_PASSWORD));
    await until('the app reconnected', () => app.redis.status === 'ready');
    await events.close();
    await app.conn.dropDatabase();
    await app.close();
    await redis.stop();
    vi.restoreAllMocks();
  });

  it('writes neither the old nor the new password to a log line or the console', async () => {
    await fund(app, 'alice', 20);
    const started = await command(app, 'alice', 'generate', { prompt: 'a fox' });
    const id = started.generation?.id;
    expect(id).toBeDefined();
    expect((await waitForStatus(app, id ?? '')).status).toBe('completed');
    const before = lines.filter(isErrorLine).length;

    await asAdmin(redis, OLD_PASSWORD, async (r) => {
      await r.config('SET', 'requirepass', NEW_PASSWORD);
      await r.client('KILL', 'TYPE', 'normal');
      await r.client('KILL', 'TYPE', 'pubsub');
    });
    await until(
      `${ERROR_LINES_TO_WAIT_FOR} error lines after the rotation, and a refusal printed`,
      () =>
        lines.filter(isErrorLine).length - before >= ERROR_LINES_TO_WAIT_FOR &&
        printed.some((p) => p.includes('WRONGPASS')),
      30_000,
    );

    const written = lines.join('\n');
    expect(written).toMatch(/WRONGPASS|NOAUTH/);
    // The refused AUTH itself reached the log (through BullMQ's connections too): named, bare.
    expect(written).toContain('"command":{"name":"auth"}');
    const leaks = [...lines, ...printed].filter(
      (l) => l.includes(OLD_PASSWORD) || l.includes(NEW_PASSWORD),
    );
    expect(leaks).toEqual([]);
    expect(printed.join('\n')).toMatch(/WRONGPASS/);
  });
});
