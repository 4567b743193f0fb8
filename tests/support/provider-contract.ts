import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedRequest } from '../../src/core/generation-request.js';
import { modelSpecSchema, type ModelSpecInput } from '../../src/core/model-spec.js';
import type { Provider, ProviderInputImage, ProviderJob } from '../../src/core/provider.js';
import type { DownloadPolicy } from '../../src/providers/http/download.js';
import { MEMBER_SENTENCES } from '../../src/providers/http/errors.js';
import { PROVIDER_MODULES } from '../../src/providers/index.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import type { ProgressPayload } from '../../src/queue/contracts.js';
import type { FakeBackend, Scenario } from '../fakes/providers/fake-backend.js';
import { command, createTestApp, fund, waitForStatus, type TestApp } from './app.js';

/**
 * Contract tests (see tests/integration/provider-*.test.ts): each adapter against a loopback server that replays its API's documented
 * shapes, run through the real pipeline (hold, queue, worker, finish), so each scenario
 * asserts what the member reads and what happens to the points.
 */

export interface AdapterSpec {
  provider: string;
  fake: () => Promise<FakeBackend>;
  create: (backend: FakeBackend, download: DownloadPolicy) => Provider;
  scenarios: Scenario[];
  /** The call that starts remote work, counted for retries. */
  createCall: [string, RegExp];
  /** The call that cancels remote work, when the API has one. */
  cancelCall?: [string, RegExp];
  /** What progress the backend reports. */
  progress: 'percent' | 'queue' | 'message';
  model?: Partial<ModelSpecInput>;
}

export const ALL_SCENARIOS: Scenario[] = [
  'success',
  'unauthorized',
  'refusal',
  'rate-limited',
  'error-then-success',
  'timeout',
  'malformed',
  'oversized',
  'private-redirect',
];

const PRICE = 6;

function modelFor(spec: AdapterSpec, id: string, timeoutSeconds: number): ModelSpecInput {
  return {
    id,
    name: id,
    provider: spec.provider,
    ref: 'owner/model',
    kind: 'image',
    limits: { maxWidth: 1024, maxHeight: 1024, maxSteps: 60 },
    defaults: { width: 512, height: 512, steps: 4, guidance: 3 },
    capabilities: { img2img: true },
    price: { base: 2, perImage: 4 },
    timeoutSeconds,
    ...spec.model,
  };
}

export function contractSuite(spec: AdapterSpec): void {
  describe(`${spec.provider} adapter (contract)`, () => {
    let backend: FakeBackend;
    let app: TestApp;
    let events: { close(): Promise<void> } | undefined;
    const progress = new Map<string, ProgressPayload[]>();
    let member = 0;

    beforeAll(async () => {
      backend = await spec.fake();
      const download: DownloadPolicy = {
        maxBytes: 1024 * 1024,
        allowPrivate: false,
        allowHosts: [backend.host],
      };
      app = await createTestApp({
        config: { JOB_BACKOFF_MS: '20' },
        models: [
          modelFor(spec, `${spec.provider}-m`, 20),
          modelFor(spec, `${spec.provider}-slow`, 1),
        ],
        overrides: { providers: new ProviderRegistry([spec.create(backend, download)]) },
      });
      events = await app.progress.subscribe((payload) => {
        const list = progress.get(payload.generationId) ?? [];
        list.push(payload);
        progress.set(payload.generationId, list);
      }, app.logger);
      await app.startWorkers();
    });

    afterAll(async () => {
      await events?.close();
      await app?.conn.dropDatabase();
      await app?.close();
      await backend?.stop();
    });

    async function run(scenario: Scenario, model = `${spec.provider}-m`) {
      backend.reset(scenario);
      member += 1;
      const who = `${spec.provider}-${scenario}-${member}`;
      const accountId = await fund(app, who, 50);
      const result = await command(app, who, 'generate', { prompt: 'a lighthouse at dusk', model });
      const id = result.generation?.id ?? '';
      const final = await waitForStatus(app, id, undefined, 30_000);
      const balance = await app.economy.balance(accountId);
      return { final, balance, creates: backend.calls(...spec.createCall) };
    }

    const cases: Record<Scenario, () => Promise<void>> = {
      success: async () => {
        const { final, balance } = await run('success');
        expect(final.status).toBe('completed');
        expect(final.outputs).toHaveLength(1);
        expect(final.outputs[0]).toMatchObject({ mime: 'image/png', width: 32, height: 32 });
        expect(balance).toEqual({ available: 50 - PRICE, held: 0 });
        const events = progress.get(final.id) ?? [];
        if (spec.progress === 'percent')
          expect(events.some((e) => (e.percent ?? 0) > 0 && (e.percent ?? 0) < 100)).toBe(true);
        if (spec.progress === 'queue')
          expect(events.some((e) => e.queuePosition !== undefined)).toBe(true);
        expect(events.length).toBeGreaterThan(0);
      },
      unauthorized: async () => {
        const { final, balance, creates } = await run('unauthorized');
        expect(final.status).toBe('failed');
        expect(final.error?.code).toBe('provider_unavailable');
        expect(final.error?.message).toMatch(/credentials/);
        // The fake's own words ('Invalid API token') are the operator's, not the member's.
        expect(final.error?.message).not.toMatch(/Invalid API token/);
        expect(balance).toEqual({ available: 50, held: 0 });
        expect(creates).toHaveLength(1);
      },
      refusal: async () => {
        const { final, balance } = await run('refusal');
        expect(final.status).toBe('failed');
        expect(final.error?.code).toBe('provider_refused');
        // One fixed sentence whatever the backend said about the prompt.
        expect(final.error?.message).toBe(MEMBER_SENTENCES.refused);
        expect(balance).toEqual({ available: 50, held: 0 });
      },
      'rate-limited': async () => {
        const { final, balance, creates } = await run('rate-limited');
        expect(final.status).toBe('completed');
        expect(creates).toHaveLength(2);
        expect((creates[1]?.at ?? 0) - (creates[0]?.at ?? 0)).toBeGreaterThanOrEqual(950);
        expect(balance).toEqual({ available: 50 - PRICE, held: 0 });
      },
      'error-then-success': async () => {
        const { final, balance, creates } = await run('error-then-success');
        expect(final.status).toBe('completed');
        expect(creates).toHaveLength(2);
        expect(balance).toEqual({ available: 50 - PRICE, held: 0 });
      },
      timeout: async () => {
        const { final, balance } = await run('timeout', `${spec.provider}-slow`);
        expect(final.status).toBe('failed');
        expect(final.error?.code).toBe('timeout');
        // A backend that cannot stop a started run bills it anyway: the timeout is charged in
        // full there (its module's default, PROVIDER_CHARGE_STOPPED), refunded elsewhere.
        const billed = PROVIDER_MODULES.find((m) => m.id === spec.provider)?.defaults;
        const charged = billed?.stopsWhenAborted === false;
        expect(balance).toEqual({ available: charged ? 50 - PRICE : 50, held: 0 });
        expect(final.error?.message).toMatch(
          charged ? /points were charged/ : /points were returned/,
        );
        if (spec.cancelCall) {
          const [method, path] = spec.cancelCall;
          await expect.poll(() => backend.calls(method, path).length).toBeGreaterThan(0);
        }
      },
      malformed: async () => {
        const { final, balance, creates } = await run('malformed');
        expect(final.status).toBe('failed');
        expect(final.error?.message).toMatch(/could not read/);
        expect(creates).toHaveLength(1);
        expect(balance).toEqual({ available: 50, held: 0 });
      },
      oversized: async () => {
        const { final, balance } = await run('oversized');
        expect(final.status).toBe('failed');
        expect(final.error?.message).toMatch(/larger than the bot accepts/);
        expect(balance).toEqual({ available: 50, held: 0 });
      },
      'private-redirect': async () => {
        const { final, balance } = await run('private-redirect');
        expect(final.status).toBe('failed');
        expect(final.error?.message).toMatch(/will not fetch/);
        expect(backend.secretHits).toBe(0);
        expect(balance).toEqual({ available: 50, held: 0 });
      },
    };

    for (const scenario of spec.scenarios) it(scenario, cases[scenario]);
  });
}

/**
 * A job as the worker hands it to a provider, for tests that call an adapter directly:
 * 512x768, 12 steps, guidance 5.5, seed 42, a negative prompt; override what a test needs.
 */
export function directJob(provider: string, ref: string, defaults: Partial<ResolvedRequest> = {}) {
  return (
    model: Partial<ModelSpecInput> = {},
    request: Partial<ResolvedRequest> = {},
    inputImages: ProviderInputImage[] = [],
  ): ProviderJob => ({
    generationId: 'g1',
    attempt: 1,
    inputImages,
    model: modelSpecSchema.parse({
      id: `${provider}-m`,
      name: `${provider}-m`,
      provider,
      ref,
      kind: 'image',
      limits: { maxWidth: 1024, maxHeight: 1024 },
      defaults: { width: 512, height: 512 },
      ...model,
    }),
    request: {
      prompt: 'a lighthouse at dusk',
      negativePrompt: 'blurry',
      model: `${provider}-m`,
      width: 512,
      height: 768,
      steps: 12,
      guidance: 5.5,
      seed: 42,
      count: 1,
      inputImages: [],
      ...defaults,
      ...request,
    },
  });
}
