import WebSocket from 'ws';
import { z } from 'zod';
import type { ProviderRunContext } from '../../../core/provider.js';
import type { ProviderLogger } from '../../provider-module.js';

/** A text message; each type's data is read by its own schema. */
const socketMessage = z.looseObject({
  type: z.string().optional(),
  data: z.looseObject({ prompt_id: z.unknown().optional() }).optional(),
});
const progressData = z.looseObject({ value: z.number(), max: z.number().positive() });
const executionErrorData = z.looseObject({ exception_message: z.string() });

/** The bytes of a frame, however ws hands them over. */
function frameBytes(raw: WebSocket.RawData): Buffer {
  if (Array.isArray(raw)) return Buffer.concat(raw);
  if (Buffer.isBuffer(raw)) return raw;
  return Buffer.from(raw);
}

export interface ProgressSocketOptions {
  /** ComfyUI's /ws URL for this run's client id, as http(s); the scheme is switched to ws(s). */
  url: string;
  headers: Record<string, string>;
  /** The run waits no longer than this for the socket before it goes on by polling. */
  openMs: number;
  /** A longer message (ws's maxPayload) fails the socket: the run goes on by polling. */
  maxBytes: number;
  logger?: ProviderLogger | undefined;
  /** Put on every log line (provider, client id). */
  fields: object;
}

/**
 * ComfyUI's WebSocket for one run: progress, previews and the reason of a failure. It is a
 * side channel: the run works without it, by polling, so whatever goes wrong with it is
 * logged and never fails the run.
 */
export class ProgressSocket {
  /** Set once the prompt is queued: events of other prompts are ignored, previews start. */
  promptId: string | undefined;
  /** The exception message ComfyUI sent when the run failed. */
  error: string | undefined;
  /** Settles once connected, failed, or after `openMs`, whichever comes first. */
  readonly opened: Promise<void>;
  readonly #ws: WebSocket | undefined;
  #closed = false;

  constructor(
    private readonly options: ProgressSocketOptions,
    private readonly ctx: ProviderRunContext,
  ) {
    this.#ws = this.#connect();
    this.opened = this.#ws ? this.#whenOpen(this.#ws) : Promise.resolve();
  }

  close(): void {
    this.#closed = true;
    this.#ws?.terminate();
  }

  #connect(): WebSocket | undefined {
    const { logger, fields } = this.options;
    let ws: WebSocket;
    try {
      const url = new URL(this.options.url);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      ws = new WebSocket(url, { headers: this.options.headers, maxPayload: this.options.maxBytes });
    } catch (err) {
      logger?.warn({ err, ...fields }, "cannot open ComfyUI's WebSocket: progress by polling only");
      return undefined;
    }
    ws.on('error', (err) => {
      // Closing a socket that is still connecting fails it: that one is ours, not news.
      if (this.#closed) logger?.debug({ err, ...fields }, "ComfyUI's WebSocket closed early");
      else logger?.warn({ err, ...fields }, "ComfyUI's WebSocket failed: progress by polling only");
    });
    ws.on('message', (raw, isBinary) => {
      if (isBinary) this.#onPreview(frameBytes(raw));
      else this.#onMessage(frameBytes(raw).toString('utf8'));
    });
    return ws;
  }

  #whenOpen(ws: WebSocket): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.options.openMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      ws.once('open', done);
      ws.once('error', done);
      ws.once('close', done);
    });
  }

  /** A preview frame: 4 bytes event type (1 = preview image), 4 bytes format (1 JPEG, 2 PNG). */
  #onPreview(frame: Buffer): void {
    if (frame.length > 8 && frame.readUInt32BE(0) === 1 && this.promptId)
      this.ctx.onPreview?.({
        data: frame.subarray(8),
        mime: frame.readUInt32BE(4) === 2 ? 'image/png' : 'image/jpeg',
      });
  }

  #onMessage(text: string): void {
    const message = this.#read(text);
    if (!message) return;
    const { type, data = {} } = message;
    if (this.promptId && data.prompt_id !== undefined && data.prompt_id !== this.promptId) return;
    const progress = type === 'progress' ? progressData.safeParse(data) : undefined;
    if (progress?.success) {
      const { value, max } = progress.data;
      this.ctx.onProgress({
        percent: Math.min(99, Math.round((value / max) * 100)),
        step: value,
        steps: max,
      });
    } else if (type === 'execution_start') {
      this.ctx.onProgress({ percent: 0, message: 'running the workflow' });
    } else if (type === 'execution_error') {
      this.error = executionErrorData.safeParse(data).data?.exception_message ?? 'execution error';
    }
  }

  /** A message as JSON of the documented envelope, or undefined (logged) when it is not. */
  #read(text: string): z.output<typeof socketMessage> | undefined {
    const { logger, fields } = this.options;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      logger?.debug({ err, ...fields }, 'ignored a ComfyUI WebSocket message that is not JSON');
      return undefined;
    }
    const parsed = socketMessage.safeParse(json);
    if (parsed.success) return parsed.data;
    logger?.debug(
      { err: parsed.error, ...fields },
      'ignored a ComfyUI WebSocket message of an unknown shape',
    );
    return undefined;
  }
}
