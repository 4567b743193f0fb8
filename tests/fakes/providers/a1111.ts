import { FakeBackend, samplePng, type Recorded, type Reply } from './fake-backend.js';

/** How long a generation takes when the scenario does not make it hang. */
const RUN_MS = 300;
/** A hung generation gives up on its own after this long, so a forgotten one cannot leak. */
const HANG_CAP_MS = 60_000;

export interface FakeA1111Options {
  /** `user:password` as given to `--api-auth`; without it the API is open. */
  apiAuth?: string;
  /** An older build without /internal/progress (answers 404 there). */
  legacy?: boolean;
}

interface Running {
  kind: 'txt2img' | 'img2img';
  startedAt: number;
  steps: number;
  jobCount: number;
  timestamp: string;
  /** Whether this job never finishes by itself (the 'timeout' scenario). */
  hangs: boolean;
  finish: () => void;
}

/** The `shared.state` that /sdapi/v1/progress reports. */
interface State {
  skipped: boolean;
  interrupted: boolean;
  job: string;
  job_count: number;
  job_timestamp: string;
  job_no: number;
  sampling_step: number;
  sampling_steps: number;
}

/**
 * A1111's error answers, from its API middleware: every exception, HTTPException included,
 * becomes {error: class name, detail, body, errors: str(exception)} with the exception's status.
 */
function apiError(status: number, error: string, detail: string, errors = ''): Reply {
  return { status, json: { error, detail, body: '', errors } };
}

function httpException(status: number, detail: string): Reply {
  return apiError(status, 'HTTPException', detail, `${status}: ${detail}`);
}

function timestampOf(ms: number): string {
  return new Date(ms).toISOString().replace(/\D/g, '').slice(0, 14);
}

const NUMBER_FIELDS = [
  'seed',
  'width',
  'height',
  'steps',
  'cfg_scale',
  'batch_size',
  'n_iter',
  'denoising_strength',
] as const;

/** FastAPI's 422 for a body the pydantic model rejects (only the checks the fake needs). */
function validate(body: unknown, kind: Running['kind']): Reply | undefined {
  const issue = (loc: (string | number)[], msg: string, type: string): Reply => ({
    status: 422,
    json: { detail: [{ loc: ['body', ...loc], msg, type }] },
  });
  if (!body || typeof body !== 'object' || Array.isArray(body))
    return issue([], 'value is not a valid dict', 'type_error.dict');
  const b = body as Record<string, unknown>;
  if (b.prompt !== undefined && typeof b.prompt !== 'string')
    return issue(['prompt'], 'str type expected', 'type_error.str');
  for (const key of NUMBER_FIELDS) {
    if (b[key] !== undefined && typeof b[key] !== 'number')
      return issue([key], 'value is not a valid number', 'type_error.number');
  }
  if (
    b.override_settings !== undefined &&
    (typeof b.override_settings !== 'object' || b.override_settings === null)
  )
    return issue(['override_settings'], 'value is not a valid dict', 'type_error.dict');
  if (kind === 'img2img' && b.init_images !== undefined && !Array.isArray(b.init_images))
    return issue(['init_images'], 'value is not a valid list', 'type_error.list');
  return undefined;
}

/**
 * The Automatic1111 / Forge web UI API (`--api`): POST /sdapi/v1/txt2img and /img2img block
 * until the images are done and answer {images: [base64 PNG], parameters, info: JSON string
 * with seed and all_seeds}; GET /sdapi/v1/progress reports the job in flight (progress 0-1,
 * eta_relative, state with sampling_step/sampling_steps), 0 when idle; POST
 * /sdapi/v1/interrupt stops the job in flight, which then answers with what it has. One job
 * runs at a time (A1111's queue lock); others wait their turn. With `--api-auth` every route
 * wants HTTP Basic credentials.
 */
export async function fakeA1111(options: FakeA1111Options = {}): Promise<FakeBackend> {
  const backend = await new FakeBackend().start();
  // The live preview A1111 returns unless skip_current_image is true: a base64 PNG.
  const livePreview = (await samplePng(16, '#888888')).toString('base64');
  // modules/progress.py: the running task, those waiting on the queue lock, the finished ones.
  const tasks = {
    current: undefined as string | undefined,
    pending: new Set<string>(),
    finished: [] as string[],
  };
  let running: Running | undefined;
  let queue: Promise<void> = Promise.resolve();
  const state: State = {
    skipped: false,
    interrupted: false,
    job: '',
    job_count: 0,
    job_timestamp: '0',
    job_no: 0,
    sampling_step: 0,
    sampling_steps: 0,
  };

  /**
   * HTTPBasic, then A1111's own check of the user and password. The 'unauthorized' scenario
   * is a server started with --api-auth that the adapter has no credentials for.
   */
  function authError(req: Recorded): Reply | undefined {
    if (options.apiAuth === undefined && backend.scenario !== 'unauthorized') return undefined;
    const match = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!match) return httpException(401, 'Not authenticated');
    const given = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
    if (given !== options.apiAuth) return httpException(401, 'Incorrect username or password');
    return undefined;
  }

  /** Where the sampler is in the job in flight: iteration (job_no) and step within it. */
  function advance(now: number): void {
    if (!running) return;
    const fraction = running.hangs ? 0.25 : Math.min(1, (now - running.startedAt) / RUN_MS);
    const done = fraction * running.jobCount;
    state.job_no = Math.min(running.jobCount - 1, Math.floor(done));
    state.sampling_step = Math.min(
      running.steps,
      Math.floor((done - state.job_no) * running.steps),
    );
  }

  async function generate(req: Recorded, kind: Running['kind']): Promise<Reply> {
    const denied = authError(req);
    if (denied) return denied;
    const injected = backend.injectOnCreate((message) => ({ detail: message }));
    if (injected?.status === 500)
      // An exception in processing, as A1111's middleware renders it.
      return apiError(
        500,
        'RuntimeError',
        '',
        'CUDA error: an illegal memory access was encountered',
      );
    if (injected) return injected;
    const invalid = validate(req.body, kind);
    if (invalid) return invalid;
    const body = req.body as Record<string, unknown>;
    if (kind === 'img2img' && !Array.isArray(body.init_images))
      return httpException(404, 'Init image not found');

    // The queue lock: one generation at a time, in order of arrival.
    const taskId = typeof body.force_task_id === 'string' ? body.force_task_id : undefined;
    if (taskId) tasks.pending.add(taskId);
    const previous = queue;
    let release = (): void => undefined;
    queue = new Promise<void>((r) => {
      release = r;
    });
    await previous;
    if (taskId) {
      tasks.pending.delete(taskId);
      tasks.current = taskId;
    }
    try {
      const steps = typeof body.steps === 'number' ? body.steps : 20;
      const batch = typeof body.batch_size === 'number' ? body.batch_size : 1;
      const iterations = typeof body.n_iter === 'number' ? body.n_iter : 1;
      const startedAt = Date.now();
      const hangs = backend.scenario === 'timeout';
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, hangs ? HANG_CAP_MS : RUN_MS);
        timer.unref();
        running = {
          kind,
          startedAt,
          steps,
          jobCount: iterations,
          timestamp: timestampOf(startedAt),
          hangs,
          finish: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        Object.assign(state, {
          skipped: false,
          interrupted: false,
          job: `scripts_${kind}`,
          job_count: iterations,
          job_timestamp: running.timestamp,
          job_no: 0,
          sampling_step: 0,
          sampling_steps: steps,
        });
      });
      const requested = typeof body.seed === 'number' ? body.seed : -1;
      const seed = requested === -1 ? Math.floor(Math.random() * 2 ** 32) : requested;
      const count = batch * iterations;
      const allSeeds = Array.from({ length: count }, (_, i) => seed + i);
      const prompt = typeof body.prompt === 'string' ? body.prompt : '';
      const negative = typeof body.negative_prompt === 'string' ? body.negative_prompt : '';
      const images: string[] = [];
      for (let i = 0; i < count; i += 1)
        images.push((await backend.outputBytes()).toString('base64'));
      const info = {
        prompt,
        all_prompts: allSeeds.map(() => prompt),
        negative_prompt: negative,
        all_negative_prompts: allSeeds.map(() => negative),
        seed,
        all_seeds: allSeeds,
        subseed: 1234567,
        all_subseeds: allSeeds.map((_, i) => 1234567 + i),
        subseed_strength: 0,
        width: body.width ?? 512,
        height: body.height ?? 512,
        sampler_name: body.sampler_name ?? 'DPM++ 2M',
        cfg_scale: body.cfg_scale ?? 7,
        steps,
        batch_size: batch,
        restore_faces: false,
        face_restoration_model: null,
        sd_model_name: 'v1-5-pruned-emaonly',
        sd_model_hash: '6ce0161689',
        sd_vae_name: null,
        sd_vae_hash: null,
        seed_resize_from_w: -1,
        seed_resize_from_h: -1,
        denoising_strength: body.denoising_strength ?? null,
        extra_generation_params: {},
        index_of_first_image: 0,
        infotexts: allSeeds.map(
          (s) =>
            `${prompt}\nNegative prompt: ${negative}\nSteps: ${steps}, Seed: ${s}, Size: ${String(body.width)}x${String(body.height)}`,
        ),
        styles: [],
        job_timestamp: running?.timestamp ?? timestampOf(startedAt),
        clip_skip: 1,
        is_using_inpainting_conditioning: false,
        version: 'v1.10.1',
      };
      // img2img leaves the init images out of the echoed parameters unless asked.
      const parameters =
        kind === 'img2img' && body.include_init_images !== true
          ? { ...body, init_images: null, mask: null }
          : body;
      return { json: { images, parameters, info: JSON.stringify(info) } };
    } finally {
      if (taskId) {
        tasks.finished.push(taskId);
        if (tasks.current === taskId) tasks.current = undefined;
      }
      running = undefined;
      // shared.state.end()
      state.job = '';
      state.job_count = 0;
      state.sampling_step = 0;
      release();
    }
  }

  backend.route('POST', /^\/sdapi\/v1\/txt2img$/, (req) => generate(req, 'txt2img'));
  backend.route('POST', /^\/sdapi\/v1\/img2img$/, (req) => generate(req, 'img2img'));

  backend.route('GET', /^\/sdapi\/v1\/progress$/, (req, url) => {
    const denied = authError(req);
    if (denied) return denied;
    if (!running || state.job_count === 0)
      return {
        json: {
          progress: 0,
          eta_relative: 0,
          state: { ...state },
          current_image: null,
          textinfo: null,
        },
      };
    const now = Date.now();
    advance(now);
    let progress = 0.01 + state.job_no / state.job_count;
    if (state.sampling_steps > 0)
      progress += ((1 / state.job_count) * state.sampling_step) / state.sampling_steps;
    const elapsed = (now - running.startedAt) / 1000;
    const eta = elapsed / progress;
    return {
      json: {
        progress: Math.min(progress, 1),
        eta_relative: eta - elapsed,
        state: { ...state },
        current_image: url.searchParams.get('skip_current_image') === 'false' ? livePreview : null,
        textinfo: null,
      },
    };
  });

  // POST /internal/progress {id_task, id_live_preview, live_preview}: one task's state.
  backend.route('POST', /^\/internal\/progress$/, (req) => {
    const denied = authError(req);
    if (denied) return denied;
    if (options.legacy) return { status: 404, json: { detail: 'Not Found' } };
    const b = (req.body ?? {}) as { id_task?: unknown; live_preview?: unknown };
    const id = typeof b.id_task === 'string' ? b.id_task : '';
    const active = id !== '' && id === tasks.current;
    const queued = tasks.pending.has(id);
    const completed = tasks.finished.includes(id);
    if (!active)
      return {
        json: {
          active,
          queued,
          completed,
          id_live_preview: -1,
          textinfo: queued ? 'In queue...' : completed ? null : 'Waiting...',
        },
      };
    let progress = 0.01;
    if (running && state.sampling_steps > 0) {
      advance(Date.now());
      progress += state.sampling_step / state.sampling_steps;
    }
    return {
      json: {
        active,
        queued,
        completed,
        progress: Math.min(progress, 1),
        eta: 1,
        live_preview: b.live_preview === true ? `data:image/png;base64,${livePreview}` : null,
        id_live_preview: 1,
        textinfo: null,
      },
    };
  });

  backend.route('POST', /^\/sdapi\/v1\/interrupt$/, (req) => {
    const denied = authError(req);
    if (denied) return denied;
    // shared.state.interrupt(): the sampler stops at its next step and the call answers.
    state.interrupted = true;
    running?.finish();
    return { json: {} };
  });

  return backend;
}
