import sharp, { type OutputInfo } from 'sharp';
import { UserError } from '../core/errors.js';
import type { InputImageRef } from '../core/generation-request.js';
import type { MediaStore } from './media-store.js';

/** The largest input image a member may send, before re-encoding. */
export const INPUT_IMAGE_MAX_BYTES = 10 * 1024 * 1024;
/** Inputs are scaled down to fit this square; no model needs more. */
const INPUT_IMAGE_MAX_SIDE = 2048;
const ACCEPTED = /^image\/(png|jpeg|webp|gif)$/;

/** Refuses the member's file; `cause` is why, for the log (the member reads `message`). */
function refuse(message: string, cause?: unknown): never {
  throw new UserError('invalid_input', message, { cause });
}

/**
 * Downloads a member's upload from the platform's file server, refusing a wrong content
 * type or anything over `maxBytes` while it streams (the declared length is not trusted).
 */
export async function downloadInputImage(
  url: string,
  options: { maxBytes?: number; timeoutMs?: number } = {},
): Promise<Buffer> {
  const maxBytes = options.maxBytes ?? INPUT_IMAGE_MAX_BYTES;
  const mb = Math.round(maxBytes / (1024 * 1024));
  let response: Response;
  try {
    response = await fetch(url, {
      redirect: 'error',
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
  } catch (error) {
    refuse('That image could not be downloaded; try sending it again.', error);
  }
  if (!response.ok || !response.body)
    refuse(
      'That image could not be downloaded; try sending it again.',
      new Error(
        response.ok
          ? 'the file server sent no body'
          : `the file server answered ${response.status} ${response.statusText}`,
      ),
    );
  const type = response.headers.get('content-type')?.split(';')[0]?.trim() ?? '';
  if (type !== '' && type !== 'application/octet-stream' && !ACCEPTED.test(type))
    refuse(`That file is not an image (${type}); send a PNG, JPEG, WebP or GIF.`);
  if (Number(response.headers.get('content-length') ?? 0) > maxBytes)
    refuse(`That image is larger than ${mb} MB.`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    // fetch's body yields bytes; its type does not say so.
    if (!(chunk instanceof Uint8Array)) throw new Error('input image: the body is not bytes');
    size += chunk.byteLength;
    if (size > maxBytes) refuse(`That image is larger than ${mb} MB.`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Re-encodes a member's image (rotated upright, at most 2048 px a side, PNG, metadata
 * dropped) and stores it for the worker. Whatever is not a decodable image is refused.
 */
export async function storeInputImage(
  media: MediaStore,
  bytes: Uint8Array,
  meta: { name: string; source: string },
): Promise<InputImageRef> {
  let png: { data: Buffer; info: OutputInfo };
  try {
    png = await sharp(bytes, { limitInputPixels: 64_000_000 })
      .rotate()
      .resize(INPUT_IMAGE_MAX_SIDE, INPUT_IMAGE_MAX_SIDE, {
        fit: 'inside',
        withoutEnlargement: true,
      })
      .png()
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    refuse('That file is not an image this bot can read; send a PNG, JPEG, WebP or GIF.', error);
  }
  const stored = await media.put(png.data, {
    filename: `input-${meta.name}.png`,
    contentType: 'image/png',
    metadata: { source: meta.source },
  });
  return {
    fileId: stored.fileId,
    mime: 'image/png',
    width: png.info.width,
    height: png.info.height,
  };
}
