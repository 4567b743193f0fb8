import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidTransitionError } from '../../src/core/status.js';
import { GENERATE_JOB, generationJobSchema } from '../../src/queue/contracts.js';
import { executeCommand, findCommand } from '../../commands/index.js';
import {
  command,
  consoleCtx,
  createTestApp,
  fund,
  waitForStatus,
  type TestApp,
} from '../support/app.js';

describe('status writes and the generation job contract', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await createTestApp();
    await app.startWorkers();
  });

  afterAll(async () => {
    await app.close();
  });

  it('refuses a status write that the table forbids and leaves the generation as it was', async () => {
    await fund(app, 'tess', 20);
    const { generation } = await app.generations.submit({
      requester: {
        identity: { platform: 'console', id: 'tess' },
        displayName: 'tess',
        isModerator: false,
      },
      invocationKey: 'status-table-1',
      origin: { platform: 'console', user: 'tess' },
      request: { prompt: 'a finished thing' },
    });
    const ended = await waitForStatus(app, generation.id);
    expect(ended.status).toBe('completed');
    const before = await app.generations.find(generation.id);

    await expect(app.generations.markRetrying(generation.id, 'late', 'completed')).rejects.toThrow(
      InvalidTransitionError,
    );
    await expect(app.generations.markProcessing(generation.id, 2, 'cancelled')).rejects.toThrow(
      InvalidTransitionError,
    );
    await expect(app.generations.requeue(before!)).rejects.toThrow(InvalidTransitionError);

    const after = await app.generations.find(generation.id);
    expect(after?.status).toBe('completed');
    expect(after?.statusHistory.length).toBe(before?.statusHistory.length);
    // No job was added again for it.
    const job = await app.queues.generation('local').getJob(generation.id);
    expect(await job?.getState()).toBe('completed');
  });

  it('queues v3 jobs, and reads a v3 job with a field a later release adds', async () => {
    await fund(app, 'vera', 20);
    const result = await command(app, 'vera', 'generate', { prompt: 'a versioned job' });
    const id = result.generation!.id;
    const job = await app.queues.generation('local').getJob(id);
    expect(job?.name).toBe(GENERATE_JOB);
    expect(job?.data.v).toBe(3);

    const later = { ...job!.data, traceId: 't-1', policy: { nsfw: false } };
    const parsed = generationJobSchema.parse(later);
    expect(parsed.v).toBe(3);
    expect('traceId' in parsed && parsed.traceId).toBe('t-1');
    // An addition this release does not know yet is dropped, not refused.
    expect('policy' in parsed).toBe(false);
    expect((await waitForStatus(app, id)).status).toBe('completed');
  });

  it('resolves a /generate once: the price the status message showed is the one held', async () => {
    await fund(app, 'pia', 30);
    const resolved: string[] = [];
    const get = app.catalog.get.bind(app.catalog);
    app.catalog.get = (id) => {
      const model = get(id);
      resolved.push(model.id);
      return model;
    };
    let shown: number | undefined;
    try {
      const ctx = consoleCtx(app, 'pia');
      ctx.openStatus = async (preview) => {
        shown = preview.price;
        return { platform: 'console', user: 'pia' };
      };
      const result = await executeCommand(
        findCommand('generate')!,
        ctx,
        { prompt: 'priced once', count: 2 },
        app.services,
      );
      const id = result.generation!.id;
      expect(resolved).toEqual(['t-fast']);
      expect(shown).toBe(result.generation!.price);
      expect((await waitForStatus(app, id)).captured).toBe(shown);
    } finally {
      app.catalog.get = get;
    }
  });
});
