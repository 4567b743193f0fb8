import { z } from 'zod';
import type {
  Provider,
  ProviderJob,
  ProviderOutput,
  ProviderRunContext,
} from '../../core/provider.js';
import { FormData, HttpClient } from '../http/client.js';
import { HTTP_DEFAULTS, resolveTimings, type HttpTimings } from '../http/defaults.js';
import { downloadOutput } from '../http/download.js';
import { backendTextOf, excerpt, failed, malformed, refused } from '../http/errors.js';
import { base64AnswerLimit, outputFromBase64, toOutput } from '../http/output.js';
import { optionalString, urlOr } from '../provider-env.js';
import { defineProvider, downloadPolicy } from '../provider-module.js';
import type { RemoteOptions, RemoteSettings } from './options.js';

const images = z.object({
  created: z.number().optional(),
  data: z
    .array(
      z.object({
        b64_json: z.string().optional(),
        url: z.string().optional(),
        revised_prompt: z.string().optional(),
      }),
    )
    .min(1),
});

/** OpenAI's timings: one call makes the images, which takes up to a couple of minutes. */
export const OPENAI_DEFAULTS = {
  ...HTTP_DEFAULTS,
  callTimeoutMs: 180_000,
} as const satisfies Required<HttpTimings>;

/** The sizes each model accepts; a request is mapped to the one closest in shape. */
const SIZES: Record<string, [number, number][]> = {
  'dall-e-3': [
    [1024, 1024],
    [1792, 1024],
    [1024, 1792],
  ],
  'dall-e-2': [
    [256, 256],
    [512, 512],
    [1024, 1024],
  ],
  default: [
    [1024, 1024],
    [1536, 1024],
    [1024, 1536],
  ],
};

/**
 * The accepted size closest in shape to the request; among equally close ones (dall-e-2's
 * squares) the smallest that covers the request, else the largest.
 */
export function openAiSize(model: string, width: number, height: number): string {
  const sizes = SIZES[model] ?? SIZES.default ?? [];
  const ratio = width / height;
  const off = (s: [number, number]) => Math.abs(Math.log(s[0] / s[1] / ratio));
  const closest = Math.min(...sizes.map(off));
  const shaped = sizes
    .filter((s) => off(s) - closest < 1e-9)
    .sort((x, y) => x[0] * x[1] - y[0] * y[1]);
  const best = shaped.find((s) => s[0] >= width && s[1] >= height) ?? shaped.at(-1) ?? [1024, 1024];
  return `${best[0]}x${best[1]}`;
}

/** OpenAI's error answers: `{error: {message, code}}`, the code naming a content refusal. */
const errorBody = z.looseObject({
  error: z.looseObject({
    message: z.string().nullish(),
    code: z.string().nullish(),
  }),
});

function errorText(body: unknown, raw: string): string {
  const parsed = errorBody.safeParse(body);
  if (!parsed.success) return excerpt(raw);
  const { message, code } = parsed.data.error;
  return `${code ? `${code}: ` : ''}${message ?? ''}`;
}

/**
 * OpenAI Images: one synchronous call (there is no progress and no remote cancel; aborting
 * stops our waiting). gpt-image-1 answers in base64 and edits an input image through
 * /images/edits; dall-e-3 makes one image per call, so a count of n is n calls. Content
 * policy answers (content_policy_violation, moderation_blocked) are refusals.
 */
export class OpenAiProvider implements Provider {
  readonly id = 'openai';
  readonly label = 'OpenAI';
  readonly #http: HttpClient;

  constructor(private readonly options: RemoteOptions) {
    this.#http = new HttpClient({
      provider: this.label,
      baseUrl: options.apiUrl,
      headers: { authorization: `Bearer ${options.apiKey ?? ''}` },
      // No polls and no remote cancel: only the call's own limit applies.
      timeoutMs: resolveTimings(options, OPENAI_DEFAULTS).callTimeoutMs,
    });
  }

  async generate(job: ProviderJob, ctx: ProviderRunContext): Promise<ProviderOutput[]> {
    const model = job.model.ref;
    const size = openAiSize(model, job.request.width, job.request.height);
    const quality =
      typeof job.model.options.quality === 'string' ? job.model.options.quality : undefined;
    const perCall = model === 'dall-e-3' ? 1 : job.request.count;
    const calls = Math.ceil(job.request.count / perCall);
    ctx.onProgress({ percent: 0, message: 'generating at OpenAI' });
    const data: z.output<typeof images>['data'] = [];
    for (let i = 0; i < calls; i += 1) {
      const answer = await this.#call(job, model, size, quality, perCall, ctx.signal);
      data.push(...answer.data);
      ctx.onProgress({ percent: Math.round(((i + 1) / calls) * 90) });
    }
    return Promise.all(
      data.slice(0, job.request.count).map(async (item) => {
        if (item.b64_json) {
          const { maxBytes } = this.options.download;
          const bytes = outputFromBase64(this.label, item.b64_json, maxBytes);
          return toOutput(this.label, { data: bytes, mime: 'image/png' }, job.request.seed);
        }
        if (item.url)
          return toOutput(
            this.label,
            await downloadOutput(this.label, item.url, this.options.download, ctx.signal),
            job.request.seed,
          );
        throw malformed(this.label, 'an image has neither b64_json nor url');
      }),
    );
  }

  #call(
    job: ProviderJob,
    model: string,
    size: string,
    quality: string | undefined,
    n: number,
    signal: AbortSignal,
  ) {
    const image = job.inputImages[0];
    if (image && model === 'dall-e-3')
      throw failed(
        this.label,
        'dall-e-3 cannot edit an image; the catalog should not offer it input images',
      );
    const classify = (body: unknown, raw: string) => errorText(body, raw);
    // gpt-image models answer with the images themselves, in base64.
    const limit = base64AnswerLimit(this.label, this.options.download.maxBytes, n);
    const promise = image
      ? this.#http.call({
          path: 'images/edits',
          form: editForm(model, job.request.prompt, size, n, image.data, image.mime),
          schema: images,
          signal,
          errorText: classify,
          limit,
        })
      : this.#http.call({
          path: 'images/generations',
          json: {
            model,
            prompt: job.request.prompt,
            n,
            size,
            ...(quality ? { quality } : {}),
            // gpt-image models always answer in base64 and refuse the parameter.
            ...(model.startsWith('dall-e') ? { response_format: 'url' } : {}),
          },
          schema: images,
          signal,
          errorText: classify,
          limit,
        });
    return promise.catch((error: unknown) => {
      const message = error instanceof Error ? error.message : '';
      if (/content_policy_violation|moderation_blocked|safety system/i.test(message))
        throw refused(this.label, backendTextOf(error, 'blocked by the content policy'));
      throw error;
    });
  }
}

function editForm(
  model: string,
  prompt: string,
  size: string,
  n: number,
  data: Uint8Array,
  mime: string,
): FormData {
  const form = new FormData();
  form.append('model', model);
  form.append('prompt', prompt);
  form.append('size', size);
  form.append('n', String(n));
  form.append('image', new Blob([data], { type: mime }), 'input.png');
  return form;
}

/** OpenAI Images, on once OPENAI_API_KEY is set. */
export const openAiModule = defineProvider({
  id: 'openai',
  env: z.object({
    OPENAI_API_KEY: optionalString.describe('OpenAI API key; set, it enables OpenAI Images'),
    OPENAI_BASE_URL: urlOr('https://api.openai.com/v1').describe(
      'OpenAI API base URL (an OpenAI-compatible proxy works)',
    ),
  }),
  // OpenAI Images answers one blocking call: an abort stops our waiting, not the work, which is billed.
  defaults: { stopsWhenAborted: false },
  settings: (env): RemoteSettings | undefined =>
    env.OPENAI_API_KEY ? { apiUrl: env.OPENAI_BASE_URL, apiKey: env.OPENAI_API_KEY } : undefined,
  create: (settings, shared) =>
    new OpenAiProvider({ ...settings, download: downloadPolicy(shared, 'public') }),
});
