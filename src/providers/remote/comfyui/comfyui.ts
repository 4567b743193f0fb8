import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import type {
  Provider,
  ProviderInputImage,
  ProviderJob,
  ProviderOutput,
  ProviderRunContext,
} from '../../../core/provider.js';
import { ProviderError } from '../../../core/errors.js';
import { FormData, HttpClient, splitAuth } from '../../http/client.js';
import { HTTP_DEFAULTS, resolveTimings, type HttpTimings } from '../../http/defaults.js';
import { downloadOutput } from '../../http/download.js';
import { excerpt, failed, malformed, unavailable } from '../../http/errors.js';
import { toOutput } from '../../http/output.js';
import { pause } from '../../http/pause.js';
import { retryRead } from '../../http/retry-read.js';
import { fillTemplate, templateValues } from '../../http/template.js';
import { optionalString, optionalUrl } from '../../provider-env.js';
import { defineProvider, downloadPolicy } from '../../provider-module.js';
import type { RemoteOptions, RemoteSettings } from '../options.js';
import { ProgressSocket } from './progress-socket.js';

const DEFAULT_WORKFLOW = new URL('./default-workflow.json', import.meta.url);

const queued = z.object({ prompt_id: z.string(), number: z.number().optional() });
const image = z.object({
  filename: z.string(),
  subfolder: z.string().default(''),
  type: z.string().default('output'),
});
const historyEntry = z.object({
  outputs: z
    .record(
      z.string(),
      z.looseObject({ images: z.array(image).optional(), gifs: z.array(image).optional() }),
    )
    .default({}),
  status: z
    .object({
      status_str: z.string().optional(),
      completed: z.boolean().optional(),
      messages: z.array(z.unknown()).optional(),
    })
    .optional(),
});
const history = z.record(z.string(), historyEntry);
const queue = z.object({
  queue_running: z.array(z.array(z.unknown())).default([]),
  queue_pending: z.array(z.array(z.unknown())).default([]),
});
const uploaded = z.object({
  name: z.string(),
  subfolder: z.string().optional(),
  type: z.string().optional(),
});

export interface ComfyOptions extends RemoteOptions {
  /** Where `options.workflowFile` of a model is looked up. */
  workflowsDir?: string | undefined;
  /** How long a run waits for the WebSocket before it goes on by polling alone. */
  socketOpenMs?: number;
  /** Polls that find a prompt neither queued, running nor finished before it counts as lost. */
  vanishedAfterPolls?: number;
  /** The longest WebSocket message taken; a longer one closes the socket (polling goes on). */
  socketMaxBytes?: number;
  /** Workflow files kept parsed; the least recently used one is read again when next needed. */
  workflowCacheEntries?: number;
}

/**
 * ComfyUI's timings are the shared ones; the socket gets a moment to connect, and a prompt
 * missing from queue and history for a few polls in a row means ComfyUI restarted. Its
 * messages are small JSON events and preview frames (a JPEG of the latent, tens of KB), so
 * 8 MiB is ample; ws would take 100 MiB. Workflow files are named by the catalog, so a few
 * dozen are kept parsed; the bound holds whatever the catalog names.
 */
export const COMFYUI_DEFAULTS = {
  ...HTTP_DEFAULTS,
  socketOpenMs: 2000,
  vanishedAfterPolls: 3,
  socketMaxBytes: 8 * 1024 * 1024,
  workflowCacheEntries: 64,
} as const satisfies Required<
  Pick<
    ComfyOptions,
    | keyof HttpTimings
    | 'socketOpenMs'
    | 'vanishedAfterPolls'
    | 'socketMaxBytes'
    | 'workflowCacheEntries'
  >
>;

/** History status messages that say why a run ended: `[type, data]` pairs. */
const executionError = z.tuple(
  [z.literal('execution_error'), z.looseObject({ exception_message: z.string() })],
  z.unknown(),
);
const executionInterrupted = z.tuple([z.literal('execution_interrupted')], z.unknown());

/** The exception message of a failed run, from the history entry's status messages. */
function historyError(entry: z.output<typeof historyEntry>): string | undefined {
  for (const m of entry.status?.messages ?? []) {
    const error = executionError.safeParse(m);
    if (error.success) return error.data[1].exception_message;
    if (executionInterrupted.safeParse(m).success) return 'the run was interrupted';
  }
  return undefined;
}

const errorDetail = z.looseObject({
  message: z.string().optional(),
  details: z.string().optional(),
});

/** POST /prompt's refusal: the error, and each node's own errors. */
const promptError = z.looseObject({
  error: z.union([z.string(), errorDetail]).optional(),
  node_errors: z
    .record(
      z.string(),
      z.looseObject({ class_type: z.string().optional(), errors: z.array(errorDetail).optional() }),
    )
    .optional(),
});

/** ComfyUI's reason is often only in node_errors (details is empty for upstream nodes). */
function errorText(body: unknown, raw: string): string {
  const parsed = promptError.safeParse(body);
  if (!parsed.success) return excerpt(raw);
  const { error, node_errors: nodeErrors } = parsed.data;
  if (typeof error === 'string') return error;
  if (error === undefined) return excerpt(raw);
  const nodes = Object.values(nodeErrors ?? {}).flatMap((n) =>
    (n.errors ?? []).map(
      (e) => `${n.class_type ?? 'node'}: ${[e.message, e.details].filter(Boolean).join(' ')}`,
    ),
  );
  return [error.message, error.details, ...nodes].filter(Boolean).join('; ');
}

/**
 * A self-hosted ComfyUI: the model's workflow (API-format JSON with {{prompt}}, {{seed}},
 * {{width}}, {{height}}, {{steps}}, {{guidance}}, {{count}}, {{negative_prompt}}, {{model}}
 * and {{input_image}} placeholders) is queued with POST /prompt; progress comes over its
 * WebSocket, completion and outputs from /history, files from /view. A cancelled generation is
 * deleted from the queue or interrupted. Without a WebSocket it still works, by polling.
 */
export class ComfyUiProvider implements Provider {
  readonly id = 'comfyui';
  readonly label = 'ComfyUI';
  readonly #http: HttpClient;
  /** Parsed workflow files by path (a value is boxed: a cache holds no null). */
  readonly #workflows: LRUCache<string, { workflow: unknown }>;
  readonly #headers: Record<string, string>;
  readonly #timings: Required<HttpTimings>;
  readonly #socketOpenMs: number;
  readonly #socketMaxBytes: number;
  readonly #vanishedAfterPolls: number;

  constructor(private readonly options: ComfyOptions) {
    this.#timings = resolveTimings(options, COMFYUI_DEFAULTS);
    this.#socketOpenMs = options.socketOpenMs ?? COMFYUI_DEFAULTS.socketOpenMs;
    this.#socketMaxBytes = options.socketMaxBytes ?? COMFYUI_DEFAULTS.socketMaxBytes;
    this.#workflows = new LRUCache({
      max: options.workflowCacheEntries ?? COMFYUI_DEFAULTS.workflowCacheEntries,
    });
    this.#vanishedAfterPolls = options.vanishedAfterPolls ?? COMFYUI_DEFAULTS.vanishedAfterPolls;
    // A ComfyUI behind a proxy with basic auth: http://user:pass@host:8188.
    const { baseUrl, headers } = splitAuth(options.apiUrl);
    this.#headers = headers;
    this.#http = new HttpClient({
      provider: this.label,
      baseUrl,
      headers,
      timeoutMs: this.#timings.callTimeoutMs,
    });
  }

  async #workflow(job: ProviderJob): Promise<unknown> {
    const inline = job.model.options.workflow;
    if (inline && typeof inline === 'object') return inline;
    const file = job.model.options.workflowFile;
    const url =
      typeof file === 'string'
        ? isAbsolute(file)
          ? file
          : resolve(this.options.workflowsDir ?? '.', file)
        : DEFAULT_WORKFLOW;
    const key = String(url);
    const cached = this.#workflows.get(key);
    if (cached) return cached.workflow;
    let workflow: unknown;
    try {
      workflow = JSON.parse(await readFile(url, 'utf8'));
    } catch (error) {
      // The path is for the operator's log, not the member's message.
      throw new ProviderError(`ComfyUI: the workflow ${key} cannot be read`, {
        code: 'provider_unavailable',
        retryable: false,
        userMessage: 'This model is misconfigured right now. Your points were returned.',
        cause: error,
      });
    }
    this.#workflows.set(key, { workflow });
    return workflow;
  }

  async generate(job: ProviderJob, ctx: ProviderRunContext): Promise<ProviderOutput[]> {
    const values: Record<string, unknown> = {
      ...templateValues(job),
      negative_prompt: job.request.negativePrompt ?? '',
    };
    const input = job.inputImages[0];
    if (input) values.input_image = await this.#upload(input, job, ctx.signal);
    const workflow = fillTemplate(await this.#workflow(job), values);
    const clientId = `genbot-${job.generationId}-${job.attempt}`;
    const socket = new ProgressSocket(
      {
        url: this.#http.url(`ws?clientId=${encodeURIComponent(clientId)}`),
        headers: this.#headers,
        openMs: this.#socketOpenMs,
        maxBytes: this.#socketMaxBytes,
        logger: this.options.logger,
        fields: { provider: this.id, clientId },
      },
      ctx,
    );
    // Connect before queueing, so the first events (and a fast failure) are not missed.
    await socket.opened;
    let promptId: string | undefined;
    let finished = false;
    try {
      const q = await this.#http.call({
        path: 'prompt',
        json: { prompt: workflow, client_id: clientId },
        schema: queued,
        signal: ctx.signal,
        errorText,
      });
      promptId = q.prompt_id;
      socket.promptId = promptId;
      const entry = await this.#wait(promptId, ctx);
      finished = true;
      if (entry.status?.status_str === 'error') {
        const reason = socket.error ?? historyError(entry) ?? 'the workflow failed';
        throw failed(this.label, reason);
      }
      return await this.#outputs(entry, job, ctx.signal);
    } catch (error) {
      // Until it finished, a failure (cancel, timeout, lost connection) withdraws our prompt.
      if (promptId && !finished) this.#cancel(promptId);
      throw error;
    } finally {
      socket.close();
    }
  }

  /** The member's picture, stored in ComfyUI's input folder: its name there. */
  async #upload(input: ProviderInputImage, job: ProviderJob, signal: AbortSignal): Promise<string> {
    const form = new FormData();
    form.append(
      'image',
      new Blob([input.data], { type: input.mime }),
      `genbot-${job.generationId}.png`,
    );
    form.append('overwrite', 'true');
    const stored = await this.#http.call({ path: 'upload/image', form, schema: uploaded, signal });
    return stored.subfolder ? `${stored.subfolder}/${stored.name}` : stored.name;
  }

  /** The finished run's output files (images or animations), fetched through /view. */
  async #outputs(
    entry: z.output<typeof historyEntry>,
    job: ProviderJob,
    signal: AbortSignal,
  ): Promise<ProviderOutput[]> {
    const files = Object.values(entry.outputs).flatMap((o) => [
      ...(o.images ?? []),
      ...(o.gifs ?? []),
    ]);
    const outputs = files.filter((f) => f.type === 'output');
    if (outputs.length === 0) throw malformed(this.label, 'the workflow produced no output images');
    return Promise.all(
      outputs.slice(0, job.request.count).map(async (f, i) => {
        const query = new URLSearchParams({
          filename: f.filename,
          subfolder: f.subfolder,
          type: f.type,
        });
        const file = await downloadOutput(
          this.label,
          this.#http.url(`view?${query.toString()}`),
          this.options.download,
          signal,
          this.#headers,
        );
        return toOutput(this.label, file, job.request.seed + i, job.request);
      }),
    );
  }

  async #wait(promptId: string, ctx: ProviderRunContext): Promise<z.output<typeof historyEntry>> {
    let missing = 0;
    for (;;) {
      const h = await retryRead(
        () => this.#http.call({ path: `history/${promptId}`, schema: history, signal: ctx.signal }),
        ctx.signal,
      );
      const entry = h[promptId];
      if (
        entry &&
        (entry.status?.completed === true || entry.status?.status_str === 'error' || !entry.status)
      )
        return entry;
      if (!entry) {
        const q = await retryRead(
          () => this.#http.call({ path: 'queue', schema: queue, signal: ctx.signal }),
          ctx.signal,
        );
        const position = q.queue_pending.findIndex((item) => item[1] === promptId);
        const running = q.queue_running.some((item) => item[1] === promptId);
        if (position >= 0)
          ctx.onProgress({ queuePosition: position + 1, message: 'queued at ComfyUI' });
        // Neither queued, running nor finished, several times over: ComfyUI restarted.
        missing = position < 0 && !running ? missing + 1 : 0;
        if (missing >= this.#vanishedAfterPolls)
          throw unavailable(this.label, 'the prompt vanished (was ComfyUI restarted?)');
      }
      await pause(this.#timings.pollIntervalMs, ctx.signal);
    }
  }

  #cancel(promptId: string): void {
    const signal = AbortSignal.timeout(this.#timings.cancelTimeoutMs);
    const logFailure = (what: string) => (err: unknown) =>
      this.options.logger?.debug({ err, provider: this.id, promptId }, `could not ${what}`);
    void this.#http
      .call({ path: 'queue', json: { delete: [promptId] }, schema: z.unknown(), signal })
      .catch(logFailure('delete a prompt from the ComfyUI queue'));
    void this.#http
      .call({
        path: 'interrupt',
        method: 'POST',
        json: { prompt_id: promptId },
        schema: z.unknown(),
        signal,
      })
      .catch(logFailure('interrupt a ComfyUI prompt'));
  }
}

/** ComfyUI's settings: its URL, and where models' workflow files are. */
export type ComfyUiSettings = Pick<RemoteSettings, 'apiUrl'> & Pick<ComfyOptions, 'workflowsDir'>;

/**
 * A self-hosted ComfyUI, on once COMFYUI_URL is set. It is one GPU that reports progress and
 * takes interrupts for whatever it runs: one job at a time per worker unless
 * PROVIDER_CONCURRENCY says otherwise.
 */
export const comfyUiModule = defineProvider({
  id: 'comfyui',
  env: z.object({
    COMFYUI_URL: optionalUrl.describe(
      'A self-hosted ComfyUI (may be on a private address); set, it enables ComfyUI',
    ),
    COMFYUI_WORKFLOWS_DIR: optionalString.describe(
      "Where models' workflowFile templates live (API-format JSON with {{prompt}}, {{seed}}... placeholders)",
    ),
  }),
  defaults: { concurrency: 1 },
  settings: (env): ComfyUiSettings | undefined =>
    env.COMFYUI_URL
      ? { apiUrl: env.COMFYUI_URL, workflowsDir: env.COMFYUI_WORKFLOWS_DIR }
      : undefined,
  create: (settings, shared) =>
    new ComfyUiProvider({
      ...settings,
      download: downloadPolicy(shared, 'private'),
      logger: shared.logger,
    }),
});
