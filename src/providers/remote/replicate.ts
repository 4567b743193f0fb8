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
import { excerpt, failed, looksLikeRefusal, malformed, refused } from '../http/errors.js';
import { progressFromLogs } from '../http/log-progress.js';
import { toOutput } from '../http/output.js';
import { pause } from '../http/pause.js';
import { retryRead } from '../http/retry-read.js';
import { fillTemplate, templateValues } from '../http/template.js';
import { optionalString, urlOr } from '../provider-env.js';
import { defineProvider, downloadPolicy } from '../provider-module.js';
import type { RemoteOptions, RemoteSettings } from './options.js';

const prediction = z.object({
  id: z.string(),
  status: z.enum(['starting', 'processing', 'succeeded', 'failed', 'canceled', 'aborted']),
  output: z.unknown().optional(),
  error: z.unknown().optional(),
  logs: z.string().nullish(),
});

/** Replicate's error answers (RFC 7807 problem details) put the words in `detail`. */
const problem = z.looseObject({ detail: z.string() });

function errorText(body: unknown, raw: string): string {
  const parsed = problem.safeParse(body);
  return parsed.success ? parsed.data.detail : excerpt(raw);
}

/** Inputs most Replicate image models take; a model's `options.input` replaces it. */
const DEFAULT_INPUT = {
  prompt: '{{prompt}}',
  negative_prompt: '{{negative_prompt}}',
  width: '{{width}}',
  height: '{{height}}',
  num_outputs: '{{count}}',
  num_inference_steps: '{{steps}}',
  guidance_scale: '{{guidance}}',
  seed: '{{seed}}',
  image: '{{image}}',
};

/** Replicate's timings: the shared ones. */
export const REPLICATE_DEFAULTS = { ...HTTP_DEFAULTS } as const satisfies Required<HttpTimings>;

function outputUrls(output: unknown): string[] | undefined {
  if (typeof output === 'string') return [output];
  if (Array.isArray(output) && output.every((o) => typeof o === 'string')) return output;
  return undefined;
}

/**
 * Replicate's predictions API: create (by model, or by version when the ref has one),
 * poll until it ends (progress from the model's progress-bar logs), fetch each output URL,
 * and cancel the prediction when the generation is cancelled or times out.
 */
export class ReplicateProvider implements Provider {
  readonly id = 'replicate';
  readonly label = 'Replicate';
  readonly #http: HttpClient;
  readonly #timings: Required<HttpTimings>;

  constructor(private readonly options: RemoteOptions) {
    this.#timings = resolveTimings(options, REPLICATE_DEFAULTS);
    this.#http = new HttpClient({
      provider: this.label,
      baseUrl: options.apiUrl,
      headers: { authorization: `Bearer ${options.apiKey ?? ''}` },
      timeoutMs: this.#timings.callTimeoutMs,
    });
  }

  async generate(job: ProviderJob, ctx: ProviderRunContext): Promise<ProviderOutput[]> {
    const input = fillTemplate(job.model.options.input ?? DEFAULT_INPUT, templateValues(job));
    const [model, version] = job.model.ref.split(':');
    const created = await this.#http.call({
      path: version ? 'v1/predictions' : `v1/models/${model ?? ''}/predictions`,
      json: version ? { version, input } : { input },
      schema: prediction,
      signal: ctx.signal,
      errorText,
    });
    ctx.onProgress({ percent: 0, message: 'starting' });
    let current = created;
    try {
      while (current.status === 'starting' || current.status === 'processing') {
        await pause(this.#timings.pollIntervalMs, ctx.signal);
        current = await retryRead(
          () =>
            this.#http.call({
              path: `v1/predictions/${created.id}`,
              schema: prediction,
              signal: ctx.signal,
            }),
          ctx.signal,
        );
        if (current.status === 'starting') ctx.onProgress({ message: 'waiting for a machine' });
        else if (current.status === 'processing')
          ctx.onProgress(progressFromLogs(current.logs) ?? { message: 'generating' });
      }
    } catch (error) {
      // Cancelled, timed out or given up on: a retry must not leave this one running (and billed).
      this.#cancel(created.id);
      throw error;
    }
    if (current.status !== 'succeeded') {
      const reason = typeof current.error === 'string' ? current.error : current.status;
      if (looksLikeRefusal(reason)) throw refused(this.label, reason);
      throw failed(this.label, reason);
    }
    const urls = outputUrls(current.output);
    if (!urls || urls.length === 0)
      throw malformed(this.label, 'a finished prediction has no output URLs');
    return Promise.all(
      urls
        .slice(0, job.request.count)
        .map(async (url, i) =>
          toOutput(
            this.label,
            await downloadOutput(this.label, url, this.options.download, ctx.signal),
            job.request.seed + i,
            job.request,
          ),
        ),
    );
  }

  #cancel(id: string): void {
    void this.#http
      .call({
        path: `v1/predictions/${id}/cancel`,
        method: 'POST',
        schema: z.unknown(),
        signal: AbortSignal.timeout(this.#timings.cancelTimeoutMs),
      })
      .catch((err: unknown) =>
        this.options.logger?.debug(
          { err, provider: this.id, predictionId: id },
          'could not cancel a Replicate prediction',
        ),
      );
  }
}

/** Replicate, on once REPLICATE_API_TOKEN is set. */
export const replicateModule = defineProvider({
  id: 'replicate',
  env: z.object({
    REPLICATE_API_TOKEN: optionalString.describe('Replicate API token; set, it enables Replicate'),
    REPLICATE_API_URL: urlOr('https://api.replicate.com').describe('Replicate API base URL'),
  }),
  defaults: {},
  settings: (env): RemoteSettings | undefined =>
    env.REPLICATE_API_TOKEN
      ? { apiUrl: env.REPLICATE_API_URL, apiKey: env.REPLICATE_API_TOKEN }
      : undefined,
  create: (settings, shared) =>
    new ReplicateProvider({
      ...settings,
      download: downloadPolicy(shared, 'public'),
      logger: shared.logger,
    }),
});
