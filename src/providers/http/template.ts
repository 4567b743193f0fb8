import type { ProviderJob } from '../../core/provider.js';

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

function dataUri(data: Uint8Array, mime: string): string {
  return `data:${mime};base64,${Buffer.from(data).toString('base64')}`;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function aspectRatio(width: number, height: number): string {
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
