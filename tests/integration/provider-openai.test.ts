import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenAiProvider } from '../../src/providers/remote/openai.js';
import { samplePng, type FakeBackend } from '../fakes/providers/fake-backend.js';
import { fakeOpenAi } from '../fakes/providers/openai.js';
import {
  ALL_SCENARIOS,
  contractSuite,
  directJob,
  type AdapterSpec,
} from '../support/provider-contract.js';

const common: Omit<AdapterSpec, 'scenarios' | 'model'> = {
  provider: 'openai',
  fake: fakeOpenAi,
  create: (b, download) =>
    new OpenAiProvider({ apiUrl: `${b.url}/v1`, apiKey: 'sk-test', download }),
  // One synchronous call per image: no remote task, so no cancel call.
  createCall: ['POST', /\/v1\/images\/generations$/],
  progress: 'message',
};

describe('dall-e-3', () => {
  contractSuite({ ...common, scenarios: ALL_SCENARIOS, model: { ref: 'dall-e-3' } });
});

describe('gpt-image-1', () => {
  // gpt-image-1 answers in base64, so there is no output URL to redirect.
  contractSuite({
    ...common,
    scenarios: ALL_SCENARIOS.filter((s) => s !== 'private-redirect'),
    model: { ref: 'gpt-image-1' },
  });
});

describe('gpt-image-1 with an input image', () => {
  let backend: FakeBackend;
  const job = directJob('openai', 'gpt-image-1', { width: 1024, height: 1024 });

  beforeAll(async () => {
    backend = await fakeOpenAi();
  });
  afterAll(async () => {
    await backend?.stop();
  });

  it('sends the image to /images/edits as multipart and returns the edited image', async () => {
    backend.reset('success');
    const provider = new OpenAiProvider({
      apiUrl: `${backend.url}/v1`,
      apiKey: 'sk-test',
      download: { maxBytes: 1024 * 1024, allowPrivate: false, allowHosts: [backend.host] },
    });
    const input = await samplePng(16, '#ff0000');
    const outputs = await provider.generate(
      job({}, {}, [{ data: input, mime: 'image/png', width: 16, height: 16 }]),
      { signal: AbortSignal.timeout(10_000), onProgress: () => undefined },
    );
    expect(outputs).toHaveLength(1);
    expect(outputs[0]).toMatchObject({ ok: true, mime: 'image/png' });
    const [edit] = backend.calls('POST', /\/v1\/images\/edits$/);
    expect(String(edit?.headers['content-type'])).toMatch(/^multipart\/form-data/);
    expect(backend.calls('POST', /\/v1\/images\/generations$/)).toHaveLength(0);
  });

  it('refuses to send dall-e-3 an image, which its API cannot edit', async () => {
    const provider = new OpenAiProvider({
      apiUrl: `${backend.url}/v1`,
      apiKey: 'sk-test',
      download: { maxBytes: 1024 * 1024, allowPrivate: false },
    });
    const input = await samplePng(16);
    await expect(
      provider.generate(
        job({ ref: 'dall-e-3' }, {}, [{ data: input, mime: 'image/png', width: 16, height: 16 }]),
        {
          signal: AbortSignal.timeout(10_000),
          onProgress: () => undefined,
        },
      ),
    ).rejects.toMatchObject({ retryable: false });
  });
});
