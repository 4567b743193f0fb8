import sharp from 'sharp';
import type { ProgressEvent } from '../core/progress.js';
import type { ProgressPayload } from '../queue/contracts.js';
import type { JobRun } from './job-run.js';

/** Least time between two previews of one generation. */
const PREVIEW_INTERVAL_MS = 2000;

/**
 * A backend's preview as a small JPEG (at most 256 px a side and 24 KB), base64, for the
 * progress event: it travels through the queue's event stream, so it is kept small.
 */
async function shrinkPreview(data: Uint8Array): Promise<string | undefined> {
  const jpeg = await sharp(data)
    .resize(256, 256, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#000000' })
    .jpeg({ quality: 60 })
    .toBuffer();
  return jpeg.length <= 24 * 1024 ? jpeg.toString('base64') : undefined;
}

/**
 * A job's progress on its way to the progress channel: held back until the job is shown as
 * running, at most one write per interval (a final step always goes out), and only when it
 * changed. Previews are shrunk, at most one every `PREVIEW_INTERVAL_MS`.
 */
export class ProgressPublisher {
  readonly #run: JobRun;
  readonly #intervalMs: number;
  #lastWrite = 0;
  #lastSent = '';
  #lastEvent: ProgressEvent = {};
  /** Progress is held back until the job has run long enough to be shown as running. */
  #shown = false;
  #lastPreview = 0;
  #previewing = false;

  constructor(run: JobRun, intervalMs: number) {
    this.#run = run;
    this.#intervalMs = intervalMs;
  }

  publish(event: ProgressEvent, force = false): void {
    const now = Date.now();
    if (event.preview === undefined) this.#lastEvent = event;
    if (!this.#shown || (!force && now - this.#lastWrite < this.#intervalMs)) return;
    const { id, attempt, log, deps } = this.#run;
    const payload: ProgressPayload = {
      ...event,
      generationId: id,
      status: 'processing',
      attempt,
    };
    // Only what changed goes out: a repeated step is not worth a Redis write and an edit.
    const serialized = JSON.stringify(payload);
    if (serialized === this.#lastSent) return;
    this.#lastSent = serialized;
    this.#lastWrite = now;
    deps.progress
      ?.publish(payload)
      .catch((error: unknown) => log.warn({ err: error }, 'progress update failed'));
  }

  /** From now on progress goes out, starting with the latest step (or "started"). */
  show(): void {
    this.#shown = true;
    const { attempt } = this.#run;
    const started = { percent: 0, message: attempt > 1 ? `attempt ${attempt}` : 'started' };
    const last = this.#lastEvent;
    this.publish(last.percent !== undefined || last.step !== undefined ? last : started, true);
  }

  /** A backend's intermediate image; dropped once `signal` has fired. */
  preview(image: { data: Uint8Array }, signal: AbortSignal): void {
    const now = Date.now();
    if (now - this.#lastPreview < PREVIEW_INTERVAL_MS || this.#previewing) return;
    this.#lastPreview = now;
    this.#previewing = true;
    void shrinkPreview(image.data)
      .then((preview) => {
        if (preview && !signal.aborted) this.publish({ ...this.#lastEvent, preview }, true);
      })
      .catch((error: unknown) => this.#run.log.debug({ err: error }, 'preview skipped'))
      .finally(() => {
        this.#previewing = false;
      });
  }
}
