import { mkdir, writeFile } from 'node:fs/promises';
import { extensionFor } from '../../core/media.js';
import { join, resolve } from 'node:path';
import type { GenerationSummary } from '../../generation/summary.js';
import type { MediaStore } from '../../store/media-store.js';

export interface SavedOutput {
  path: string;
  mime: string;
  width: number;
  height: number;
  bytes: number;
  sha256: string;
  seed: number;
}

/** Writes a generation's outputs from GridFS to files named `<id>-<n>.<ext>` in `dir`. */
export async function saveOutputs(
  media: MediaStore,
  generation: GenerationSummary,
  dir: string,
): Promise<SavedOutput[]> {
  const target = resolve(dir);
  await mkdir(target, { recursive: true });
  const saved: SavedOutput[] = [];
  for (const output of generation.outputs) {
    const path = join(target, `${generation.id}-${output.index + 1}.${extensionFor(output.mime)}`);
    await writeFile(path, await media.get(output.fileId));
    saved.push({
      path,
      mime: output.mime,
      width: output.width,
      height: output.height,
      bytes: output.bytes,
      sha256: output.sha256,
      seed: output.seed,
    });
  }
  return saved;
}
