import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Provider, ProviderJob, ProviderRunContext } from '../../src/core/provider.js';
import { LocalProvider } from '../../src/providers/local/local-provider.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import {
  command,
  createTestApp,
  fund,
  testModel,
  waitForStatus,
  type TestApp,
} from '../support/app.js';

/**
 * A backend that does not stop when asked: on the abort it either finishes the run anyway
 * (the result was ready at that moment) or keeps going until the test lets it.
 */
class Stubborn implements Provider {
  readonly id = 'local';
  readonly #local = new LocalProvider();
  readonly label = 'stubborn test backend';
  /** Generation ids whose run should finish as soon as a cancel arrives. */
  readonly finishOnAbort = new Set<string>();
  readonly #gates = new Map<string, () => void>();

  release(id: string): void {
    this.#gates.get(id)?.();
  }

  async generate(job: ProviderJob, ctx: ProviderRunContext) {
    await new Promise<void>((resolve) => {
      this.#gates.set(job.generationId, resolve);
      ctx.signal.addEventListener(
        'abort',
        () => {
          if (this.finishOnAbort.has(job.generationId)) resolve();
        },
        { once: true },
      );
    });
    return this.#local.generate(job, { ...ctx, signal: new AbortController().signal });
  }
}

describe('cancel tells the truth', () => {
  let app: TestApp;
  const backend = new Stubborn();

  beforeAll(async () => {
    app = await createTestApp({
      models: [testModel('t-stub')],
      overrides: { providers: new ProviderRegistry([backend]) },
    });
    await app.startWorkers();
  });

  afterAll(async () => {
    await app?.conn.dropDatabase();
    await app?.close();
  });

  async function running(member: string): Promise<string> {
    await fund(app, member, 20);
    const { generation } = await command(app, member, 'generate', { prompt: 'a fox' });
    await waitForStatus(app, generation!.id, ['processing']);
    return generation!.id;
  }

  it('says the run finished and what was charged when it ends before the cancel lands', async () => {
    const id = await running('cara');
    backend.finishOnAbort.add(id);
    const result = await command(app, 'cara', 'cancel', { id });
    const final = await waitForStatus(app, id);
    expect(final.status).toBe('completed');
    expect(result.text).toBe(
      `${id} finished before it could be stopped; ${final.captured} points were charged for it.`,
    );
    expect(result.text).not.toMatch(/returned/);
  });

  it('words it as a request while the run has not stopped, and never promises a refund', async () => {
    const id = await running('dora');
    const result = await command(app, 'dora', 'cancel', { id });
    expect(result.generation?.status).toBe('processing');
    expect(result.text).toBe(
      `Asked the generator to stop ${id}. It may still finish; its status message will show the outcome and what was charged.`,
    );
    backend.release(id);
    expect((await waitForStatus(app, id)).status).toBe('completed');
  });

  it('says whose generation it is when someone else tries to cancel it', async () => {
    const id = await running('erin');
    await expect(command(app, 'fred', 'cancel', { id })).rejects.toMatchObject({
      code: 'forbidden',
      message: `Generation ${id} is erin's; only they or a moderator can cancel it.`,
    });
    // The refusal made no account for the stranger.
    expect(await app.economy.findAccount({ platform: 'console', id: 'fred' })).toBeUndefined();
    const byModerator = await command(app, 'mod', 'cancel', { id });
    expect(byModerator.text).toMatch(/^Asked the generator to stop|^Cancelled/);
    backend.release(id);
    await waitForStatus(app, id);
  });
});
