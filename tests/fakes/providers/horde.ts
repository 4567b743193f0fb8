import { FakeBackend, type Recorded, type Reply } from './fake-backend.js';

/** The key the contract tests give the adapter. */
const KEY = 'horde_test_key';
/** The horde's anonymous key: always accepted, lowest priority. */
const ANONYMOUS = '0000000000';

export interface FakeHordeOptions {
  /**
   * How the workers answer: 'ok' images, 'censored' ones (the worker's NSFW filter replaced
   * them), a request that 'faults' on the horde's side, or one no worker in the pool can serve
   * ('impossible': check says is_possible false and it stays queued).
   */
  outcome?: 'ok' | 'censored' | 'faulted' | 'impossible';
}

interface Params {
  width?: number;
  height?: number;
  steps?: number;
  cfg_scale?: number;
  seed?: string;
  seed_variation?: number;
  n?: number;
  denoising_strength?: number;
}

interface Submitted {
  prompt?: string;
  params?: Params;
  models?: string[];
  nsfw?: boolean;
  censor_nsfw?: boolean;
  r2?: boolean;
  source_image?: string;
  source_processing?: string;
}

interface WaitingPrompt {
  n: number;
  seeds: string[];
  model: string;
  kudos: number;
  polls: number;
  cancelled: boolean;
}

/** The horde's error shape: the message and a stable return code. */
function hordeError(status: number, message: string, rc: string): Reply {
  return { status, json: { message, rc } };
}

/** What flask-restx answers when the payload breaks the documented model (`validate=True`). */
function invalidPayload(errors: Record<string, string>): Reply {
  return { status: 400, json: { errors, message: 'Input payload validation failed' } };
}

/** The realistic body for each of the harness's injected errors on the async call. */
function injectedError(message: string): unknown {
  switch (message) {
    case 'Invalid API token':
      return {
        message:
          'No user matching sent API Key. Have you remembered to register at https://aihorde.net/register ?',
        rc: 'InvalidAPIKey',
      };
    case 'Too many requests':
      return {
        message:
          'Parallel requests (10) exceeded user limit (10). Please try again later or request to increase your concurrency.',
        rc: 'TooManyPrompts',
      };
    default:
      return { message, rc: 'Error' };
  }
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/** The documented limits of the image generation payload (ModelGenerationInputStable). */
function validate(body: Submitted): Record<string, string> {
  const errors: Record<string, string> = {};
  const p = body.params ?? {};
  const range = (name: Exclude<keyof Params, 'seed'>, min: number, max: number, int = true) => {
    const v: unknown = p[name];
    if (v === undefined) return;
    if (typeof v !== 'number' || (int && !Number.isInteger(v)))
      errors[`params.${name}`] =
        `${JSON.stringify(v)} is not of type '${int ? 'integer' : 'number'}'`;
    else if (v < min) errors[`params.${name}`] = `${v} is less than the minimum of ${min}`;
    else if (v > max) errors[`params.${name}`] = `${v} is greater than the maximum of ${max}`;
  };
  if (body.params !== undefined && (typeof body.params !== 'object' || body.params === null))
    errors.params = `${JSON.stringify(body.params)} is not of type 'object'`;
  range('width', 64, 3072);
  range('height', 64, 3072);
  for (const side of ['width', 'height'] as const) {
    const v = p[side];
    if (isInt(v) && v % 64 !== 0 && !errors[`params.${side}`])
      errors[`params.${side}`] = `${v} is not a multiple of 64`;
  }
  range('steps', 1, 500);
  range('cfg_scale', 0, 100, false);
  range('n', 1, 20);
  range('seed_variation', 1, 1000);
  range('denoising_strength', 0.01, 1, false);
  if (p.seed !== undefined && typeof p.seed !== 'string')
    errors['params.seed'] = `${JSON.stringify(p.seed)} is not of type 'string'`;
  if (
    body.models !== undefined &&
    !(Array.isArray(body.models) && body.models.every((m) => typeof m === 'string'))
  )
    errors.models = `${JSON.stringify(body.models)} is not of type 'array'`;
  for (const flag of ['nsfw', 'censor_nsfw', 'r2'] as const)
    if (body[flag] !== undefined && typeof body[flag] !== 'boolean')
      errors[flag] = `${JSON.stringify(body[flag])} is not of type 'boolean'`;
  if (
    body.source_processing !== undefined &&
    !['img2img', 'inpainting', 'outpainting', 'remix'].includes(body.source_processing)
  )
    errors.source_processing = `'${body.source_processing}' is not one of ['img2img', 'inpainting', 'outpainting', 'remix']`;
  if (body.source_image !== undefined && typeof body.source_image !== 'string')
    errors.source_image = `${JSON.stringify(body.source_image)} is not of type 'string'`;
  return errors;
}

/**
 * AI Horde's v2 image API (https://aihorde.net/api/, served under /api/v2): POST
 * /v2/generate/async submits (202 `{id, kudos}`; needs the `apikey` header, the anonymous key
 * being '0000000000', and reads `Client-Agent`), GET /v2/generate/check/{id} reports
 * progress without images (`waiting`/`processing`/`finished` counts, `queue_position`,
 * `wait_time`, `done`, `faulted`, `is_possible`), GET /v2/generate/status/{id} adds
 * `generations` (R2 links with `r2: true`, each with its seed as a string, `censored` and
 * `state`), and DELETE /v2/generate/status/{id} cancels, answering the status. Errors are
 * `{message, rc}`; a prompt the filter blocks is 400 CorruptPrompt; payloads outside the
 * documented model are 400 "Input payload validation failed". With a seed and n > 1 every
 * image gets the same seed unless `seed_variation` is sent (it is added per image).
 * Simplification: a cancelled request is gone (404 RequestNotFound) rather than lingering.
 */
export async function fakeHorde(options: FakeHordeOptions = {}): Promise<FakeBackend> {
  const outcome = options.outcome ?? 'ok';
  const backend = await new FakeBackend().start();
  const prompts = new Map<string, WaitingPrompt>();
  let next = 0;

  const notFound = (id: string) =>
    hordeError(404, `Image Waiting Prompt with ID '${id}' not found.`, 'RequestNotFound');

  /** The request a check/status path names, when it exists and was not cancelled. */
  const lookup = (path: string) => {
    const id = /\/([^/]+)$/.exec(path)?.[1] ?? '';
    const wp = prompts.get(id);
    return wp && !wp.cancelled ? { id, wp } : undefined;
  };

  /** Where the request stands after this many polls: queued, on a worker, then done. */
  const checkOf = (wp: WaitingPrompt) => {
    const stuck = backend.scenario === 'timeout' || outcome === 'impossible';
    const phase =
      outcome === 'impossible' || wp.polls <= 1
        ? 'waiting'
        : wp.polls === 2 || stuck
          ? 'processing'
          : 'done';
    const faulted = outcome === 'faulted' && phase !== 'waiting';
    return {
      finished: phase === 'done' ? wp.n : 0,
      processing: phase === 'processing' && !faulted ? wp.n : 0,
      restarted: 0,
      waiting: phase === 'waiting' ? wp.n : 0,
      done: phase === 'done' && !faulted,
      faulted,
      wait_time: phase === 'waiting' ? 20 : phase === 'processing' ? 5 : 0,
      queue_position: phase === 'waiting' ? 3 : 0,
      kudos: phase === 'done' ? wp.kudos : 0,
      is_possible: outcome !== 'impossible',
    };
  };

  const generationsOf = async (id: string, wp: WaitingPrompt) => {
    const censored = outcome === 'censored';
    return Promise.all(
      wp.seeds.map(async (seed, i) => ({
        img: await backend.outputUrl(`${id}-${i}.png`, censored ? '#000000' : '#3366cc'),
        seed,
        id: `${id}-gen-${i}`,
        censored,
        gen_metadata: censored ? [{ type: 'censorship', value: 'nsfw' }] : [],
        worker_id: '2d1a5f0e-0000-4000-8000-00000000beef',
        worker_name: 'fake-worker',
        model: wp.model,
        state: censored ? 'censored' : 'ok',
      })),
    );
  };

  backend.route('POST', /^\/api\/v2\/generate\/async$/, (req: Recorded) => {
    const injected = backend.injectOnCreate(injectedError);
    if (injected) return injected;
    const apikey = req.headers.apikey;
    if (typeof apikey !== 'string' || apikey === '')
      return invalidPayload({
        apikey: 'A User API key. Missing required parameter in the HTTP headers',
      });
    if (apikey !== KEY && apikey !== ANONYMOUS)
      return { status: 401, json: injectedError('Invalid API token') };
    if (typeof req.body !== 'object' || req.body === null)
      return { status: 400, json: { message: 'Failed to decode JSON object' } };
    const body = req.body as Submitted;
    const errors = validate(body);
    if (Object.keys(errors).length > 0) return invalidPayload(errors);
    if (typeof body.prompt !== 'string' || body.prompt.trim() === '')
      return hordeError(400, 'You cannot specify an empty prompt.', 'MissingPrompt');
    if (backend.scenario === 'refusal')
      return hordeError(
        400,
        'This prompt appears to violate our terms of service and will be reported. Please contact us if you think this is an error.',
        'CorruptPrompt',
      );
    const p = body.params ?? {};
    const n = p.n ?? 1;
    const base = p.seed === undefined || p.seed === '' ? 1234 : Number(p.seed);
    const seeds = Array.from({ length: n }, (_, i) =>
      String(Number.isFinite(base) ? base + i * (p.seed_variation ?? 0) : 1234),
    );
    next += 1;
    const id = `a1b2c3d4-0000-4000-8000-${String(next).padStart(12, '0')}`;
    const kudos = Math.round((0.1232 * (p.steps ?? 30) + 1) * n * 100) / 100;
    prompts.set(id, {
      n,
      seeds,
      model: body.models?.[0] ?? 'stable_diffusion',
      kudos,
      polls: 0,
      cancelled: false,
    });
    const warnings =
      outcome === 'impossible'
        ? [
            {
              code: 'NoAvailableWorker',
              message:
                'Warning: No available workers can fulfill this request. It will expire in 20 minutes unless a worker appears. Please confider reducing its size of the request or choosing a different model.',
            },
          ]
        : [];
    return { status: 202, json: { id, kudos, warnings } };
  });

  backend.route('GET', /^\/api\/v2\/generate\/check\/[^/]+$/, (req) => {
    const found = lookup(req.path);
    if (!found) return notFound(req.path.split('/').pop() ?? '');
    found.wp.polls += 1;
    return { json: checkOf(found.wp) };
  });

  backend.route('GET', /^\/api\/v2\/generate\/status\/[^/]+$/, async (req) => {
    const found = lookup(req.path);
    if (!found) return notFound(req.path.split('/').pop() ?? '');
    const check = checkOf(found.wp);
    return {
      json: {
        ...check,
        generations: check.done ? await generationsOf(found.id, found.wp) : [],
        shared: false,
      },
    };
  });

  backend.route('DELETE', /^\/api\/v2\/generate\/status\/[^/]+$/, (req) => {
    const found = lookup(req.path);
    if (!found) return notFound(req.path.split('/').pop() ?? '');
    const check = checkOf(found.wp);
    found.wp.cancelled = true;
    return { json: { ...check, generations: [], shared: false } };
  });

  return backend;
}
