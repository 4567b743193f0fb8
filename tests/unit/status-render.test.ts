import { describe, expect, it } from 'vitest';
import { renderText, type ProgressView } from '../../src/delivery/progress-view.js';
import { renderProgress } from '../../src/platforms/discord/render.js';
import { renderStatus } from '../../src/platforms/telegram/render.js';

const failed = (error: string): ProgressView => ({
  generationId: 'k3v9q2m7x1c8ab',
  status: 'failed',
  model: 'local-sketch',
  prompt: 'a red fox',
  price: 4,
  captured: 0,
  count: 1,
  outputs: 0,
  failedOutputs: 0,
  error,
  actions: ['reroll'],
  final: true,
});

/** Every surface's rendering of a view, as the member reads it. */
const surfaces: Record<string, (view: ProgressView) => string> = {
  discord: (v) => JSON.stringify(renderProgress(v).embeds),
  telegram: (v) => renderStatus(v).text,
  console: (v) => renderText(v),
};

describe('failure status on every surface', () => {
  it('says once that the points were returned', () => {
    for (const message of [
      'The generator failed at step 2 of 4. Your points were returned.',
      'The generator took longer than 30 seconds. Your points were returned.',
      'The generator refused this prompt. Your points were returned.',
    ]) {
      for (const [name, render] of Object.entries(surfaces)) {
        const text = render(failed(message));
        expect({ name, count: text.match(/returned/g)?.length }).toEqual({ name, count: 1 });
      }
    }
  });
});
