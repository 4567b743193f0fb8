import sharp from 'sharp';
import { buildScene, sceneToSvg, type SceneInput } from './scene.js';

/**
 * Draws the local provider's images: the scene of scene.ts (an SVG) as pixels with sharp,
 * encoded as a still image or a looping animation.
 */

export type StillFormat = 'png' | 'webp';
export type AnimationFormat = 'gif' | 'webp';

export interface DrawnImage {
  data: Buffer;
  mime: string;
  width: number;
  height: number;
}

const STILL_MIME: Record<StillFormat, string> = { png: 'image/png', webp: 'image/webp' };
const ANIMATION_MIME: Record<AnimationFormat, string> = { gif: 'image/gif', webp: 'image/webp' };

/** A still image; deterministic for the same input (sharp encodes the same pixels the same way). */
export async function drawStill(input: SceneInput, format: StillFormat): Promise<DrawnImage> {
  const svg = Buffer.from(sceneToSvg(buildScene(input)));
  const image = sharp(svg).resize(input.width, input.height, { fit: 'fill' });
  const data =
    format === 'png'
      ? await image.png({ compressionLevel: 6 }).toBuffer()
      : await image.webp({ quality: 85 }).toBuffer();
  return { data, mime: STILL_MIME[format], width: input.width, height: input.height };
}

/**
 * Per-frame delays in ms. With a duration, they add up to exactly that: GIF stores delays in
 * hundredths of a second, so the frames share the duration in 10 ms units, the remainder
 * spread over the first frames.
 */
function frameDelays(frames: number, delayMs: number, durationMs?: number): number[] {
  if (durationMs === undefined) return Array.from({ length: frames }, () => delayMs);
  const units = Math.round(durationMs / 10);
  const each = Math.floor(units / frames);
  const extra = units - each * frames;
  return Array.from({ length: frames }, (_, i) => (each + (i < extra ? 1 : 0)) * 10);
}

/**
 * A looping animation: the scene's shapes drift over `frames` frames. The frames are stacked
 * into one tall raw image with `pageHeight`, which is how sharp takes animated input.
 */
export async function drawAnimation(
  input: SceneInput,
  options: { frames: number; delayMs: number; format: AnimationFormat; durationMs?: number },
): Promise<DrawnImage> {
  const scene = buildScene(input);
  const { width, height } = input;
  const frames = await Promise.all(
    Array.from({ length: options.frames }, (_, i) =>
      sharp(Buffer.from(sceneToSvg(scene, i / options.frames)))
        .resize(width, height, { fit: 'fill' })
        .ensureAlpha()
        .raw()
        .toBuffer(),
    ),
  );
  const stacked = sharp(Buffer.concat(frames), {
    raw: { width, height: height * options.frames, channels: 4, pageHeight: height },
  });
  const delay = frameDelays(options.frames, options.delayMs, options.durationMs);
  const data =
    options.format === 'gif'
      ? await stacked.gif({ delay, loop: 0, effort: 4 }).toBuffer()
      : await stacked.webp({ delay, loop: 0, quality: 80 }).toBuffer();
  return { data, mime: ANIMATION_MIME[options.format], width, height };
}
