import { z } from 'zod';
import type {
  Provider,
  ProviderJob,
  ProviderOutput,
  ProviderRunContext,
} from '../../core/provider.js';
import { HttpClient } from '../http/client.js';
import { HTTP_DEFAULTS, resolveTimings, type HttpTimings } from '../http/defaults.js';
import { downloadOutput } from '../http/download.js';
import { backendTextOf, excerpt, failed, malformed, refused } from '../http/errors.js';
import { base64AnswerLimit, outputFromBase64, toOutput } from '../http/output.js';
import { pause } from '../http/pause.js';
import { retryRead } from '../http/retry-read.js';
import { sniffMime } from '../http/download.js';
import { optionalString, urlOr } from '../provider-env.js';
import { defineProvider, downloadPolicy } from '../provider-module.js';
import type { RemoteOptions, RemoteSettings } from './options.js';

const accepted = z.object({
  id: z.string(),
  kudos: z.number().optional(),
  message: z.string().optional(),
});
const check = z.object({
  done: z.boolean(),
  faulted: z.boolean().optional(),
  waiting: z.number().optional(),
  processing: z.number().optional(),
  finished: z.number().optional(),
  queue_position: z.number().optional(),
  wait_time: z.number().optional(),
  is_possible: z.boolean().optional(),
});
const generation = z.object({
  img: z.string(),
  seed: z.string().optional(),
  censored: z.boolean().optional(),
  state: z.string().optional(),
});
type Generation = z.output<typeof generation>;
const status = check.extend({ generations: z.array(generation).default([]) });

/** What an AI Horde adapter is built with. */
export interface HordeOptions extends RemoteOptions {
  /** How far an img2img run may move away from the member's picture. */
  denoisingStrength?: number;
}

/** The horde's timings are the shared ones; an img2img keeps a good part of the picture. */
export const HORDE_DEFAULTS = {
  ...HTTP_DEFAULTS,
  denoisingStrength: 0.6,
} as const satisfies Required<Pick<HordeOptions, keyof HttpTimings | 'denoisingStrength'>>;

/** The anonymous key: allowed, slowest in the queue. */
export const HORDE_ANONYMOUS_KEY = '0000000000';

/** The horde's error answers: a message and a return code that names the reason. */
const errorBody = z.looseObject({ message: z.string().min(1), rc: z.string().nullish() });

function errorText(body: unknown, raw: string): string {
  const parsed = errorBody.safeParse(body);
  if (!parsed.success) return excerpt(raw);
  const { message, rc } = parsed.data;
  return `${rc ? `${rc}: ` : ''}${message}`;
}

/**
 * AI Horde (crowdsourced workers): async submit, /check for queue position and wait time,
 * /status for the images (R2 URLs, or base64 when R2 is off), DELETE to cancel. Anonymous
 * or with the operator's key. Censored images are refused one by one; a request no worker
 * can serve fails instead of waiting forever.
 */
export class HordeProvider implements Provider {
  readonly id = 'horde';
  readonly label = 'AI Horde';
  readonly #http: HttpClient;
  readonly #timings: Required<HttpTimings>;
  readonly #denoisingStrength: number;

  constructor(private readonly options: HordeOptions) {
    this.#timings = resolveTimings(options, HORDE_DEFAULTS);
    this.#denoisingStrength = options.denoisingStrength ?? HORDE_DEFAULTS.denoisingStrength;
    this.#http = new HttpClient({
      provider: this.label,
      baseUrl: options.apiUrl,
      headers: {
        apikey: options.apiKey ?? HORDE_ANONYMOUS_KEY,
        'client-agent': 'genbot:0.1.0:https://github.com/genbot',
      },
      timeoutMs: this.#timings.callTimeoutMs,
    });
  }

  async generate(job: ProviderJob, ctx: ProviderRunContext): Promise<ProviderOutput[]> {
    const id = await this.#submit(job, ctx.signal);
    let final: z.output<typeof status>;
    try {
      await this.#waitUntilDone(id, ctx);
      final = await retryRead(
        () =>
          this.#http.call({
            path: `v2/generate/status/${id}`,
            schema: status,
            signal: ctx.signal,
            errorText,
            // With R2 off the images come in the answer, in base64.
            limit: base64AnswerLimit(this.label, this.options.download.maxBytes, job.request.count),
          }),
        ctx.signal,
      );
    } catch (error) {
      // Cancelled, timed out or given up on: withdraw it, or a worker may still spend kudos on it.
      this.#withdraw(id);
      throw error;
    }
    return this.#outputs(final, job, ctx.signal);
  }

  /** Queues the request at the horde; its filter's refusal ("CorruptPrompt") is a refusal. */
  async #submit(job: ProviderJob, signal: AbortSignal): Promise<string> {
    const submitted = await this.#http
      .call({
        path: 'v2/generate/async',
        json: this.#body(job),
        schema: accepted,
        signal,
        errorText,
      })
      .catch((error: unknown) => {
        if (error instanceof Error && /CorruptPrompt/i.test(error.message))
          throw refused(this.label, backendTextOf(error, 'blocked by the horde’s filter'));
        throw error;
      });
    return submitted.id;
  }

  #body(job: ProviderJob) {
    const r = job.request;
    const image = job.inputImages[0];
    return {
      prompt: r.negativePrompt ? `${r.prompt} ### ${r.negativePrompt}` : r.prompt,
      params: {
        width: r.width,
        height: r.height,
        steps: r.steps,
        cfg_scale: r.guidance,
        seed: String(r.seed),
        // Without a variation every image of a batch would get the same seed.
        ...(r.count > 1 ? { seed_variation: 1 } : {}),
        n: r.count,
        ...(typeof job.model.options.sampler === 'string'
          ? { sampler_name: job.model.options.sampler }
          : {}),
        ...(image ? { denoising_strength: this.#denoisingStrength } : {}),
      },
      models: job.model.ref === 'any' ? [] : [job.model.ref],
      nsfw: job.model.options.nsfw === true,
      censor_nsfw: job.model.options.nsfw !== true,
      r2: true,
      ...(image
        ? { source_image: Buffer.from(image.data).toString('base64'), source_processing: 'img2img' }
        : {}),
    };
  }

  /** Polls /check (queue position, wait time) until done; a fault or no able worker fails. */
  async #waitUntilDone(id: string, ctx: ProviderRunContext): Promise<void> {
    for (;;) {
      await pause(this.#timings.pollIntervalMs, ctx.signal);
      const c = await retryRead(
        () =>
          this.#http.call({
            path: `v2/generate/check/${id}`,
            schema: check,
            signal: ctx.signal,
            errorText,
          }),
        ctx.signal,
      );
      if (c.faulted) throw failed(this.label, 'the horde worker faulted');
      if (c.is_possible === false)
        throw failed(this.label, 'no horde worker can serve this model and size right now');
      if (c.done) return;
      ctx.onProgress({
        ...(c.processing
          ? { message: 'generating on a horde worker' }
          : { message: 'queued at the horde' }),
        ...(c.queue_position !== undefined ? { queuePosition: c.queue_position } : {}),
        ...(c.wait_time !== undefined ? { etaSeconds: c.wait_time } : {}),
      });
    }
  }

  #withdraw(id: string): void {
    void this.#http
      .call({
        method: 'DELETE',
        path: `v2/generate/status/${id}`,
        schema: z.unknown(),
        signal: AbortSignal.timeout(this.#timings.cancelTimeoutMs),
      })
      .catch((err: unknown) =>
        this.options.logger?.debug(
          { err, provider: this.id, requestId: id },
          'could not withdraw a horde request',
        ),
      );
  }

  /** One output per generation; when the horde censored every one, the run is refused. */
  async #outputs(
    final: z.output<typeof status>,
    job: ProviderJob,
    signal: AbortSignal,
  ): Promise<ProviderOutput[]> {
    if (final.generations.length === 0)
      throw malformed(this.label, 'a finished request has no generations');
    const results = await Promise.all(
      final.generations
        .slice(0, job.request.count)
        .map((g, i) => this.#output(g, job.request.seed + i, signal)),
    );
    if (results.every((o) => !o.ok && o.code === 'provider_refused'))
      throw refused(this.label, 'the horde censored the result');
    return results;
  }

  /** A generation's image (an R2 URL, or base64 when R2 is off), or why there is none. */
  async #output(
    g: Generation,
    requestedSeed: number,
    signal: AbortSignal,
  ): Promise<ProviderOutput> {
    if (g.censored || g.state === 'censored')
      return { ok: false, code: 'provider_refused', message: 'censored by the horde' };
    if (g.state === 'faulted')
      return { ok: false, code: 'provider_failed', message: 'a horde worker faulted' };
    const seed = Number(g.seed ?? requestedSeed);
    if (/^https?:\/\//.test(g.img))
      return toOutput(
        this.label,
        await downloadOutput(this.label, g.img, this.options.download, signal),
        seed,
      );
    const data = outputFromBase64(this.label, g.img, this.options.download.maxBytes);
    const mime = sniffMime(data);
    if (!mime) throw malformed(this.label, 'an image is neither a URL nor an image in base64');
    return toOutput(this.label, { data, mime }, seed);
  }
}

/** AI Horde, on once HORDE_API_KEY is set (the anonymous key counts). */
export const hordeModule = defineProvider({
  id: 'horde',
  env: z.object({
    HORDE_API_KEY: optionalString.describe(
      'AI Horde API key, or 0000000000 to generate anonymously; set, it enables AI Horde',
    ),
    HORDE_API_URL: urlOr('https://aihorde.net/api').describe('AI Horde API base URL'),
  }),
  defaults: {},
  settings: (env): RemoteSettings | undefined =>
    env.HORDE_API_KEY ? { apiUrl: env.HORDE_API_URL, apiKey: env.HORDE_API_KEY } : undefined,
  create: (settings, shared) =>
    new HordeProvider({
      ...settings,
      download: downloadPolicy(shared, 'public'),
      logger: shared.logger,
    }),
});
