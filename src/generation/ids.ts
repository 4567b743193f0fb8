import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

function base32(bytes: Uint8Array, length: number): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out;
}

/**
 * The generation id for a platform event. Derived from the event's idempotency key, so the
 * same interaction or update delivered twice maps to the same generation (and its `_id`
 * uniqueness makes the second one a no-op).
 */
export function generationIdFor(invocationKey: string): string {
  return base32(createHash('sha256').update(`generation:${invocationKey}`).digest(), 14);
}

/** A fresh idempotency key for surfaces without one of their own (the console). */
export function randomInvocationKey(prefix: string): string {
  return `${prefix}:${base32(randomBytes(16), 24)}`;
}
