import { createHash, createHmac, randomBytes } from 'node:crypto';

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
 * Generation ids for platform events. Derived from the event's idempotency key, so the same
 * interaction or update delivered twice maps to the same generation (and its `_id` uniqueness
 * makes the second one a no-op); keyed with this deployment's secret (HMAC-SHA256), so an id
 * cannot be worked out from the event's public parts (chat and message ids) to reach someone
 * else's generation. Ids already stored stay what they are.
 */
export class GenerationIds {
  readonly #secret: Uint8Array;

  constructor(secret: Uint8Array) {
    if (secret.length < 32) throw new Error('the generation id secret is shorter than 32 bytes');
    this.#secret = secret;
  }

  idFor(invocationKey: string): string {
    const mac = createHmac('sha256', this.#secret).update(`generation:${invocationKey}`);
    return base32(mac.digest(), 14);
  }

  /**
   * The id releases before 0.2 gave the same event (an unkeyed hash): a redelivered event one
   * of them submitted must find its generation (see "Compatibility" in docs/decisions.md).
   */
  unkeyedIdFor(invocationKey: string): string {
    return base32(createHash('sha256').update(`generation:${invocationKey}`).digest(), 14);
  }
}

/** A fresh idempotency key for surfaces without one of their own (the console). */
export function randomInvocationKey(prefix: string): string {
  return `${prefix}:${base32(randomBytes(16), 24)}`;
}
