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
import { failed, looksLikeRefusal, malformed, refused } from '../http/errors.js';
import { progressFromLogs } from '../http/log-progress.js';
import { toOutput } from '../http/output.js';
import { pause } from '../http/pause.js';
import { retryRead } from '../http/retry-read.js';
import { fillTemplate, templateValues } from '../http/template.js';
import { optionalString, urlOr } from '../provider-env.js';
import { defineProvider, downloadPolicy } from '../provider-module.js';
import type { RemoteOptions, RemoteSettings } from './options.js';

const submitted = z.object({
  request_id: z.string(),
  status_url: z.string().optional(),
  response_url: z.string().optional(),
  cancel_url: z.string().optional(),
});

const status = z.object({
  status: z.enum(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']),
  queue_position: z.number().int().optional(),
  logs: z.array(z.looseObject({ message: z.string() })).nullish(),
  error: z.string().nullish(),
});

const file = z.looseObject({ url: z.string(), content_type: z.string().optional() });
const result = z.looseObject({
  images: z.array(file).optional(),
  video: file.optional(),
  seed: z.number().optional(),
  has_nsfw_concepts: z.array(z.boolean()).optional(),
});

/** fal's timings: the shared ones. */
export const FAL_DEFAULTS = { ...HTTP_DEFAULTS } as const satisfies Required<HttpTimings>;

/** Inputs of fal's text-to-image models (flux, SDXL…); a model's `options.input` replaces it. */
const DEFAULT_INPUT = {
  prompt: '{{prompt}}',
  negative_prompt: '{{negative_prompt}}',
  image_size: { width: '{{width}}', height: '{{height}}' },
  num_inference_steps: '{{steps}}',
  guidance_scale: '{{guidance}}',
  seed: '{{seed}}',
  num_images: '{{count}}',
  image_url: '{{image}}',
  enable_safety_checker: true,
};

/**
 * fal's queue API: submit to `{queue}/{model}`, poll the status URL (queue position, then
 * logs while in progress), fetch the result, and cancel on abort. The URLs fal hands back are
 * used only when they point at the configured queue host, so the key never goes elsewhere.
 * An image fal's safety checker flagged counts as refused; the others are delivered.
 */
export class FalProvider implements Provider {
  readonly id = 'fal';
  readonly label = 'fal';
  readonly #http: HttpClient;
  readonly #origin: string;
  readonly #timings: Required<HttpTimings>;

  constructor(private readonly options: RemoteOptions) {
    this.#timings = resolveTimings(options, FAL_DEFAULTS);
    this.#http = new HttpClient({
      provider: this.label,
      baseUrl: options.apiUrl,
      headers: { authorization: `Key ${options.apiKey ?? ''}` },
      timeoutMs: this.#timings.callTimeoutMs,
    });
    this.#origin = new URL(options.apiUrl).origin;
  }

  /**
   * A URL from fal's answer, or the documented one when it points anywhere else or is not a
   * URL at all.
   */
  #own(url: string | undefined, fallback: string): string {
    if (url && URL.parse(url)?.origin === this.#origin) return url;
    return this.#http.url(fallback);
  }

  async generate(job: ProviderJob, ctx: ProviderRunContext): Promise<ProviderOutput[]> {
    const model = job.model.ref;
    const input = fillTemplate(job.model.options.input ?? DEFAULT_INPUT, templateValues(job));
    const sub = await this.#http.call({
      path: model,
      json: input,
      schema: submitted,
      signal: ctx.signal,
    });
    // Status and result live under the app id (the first two path segments).
    const app = model.split('/').slice(0, 2).join('/');
    const base = `${app}/requests/${sub.request_id}`;
    try {
      await this.#waitUntilDone(this.#own(sub.status_url, `${base}/status`), ctx);
    } catch (error) {
      // Cancelled, timed out or given up on: a retry must not leave this one running (and billed).
      this.#cancel(this.#own(sub.cancel_url, `${base}/cancel`), sub.request_id);
      throw error;
    }
    const out = await retryRead(
      () =>
        this.#http.call({
          path: this.#own(sub.response_url, base),
          schema: result,
          signal: ctx.signal,
        }),
      ctx.signal,
    );
    return this.#outputs(out, job, ctx.signal);
  }

  /** Polls the status (queue position, then progress from the logs) until it completes. */
  async #waitUntilDone(statusUrl: string, ctx: ProviderRunContext): Promise<void> {
    for (;;) {
      const s = await retryRead(
        () =>
          this.#http.call({
            path: `${statusUrl}${statusUrl.includes('?') ? '&' : '?'}logs=1`,
            schema: status,
            signal: ctx.signal,
          }),
        ctx.signal,
      );
      if (s.status === 'COMPLETED') {
        if (!s.error) return;
        if (looksLikeRefusal(s.error)) throw refused(this.label, s.error);
        throw failed(this.label, s.error);
      }
      if (s.status === 'IN_QUEUE')
        ctx.onProgress({ queuePosition: s.queue_position ?? 0, message: 'queued at fal' });
      else
        ctx.onProgress(
          progressFromLogs(s.logs?.map((l) => l.message).join('\n')) ?? { message: 'generating' },
        );
      await pause(this.#timings.pollIntervalMs, ctx.signal);
    }
  }

  #cancel(cancelUrl: string, requestId: string): void {
    void this.#http
      .call({
        method: 'PUT',
        path: cancelUrl,
        schema: z.unknown(),
        signal: AbortSignal.timeout(this.#timings.cancelTimeoutMs),
      })
      .catch((err: unknown) =>
        this.options.logger?.debug(
          { err, provider: this.id, requestId },
          'could not cancel a fal request',
        ),
      );
  }

  /** The result's files; those the safety checker flagged are refused, all of them: the run. */
  async #outputs(
    out: z.output<typeof result>,
    job: ProviderJob,
    signal: AbortSignal,
  ): Promise<ProviderOutput[]> {
    const files = out.images ?? (out.video ? [out.video] : []);
    if (files.length === 0) throw malformed(this.label, 'the result has no images or video');
    const flagged = out.has_nsfw_concepts ?? [];
    if (flagged.length > 0 && flagged.every(Boolean) && files.length <= flagged.length)
      throw refused(this.label, 'the safety checker flagged the result');
    const seed = out.seed ?? job.request.seed;
    return Promise.all(
      files.slice(0, job.request.count).map(async (f, i): Promise<ProviderOutput> => {
        if (flagged[i])
          return { ok: false, code: 'provider_refused', message: 'flagged by the safety checker' };
        return toOutput(
          this.label,
          await downloadOutput(this.label, f.url, this.options.download, signal),
          seed + i,
          job.request,
        );
      }),
    );
  }
}

/** fal, on once FAL_KEY is set. */
export const falModule = defineProvider({
  id: 'fal',
  env: z.object({
    FAL_KEY: optionalString.describe('fal key (id:secret); set, it enables fal'),
    FAL_QUEUE_URL: urlOr('https://queue.fal.run').describe('fal queue API base URL'),
  }),
  defaults: {},
  settings: (env): RemoteSettings | undefined =>
    env.FAL_KEY ? { apiUrl: env.FAL_QUEUE_URL, apiKey: env.FAL_KEY } : undefined,
  create: (settings, shared) =>
    new FalProvider({
      ...settings,
      download: downloadPolicy(shared, 'public'),
      logger: shared.logger,
    }),
});
