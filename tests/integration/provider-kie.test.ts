import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedRequest } from '../../src/core/generation-request.js';
import { modelSpecSchema, type ModelSpecInput } from '../../src/core/model-spec.js';
import type { ProgressEvent } from '../../src/core/progress.js';
import type { ProviderOutputOk } from '../../src/core/provider.js';
import { KieProvider } from '../../src/providers/remote/kie.js';
import type { FakeBackend } from '../fakes/providers/fake-backend.js';
import { fakeKie } from '../fakes/providers/kie.js';
import { ALL_SCENARIOS, contractSuite, type AdapterSpec } from '../support/provider-contract.js';

const common: Omit<AdapterSpec, 'scenarios' | 'model'> = {
  provider: 'kie',
  fake: fakeKie,
  create: (b, download) =>
    new KieProvider({ apiUrl: b.url, apiKey: 'kie_test', download, pollIntervalMs: 20 }),
  createCall: ['POST', /\/api\/v1\/(jobs\/createTask|veo\/generate)$/],
  // Kie has no cancel call, and reports a state rather than a percentage.
  progress: 'message',
};

/** Veo takes 16:9 or 9:16 only, so its model defaults to a 16:9 size. */
const VEO_MODEL: Partial<ModelSpecInput> = {
  ref: 'veo3_fast',
  options: { api: 'veo' },
  limits: { maxWidth: 1024, maxHeight: 1024, maxSteps: 60, aspectRatios: ['16:9', '9:16'] },
  defaults: { width: 1024, height: 576, steps: 4, guidance: 3 },
};

describe('market', () => {
  contractSuite({ ...common, scenarios: ALL_SCENARIOS, model: { ref: 'google/imagen4-fast' } });
});

describe('veo', () => {
  // The fake serves a PNG as the "video", which is all the contract needs.
  contractSuite({ ...common, scenarios: ['success', 'refusal', 'timeout'], model: VEO_MODEL });
});

/** The adapter on its own, for what the pipeline does not show: the requests it sends. */
describe('kie adapter (requests)', () => {
  let backend: FakeBackend;

  beforeAll(async () => {
    backend = await fakeKie();
  });

  afterAll(async () => {
    await backend?.stop();
  });

  function run(model: Partial<ModelSpecInput>, request: Partial<ResolvedRequest> = {}) {
    const events: ProgressEvent[] = [];
    const provider = new KieProvider({
      apiUrl: backend.url,
      apiKey: 'kie_test',
      download: { maxBytes: 1024 * 1024, allowPrivate: false, allowHosts: [backend.host] },
      pollIntervalMs: 20,
    });
    const spec = modelSpecSchema.parse({
      id: 'kie-m',
      name: 'kie-m',
      provider: 'kie',
      ref: 'google/imagen4-fast',
      kind: 'image',
      limits: { maxWidth: 1024, maxHeight: 1024 },
      defaults: { width: 512, height: 512 },
      ...model,
    });
    const result = provider.generate(
      {
        generationId: 'g1',
        attempt: 1,
        inputImages: [],
        model: spec,
        request: {
          prompt: 'a lighthouse at dusk',
          negativePrompt: 'blurry',
          model: 'kie-m',
          width: 1024,
          height: 576,
          steps: 4,
          guidance: 3,
          seed: 12345,
          count: 1,
          inputImages: [],
          ...request,
        },
      },
      { signal: new AbortController().signal, onProgress: (e) => events.push(e) },
    );
    return { result, events };
  }

  it('creates a market task with the documented body and polls recordInfo', async () => {
    backend.reset('success');
    const { result, events } = run({});
    const outputs = (await result) as ProviderOutputOk[];
    const [call] = backend.calls('POST', /^\/api\/v1\/jobs\/createTask$/);
    expect(call?.headers.authorization).toBe('Bearer kie_test');
    expect(call?.body).toEqual({
      model: 'google/imagen4-fast',
      input: {
        prompt: 'a lighthouse at dusk',
        negative_prompt: 'blurry',
        aspect_ratio: '16:9',
        seed: 12345,
      },
    });
    expect(outputs).toHaveLength(1);
    expect(outputs[0]).toMatchObject({ ok: true, mime: 'image/png', width: 32, height: 32 });
    expect(events.map((e) => e.message)).toEqual(['queued at Kie.ai', 'generating at Kie.ai']);
    expect(backend.calls('GET', /^\/api\/v1\/jobs\/recordInfo$/)).toHaveLength(3);
  });

  it('sends Veo 3 to its own endpoints and reads successFlag', async () => {
    backend.reset('success');
    const { result, events } = run(VEO_MODEL);
    const outputs = (await result) as ProviderOutputOk[];
    const [call] = backend.calls('POST', /^\/api\/v1\/veo\/generate$/);
    expect(call?.headers.authorization).toBe('Bearer kie_test');
    expect(call?.body).toMatchObject({
      prompt: 'a lighthouse at dusk',
      model: 'veo3_fast',
      aspectRatio: '16:9',
      seeds: 12345,
    });
    expect(backend.calls('POST', /^\/api\/v1\/jobs\/createTask$/)).toHaveLength(0);
    expect(backend.calls('GET', /^\/api\/v1\/veo\/record-info$/)).toHaveLength(3);
    expect(outputs).toHaveLength(1);
    expect(events.length).toBeGreaterThan(0);
  });
});
