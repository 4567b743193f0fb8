import { FakeBackend } from './fake-backend.js';

/**
 * Replicate's predictions API: POST /v1/models/{owner}/{name}/predictions (201 with the
 * prediction), GET /v1/predictions/{id} (starting, processing with progress-bar logs,
 * succeeded with output URLs, or failed with an error), POST /v1/predictions/{id}/cancel.
 */
export async function fakeReplicate(): Promise<FakeBackend> {
  const backend = await new FakeBackend().start();
  const polls = new Map<string, number>();
  let next = 0;
  const error = (detail: string) => ({ title: 'Error', detail, status: 0 });
  backend.route('POST', /^\/v1\/models\/[^/]+\/[^/]+\/predictions$/, (req) => {
    const injected = backend.injectOnCreate(error);
    if (injected) return injected;
    if (req.headers.authorization !== 'Bearer r8_test')
      return { status: 401, json: error('Unauthenticated') };
    next += 1;
    const id = `pred${next}`;
    polls.set(id, 0);
    return {
      status: 201,
      json: {
        id,
        status: 'starting',
        input: (req.body as { input?: unknown }).input,
        logs: '',
        output: null,
        error: null,
        urls: {
          get: `${backend.url}/v1/predictions/${id}`,
          cancel: `${backend.url}/v1/predictions/${id}/cancel`,
        },
      },
    };
  });
  backend.route('GET', /^\/v1\/predictions\/[^/]+$/, async (req) => {
    const id = req.path.split('/').at(-1) ?? '';
    const n = (polls.get(id) ?? 0) + 1;
    polls.set(id, n);
    const base = { id, output: null, error: null, logs: '' };
    if (n === 1) return { json: { ...base, status: 'starting' } };
    if (n === 2 || backend.scenario === 'timeout')
      return {
        json: {
          ...base,
          status: 'processing',
          logs: 'Using seed: 7\n 50%|█████     | 2/4 [00:01<00:01,  1.9it/s]',
        },
      };
    if (backend.scenario === 'refusal')
      return {
        json: {
          ...base,
          status: 'failed',
          error: 'NSFW content detected. Try running it again, or try a different prompt.',
        },
      };
    return {
      json: { ...base, status: 'succeeded', output: [await backend.outputUrl(`${id}-0.png`)] },
    };
  });
  backend.route('POST', /^\/v1\/predictions\/[^/]+\/cancel$/, (req) => ({
    json: { id: req.path.split('/')[3], status: 'canceled' },
  }));
  return backend;
}
