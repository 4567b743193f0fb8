import { QueueEvents } from 'bullmq';
import { createApp, type App, type AppOverrides } from '../../src/app.js';
import { Catalog } from '../../src/catalog/catalog.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Logger } from '../../src/logger.js';
import type { ModelSpecInput } from '../../src/core/model-spec.js';
import type { ChatContext } from '../../src/core/chat.js';
import type { Origin } from '../../src/core/origin.js';
import { TERMINAL_STATUSES } from '../../src/core/status.js';
import type { GenerationSummary } from '../../src/generation/summary.js';
import { generationQueueName } from '../../src/queue/contracts.js';
import { executeCommand, findCommand, type CommandResult } from '../../commands/index.js';
import { testMongoUri, testRedisUrl, uniqueName } from './env.js';
import { silentLogger } from './store.js';

/** A small, fast local model; tests override its knobs per scenario. */
export function testModel(
  id: string,
  options: Record<string, unknown> = {},
  extra: Partial<ModelSpecInput> = {},
): ModelSpecInput {
  return {
    id,
    name: id,
    provider: 'local',
    ref: id,
    kind: 'image',
    limits: { maxWidth: 256, maxHeight: 256, maxSteps: 60 },
    defaults: { width: 64, height: 64, steps: 4, guidance: 5 },
    price: { base: 2, perImage: 2 },
    timeoutSeconds: 30,
    options: { stepDelayMs: 0, ...options },
    ...extra,
  };
}

export const TEST_MODELS: ModelSpecInput[] = [
  testModel('t-fast'),
  testModel('t-fail2', { failAfterStep: 2 }),
  testModel('t-partial', { failOutputs: [1, 3] }, { price: { perImage: 5 } }),
  testModel('t-retry', { retryableFailures: 1, retryAfterMs: 20 }),
  testModel(
    't-slow',
    { stepDelayMs: 100 },
    { defaults: { width: 64, height: 64, steps: 50, guidance: 5 } },
  ),
  testModel(
    't-loop',
    { format: 'gif', frames: 4, frameDelayMs: 100 },
    {
      kind: 'video',
      defaults: { width: 64, height: 64, steps: 2, guidance: 0, seconds: 1 },
      price: { base: 3, perSecond: 2 },
    },
  ),
  testModel('t-refuse', { refuseWords: ['forbidden'] }),
];

export interface TestApp extends App {
  prefix: string;
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    REDIS_URL: testRedisUrl(),
    MONGODB_URI: testMongoUri(uniqueName('genbot_test')),
    QUEUE_PREFIX: uniqueName('t'),
    CONSOLE_MODERATORS: 'mod',
    JOB_ATTEMPTS: '3',
    JOB_BACKOFF_MS: '20',
    RECONCILE_GRACE_SECONDS: '0',
    // Member limits are off unless a test is about them (many tests queue several at once).
    MEMBER_MAX_QUEUED: '0',
    ...overrides,
  });
}

/** The real app on the test Redis and MongoDB, with its own database and queue prefix. */
export async function createTestApp(
  options: {
    config?: Record<string, string>;
    overrides?: AppOverrides;
    models?: ModelSpecInput[];
    logger?: Logger;
  } = {},
): Promise<TestApp> {
  const config = testConfig(options.config);
  const app = await createApp(config, options.logger ?? silentLogger, {
    catalog: Catalog.fromEntries(
      options.models ?? TEST_MODELS,
      options.models ? undefined : 't-fast',
    ),
    progressIntervalMs: 0,
    // Every step shown, from the first: tests follow progress (production waits 1 s).
    runningAfterMs: 0,
    ...options.overrides,
  });
  return Object.assign(app, { prefix: config.keyPrefix });
}

export function consoleCtx(
  app: App,
  name: string,
  invocationKey?: string,
  origin?: Origin,
): ChatContext {
  return {
    platform: 'console',
    actor: {
      identity: { platform: 'console', id: name },
      displayName: name,
      isModerator: app.config.console.moderators.includes(name),
    },
    invocationKey: invocationKey ?? uniqueName(`console:${name}`),
    openStatus: async () => origin ?? { platform: 'console', user: name },
    resolveMember: async (ref) => ({
      identity: { platform: 'console', id: ref.replace(/^@/, '') },
      displayName: ref,
    }),
  };
}

/** Runs a chat command exactly as an adapter does. */
export async function command(
  app: App,
  as: string,
  name: string,
  raw: Record<string, unknown> = {},
  invocationKey?: string,
  /** Where its result goes; the console by default (which queues no delivery). */
  origin?: Origin,
): Promise<CommandResult> {
  const def = findCommand(name);
  if (!def) throw new Error(`no command ${name}`);
  return executeCommand(def, consoleCtx(app, as, invocationKey, origin), raw, app.services);
}

export async function fund(app: App, member: string, points: number): Promise<string> {
  await command(app, 'mod', 'grant', { member, points, reason: 'test funds' });
  const accountId = await app.economy.findAccount({ platform: 'console', id: member });
  if (!accountId) throw new Error('no account after grant');
  return accountId;
}

/**
 * Resolves once the generation reaches a status in `statuses`. Driven by the queue's own
 * events, with a short re-check so a status set without a job event (a cancel of a queued
 * job) is seen too; fails after `timeoutMs`.
 */
export async function waitForStatus(
  app: TestApp,
  id: string,
  statuses: readonly string[] = TERMINAL_STATUSES,
  timeoutMs = 20_000,
): Promise<GenerationSummary> {
  const doc = await app.generations.find(id);
  const provider = doc?.provider ?? 'local';
  const events = new QueueEvents(generationQueueName(provider), {
    connection: app.redis,
    prefix: app.prefix,
  });
  try {
    return await new Promise<GenerationSummary>((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearInterval(poll);
        clearTimeout(deadline);
        fn();
      };
      const check = (): void => {
        app.generations.summary(id).then(
          (s) => {
            if (statuses.includes(s.status)) finish(() => resolve(s));
          },
          (error: unknown) =>
            finish(() => reject(error instanceof Error ? error : new Error(String(error)))),
        );
      };
      events.on('progress', ({ jobId }) => jobId === id && check());
      events.on('completed', ({ jobId }) => jobId === id && check());
      events.on('failed', ({ jobId }) => jobId === id && check());
      const poll = setInterval(check, 50);
      const deadline = setTimeout(
        () =>
          finish(() =>
            reject(
              new Error(`generation ${id} did not reach ${statuses.join('|')} in ${timeoutMs} ms`),
            ),
          ),
        timeoutMs,
      );
      check();
    });
  } finally {
    await events.close();
  }
}
