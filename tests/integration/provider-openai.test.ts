import { describe } from 'vitest';
import { OpenAiProvider } from '../../src/providers/remote/openai.js';
import { fakeOpenAi } from '../fakes/providers/openai.js';
import { ALL_SCENARIOS, contractSuite, type AdapterSpec } from '../support/provider-contract.js';

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
