import { FakeBackend, type Recorded, type Reply } from './fake-backend.js';

const KEY = 'sk-test';

interface ModelRules {
  sizes: string[];
  maxN: number;
  qualities: string[];
  /** dall-e models answer with a URL (default) or base64; gpt-image models only in base64. */
  responseFormat: boolean;
  revisedPrompt: boolean;
  edits: boolean;
  /** What a content refusal looks like for this model. */
  refusal: { code: string; type: string; message: string };
}

const DALL_E_REFUSAL = {
  code: 'content_policy_violation',
  type: 'invalid_request_error',
  message:
    'Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.',
};

const MODELS: Record<string, ModelRules> = {
  'dall-e-2': {
    sizes: ['256x256', '512x512', '1024x1024'],
    maxN: 10,
    qualities: ['standard'],
    responseFormat: true,
    revisedPrompt: false,
    edits: true,
    refusal: DALL_E_REFUSAL,
  },
  'dall-e-3': {
    sizes: ['1024x1024', '1792x1024', '1024x1792'],
    maxN: 1,
    qualities: ['standard', 'hd'],
    responseFormat: true,
    revisedPrompt: true,
    edits: false,
    refusal: DALL_E_REFUSAL,
  },
  'gpt-image-1': {
    sizes: ['1024x1024', '1536x1024', '1024x1536', 'auto'],
    maxN: 10,
    qualities: ['low', 'medium', 'high', 'auto'],
    responseFormat: false,
    revisedPrompt: false,
    edits: true,
    refusal: {
      code: 'moderation_blocked',
      type: 'image_generation_user_error',
      message:
        'Your request was rejected by the safety system. If you believe this is an error, contact us at help.openai.com and include the request ID req_fake0000.',
    },
  },
};

interface ImageParams {
  model?: unknown;
  prompt?: unknown;
  n?: unknown;
  size?: unknown;
  quality?: unknown;
  response_format?: unknown;
}

/** OpenAI's error envelope: `{ error: { message, type, param, code } }`. */
function apiError(
  status: number,
  message: string,
  extra: { type?: string; param?: string | null; code?: string | null } = {},
): Reply {
  return {
    status,
    json: {
      error: {
        message,
        type: extra.type ?? 'invalid_request_error',
        param: extra.param ?? null,
        code: extra.code ?? null,
      },
    },
  };
}

/** A request value as the API quotes it back in an error message. */
function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The body the harness's injections (401, 429, 500) carry, typed as OpenAI would type them. */
function injectedError(message: string): unknown {
  const type = /many requests/i.test(message)
    ? 'requests'
    : /server error/i.test(message)
      ? 'server_error'
      : 'invalid_request_error';
  return { error: { message, type, param: null, code: null } };
}

/**
 * OpenAI's Images API (https://platform.openai.com/docs/api-reference/images): one
 * synchronous call per request, no task to poll and nothing to cancel.
 *
 * POST /v1/images/generations with `Authorization: Bearer <key>` and JSON
 * `{ model, prompt, n, size, quality?, response_format? }` answers 200
 * `{ created, data: [...] }`: dall-e-2/3 give `{ url }` (or `{ b64_json }` when asked),
 * dall-e-3 adds `revised_prompt`; gpt-image-1 always gives `{ b64_json }` (plus `usage`, and
 * `size`, `quality`, `output_format`, `background`) and refuses a `response_format` parameter.
 * Sizes, n and quality are checked per model. Errors are
 * `{ error: { message, type, param, code } }`: 401 invalid_api_key, 400 for a bad parameter,
 * 400 content_policy_violation (dall-e) or moderation_blocked (gpt-image-1) for a refusal.
 * POST /v1/images/edits (multipart: model, prompt, image, n, size) answers the same way for
 * dall-e-2 and gpt-image-1.
 */
export async function fakeOpenAi(): Promise<FakeBackend> {
  const backend = await new FakeBackend().start();
  let next = 0;

  const unauthorized = (req: Recorded): Reply | undefined =>
    req.headers.authorization === `Bearer ${KEY}`
      ? undefined
      : apiError(
          401,
          'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.',
          { code: 'invalid_api_key' },
        );

  /** Checks the parameters as the API does; a Reply is the 400 it would send. */
  const validate = (
    p: ImageParams,
    endpoint: 'generations' | 'edits',
  ): { rules: ModelRules; model: string; n: number; size: string; format: string } | Reply => {
    const model = p.model === undefined ? 'dall-e-2' : p.model;
    if (typeof model !== 'string' || !MODELS[model])
      return apiError(
        400,
        `Invalid value: '${show(model)}'. Supported values are: ${Object.keys(MODELS)
          .map((m) => `'${m}'`)
          .join(', ')}.`,
        { param: 'model', code: 'invalid_value' },
      );
    const rules = MODELS[model];
    if (endpoint === 'edits' && !rules.edits)
      return apiError(
        400,
        `Invalid value: '${model}'. Value must be 'dall-e-2' or 'gpt-image-1'.`,
        { param: 'model', code: 'invalid_value' },
      );
    if (typeof p.prompt !== 'string' || p.prompt === '')
      return apiError(400, "Missing required parameter: 'prompt'.", {
        param: 'prompt',
        code: 'missing_required_parameter',
      });
    if (p.response_format !== undefined && !rules.responseFormat)
      return apiError(400, "Unknown parameter: 'response_format'.", {
        param: 'response_format',
        code: 'unknown_parameter',
      });
    const format = p.response_format ?? (rules.responseFormat ? 'url' : 'b64_json');
    if (format !== 'url' && format !== 'b64_json')
      return apiError(
        400,
        `Invalid value: '${show(format)}'. Supported values are: 'url' and 'b64_json'.`,
        { param: 'response_format', code: 'invalid_value' },
      );
    const n = p.n === undefined ? 1 : Number(p.n);
    if (!Number.isInteger(n) || n < 1)
      return apiError(
        400,
        `Invalid 'n': integer below minimum value. Expected a value >= 1, but got ${show(p.n)} instead.`,
        { param: 'n', code: 'integer_below_min_value' },
      );
    if (n > rules.maxN)
      return rules.maxN === 1
        ? apiError(400, 'You must provide n=1 for this model.', { param: 'n' })
        : apiError(
            400,
            `Invalid 'n': integer above maximum value. Expected a value <= ${rules.maxN}, but got ${n} instead.`,
            { param: 'n', code: 'integer_above_max_value' },
          );
    const size = p.size ?? rules.sizes[0] ?? '1024x1024';
    if (typeof size !== 'string' || !rules.sizes.includes(size))
      return apiError(
        400,
        `Invalid value: '${show(size)}'. Supported values are: ${rules.sizes.map((s) => `'${s}'`).join(', ')}.`,
        { param: 'size', code: 'invalid_value' },
      );
    if (p.quality !== undefined && !rules.qualities.includes(show(p.quality)))
      return apiError(
        400,
        `Invalid value: '${show(p.quality)}'. Supported values are: ${rules.qualities.map((q) => `'${q}'`).join(', ')}.`,
        { param: 'quality', code: 'invalid_value' },
      );
    return { rules, model, n, size, format };
  };

  const answer = async (p: ImageParams, endpoint: 'generations' | 'edits'): Promise<Reply> => {
    const checked = validate(p, endpoint);
    if (!('rules' in checked)) return checked;
    const { rules, model, n, size, format } = checked;
    if (backend.scenario === 'refusal')
      return apiError(400, rules.refusal.message, {
        type: rules.refusal.type,
        code: rules.refusal.code,
      });
    // No remote task and no cancel: the one call simply never answers.
    if (backend.scenario === 'timeout') return { hang: true };
    const prompt = String(p.prompt);
    const data: Record<string, string>[] = [];
    for (let i = 0; i < n; i += 1) {
      next += 1;
      const item: Record<string, string> =
        format === 'url'
          ? { url: await backend.outputUrl(`img-${String(next).padStart(4, '0')}.png`) }
          : { b64_json: (await backend.outputBytes()).toString('base64') };
      if (rules.revisedPrompt) item.revised_prompt = `A detailed illustration of ${prompt}`;
      data.push(item);
    }
    const created = Math.floor(Date.now() / 1000);
    if (model.startsWith('gpt-image'))
      return {
        json: {
          created,
          background: 'opaque',
          data,
          output_format: 'png',
          quality: typeof p.quality === 'string' ? p.quality : 'medium',
          size: size === 'auto' ? '1024x1024' : size,
          usage: {
            input_tokens: 12,
            input_tokens_details: { image_tokens: 0, text_tokens: 12 },
            output_tokens: 1056 * n,
            total_tokens: 12 + 1056 * n,
          },
        },
      };
    return { json: { created, data } };
  };

  backend.route('POST', /^\/v1\/images\/generations$/, (req) => {
    const injected = backend.injectOnCreate(injectedError);
    if (injected) return injected;
    const denied = unauthorized(req);
    if (denied) return denied;
    if (!req.body || typeof req.body !== 'object')
      return apiError(
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
      );
    return answer(req.body, 'generations');
  });

  backend.route('POST', /^\/v1\/images\/edits$/, async (req) => {
    const injected = backend.injectOnCreate(injectedError);
    if (injected) return injected;
    const denied = unauthorized(req);
    if (denied) return denied;
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('multipart/form-data') || typeof req.body !== 'string')
      return apiError(
        400,
        'Invalid Content-Type header (application/json), expected multipart/form-data.',
      );
    let form: FormData;
    try {
      form = await new Response(req.body, { headers: { 'content-type': type } }).formData();
    } catch {
      return apiError(400, 'Could not parse multipart form');
    }
    if (!form.has('image') && !form.has('image[]'))
      return apiError(400, "Missing required parameter: 'image'.", {
        param: 'image',
        code: 'missing_required_parameter',
      });
    const field = (name: string) => {
      const v = form.get(name);
      return typeof v === 'string' ? v : undefined;
    };
    return answer(
      {
        model: field('model'),
        prompt: field('prompt'),
        n: field('n'),
        size: field('size'),
        quality: field('quality'),
        response_format: field('response_format'),
      },
      'edits',
    );
  });

  return backend;
}
