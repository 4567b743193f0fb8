import sharp from 'sharp';

export interface FittedFile {
  data: Buffer;
  mime: string;
  /** Re-encoded to fit, so the member knows this is not the original file. */
  reencoded: boolean;
}

/**
 * Makes a file fit Discord's upload limit for this interaction (`attachment_size_limit`).
 * Stills become JPEG at falling quality, then smaller; animations stay GIF and shrink.
 * Returns undefined when nothing reasonable fits, so the caller can say so instead.
 */
export async function fitAttachment(
  data: Buffer,
  mime: string,
  limit: number,
): Promise<FittedFile | undefined> {
  if (data.length <= limit) return { data, mime, reencoded: false };
  if (mime.startsWith('video/')) return undefined;
  const animated = mime === 'image/gif' || mime === 'image/webp';
  const meta = await sharp(data, { animated }).metadata();
  const width = meta.width;
  const pageHeight = meta.pageHeight ?? meta.height;
  for (const scale of [1, 0.75, 0.5, 0.35, 0.25]) {
    const w = Math.max(16, Math.round(width * scale));
    const h = Math.max(16, Math.round(pageHeight * scale));
    if (animated) {
      const out = await sharp(data, { animated: true })
        .resize(w, h, { fit: 'inside' })
        .gif({ effort: 7, colours: scale < 1 ? 128 : 256 })
        .toBuffer();
      if (out.length <= limit) return { data: out, mime: 'image/gif', reencoded: true };
      continue;
    }
    for (const quality of scale === 1 ? [90, 80, 70] : [75]) {
      const out = await sharp(data)
        .resize(w, h, { fit: 'inside' })
        .flatten({ background: '#ffffff' })
        .jpeg({ quality, mozjpeg: true })
        .toBuffer();
      if (out.length <= limit) return { data: out, mime: 'image/jpeg', reencoded: true };
    }
  }
  return undefined;
}
