import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  command,
  createTestApp,
  fund,
  testModel,
  waitForStatus,
  type TestApp,
} from '../support/app.js';

/** A model whose run takes long enough to be cancelled while it runs (it stops when asked). */
const SLOW = testModel(
  't-slow',
  { stepDelayMs: 200 },
  { defaults: { width: 64, height: 64, steps: 60, guidance: 5 } },
);

/**
 * Cancels cost what they cost: a run stopped after its backend started it counts against the
 * member's day, and on a backend that bills a started run anyway (here the local one, set so by
 * PROVIDER_CHARGE_STOPPED) it is charged in full, after the member was told so and said yes.
 */
describe('what a cancel costs', () => {
  let charged: TestApp;
  let free: TestApp;

  beforeAll(async () => {
    charged = await createTestApp({
      models: [SLOW],
      config: { PROVIDER_CHARGE_STOPPED: 'local=yes', MEMBER_DAILY_LIMIT: '5' },
    });
    free = await createTestApp({ models: [SLOW], config: { MEMBER_DAILY_LIMIT: '5' } });
  });

  afterAll(async () => {
    for (const app of [charged, free]) {
      await app?.conn.dropDatabase();
      await app?.close();
    }
  });

  const today = async (app: TestApp, member: string) => {
    const accountId = await app.economy.findAccount({ platform: 'console', id: member });
    return (await app.limits.left(accountId!, false)).today;
  };

  it('asks first, then charges a cancelled run in full and keeps it in the day', async () => {
    await charged.startWorkers();
    await fund(charged, 'ines', 50);
    const { generation } = await command(charged, 'ines', 'generate', { prompt: 'long' });
    const id = generation!.id;
    await waitForStatus(charged, id, ['processing']);

    const asked = await command(charged, 'ines', 'cancel', { id });
    expect(asked.data).toMatchObject({ confirm: true, generationId: id });
    expect(asked.text).toContain(`cancelling now still costs its ${generation!.price} points`);
    expect(asked.buttons?.map((b) => b.data)).toEqual([`stop:${id}`]);
    // Nothing was cancelled by asking.
    expect((await charged.generations.summary(id)).status).toBe('processing');

    const done = await command(charged, 'ines', 'cancel', { id, anyway: true });
    const final = await waitForStatus(charged, id);
    expect(final.status).toBe('cancelled');
    expect(final.captured).toBe(generation!.price);
    expect(final.error?.message).toMatch(/so its \d+ points were charged/);
    expect(done.text).toMatch(/^Asked the generator to stop|points were charged/);
    const accountId = await charged.economy.findAccount({ platform: 'console', id: 'ines' });
    expect(await charged.economy.balance(accountId!)).toEqual({
      available: 50 - generation!.price,
      held: 0,
    });
    expect(await today(charged, 'ines')).toBe(1);
    expect(await charged.economy.check()).toEqual([]);
  });

  it('cancels a generation that has not started for free, and it leaves the day', async () => {
    await fund(free, 'jon', 50);
    // No worker yet: it waits in the queue.
    const { generation } = await command(free, 'jon', 'generate', { prompt: 'never ran' });
    const id = generation!.id;
    expect(await today(free, 'jon')).toBe(1);
    const result = await command(free, 'jon', 'cancel', { id });
    expect(result.text).toBe(`Cancelled ${id}; ${generation!.price} points returned.`);
    expect((await free.generations.summary(id)).captured).toBe(0);
    expect(await today(free, 'jon')).toBe(0);
  });

  it('refunds a run its backend can stop, without asking, but it still counts today', async () => {
    await free.startWorkers();
    await fund(free, 'kai', 50);
    const { generation } = await command(free, 'kai', 'generate', { prompt: 'stoppable' });
    const id = generation!.id;
    await waitForStatus(free, id, ['processing']);
    const result = await command(free, 'kai', 'cancel', { id });
    expect(result.data).not.toMatchObject({ confirm: true });
    const final = await waitForStatus(free, id);
    expect(final.status).toBe('cancelled');
    expect(final.captured).toBe(0);
    expect(await today(free, 'kai')).toBe(1);
  });

  it('says in /models which models still charge a cancelled run', async () => {
    const chargedModels = await command(charged, 'ines', 'models');
    expect(chargedModels.text).toContain('a cancel once it runs still costs the full price');
    expect(chargedModels.data).toMatchObject({ models: [{ chargedWhenStopped: true }] });
    const freeModels = await command(free, 'kai', 'models');
    expect(freeModels.text).not.toContain('still costs');
  });
});
