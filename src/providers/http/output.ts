import sharp from 'sharp';
import type { ProviderOutputOk } from '../../core/provider.js';
import type { AnswerLimit } from './client.js';
import { HTTP_LIMITS } from './defaults.js';
import type { Downloaded } from './download.js';
import { malformed, tooLarge } from './errors.js';

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

/** The base64 of a value that may be a data: URI. */
function base64Part(value: string): string {
  return value.startsWith('data:') ? value.slice(value.indexOf(',') + 1) : value;
}

/**
 * What base64 decodes to, counted from its length without decoding it: four characters are
 * three bytes, less the padding. Whitespace counts as data, so this errs on the large side.
 */
export function base64Size(value: string): number {
  const b64 = base64Part(value);
  const padding = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((b64.length * 3) / 4) - padding);
}

/** Bytes from base64 (plain or a data: URI), as backends that answer inline send previews. */
export function fromBase64(value: string): Buffer {
  return Buffer.from(base64Part(value), 'base64');
}

/**
 * An output sent inline in base64: its size is checked from the string before anything is
 * decoded, so an output over the limit is refused without a second copy of it in memory.
 */
export function outputFromBase64(provider: string, value: string, maxBytes: number): Buffer {
  if (base64Size(value) > maxBytes) throw tooLarge(provider, maxBytes);
  return fromBase64(value);
}

/**
 * The limit of an answer that carries `count` outputs in base64 (plus, for an echoed request,
 * `echoedBytes` of input images): each output at its largest, and room for the rest. An
 * answer past it holds an output over the limit, and the read stops there.
 */
export function base64AnswerLimit(
  provider: string,
  maxBytes: number,
  count: number,
  echoedBytes = 0,
): AnswerLimit {
  const base64 = (bytes: number) => Math.ceil(bytes / 3) * 4;
  return {
    maxBytes: base64(maxBytes) * count + base64(echoedBytes) + HTTP_LIMITS.answerOverheadBytes,
    refuse: () => tooLarge(provider, maxBytes),
  };
}
