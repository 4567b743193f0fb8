import { FalProvider } from '../../src/providers/remote/fal.js';
import { fakeFal } from '../fakes/providers/fal.js';
import { ALL_SCENARIOS, contractSuite } from '../support/provider-contract.js';

contractSuite({
  provider: 'fal',
  fake: fakeFal,
  create: (b, download) =>
    new FalProvider({ apiUrl: b.url, apiKey: 'fal_test', download, pollIntervalMs: 20 }),
  scenarios: ALL_SCENARIOS,
  createCall: ['POST', /^\/fal-ai\/flux\/schnell$/],
  cancelCall: ['PUT', /\/cancel$/],
  progress: 'queue',
  model: { ref: 'fal-ai/flux/schnell' },
});
