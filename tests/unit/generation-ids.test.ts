import { describe, expect, it } from 'vitest';
import { GenerationIds } from '../../src/generation/ids.js';

describe('generation ids', () => {
  const key = 'telegram:42:message:-100123:77';

  it('gives the same event the same id, and another event another', () => {
    const ids = new GenerationIds(Buffer.alloc(32, 1));
    expect(ids.idFor(key)).toBe(ids.idFor(key));
    expect(ids.idFor(key)).not.toBe(ids.idFor(`${key}8`));
    expect(ids.idFor(key)).toMatch(/^[a-z2-7]{14}$/);
  });

  it('cannot be worked out from the event without the deployment secret', () => {
    const ours = new GenerationIds(Buffer.alloc(32, 1));
    const theirs = new GenerationIds(Buffer.alloc(32, 2));
    expect(ours.idFor(key)).not.toBe(theirs.idFor(key));
    // Nor is it the unkeyed hash earlier releases used, which anyone could compute.
    expect(ours.idFor(key)).not.toBe(ours.unkeyedIdFor(key));
    expect(ours.unkeyedIdFor(key)).toBe(theirs.unkeyedIdFor(key));
  });

  it('refuses a secret shorter than 32 bytes', () => {
    expect(() => new GenerationIds(Buffer.alloc(16))).toThrow(/32 bytes/);
  });
});
