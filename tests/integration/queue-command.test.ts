import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAction } from '../../commands/index.js';
import type { QueueOverview } from '../../src/generation/queue-board.js';
import { GatedBackend } from '../support/gated-backend.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import {
  command,
  createTestApp,
  fund,
  testModel,
  waitForStatus,
  type TestApp,
} from '../support/app.js';

describe('/queue: what runs and waits, and where the member stands', () => {
  let app: TestApp;
  const backend = new GatedBackend();

  beforeAll(async () => {
    app = await createTestApp({
      models: [testModel('t-gated')],
      config: { WORKER_CONCURRENCY: '1' },
      overrides: { providers: new ProviderRegistry([backend]) },
    });
  });

  afterAll(async () => {
    backend.openAll();
    await app?.conn.dropDatabase();
    await app?.close();
  });

  const overview = async (member: string) => {
    const result = await command(app, member, 'queue');
    return { text: result.text, data: result.data as unknown as QueueOverview };
  };

  it('shows each member their own generations with their place in the queue, as it drains', async () => {
    await fund(app, 'qa', 100);
    await fund(app, 'qb', 100);
    const ids: string[] = [];
    for (const [member, prompt] of [
      ['qa', 'first'],
      ['qa', 'second'],
      ['qa', 'third'],
      ['qb', 'fourth'],
    ] as const) {
      const { generation } = await command(app, member, 'generate', { prompt, model: 't-gated' });
      ids.push(generation?.id ?? '');
    }
    const [a1, a2, a3, b1] = ids;

    const before = await overview('qa');
    expect(before.data.providers).toEqual([
      { provider: 'local', running: 0, waiting: 4, models: ['t-gated'] },
    ]);
    // Fair order: every member's first job, then every second job, ...
    expect(before.data.mine.map((g) => [g.id, g.status, g.position])).toEqual([
      [a1, 'queued', 1],
      [a2, 'queued', 3],
      [a3, 'queued', 4],
    ]);
    expect(before.text).toContain('local: 0 running, 4 waiting (t-gated)');
    expect(before.text).toContain('Your limits: 3 waiting or running (no limit); 3 today.');
    expect(before.text).toContain(`${a2}  t-gated  position 3 of the local queue`);
    const other = await overview('qb');
    expect(other.data.mine.map((g) => [g.id, g.position])).toEqual([[b1, 2]]);
    // Nothing measured and no worker serving yet: no estimate, said so.
    expect(before.text).toContain(`${a1}  t-gated  position 1 of the local queue, no estimate yet`);

    // A moderator sees who waits, in order, with a Cancel button for each.
    const mod = await command(app, 'mod', 'queue');
    const waiting = (mod.data as unknown as { waiting: { id: string; requester: string }[] })
      .waiting;
    expect(waiting.map((w) => [w.id, w.requester])).toEqual([
      [a1, 'qa'],
      [b1, 'qb'],
      [a2, 'qa'],
      [a3, 'qa'],
    ]);
    expect(mod.text).toContain(`local #2: ${b1}  t-gated  qb`);
    expect(mod.buttons?.map((b) => findAction(b.data)?.args.id)).toEqual([a1, b1, a2, a3]);
    expect((await overview('qa')).data).not.toHaveProperty('waiting');

    // One worker slot: the first starts and the others move up.
    await app.startWorkers();
    await waitForStatus(app, a1 ?? '', ['processing']);
    const running = await overview('qa');
    expect(running.data.providers[0]).toMatchObject({ running: 1, waiting: 3 });
    expect(running.data.mine.map((g) => [g.id, g.status, g.position])).toEqual([
      [a1, 'processing', undefined],
      [a2, 'queued', 2],
      [a3, 'queued', 3],
    ]);
    expect(running.text).toContain(`${a1}  t-gated  running now`);
    expect((await overview('qb')).data.mine.map((g) => g.position)).toEqual([1]);

    backend.openAll();
    for (const id of ids) await waitForStatus(app, id);
    const after = await overview('qa');
    expect(after.data.mine).toEqual([]);
    expect(after.text).toContain('You have nothing waiting or running.');
    expect(after.text).toContain('local: idle (t-gated)');
  });

  it('answers a member with no account yet without making one', async () => {
    const { data } = await overview('newcomer');
    expect(data.mine).toEqual([]);
    expect(await app.economy.findAccount({ platform: 'console', id: 'newcomer' })).toBeUndefined();
  });
});
