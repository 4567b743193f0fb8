import sharp from 'sharp';
import type { ProviderOutputOk } from '../../core/provider.js';
import type { Downloaded } from './download.js';
import { malformed } from './errors.js';

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

/** Bytes from base64 (plain or a data: URI), as backends that answer inline send outputs. */
export function fromBase64(value: string): Buffer {
  return Buffer.from(value.replace(/^data:[^,]*,/, ''), 'base64');
}
