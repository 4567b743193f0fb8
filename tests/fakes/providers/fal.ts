import { FakeBackend, type Recorded, type Reply } from './fake-backend.js';

const KEY = 'fal_test';

/**
 * fal's queue API (https://fal.ai/docs/model-endpoints/queue): POST /{model_id} submits
 * (200 with request_id and the status, response and cancel URLs, which live under the app id,
 * the first two path segments of the model id), GET /{app_id}/requests/{id}/status (202
 * IN_QUEUE with a queue position, 202 IN_PROGRESS with logs when `?logs=1`, then 200
 * COMPLETED), GET /{app_id}/requests/{id} (the model's output: images, seed,
 * has_nsfw_concepts), PUT /{app_id}/requests/{id}/cancel (202 CANCELLATION_REQUESTED).
 * Every call wants `Authorization: Key <key>`; errors are `{ detail }`.
 */
export async function fakeFal(): Promise<FakeBackend> {
  const backend = await new FakeBackend().start();
  const requests = new Map<string, { app: string; polls: number; input: unknown }>();
  let next = 0;
  const error = (detail: string) => ({ detail });
  const unauthorized = (req: Recorded): Reply | undefined =>
    req.headers.authorization === `Key ${KEY}`
      ? undefined
      : { status: 401, json: error('No user found for Key ID and Secret') };
  const urls = (app: string, id: string) => {
    const response = `${backend.url}/${app}/requests/${id}`;
    return {
      response_url: response,
      status_url: `${response}/status`,
      cancel_url: `${response}/cancel`,
    };
  };
  const log = (message: string) => ({
    message,
    level: 'INFO',
    source: 'stdout',
    timestamp: new Date().toISOString(),
  });
  /** The request a status/result/cancel path names, when it was submitted under that app. */
  const lookup = (path: string) => {
    const m = /^\/(.+)\/requests\/([^/]+)(?:\/(?:status|cancel))?$/.exec(path);
    const found = m ? requests.get(m[2] ?? '') : undefined;
    return found && m && found.app === m[1] ? { id: m[2] ?? '', ...found } : undefined;
  };
  const notFound: Reply = { status: 404, json: error('Request not found') };

  backend.route('GET', /^\/[^/]+\/[^/]+\/requests\/[^/]+\/status$/, (req, url) => {
    const denied = unauthorized(req);
    if (denied) return denied;
    const r = lookup(req.path);
    if (!r) return notFound;
    r.polls += 1;
    requests.set(r.id, { app: r.app, polls: r.polls, input: r.input });
    const { response_url } = urls(r.app, r.id);
    const withLogs = url.searchParams.get('logs') === '1';
    const logs = [log('Loading pipeline'), log(' 50%|█████     | 2/4 [00:01<00:01,  1.9it/s]')];
    if (r.polls === 1)
      return { status: 202, json: { status: 'IN_QUEUE', queue_position: 2, response_url } };
    if (r.polls === 2 || backend.scenario === 'timeout')
      return {
        status: 202,
        json: { status: 'IN_PROGRESS', logs: withLogs ? logs : null, response_url },
      };
    return {
      json: {
        status: 'COMPLETED',
        logs: withLogs ? [...logs, log('100%|██████████| 4/4 [00:02<00:00,  1.9it/s]')] : null,
        metrics: { inference_time: 0.1 },
        response_url,
      },
    };
  });

  backend.route('GET', /^\/[^/]+\/[^/]+\/requests\/[^/]+$/, async (req) => {
    const denied = unauthorized(req);
    if (denied) return denied;
    const r = lookup(req.path);
    if (!r) return notFound;
    if (r.polls < 3 || backend.scenario === 'timeout')
      return { status: 400, json: error('Request is still in progress') };
    const input = (r.input ?? {}) as { prompt?: string; seed?: number };
    const nsfw = backend.scenario === 'refusal';
    return {
      json: {
        images: [
          {
            url: await backend.outputUrl(`${r.id}-0.png`, nsfw ? '#000000' : '#3366cc'),
            width: 512,
            height: 512,
            content_type: 'image/png',
          },
        ],
        seed: input.seed ?? 42,
        has_nsfw_concepts: [nsfw],
        timings: { inference: 0.1 },
        prompt: input.prompt ?? '',
      },
    };
  });

  backend.route('PUT', /^\/[^/]+\/[^/]+\/requests\/[^/]+\/cancel$/, (req) => {
    const denied = unauthorized(req);
    if (denied) return denied;
    const r = lookup(req.path);
    if (!r) return notFound;
    if (r.polls >= 3 && backend.scenario !== 'timeout')
      return { status: 400, json: { status: 'ALREADY_COMPLETED' } };
    return { status: 202, json: { status: 'CANCELLATION_REQUESTED' } };
  });

  // Submit: any model id (`owner/app` plus an optional sub-path such as `/schnell`).
  backend.route('POST', /^\/[^/]+\/[^/]+(?:\/[^/]+)*$/, (req) => {
    const injected = backend.injectOnCreate(error);
    if (injected) return injected;
    const denied = unauthorized(req);
    if (denied) return denied;
    const model = req.path.slice(1);
    const app = model.split('/').slice(0, 2).join('/');
    next += 1;
    const id = `req-${String(next).padStart(4, '0')}`;
    requests.set(id, { app, polls: 0, input: req.body });
    return {
      json: { request_id: id, ...urls(app, id), queue_position: 0 },
    };
  });

  return backend;
}
