import { randomUUID } from 'node:crypto';
import { setTimeout as wait } from 'node:timers/promises';
import type { IncomingMessage } from 'node:http';
import sharp from 'sharp';
import type { WebSocket } from 'ws';
import { FakeBackend, type Recorded, type Reply, type Scenario } from './fake-backend.js';

/** Between queueing a prompt and the executor picking it up (long enough to be polled). */
const START_MS = 40;
/** How long the sampler runs; its `progress` messages are spread over this. */
const SAMPLE_MS = 200;
/** A stalled prompt (the 'timeout' scenario) gives up on its own after this long. */
const STALL_CAP_MS = 60_000;

/** Models the fake ComfyUI has on disk (models/checkpoints). */
const CHECKPOINTS = ['sd_xl_base_1.0.safetensors', 'v1-5-pruned-emaonly.safetensors'];
const SAMPLERS = ['euler', 'euler_ancestral', 'heun', 'dpmpp_2m', 'dpmpp_2m_sde', 'ddim'];
const SCHEDULERS = ['normal', 'karras', 'exponential', 'sgm_uniform', 'simple', 'beta'];
/** 0xffffffffffffffff, as a double (JSON numbers are doubles anyway). */
const MAX_SEED = 2 ** 64 - 1;

type InputSpec =
  | { type: 'INT' | 'FLOAT'; min: number; max: number }
  | { type: 'STRING' }
  | { type: 'LINK'; of: string }
  | { type: 'COMBO'; choices: () => string[] }
  | { type: 'IMAGE_FILE' };

interface NodeDef {
  inputs: Record<string, InputSpec>;
  outputs: string[];
  output?: 'output' | 'temp';
}

const link = (of: string): InputSpec => ({ type: 'LINK', of });
const int = (min: number, max: number): InputSpec => ({ type: 'INT', min, max });
const float = (min: number, max: number): InputSpec => ({ type: 'FLOAT', min, max });
const combo = (choices: string[]): InputSpec => ({ type: 'COMBO', choices: () => choices });

/** The core nodes a text-to-image (and image-to-image) workflow uses, as /object_info has them. */
const NODES: Record<string, NodeDef> = {
  CheckpointLoaderSimple: {
    inputs: { ckpt_name: combo(CHECKPOINTS) },
    outputs: ['MODEL', 'CLIP', 'VAE'],
  },
  CLIPTextEncode: {
    inputs: { text: { type: 'STRING' }, clip: link('CLIP') },
    outputs: ['CONDITIONING'],
  },
  EmptyLatentImage: {
    inputs: { width: int(16, 16384), height: int(16, 16384), batch_size: int(1, 4096) },
    outputs: ['LATENT'],
  },
  KSampler: {
    inputs: {
      model: link('MODEL'),
      seed: int(0, MAX_SEED),
      steps: int(1, 10000),
      cfg: float(0, 100),
      sampler_name: combo(SAMPLERS),
      scheduler: combo(SCHEDULERS),
      positive: link('CONDITIONING'),
      negative: link('CONDITIONING'),
      latent_image: link('LATENT'),
      denoise: float(0, 1),
    },
    outputs: ['LATENT'],
  },
  VAEDecode: { inputs: { samples: link('LATENT'), vae: link('VAE') }, outputs: ['IMAGE'] },
  VAEEncode: { inputs: { pixels: link('IMAGE'), vae: link('VAE') }, outputs: ['LATENT'] },
  LoadImage: { inputs: { image: { type: 'IMAGE_FILE' } }, outputs: ['IMAGE', 'MASK'] },
  SaveImage: {
    inputs: { images: link('IMAGE'), filename_prefix: { type: 'STRING' } },
    outputs: [],
    output: 'output',
  },
  PreviewImage: { inputs: { images: link('IMAGE') }, outputs: [], output: 'temp' },
};

interface ApiNode {
  class_type?: unknown;
  inputs?: Record<string, unknown>;
}
type Workflow = Record<string, ApiNode>;

interface NodeError {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, unknown>;
}

interface ImageRef {
  filename: string;
  subfolder: string;
  type: string;
}

/** A queue item as ComfyUI keeps it: [number, prompt_id, prompt, extra_data, outputs_to_execute]. */
type QueueItem = [number, string, Workflow, { client_id?: string }, string[]];

interface Task {
  item: QueueItem;
  /** Aborted by /interrupt (or a reset), which stops the run at its next step. */
  interrupt: AbortController;
  messages: [string, Record<string, unknown>][];
}

interface HistoryEntry {
  prompt: QueueItem;
  outputs: Record<string, { images: ImageRef[] }>;
  status: { status_str: 'success' | 'error'; completed: boolean; messages: unknown[] };
  meta: Record<string, unknown>;
}

/** A value as Python's str() would show it in an error. */
function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function pyList(values: string[]): string {
  return `[${values.map((v) => `'${v}'`).join(', ')}]`;
}

function isLink(value: unknown): value is [string, number] {
  return Array.isArray(value) && value.length === 2 && typeof value[1] === 'number';
}

/** Fields of a multipart body that arrived as text (the file part is not needed). */
function formFields(body: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (typeof body !== 'string') return fields;
  const re = /name="([^"]+)"(?:; filename="([^"]*)")?\r\n(?:[^\r\n]+\r\n)*\r\n([^\r]*)/g;
  for (const m of body.matchAll(re)) fields[m[1] ?? ''] = m[2] ?? m[3] ?? '';
  return fields;
}

/** A JPEG preview frame as ComfyUI sends it: event type 1 (PREVIEW_IMAGE), format 1 (JPEG). */
async function previewFrame(): Promise<Buffer> {
  const jpeg = await sharp({
    create: { width: 8, height: 8, channels: 3, background: '#808080' },
  })
    .jpeg()
    .toBuffer();
  const header = Buffer.alloc(8);
  header.writeUInt32BE(1, 0);
  header.writeUInt32BE(1, 4);
  return Buffer.concat([header, jpeg]);
}

/**
 * A self-hosted ComfyUI (server.py and execution.py of comfyanonymous/ComfyUI):
 *
 * - POST /prompt {prompt, client_id[, prompt_id, number, front]} validates the API-format
 *   workflow like `validate_prompt` (known class_type, required inputs, links of the right
 *   type, INT/FLOAT within min/max, combo values in their list, an output node) and answers
 *   {prompt_id, number, node_errors}, or 400 {error: {type, message, details, extra_info},
 *   node_errors: {id: {errors, dependent_outputs, class_type}}}. Stricter than the real one in
 *   two ways, so a template bug shows: INT/FLOAT inputs must be JSON numbers (ComfyUI would
 *   also take "42"), and no text input may still hold a `{{placeholder}}`.
 * - One executor runs prompts in queue order. Over GET /ws?clientId=X it sends `status` on
 *   connect (and to everyone when the queue changes), then to the prompt's client_id only
 *   (dropped when that client is not connected, as ComfyUI does): execution_start,
 *   execution_cached, executing {node}, progress {value, max, node: '3'} spread over the
 *   sampling, a binary JPEG preview frame, executed, execution_success and finally
 *   executing {node: null}.
 * - GET /history/{id} is {} until the prompt ended, then {id: {prompt, outputs, status, meta}};
 *   GET /queue is {queue_running, queue_pending} of queue items; GET /view serves outputs.
 * - POST /queue {delete: [ids]} drops pending prompts; POST /interrupt stops the running
 *   prompt, only if it is the one named by {prompt_id} when a body names one (a "global
 *   interrupt" otherwise); the interrupted prompt lands in history with status 'error'.
 * - POST /upload/image stores an input image for LoadImage.
 *
 * ComfyUI has no authentication: the 'unauthorized' scenario is a reverse proxy in front of it.
 * In the 'timeout' scenario a prompt starts sampling and never finishes until interrupted.
 */
class FakeComfyUi extends FakeBackend {
  readonly #clients = new Map<string, WebSocket>();
  readonly #pending: Task[] = [];
  #running: Task | undefined;
  readonly #history = new Map<string, HistoryEntry>();
  readonly #outputs = new Map<string, Buffer>();
  readonly #inputs = new Set<string>();
  #number = 0;
  #counter = 0;
  #preview: Buffer | undefined;
  #starting: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    super();
    this.wss.on('connection', (ws, req) => this.#connect(ws, req));
    this.route('POST', /^\/prompt$/, (req) => this.#prompt(req));
    this.route('GET', /^\/prompt$/, () => ({ json: { exec_info: this.#execInfo() } }));
    this.route('GET', /^\/history\/[^/]+$/, (req) => {
      const id = decodeURIComponent(req.path.slice('/history/'.length));
      const entry = this.#history.get(id);
      return { json: entry ? { [id]: entry } : {} };
    });
    this.route('GET', /^\/queue$/, () => ({
      json: {
        queue_running: this.#running ? [this.#running.item] : [],
        queue_pending: this.#pending.map((t) => t.item),
      },
    }));
    this.route('POST', /^\/queue$/, (req) => this.#queue(req));
    this.route('POST', /^\/interrupt$/, (req) => this.#interrupt(req));
    this.route('GET', /^\/view$/, (_req, url) => this.#view(url));
    this.route('POST', /^\/upload\/image$/, (req) => this.#upload(req));
  }

  override reset(scenario: Scenario): void {
    super.reset(scenario);
    // Each scenario starts with an idle server, whatever the last one left running.
    for (const task of this.#pending.splice(0)) task.interrupt.abort();
    this.#running?.interrupt.abort();
  }

  override async stop(): Promise<void> {
    clearTimeout(this.#starting);
    for (const task of this.#pending.splice(0)) task.interrupt.abort();
    this.#running?.interrupt.abort();
    await super.stop();
  }

  #execInfo() {
    return { queue_remaining: this.#pending.length + (this.#running ? 1 : 0) };
  }

  #send(type: string, data: Record<string, unknown>, sid?: string): void {
    const text = JSON.stringify({ type, data });
    const targets = sid === undefined ? [...this.#clients.values()] : [this.#clients.get(sid)];
    for (const ws of targets) if (ws && ws.readyState === ws.OPEN) ws.send(text);
  }

  #queueUpdated(): void {
    this.#send('status', { status: { exec_info: this.#execInfo() } });
  }

  #connect(ws: WebSocket, req: IncomingMessage): void {
    const url = new URL(req.url ?? '/', this.url);
    if (url.pathname !== '/ws') {
      ws.close(1008, 'not found');
      return;
    }
    const sid = url.searchParams.get('clientId') || randomUUID().replace(/-/g, '');
    this.#clients.get(sid)?.terminate();
    this.#clients.set(sid, ws);
    ws.on('close', () => {
      if (this.#clients.get(sid) === ws) this.#clients.delete(sid);
    });
    ws.send(
      JSON.stringify({ type: 'status', data: { status: { exec_info: this.#execInfo() }, sid } }),
    );
  }

  #prompt(req: Recorded): Reply {
    // A reverse proxy (auth, rate limits) in front of ComfyUI, or a broken one.
    const injected = this.injectOnCreate((message) => ({ error: message }));
    if (injected) return injected;
    const body = req.body as {
      prompt?: unknown;
      client_id?: unknown;
      prompt_id?: unknown;
      number?: unknown;
      front?: unknown;
    };
    if (!body || typeof body !== 'object' || body.prompt === undefined)
      return {
        status: 400,
        json: {
          error: {
            type: 'no_prompt',
            message: 'No prompt provided',
            details: 'No prompt provided',
            extra_info: {},
          },
          node_errors: {},
        },
      };
    const workflow = body.prompt as Workflow;
    const checked = this.#validate(workflow);
    if (!checked.ok)
      return { status: 400, json: { error: checked.error, node_errors: checked.nodeErrors } };
    let number: number;
    if (typeof body.number === 'number') number = body.number;
    else {
      number = body.front === true ? -this.#number : this.#number;
      this.#number += 1;
    }
    const id = typeof body.prompt_id === 'string' ? body.prompt_id : randomUUID();
    const extra = typeof body.client_id === 'string' ? { client_id: body.client_id } : {};
    this.#pending.push({
      item: [number, id, workflow, extra, checked.outputs],
      interrupt: new AbortController(),
      messages: [],
    });
    this.#pending.sort((a, b) => a.item[0] - b.item[0]);
    this.#queueUpdated();
    this.#pump();
    return { json: { prompt_id: id, number, node_errors: checked.nodeErrors } };
  }

  #validate(
    workflow: Workflow,
  ):
    | { ok: true; outputs: string[]; nodeErrors: Record<string, unknown> }
    | { ok: false; error: NodeError; nodeErrors: Record<string, unknown> } {
    const invalid = (message: string, details: string) => ({
      ok: false as const,
      error: { type: 'invalid_prompt', message, details, extra_info: {} },
      nodeErrors: {},
    });
    if (!workflow || typeof workflow !== 'object' || Array.isArray(workflow))
      return invalid('Cannot execute because the prompt is not an object.', '');
    const outputs: string[] = [];
    for (const [id, node] of Object.entries(workflow)) {
      if (!node || typeof node !== 'object' || typeof node.class_type !== 'string')
        return invalid(
          'Cannot execute because a node is missing the class_type property.',
          `Node ID '#${id}'`,
        );
      const def = NODES[node.class_type];
      if (!def)
        return invalid(
          `Cannot execute because node ${node.class_type} does not exist.`,
          `Node ID '#${id}'`,
        );
      if (def.output) outputs.push(id);
    }
    if (outputs.length === 0)
      return {
        ok: false,
        error: {
          type: 'prompt_no_outputs',
          message: 'Prompt has no outputs',
          details: '',
          extra_info: {},
        },
        nodeErrors: {},
      };

    const validated = new Map<string, { valid: boolean; errors: NodeError[] }>();
    const check = (id: string): boolean => {
      const known = validated.get(id);
      if (known) return known.valid;
      const node = workflow[id] as ApiNode & { class_type: string };
      const def = NODES[node.class_type] as NodeDef;
      const inputs = node.inputs ?? {};
      const errors: NodeError[] = [];
      let valid = true;
      validated.set(id, { valid: true, errors }); // cycles end here
      for (const [name, spec] of Object.entries(def.inputs)) {
        const value = inputs[name];
        const fail = (type: string, message: string, details: string) =>
          errors.push({
            type,
            message,
            details,
            extra_info: { input_name: name, received_value: value },
          });
        if (value === undefined) {
          fail('required_input_missing', 'Required input is missing', name);
          continue;
        }
        if (spec.type === 'LINK' || isLink(value)) {
          if (!isLink(value)) {
            fail('invalid_input_type', `Failed to convert an input value to a ${spec.type}`, name);
            continue;
          }
          const [from, slot] = value;
          const source = workflow[String(from)];
          const type =
            source && typeof source.class_type === 'string'
              ? NODES[source.class_type]?.outputs[slot]
              : undefined;
          const wanted = spec.type === 'LINK' ? spec.of : spec.type;
          if (type !== wanted) {
            fail(
              'return_type_mismatch',
              'Return type mismatch between linked nodes',
              `${name}, received_type(${type ?? 'nothing'}) mismatch input_type(${wanted})`,
            );
            continue;
          }
          if (!check(String(from))) valid = false;
          continue;
        }
        switch (spec.type) {
          case 'INT':
          case 'FLOAT': {
            if (
              typeof value !== 'number' ||
              !Number.isFinite(value) ||
              (spec.type === 'INT' && !Number.isInteger(value))
            ) {
              fail(
                'invalid_input_type',
                `Failed to convert an input value to a ${spec.type} value`,
                `${name}, ${show(value)}, invalid literal for ${spec.type === 'INT' ? 'int() with base 10' : 'float()'}: '${show(value)}'`,
              );
            } else if (value < spec.min) {
              fail(
                'value_smaller_than_min',
                `Value ${value} smaller than min of ${spec.min}`,
                name,
              );
            } else if (value > spec.max) {
              fail('value_bigger_than_max', `Value ${value} bigger than max of ${spec.max}`, name);
            }
            break;
          }
          case 'STRING':
            if (typeof value !== 'string')
              fail(
                'invalid_input_type',
                'Failed to convert an input value to a STRING value',
                name,
              );
            else if (/\{\{\w+\}\}/.test(value))
              // Not a ComfyUI check (it would render the literal text): the fake's own guard.
              fail('unfilled_placeholder', 'A template placeholder was left unfilled', name);
            break;
          case 'COMBO': {
            const choices = spec.choices();
            if (typeof value !== 'string' || !choices.includes(value))
              fail(
                'value_not_in_list',
                'Value not in list',
                `${name}: '${show(value)}' not in ${pyList(choices)}`,
              );
            break;
          }
          case 'IMAGE_FILE':
            if (typeof value !== 'string' || !this.#inputs.has(value))
              fail(
                'custom_validation_failed',
                'Custom validation failed for node',
                `${name} - Invalid image file: ${show(value)}`,
              );
            break;
        }
      }
      const ok = valid && errors.length === 0;
      validated.set(id, { valid: ok, errors });
      return ok;
    };

    const good: string[] = [];
    const nodeErrors: Record<
      string,
      { errors: NodeError[]; dependent_outputs: string[]; class_type: string }
    > = {};
    const reasons: string[] = [];
    for (const output of outputs) {
      if (check(output)) {
        good.push(output);
        continue;
      }
      for (const e of validated.get(output)?.errors ?? [])
        reasons.push(`${e.message}: ${e.details}`);
      for (const [id, result] of validated) {
        if (result.valid || result.errors.length === 0) continue;
        const entry = (nodeErrors[id] ??= {
          errors: result.errors,
          dependent_outputs: [],
          class_type: String(workflow[id]?.class_type),
        });
        if (!entry.dependent_outputs.includes(output)) entry.dependent_outputs.push(output);
      }
    }
    if (good.length === 0)
      return {
        ok: false,
        error: {
          type: 'prompt_outputs_failed_validation',
          message: 'Prompt outputs failed validation',
          details: reasons.join('\n'),
          extra_info: {},
        },
        nodeErrors,
      };
    return { ok: true, outputs: good, nodeErrors };
  }

  /** Starts the next prompt when the executor is idle. */
  #pump(): void {
    if (this.#running || this.#starting || this.#pending.length === 0) return;
    this.#starting = setTimeout(() => {
      this.#starting = undefined;
      const task = this.#pending.shift();
      if (!task || this.#running) return;
      this.#running = task;
      this.#queueUpdated();
      void this.#execute(task).finally(() => {
        if (this.#running === task) this.#running = undefined;
        this.#queueUpdated();
        this.#pump();
      });
    }, START_MS);
  }

  async #execute(task: Task): Promise<void> {
    const [, id, workflow, extra, outputs] = task.item;
    const sid = extra.client_id;
    const signal = task.interrupt.signal;
    const executed: string[] = [];
    const now = () => Date.now();
    const emit = (type: string, data: Record<string, unknown>, record = false) => {
      if (record) task.messages.push([type, data]);
      if (sid !== undefined) this.#send(type, data, sid);
    };
    const step = async (ms: number) => {
      try {
        await wait(ms, undefined, { signal });
        return true;
      } catch {
        return false;
      }
    };
    const run = async (node: string) => {
      emit('executing', { node, display_node: node, prompt_id: id });
      executed.push(node);
      return step(1);
    };

    emit('execution_start', { prompt_id: id, timestamp: now() }, true);
    emit('execution_cached', { nodes: [], prompt_id: id, timestamp: now() }, true);
    const order = this.#order(workflow, outputs);
    let ok = true;
    const images: Record<string, { images: ImageRef[] }> = {};
    for (const node of order) {
      if (!ok) break;
      const def = NODES[String(workflow[node]?.class_type)] as NodeDef;
      const inputs = workflow[node]?.inputs ?? {};
      if (workflow[node]?.class_type === 'KSampler') {
        ok = await run(node);
        const max = Number(inputs.steps);
        for (let value = 1; ok && value <= max; value += 1) {
          if (!(await step(SAMPLE_MS / max))) ok = false;
          else emit('progress', { value, max, prompt_id: id, node });
          if (ok && value === Math.ceil(max / 2) && sid !== undefined) {
            this.#preview ??= await previewFrame();
            const ws = this.#clients.get(sid);
            if (ws && ws.readyState === ws.OPEN) ws.send(this.#preview);
          }
          // The 'timeout' scenario: sampling stalls after its first step.
          if (ok && this.scenario === 'timeout' && value === 1)
            ok = await step(STALL_CAP_MS).then(() => false);
        }
      } else if (def.output) {
        ok = await run(node);
        if (ok) {
          const batch = this.#batchSize(workflow, node);
          const list: ImageRef[] = [];
          for (let i = 0; i < batch; i += 1) list.push(await this.#save(inputs, def.output));
          images[node] = { images: list };
          emit('executed', { node, display_node: node, output: images[node], prompt_id: id });
        }
      } else {
        ok = await run(node);
      }
    }
    const node = executed.at(-1) ?? order[0] ?? '';
    if (!ok) {
      emit(
        'execution_interrupted',
        {
          prompt_id: id,
          node_id: node,
          node_type: String(workflow[node]?.class_type),
          executed: executed.slice(0, -1),
          timestamp: now(),
        },
        true,
      );
    } else {
      emit('execution_success', { prompt_id: id, timestamp: now() }, true);
    }
    this.#history.set(id, {
      prompt: task.item,
      outputs: ok ? images : {},
      status: { status_str: ok ? 'success' : 'error', completed: ok, messages: task.messages },
      meta: Object.fromEntries(
        Object.keys(images).map((n) => [
          n,
          { node_id: n, display_node: n, parent_node: null, real_node_id: n },
        ]),
      ),
    });
    emit('executing', { node: null, prompt_id: id });
  }

  /** Nodes in the order they run: each output's inputs depth-first, then the output. */
  #order(workflow: Workflow, outputs: string[]): string[] {
    const order: string[] = [];
    const visit = (id: string) => {
      if (order.includes(id)) return;
      for (const value of Object.values(workflow[id]?.inputs ?? {}))
        if (isLink(value)) visit(String(value[0]));
      order.push(id);
    };
    for (const o of outputs) visit(o);
    return order;
  }

  /** How many images reach an output node: the batch size of the latent upstream of it. */
  #batchSize(workflow: Workflow, id: string): number {
    const seen = new Set<string>();
    const find = (n: string): number | undefined => {
      if (seen.has(n)) return undefined;
      seen.add(n);
      const node = workflow[n];
      if (node?.class_type === 'EmptyLatentImage') return Number(node.inputs?.batch_size);
      if (node?.class_type === 'LoadImage') return 1;
      for (const value of Object.values(node?.inputs ?? {})) {
        const found = isLink(value) ? find(String(value[0])) : undefined;
        if (found !== undefined) return found;
      }
      return undefined;
    };
    return find(id) ?? 1;
  }

  async #save(inputs: Record<string, unknown>, type: 'output' | 'temp'): Promise<ImageRef> {
    this.#counter += 1;
    const prefix =
      type === 'output' && typeof inputs.filename_prefix === 'string'
        ? inputs.filename_prefix
        : 'ComfyUI_temp';
    const slash = prefix.lastIndexOf('/');
    const subfolder = slash >= 0 ? prefix.slice(0, slash) : '';
    const base = slash >= 0 ? prefix.slice(slash + 1) : prefix;
    const filename = `${base}_${String(this.#counter).padStart(5, '0')}_.png`;
    this.#outputs.set(`${type}/${subfolder}/${filename}`, await this.outputBytes());
    return { filename, subfolder, type };
  }

  #view(url: URL): Reply {
    const filename = url.searchParams.get('filename');
    if (!filename) return { status: 404, raw: '404: Not Found' };
    if (filename.startsWith('/') || filename.includes('..')) return { status: 400, raw: '' };
    const type = url.searchParams.get('type') ?? 'output';
    if (!['output', 'input', 'temp'].includes(type)) return { status: 400, raw: '' };
    const subfolder = url.searchParams.get('subfolder') ?? '';
    if (subfolder.includes('..')) return { status: 403, raw: '' };
    const data = this.#outputs.get(`${type}/${subfolder}/${filename}`);
    if (!data) return { status: 404, raw: '404: Not Found' };
    return {
      raw: data,
      headers: {
        'content-type': 'image/png',
        'content-length': String(data.length),
        'content-disposition': `filename="${filename}"`,
      },
    };
  }

  #queue(req: Recorded): Reply {
    const body = (req.body ?? {}) as { clear?: unknown; delete?: unknown };
    if (body.clear === true) this.#pending.splice(0);
    if (Array.isArray(body.delete))
      for (const id of body.delete) {
        const at = this.#pending.findIndex((t) => t.item[1] === id);
        if (at >= 0) this.#pending.splice(at, 1);
      }
    this.#queueUpdated();
    return { status: 200, raw: '' };
  }

  #interrupt(req: Recorded): Reply {
    const body = req.body as { prompt_id?: unknown } | undefined;
    const target = body && typeof body === 'object' ? body.prompt_id : undefined;
    // With a prompt_id only that prompt is stopped, if it is the one running; without one,
    // whatever is running is (a "global interrupt").
    if (this.#running && (!target || this.#running.item[1] === target))
      this.#running.interrupt.abort();
    return { status: 200, raw: '' };
  }

  #upload(req: Recorded): Reply {
    const fields = formFields(req.body);
    const name = fields.image;
    if (!name) return { status: 400, raw: '' };
    const subfolder = fields.subfolder ?? '';
    this.#inputs.add(subfolder ? `${subfolder}/${name}` : name);
    return { json: { name, subfolder, type: fields.type || 'input' } };
  }
}

export async function fakeComfyUi(): Promise<FakeBackend> {
  return new FakeComfyUi().start();
}
