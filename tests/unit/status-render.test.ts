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

describe('a waiting generation on every surface', () => {
  const { error: _none, ...base } = failed('');
  const waiting = (extra: Partial<ProgressView>): ProgressView => ({
    ...base,
    status: 'queued',
    actions: ['cancel'],
    final: false,
    queuePosition: 3,
    ...extra,
  });

  it('shows its place and when it should start and be done', () => {
    for (const [name, render] of Object.entries(surfaces)) {
      const text = render(waiting({ startsInSeconds: 40, etaSeconds: 200 }));
      expect({
        name,
        ok: text.includes('position 3 · starts in about 40 s, done in about 3 min'),
      }).toEqual({
        name,
        ok: true,
      });
    }
  });

  it('says when there is no estimate yet, and when it is next', () => {
    for (const [name, render] of Object.entries(surfaces)) {
      expect({
        name,
        ok: render(waiting({ message: 'no estimate yet' })).includes(
          'position 3 · no estimate yet',
        ),
      }).toEqual({ name, ok: true });
      expect({
        name,
        ok: render(waiting({ queuePosition: 1, startsInSeconds: 0, etaSeconds: 5 })).includes(
          'starts next, done in about 5 s',
        ),
      }).toEqual({ name, ok: true });
    }
  });
});
