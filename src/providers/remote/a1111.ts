import { z } from 'zod';
import type {
  Provider,
  ProviderJob,
  ProviderOutput,
  ProviderRunContext,
} from '../../core/provider.js';
import { ProviderError } from '../../core/errors.js';
import { HttpClient, splitAuth } from '../http/client.js';
import { HTTP_DEFAULTS, resolveTimings, type HttpTimings } from '../http/defaults.js';
import { excerpt, malformed } from '../http/errors.js';
import { base64AnswerLimit, fromBase64, outputFromBase64, toOutput } from '../http/output.js';
import { pause } from '../http/pause.js';
import { sniffMime } from '../http/download.js';
import { optionalUrl } from '../provider-env.js';
import { defineProvider, downloadPolicy } from '../provider-module.js';
import type { RemoteOptions, RemoteSettings } from './options.js';

const generated = z.object({
  images: z.array(z.string()),
  info: z.string().optional(),
});

/** /internal/progress: one task's state (what the web UI itself polls). */
const taskProgress = z.object({
  active: z.boolean(),
  queued: z.boolean(),
  completed: z.boolean(),
  progress: z.number().nullish(),
  eta: z.number().nullish(),
  live_preview: z.string().nullish(),
  id_live_preview: z.number().nullish(),
});

const progress = z.object({
  progress: z.number(),
  current_image: z.string().nullish(),
  eta_relative: z.number().optional(),
  state: z
    .looseObject({ sampling_step: z.number().optional(), sampling_steps: z.number().optional() })
    .optional(),
});

/** What an Automatic1111 adapter is built with. */
export interface A1111Options extends RemoteOptions {
  /** An img2img's denoising strength when the model's options name none. */
  denoisingStrength?: number;
  /** A live preview costs the backend an encode: one is asked for every this many polls. */
  previewEveryPolls?: number;
}

/** The blocking call lasts the whole generation, so it gets the model's time, not a minute. */
export const A1111_DEFAULTS = {
  ...HTTP_DEFAULTS,
  callTimeoutMs: 600_000,
  denoisingStrength: 0.6,
  previewEveryPolls: 3,
} as const satisfies Required<
  Pick<A1111Options, keyof HttpTimings | 'denoisingStrength' | 'previewEveryPolls'>
>;

/** The `info` of an answer: a JSON string that names the seeds used. */
const generationInfo = z.looseObject({
  all_seeds: z.array(z.number()).optional(),
  seed: z.number().optional(),
});

/** One run's progress watch: what its polls share. */
interface Watch {
  taskId: string;
  ctx: ProviderRunContext;
  /** Ends the watch: the blocking call is over. */
  signal: AbortSignal;
  /** Cleared once the backend turns out to have no /internal/progress (older builds). */
  perTask: boolean;
  /** The last live preview seen, so the backend sends only a newer one. */
  previewId: number;
}

/** A1111 answers errors as {error: <exception class>, detail, errors: <message>}. */
const errorBody = z.looseObject({
  error: z.unknown().optional(),
  detail: z.unknown().optional(),
  errors: z.unknown().optional(),
});

/** The words of an A1111 error answer, not its exception class when there are any. */
function errorText(body: unknown, raw: string): string {
  const parsed = errorBody.safeParse(body);
  if (!parsed.success) return excerpt(raw);
  const { detail, errors, error } = parsed.data;
  for (const v of [detail, errors, error]) if (typeof v === 'string' && v.trim() !== '') return v;
  if (detail !== undefined) return excerpt(JSON.stringify(detail));
  return excerpt(raw);
}

/**
 * Automatic1111 / Forge web UI API: txt2img or img2img in one blocking call, progress polled
 * alongside it for our own task (force_task_id, /internal/progress), and /sdapi/v1/interrupt
 * (only while our task runs) when the generation is
 * cancelled or times out. The model ref names a checkpoint (`default` keeps the loaded one).
 * The backend runs one job at a time: give it a provider concurrency of 1.
 */
export class A1111Provider implements Provider {
  readonly id = 'a1111';
  readonly label = 'Automatic1111';
  readonly #http: HttpClient;
  readonly #timings: Required<HttpTimings>;
  readonly #denoisingStrength: number;
  readonly #previewEveryPolls: number;

  constructor(private readonly options: A1111Options) {
    this.#timings = resolveTimings(options, A1111_DEFAULTS);
    this.#denoisingStrength = options.denoisingStrength ?? A1111_DEFAULTS.denoisingStrength;
    this.#previewEveryPolls = options.previewEveryPolls ?? A1111_DEFAULTS.previewEveryPolls;
    const { baseUrl, headers } = splitAuth(options.apiUrl);
    this.#http = new HttpClient({
      provider: this.label,
      baseUrl,
      headers,
      timeoutMs: this.#timings.callTimeoutMs,
    });
  }

  async generate(job: ProviderJob, ctx: ProviderRunContext): Promise<ProviderOutput[]> {
    // Our own task id: per-task progress, and an interrupt that only fires while it is ours.
    const taskId = `task(genbot-${job.generationId}-${job.attempt})`;
    const done = new AbortController();
    const watching = this.#watch(taskId, ctx, AbortSignal.any([ctx.signal, done.signal]));
    let answer: z.output<typeof generated>;
    try {
      answer = await this.#http.call({
        path: job.inputImages[0] ? 'sdapi/v1/img2img' : 'sdapi/v1/txt2img',
        json: this.#body(job, taskId),
        schema: generated,
        signal: ctx.signal,
        errorText,
        limit: this.#answerLimit(job),
      });
    } catch (error) {
      // Cancelled, timed out, or our call gave up waiting: stop the backend's work too, so a
      // retry is not queued behind an orphan.
      const gaveUp = error instanceof ProviderError && error.code === 'timeout';
      if (ctx.signal.aborted || gaveUp) void this.#interrupt(taskId);
      throw error;
    } finally {
      done.abort();
      await watching;
    }
    return this.#outputs(answer, job);
  }

  /** txt2img's or img2img's body: the request, the checkpoint unless `default`, the picture. */
  #body(job: ProviderJob, taskId: string) {
    const r = job.request;
    const image = job.inputImages[0];
    const options = job.model.options;
    return {
      force_task_id: taskId,
      prompt: r.prompt,
      negative_prompt: r.negativePrompt ?? '',
      seed: r.seed,
      width: r.width,
      height: r.height,
      steps: r.steps,
      cfg_scale: r.guidance,
      batch_size: r.count,
      n_iter: 1,
      ...(typeof options.sampler === 'string' ? { sampler_name: options.sampler } : {}),
      ...(job.model.ref && job.model.ref !== 'default'
        ? {
            override_settings: { sd_model_checkpoint: job.model.ref },
            override_settings_restore_afterwards: false,
          }
        : {}),
      ...(image
        ? {
            init_images: [Buffer.from(image.data).toString('base64')],
            denoising_strength:
              typeof options.denoisingStrength === 'number'
                ? options.denoisingStrength
                : this.#denoisingStrength,
          }
        : {}),
    };
  }

  /**
   * The images come in the answer, in base64: one per image asked for, one more for the grid
   * A1111 adds to a batch, and an img2img answer echoes its request (`parameters`) with the
   * input picture in it.
   */
  #answerLimit(job: ProviderJob) {
    const echoed = job.inputImages.reduce((sum, image) => sum + image.data.byteLength, 0);
    const { maxBytes } = this.options.download;
    return base64AnswerLimit(this.label, maxBytes, job.request.count + 1, echoed);
  }

  /** The images of the answer (base64), with the seeds A1111 reports or the request's. */
  #outputs(answer: z.output<typeof generated>, job: ProviderJob): Promise<ProviderOutput[]> {
    const seeds = this.#reportedSeeds(answer.info);
    if (answer.images.length === 0) throw malformed(this.label, 'no images in the answer');
    const { maxBytes } = this.options.download;
    // Some scripts append extra images (grids, masks): keep the requested count.
    return Promise.all(
      answer.images.slice(0, job.request.count).map((b64, i) => {
        const data = outputFromBase64(this.label, b64, maxBytes);
        const mime = sniffMime(data);
        if (!mime) throw malformed(this.label, 'an image is not PNG, JPEG or WebP');
        return toOutput(this.label, { data, mime }, seeds[i] ?? job.request.seed + i);
      }),
    );
  }

  /**
   * The seeds A1111 used, from the `info` JSON string of its answer. They are informative:
   * when `info` is not JSON there are none, and the request's seeds stand in.
   */
  #reportedSeeds(info: string | undefined): number[] {
    if (info === undefined) return [];
    let json: unknown;
    try {
      json = JSON.parse(info);
    } catch (err) {
      this.options.logger?.debug(
        { err, provider: this.id },
        "A1111's info is not JSON; the request's seeds stand in",
      );
      return [];
    }
    const parsed = generationInfo.safeParse(json);
    if (!parsed.success) {
      this.options.logger?.debug(
        { err: parsed.error, provider: this.id },
        "A1111's info names no seeds; the request's seeds stand in",
      );
      return [];
    }
    const { all_seeds: seeds, seed } = parsed.data;
    return seeds ?? (seed !== undefined ? [seed] : []);
  }

  /**
   * A1111's interrupt stops whatever runs, so it is sent only when our task is the running one
   * (asked through /internal/progress), or when that endpoint is missing (older builds).
   */
  async #interrupt(taskId: string): Promise<void> {
    const signal = AbortSignal.timeout(this.#timings.cancelTimeoutMs);
    try {
      const mine = await this.#http
        .call({
          path: 'internal/progress',
          json: { id_task: taskId, live_preview: false },
          schema: taskProgress,
          signal,
        })
        .then(
          (p) => p.active,
          (err: unknown) => {
            // Older builds have no per-task progress: interrupt whatever runs, as they must.
            this.options.logger?.debug(
              { err, provider: this.id, taskId },
              'cannot tell whether our A1111 task runs; interrupting anyway',
            );
            return true;
          },
        );
      if (mine)
        await this.#http.call({
          path: 'sdapi/v1/interrupt',
          method: 'POST',
          schema: z.unknown(),
          signal,
        });
    } catch (err) {
      // Best effort: the run has already failed, and that is what the worker reports.
      this.options.logger?.debug(
        { err, provider: this.id, taskId },
        'could not interrupt an A1111 task',
      );
    }
  }

  /**
   * Polls our task's progress while the blocking call runs (/internal/progress, with a live
   * preview every few polls); builds without it get the server-wide /sdapi/v1/progress.
   * A failed poll is logged and the next one tried: it never fails the generation.
   */
  async #watch(taskId: string, ctx: ProviderRunContext, signal: AbortSignal): Promise<void> {
    const watch: Watch = { taskId, ctx, signal, perTask: true, previewId: -1 };
    for (let poll = 1; ; poll += 1) {
      try {
        await pause(this.#timings.pollIntervalMs, signal);
        const withImage = ctx.onPreview !== undefined && poll % this.#previewEveryPolls === 0;
        if (watch.perTask) await this.#pollTask(watch, withImage);
        else await this.#pollServer(watch, withImage);
      } catch (err) {
        // The blocking call has ended (answered, cancelled or timed out): so has the watch.
        if (signal.aborted) return;
        this.options.logger?.debug(
          { err, provider: this.id, taskId },
          'an A1111 progress poll failed; the next one is tried',
        );
      }
    }
  }

  /** Our task's state, and its live preview when one is asked for and new. */
  async #pollTask(watch: Watch, withImage: boolean): Promise<void> {
    const { ctx } = watch;
    let p: z.output<typeof taskProgress>;
    try {
      p = await this.#http.call({
        path: 'internal/progress',
        json: { id_task: watch.taskId, id_live_preview: watch.previewId, live_preview: withImage },
        schema: taskProgress,
        signal: watch.signal,
      });
    } catch (error) {
      if (error instanceof ProviderError && /HTTP 404/.test(error.message)) watch.perTask = false;
      throw error;
    }
    if (p.live_preview) {
      watch.previewId = p.id_live_preview ?? watch.previewId;
      ctx.onPreview?.({ data: fromBase64(p.live_preview), mime: 'image/png' });
    }
    if (p.queued && !p.active) ctx.onProgress({ message: 'queued at Automatic1111' });
    else if (p.active)
      ctx.onProgress({
        percent: Math.max(0, Math.min(99, Math.round((p.progress ?? 0) * 100))),
        ...(p.eta !== null && p.eta !== undefined && p.eta > 0 ? { etaSeconds: p.eta } : {}),
      });
  }

  /** The server's progress (whatever it runs), for builds without per-task progress. */
  async #pollServer(watch: Watch, withImage: boolean): Promise<void> {
    const { ctx } = watch;
    const p = await this.#http.call({
      path: `sdapi/v1/progress?skip_current_image=${withImage ? 'false' : 'true'}`,
      schema: progress,
      signal: watch.signal,
    });
    if (withImage && p.current_image)
      ctx.onPreview?.({ data: fromBase64(p.current_image), mime: 'image/png' });
    const step = p.state?.sampling_step;
    const steps = p.state?.sampling_steps;
    ctx.onProgress({
      percent: Math.max(0, Math.min(99, Math.round(p.progress * 100))),
      ...(step !== undefined && steps ? { step, steps } : {}),
      ...(p.eta_relative !== undefined && p.eta_relative > 0 ? { etaSeconds: p.eta_relative } : {}),
    });
  }
}

/**
 * A self-hosted Automatic1111 or Forge, on once A1111_URL is set. It is one GPU that reports
 * progress and takes interrupts for whatever it runs: one job at a time per worker unless
 * PROVIDER_CONCURRENCY says otherwise.
 */
export const a1111Module = defineProvider({
  id: 'a1111',
  env: z.object({
    A1111_URL: optionalUrl.describe(
      'Automatic1111 or Forge started with --api (http://user:pass@host:7860 with --api-auth); set, it enables A1111',
    ),
  }),
  defaults: { concurrency: 1 },
  settings: (env): Pick<RemoteSettings, 'apiUrl'> | undefined =>
    env.A1111_URL ? { apiUrl: env.A1111_URL } : undefined,
  create: (settings, shared) =>
    new A1111Provider({
      ...settings,
      download: downloadPolicy(shared, 'private'),
      logger: shared.logger,
    }),
});
