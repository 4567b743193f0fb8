import { ReplicateProvider } from '../../src/providers/remote/replicate.js';
import { fakeReplicate } from '../fakes/providers/replicate.js';
import { ALL_SCENARIOS, contractSuite } from '../support/provider-contract.js';

contractSuite({
  provider: 'replicate',
  fake: fakeReplicate,
  create: (b, download) =>
    new ReplicateProvider({ apiUrl: b.url, apiKey: 'r8_test', download, pollIntervalMs: 20 }),
  scenarios: ALL_SCENARIOS,
  createCall: ['POST', /\/predictions$/],
  cancelCall: ['POST', /\/cancel$/],
  progress: 'percent',
});
