import type { Response } from 'undici';

/** A body that turned out longer than its reader's limit; the read was stopped there. */
export class BodyTooLarge extends Error {
  override readonly name = 'BodyTooLarge';

  constructor(readonly maxBytes: number) {
    super(`the body is larger than ${maxBytes} bytes`);
  }
}

/**
 * A response body, never more than `maxBytes` of it in memory: a declared length over the
 * limit is refused before anything is read (a declared length is not trusted either way), and
 * the bytes are counted as they stream, the read stopped (and the connection dropped) as soon
 * as they pass it. Whatever a backend sends, a call can make us hold `maxBytes` at most.
 */
export async function readLimited(response: Response, maxBytes: number): Promise<Buffer> {
  if (Number(response.headers.get('content-length') ?? 0) > maxBytes) {
    await response.body?.cancel();
    throw new BodyTooLarge(maxBytes);
  }
  // undici types its body as a stream of `any`; each chunk is checked to be bytes.
  const body: AsyncIterable<unknown> | null = response.body;
  if (!body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop by a throw cancels the stream, which closes the connection.
  for await (const chunk of body) {
    if (!(chunk instanceof Uint8Array)) throw new TypeError('a body chunk is not bytes');
    size += chunk.byteLength;
    if (size > maxBytes) throw new BodyTooLarge(maxBytes);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
