import { describe, expect, it } from 'vitest';
import { renderText, viewOf } from '../../src/delivery/progress-view.js';
import type { GenerationSummary } from '../../src/generation/summary.js';

const summary: GenerationSummary = {
  id: 'abcdefgh12',
  accountId: 'acc_test',
  status: 'queued',
  model: 'm',
  kind: 'image',
  prompt: 'p',
  price: 8,
  captured: 0,
  count: 2,
  seed: 1,
  width: 64,
  height: 64,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  cancelRequested: false,
  queuePosition: 3,
  outputs: [],
  failedOutputs: [],
};

describe('progress view', () => {
  it('shows the queue position and price while queued, with a cancel action', () => {
    const view = viewOf(summary);
    expect(view.actions).toEqual(['cancel']);
    expect(renderText(view)).toBe('abcdefgh12 [m] queued (position 3), price 8 points');
  });

  it('shows a bar and the step while processing', () => {
    const view = viewOf(summary, {
      generationId: 'abcdefgh12',
      status: 'processing',
      attempt: 1,
      step: 5,
      steps: 10,
      percent: 50,
    });
    expect(renderText(view)).toBe('abcdefgh12 [m] ##########---------- 50% step 5/10');
  });

  it('says what was charged for a partial success, and offers reroll and details', () => {
    const done = {
      ...summary,
      status: 'completed' as const,
      captured: 4,
      failedOutputs: [{ index: 1, code: 'provider_failed', message: '' }],
      outputs: [
        summary.outputs[0] ?? {
          index: 0,
          fileId: 'f',
          mime: 'image/png',
          bytes: 1,
          sha256: 's',
          width: 64,
          height: 64,
          seed: 1,
        },
      ],
    };
    const view = viewOf(done);
    expect(view.actions).toEqual(['reroll', 'details']);
    expect(renderText(view)).toBe('abcdefgh12 [m] done: 1 output (1 of 2 failed; charged 4 of 8)');
  });
});
