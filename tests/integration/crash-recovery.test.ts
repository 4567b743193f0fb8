import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINISH_WRITES, SUBMIT_WRITES, type FaultPoint } from '../../src/generation/faults.js';
import { generationQueueName } from '../../src/queue/contracts.js';
import { command, createTestApp, fund, waitForStatus, type TestApp } from '../support/app.js';

/**
 * A QueueEvents for the provider's queue that delivers every event added from now on, however
 * late its first read of the stream: it starts from the stream's current last entry, not
 * from `$` (the default), which would miss what happens before that read.
 */
async function eventsFromNow(app: TestApp, provider: string): Promise<QueueEvents> {
  const queue = app.queues.generation(provider);
  const [last] = await app.redis.xrevrange(queue.toKey('events'), '+', '-', 'COUNT', 1);
  const events = new QueueEvents(generationQueueName(provider), {
    connection: app.redis,
    prefix: app.prefix,
    lastEventId: last?.[0] ?? '0-0',
  });
  await events.waitUntilReady();
  return events;
}

/** A chat the results go to (no bot runs here: a delivery stays queued, which is checked). */
const TO_CHAT = { platform: 'telegram' as const, chatId: 900, messageId: 1 };

class InjectedCrash extends Error {
  override readonly name = 'InjectedCrash';
}

/**
 * An app whose fault hook throws after one chosen write, exactly where a killed process
 * would stop. Jobs get one attempt, so nothing but the reconciler repairs the damage.
 */
function crashableApp(withWorkers: boolean) {
  const state: { app?: TestApp; armed?: FaultPoint | undefined; crashed?: string | undefined } = {};
  beforeAll(async () => {
    state.app = await createTestApp({
      config: { JOB_ATTEMPTS: '1' },
      overrides: {
        faults: (point, generationId) => {
          if (state.armed !== point) return;
          state.armed = undefined;
          state.crashed = generationId;
          throw new InjectedCrash(`crash after ${point}`);
        },
      },
    });
    if (withWorkers) await state.app.startWorkers();
  });
  afterAll(async () => {
    await state.app!.conn.dropDatabase();
    await state.app!.close();
  });
  return state;
}

/** Runs the reconciler, then checks every invariant the crash could have broken. */
async function expectRepaired(
  app: TestApp,
  member: string,
  funds: number,
  id: string,
): Promise<void> {
  await app.reconciler.run(0);
  const doc = await app.generations.find(id);
  let captured = 0;
  if (doc) {
    const done = await waitForStatus(app, id);
    captured = done.captured;
    expect(captured).toBe(done.status === 'completed' ? done.price : 0);
    // The final result is on its way to the member: delivered, or its delivery queued.
    await app.reconciler.run(0);
    expect(await app.queues.deliveryQueued(id)).toBe(true);
  }
  expect(await app.economy.check()).toEqual([]);
  expect(await app.economy.openHolds(new Date())).toEqual([]);
  const accountId = await app.economy.findAccount({ platform: 'console', id: member });
  expect(await app.economy.balance(accountId!)).toEqual({ available: funds - captured, held: 0 });
}

describe('recovery after a crash between the writes of a generation', () => {
  const state = crashableApp(true);

  it.each(SUBMIT_WRITES)('repairs a generate (reserve) that crashed after %s', async (point) => {
    const app = state.app!;
    const member = `sub-${point}`;
    await fund(app, member, 10);
    state.armed = point;
    state.crashed = undefined;
    await expect(
      command(app, member, 'generate', { prompt: `crash ${point}` }, undefined, TO_CHAT),
    ).rejects.toBeInstanceOf(InjectedCrash);
    expect(state.crashed).toBeDefined();
    await expectRepaired(app, member, 10, state.crashed!);
  });

  for (const [label, model] of [
    ['capture (success)', 't-fast'],
    ['release (provider failure)', 't-fail2'],
  ] as const) {
    it.each(FINISH_WRITES)(
      `repairs a finish with ${label} that crashed after %s`,
      async (point) => {
        const app = state.app!;
        const member = `fin-${model}-${point}`;
        await fund(app, member, 10);
        state.armed = point;
        state.crashed = undefined;
        // Listening before the job exists: its end cannot slip past.
        const events = await eventsFromNow(app, 'local');
        let id: string;
        try {
          const { generation } = await command(
            app,
            member,
            'generate',
            { prompt: `crash ${point}`, model },
            undefined,
            TO_CHAT,
          );
          id = generation!.id;
          const job = await app.queues.generation('local').getJob(id);
          // Completed or failed (the crash fails it): either way it has ended.
          await job!.waitUntilFinished(events, 20_000).catch((error: Error) => {
            if (error.message.includes('timed out before finishing')) throw error;
          });
        } finally {
          await events.close();
        }
        expect(state.crashed).toBe(id);
        await expectRepaired(app, member, 10, id);
      },
    );
  }
});

describe('recovery after a crash while cancelling a queued generation', () => {
  const state = crashableApp(false);

  it.each(FINISH_WRITES)('repairs a cancel (release) that crashed after %s', async (point) => {
    const app = state.app!;
    const member = `can-${point}`;
    await fund(app, member, 10);
    const { generation } = await command(
      app,
      member,
      'generate',
      { prompt: 'to cancel' },
      undefined,
      TO_CHAT,
    );
    state.armed = point;
    await expect(command(app, member, 'cancel', { id: generation!.id })).rejects.toBeInstanceOf(
      InjectedCrash,
    );
    await expectRepaired(app, member, 10, generation!.id);
    expect((await app.generations.summary(generation!.id)).status).toBe('cancelled');
  });
});
