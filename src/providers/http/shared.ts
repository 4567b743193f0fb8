import { setTimeout as wait } from 'node:timers/promises';
import pRetry from 'p-retry';
import sharp from 'sharp';
import { ProviderError } from '../../core/errors.js';
import type { ProgressEvent } from '../../core/progress.js';
import type { ProviderJob, ProviderOutputOk } from '../../core/provider.js';
import type { Downloaded } from './download.js';
import { abortError, malformed } from './errors.js';

/** Waits, or throws the abort reason as soon as the job is cancelled or times out. */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await wait(ms, undefined, { signal });
  } catch {
    throw abortError(signal);
  }
}

/** A downloaded or decoded file as a provider output, with its real size. */
export async function toOutput(
  provider: string,
  file: Downloaded,
  seed: number,
  /** A video's size is not read from the file: the request's stands in. */
  requested: { width: number; height: number } = { width: 0, height: 0 },
): Promise<ProviderOutputOk> {
  if (file.mime.startsWith('video/'))
    return {
      ok: true,
      data: file.data,
      mime: file.mime,
      width: requested.width,
      height: requested.height,
      seed,
    };
  try {
    const meta = await sharp(file.data, { animated: true }).metadata();
    return {
      ok: true,
      data: file.data,
      mime: file.mime,
      width: meta.width,
      height: meta.pageHeight ?? meta.height,
      seed,
    };
  } catch (error) {
    throw malformed(provider, 'an output is not a readable image', error);
  }
}

/** Bytes from base64 (plain or a data: URI). */
export function fromBase64(value: string): Buffer {
  return Buffer.from(value.replace(/^data:[^,]*,/, ''), 'base64');
}

export function dataUri(data: Uint8Array, mime: string): string {
  return `data:${mime};base64,${Buffer.from(data).toString('base64')}`;
}

/** The values a request template may use, from a job. */
export function templateValues(job: ProviderJob): Record<string, unknown> {
  const r = job.request;
  const image = job.inputImages[0];
  return {
    prompt: r.prompt,
    negative_prompt: r.negativePrompt,
    width: r.width,
    height: r.height,
    steps: r.steps,
    guidance: r.guidance,
    seed: r.seed,
    count: r.count,
    seconds: r.seconds,
    aspect_ratio: aspectRatio(r.width, r.height),
    model: job.model.ref,
    image: image ? dataUri(image.data, image.mime) : undefined,
  };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export function aspectRatio(width: number, height: number): string {
  const d = gcd(width, height);
  return `${width / d}:${height / d}`;
}

/**
 * Fills a JSON template: a string that is exactly "{{name}}" becomes the value itself (a
 * number stays a number), "{{name}}" inside a longer string is interpolated, and a key whose
 * value is missing is dropped, so optional inputs (negative prompt, image) vanish cleanly.
 */
export function fillTemplate(template: unknown, values: Record<string, unknown>): unknown {
  if (typeof template === 'string') {
    const whole = /^\{\{(\w+)\}\}$/.exec(template);
    if (whole) return values[whole[1] ?? ''];
    return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
      const v = values[name];
      if (v === undefined || v === null) return '';
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'boolean') return String(v);
      return JSON.stringify(v);
    });
  }
  if (Array.isArray(template))
    return template.map((t) => fillTemplate(t, values)).filter((v) => v !== undefined);
  if (template && typeof template === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(template)) {
      const filled = fillTemplate(value, values);
      if (filled !== undefined) out[key] = filled;
    }
    return out;
  }
  return template;
}

/** Percent and steps from a progress-bar line in backend logs ("45%|████▌ | 9/20"). */
export function progressFromLogs(logs: string | undefined | null): ProgressEvent | undefined {
  if (!logs) return undefined;
  const lines = logs
    .trim()
    .split(/\r?\n|\r/)
    .reverse();
  for (const line of lines) {
    const steps = /(\d+)\s*\/\s*(\d+)\s*\[/.exec(line) ?? /\|\s*(\d+)\s*\/\s*(\d+)/.exec(line);
    const pct = /(\d{1,3})%\|/.exec(line);
    if (steps || pct) {
      const step = steps ? Number(steps[1]) : undefined;
      const total = steps ? Number(steps[2]) : undefined;
      const percent = pct
        ? Math.min(100, Number(pct[1]))
        : step !== undefined && total
          ? Math.round((step / total) * 100)
          : undefined;
      return {
        ...(percent !== undefined ? { percent } : {}),
        ...(step !== undefined && total ? { step, steps: total } : {}),
      };
    }
  }
  return undefined;
}

/**
 * A read that may be repeated (a status poll, a result fetch): a retryable failure is tried
 * again a few times (after the backend's Retry-After when it gave one) before the job as a
 * whole is retried, which would start a second remote task.
 */
export function retryRead<T>(read: () => Promise<T>, signal: AbortSignal, retries = 3): Promise<T> {
  return pRetry(read, {
    retries,
    minTimeout: 250,
    maxTimeout: 5000,
    signal,
    shouldRetry: (error) => error instanceof ProviderError && error.retryable,
    onFailedAttempt: async (error) => {
      if (
        error instanceof ProviderError &&
        error.retryAfterMs !== undefined &&
        error.retriesLeft > 0
      )
        await pause(Math.min(error.retryAfterMs, 30_000), signal);
    },
  });
}
