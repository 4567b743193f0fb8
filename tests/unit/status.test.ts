import { describe, expect, it } from 'vitest';
import {
  assertTransition,
  canTransition,
  GENERATION_STATUSES,
  InvalidTransitionError,
  isTerminal,
} from '../../src/core/status.js';

describe('generation statuses', () => {
  it('allows the forward path and retries', () => {
    expect(canTransition('pending', 'queued')).toBe(true);
    expect(canTransition('queued', 'processing')).toBe(true);
    expect(canTransition('processing', 'completed')).toBe(true);
    expect(canTransition('processing', 'queued')).toBe(true);
  });

  it('never leaves a terminal status', () => {
    for (const from of ['completed', 'failed', 'cancelled'] as const) {
      expect(isTerminal(from)).toBe(true);
      for (const to of GENERATION_STATUSES) expect(canTransition(from, to)).toBe(false);
    }
  });

  it('refuses skipping the queue and going backwards', () => {
    expect(canTransition('pending', 'processing')).toBe(false);
    expect(canTransition('pending', 'completed')).toBe(false);
    expect(canTransition('queued', 'pending')).toBe(false);
    expect(() => assertTransition('completed', 'failed')).toThrow(InvalidTransitionError);
  });

  it('lets a job that ends before it is shown as running go from queued to its end', () => {
    expect(canTransition('queued', 'completed')).toBe(true);
    expect(canTransition('queued', 'failed')).toBe(true);
    expect(canTransition('processing', 'processing')).toBe(false);
    expect(() => assertTransition('queued', 'queued')).not.toThrow();
    expect(() => assertTransition('cancelled', 'queued')).toThrow(InvalidTransitionError);
  });
});
