import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'info' }, stream) };
}

describe('logger', () => {
  it('never writes tokens, keys or authorization headers', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        generationId: 'g1',
        token: 'bot-token-123',
        provider: { apiKey: 'sk-secret' },
        request: { headers: { authorization: 'Bearer abc' } },
        config: { redisUrl: 'redis://:pw@h:1' },
      },
      'calling provider',
    );
    const out = lines.join('');
    expect(out).toContain('"generationId":"g1"');
    for (const secret of ['bot-token-123', 'sk-secret', 'Bearer abc', ':pw@'])
      expect(out).not.toContain(secret);
    expect(out).toContain('[redacted]');
  });
});
