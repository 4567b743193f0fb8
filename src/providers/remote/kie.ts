import { z } from 'zod';
import type { ProgressEvent } from '../../core/progress.js';
import type {
  Provider,
  ProviderJob,
  ProviderOutput,
  ProviderRunContext,
} from '../../core/provider.js';
import { HttpClient } from '../http/client.js';
import { HTTP_DEFAULTS, resolveTimings, type HttpTimings } from '../http/defaults.js';
import { downloadOutput } from '../http/download.js';
import {
  failed,
  httpError,
  issuesText,
  looksLikeRefusal,
  malformed,
  refused,
} from '../http/errors.js';
import { toOutput } from '../http/output.js';
import { pause } from '../http/pause.js';
import { retryRead } from '../http/retry-read.js';
import { fillTemplate, templateValues } from '../http/template.js';
import { optionalString, urlOr } from '../provider-env.js';
import { defineProvider, downloadPolicy } from '../provider-module.js';
import type { RemoteOptions, RemoteSettings } from './options.js';

/** Kie answers HTTP 200 with its own `code`; anything but 200 is an error of that status. */
const envelope = <T extends z.ZodType>(data: T) =>
  z.object({
    code: z.number(),
    msg: z.string().optional(),
    message: z.string().optional(),
    data: data.nullish(),
  });

type Envelope = z.output<ReturnType<typeof envelope>>;

const created = envelope(z.object({ taskId: z.string() }));
const market = envelope(
  z.object({
    taskId: z.string(),
    state: z.enum(['waiting', 'queuing', 'generating', 'success', 'fail']),
    resultJson: z.string().nullish(),
    failCode: z.union([z.string(), z.number()]).nullish(),
    failMsg: z.string().nullish(),
    progress: z.coerce.number().nullish(),
  }),
);
const veo = envelope(
  z.object({
    taskId: z.string(),
    successFlag: z.number(),
    response: z.looseObject({ resultUrls: z.array(z.string()).nullish() }).nullish(),
    errorMessage: z.string().nullish(),
  }),
);

/** Kie.ai's timings: the shared ones (it has no cancel call). */
export const KIE_DEFAULTS = { ...HTTP_DEFAULTS } as const satisfies Required<HttpTimings>;

/** A finished market task's `resultJson`, once the string is read as JSON. */
const marketResult = z.looseObject({ resultUrls: z.array(z.string()).optional() });

/** Veo's extra inputs, from a model's `options.input` when that is an object. */
const veoInput = z.record(z.string(), z.unknown());

const MARKET_INPUT = {
  prompt: '{{prompt}}',
  negative_prompt: '{{negative_prompt}}',
  aspect_ratio: '{{aspect_ratio}}',
  seed: '{{seed}}',
};

/** A market task: the model and its input, from the model's template or the common one. */
function marketBody(job: ProviderJob) {
  const input = fillTemplate(job.model.options.input ?? MARKET_INPUT, templateValues(job));
  return { model: job.model.ref, input };
}

/** A Veo task: it makes 16:9 or 9:16 only, and takes seeds from 10000 to 99999. */
function veoBody(job: ProviderJob) {
  const { prompt, width, height, seed } = job.request;
  return {
    prompt,
    model: job.model.ref,
    aspectRatio: width >= height ? '16:9' : '9:16',
    seeds: seed >= 10_000 && seed <= 99_999 ? seed : 10_000 + (seed % 90_000),
    ...veoInput.safeParse(job.model.options.input).data,
  };
}

/** A market task's progress: its percentage when it gives one (0–1 or 0–100), else its state. */
function marketProgress(info: NonNullable<z.output<typeof market>['data']>): ProgressEvent {
  if (info.progress === null || info.progress === undefined)
    return { message: info.state === 'generating' ? 'generating at Kie.ai' : 'queued at Kie.ai' };
  return {
    percent: Math.min(99, Math.round(info.progress <= 1 ? info.progress * 100 : info.progress)),
  };
}

const NO_HEADERS = { get: () => null };

/**
 * Kie.ai: the market's unified task API (POST /api/v1/jobs/createTask, poll
 * /api/v1/jobs/recordInfo, results in `resultJson.resultUrls`) for image and video models
 * such as Imagen 4, and Veo 3 through its own endpoints (model option `api: "veo"`).
 * Kie reports errors in a `code` field even on HTTP 200; those are classified like HTTP
 * statuses. Kie has no cancel call: a cancelled generation just stops being polled.
 */
export class KieProvider implements Provider {
  readonly id = 'kie';
  readonly label = 'Kie.ai';
  readonly #http: HttpClient;
  readonly #timings: Required<HttpTimings>;

  constructor(private readonly options: RemoteOptions) {
    this.#timings = resolveTimings(options, KIE_DEFAULTS);
    this.#http = new HttpClient({
      provider: this.label,
      baseUrl: options.apiUrl,
      headers: { authorization: `Bearer ${options.apiKey ?? ''}` },
      timeoutMs: this.#timings.callTimeoutMs,
    });
  }

  /** The answer's data, or the error its code names (Kie answers errors with HTTP 200). */
  #check<T extends Envelope>(answer: T): NonNullable<T['data']> {
    if (answer.code !== 200)
      throw httpError(this.label, answer.code, NO_HEADERS, answer.msg ?? answer.message ?? '');
    if (answer.data === null || answer.data === undefined)
      throw malformed(this.label, 'no data in the answer');
    return answer.data;
  }

  async generate(job: ProviderJob, ctx: ProviderRunContext): Promise<ProviderOutput[]> {
    const isVeo = job.model.options.api === 'veo';
    const task = this.#check(
      await this.#http.call({
        path: isVeo ? 'api/v1/veo/generate' : 'api/v1/jobs/createTask',
        json: isVeo ? veoBody(job) : marketBody(job),
        schema: created,
        signal: ctx.signal,
      }),
    );
    const urls = isVeo
      ? await this.#waitForVideo(task.taskId, ctx)
      : await this.#waitForTask(task.taskId, ctx);
    if (urls.length === 0) throw malformed(this.label, 'a finished task has no result URLs');
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

  /** Polls a market task until it succeeds (its result URLs) or fails. */
  async #waitForTask(taskId: string, ctx: ProviderRunContext): Promise<string[]> {
    for (;;) {
      await pause(this.#timings.pollIntervalMs, ctx.signal);
      const path = `api/v1/jobs/recordInfo?taskId=${encodeURIComponent(taskId)}`;
      const info = await this.#poll(path, market, ctx.signal);
      if (info.state === 'success') return this.#resultUrls(info.resultJson);
      if (info.state === 'fail')
        this.#fail(info.failMsg ?? String(info.failCode ?? 'the task failed'));
      ctx.onProgress(marketProgress(info));
    }
  }

  /** Polls a Veo task until it succeeds (its result URLs) or fails. */
  async #waitForVideo(taskId: string, ctx: ProviderRunContext): Promise<string[]> {
    for (;;) {
      await pause(this.#timings.pollIntervalMs, ctx.signal);
      const path = `api/v1/veo/record-info?taskId=${encodeURIComponent(taskId)}`;
      const info = await this.#poll(path, veo, ctx.signal);
      if (info.successFlag === 1) return info.response?.resultUrls ?? [];
      if (info.successFlag !== 0) this.#fail(info.errorMessage ?? 'the video failed');
      ctx.onProgress({ message: 'generating at Kie.ai' });
    }
  }

  /**
   * One status read. The envelope's code is checked inside the retried read: a poll answered
   * {code: 500} is tried again like an HTTP 500.
   */
  #poll<T extends Envelope>(
    path: string,
    schema: z.ZodType<T>,
    signal: AbortSignal,
  ): Promise<NonNullable<T['data']>> {
    return retryRead(
      async () => this.#check(await this.#http.call({ path, schema, signal })),
      signal,
    );
  }

  /** The output URLs of a finished market task, from the JSON string Kie hands them in. */
  #resultUrls(resultJson: string | null | undefined): string[] {
    let json: unknown;
    try {
      json = JSON.parse(resultJson ?? '{}');
    } catch (error) {
      throw malformed(this.label, 'resultJson is not JSON', error);
    }
    const parsed = marketResult.safeParse(json);
    if (!parsed.success) throw malformed(this.label, `resultJson: ${issuesText(parsed.error)}`);
    return parsed.data.resultUrls ?? [];
  }

  #fail(reason: string): never {
    if (looksLikeRefusal(reason)) throw refused(this.label, reason);
    throw failed(this.label, reason);
  }
}

/** Kie.ai, on once KIE_API_KEY is set. */
export const kieModule = defineProvider({
  id: 'kie',
  env: z.object({
    KIE_API_KEY: optionalString.describe('Kie.ai API key; set, it enables Kie.ai'),
    KIE_API_URL: urlOr('https://api.kie.ai').describe('Kie.ai API base URL'),
  }),
  // Kie.ai has no way to stop a task once it has started, which is billed.
  defaults: { stopsWhenAborted: false },
  settings: (env): RemoteSettings | undefined =>
    env.KIE_API_KEY ? { apiUrl: env.KIE_API_URL, apiKey: env.KIE_API_KEY } : undefined,
  create: (settings, shared) =>
    new KieProvider({ ...settings, download: downloadPolicy(shared, 'public') }),
});
