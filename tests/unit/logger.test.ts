import { Writable } from 'node:stream';
import { DiscordAPIError } from 'discord.js';
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

  it('scrubs interaction and bot tokens from the URLs inside logged errors', () => {
    const { lines, logger } = capture();
    const token = 'aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTA';
    const error = new DiscordAPIError(
      { code: 50027, message: 'Invalid Webhook Token' },
      50027,
      401,
      'PATCH',
      `https://discord.com/api/v10/webhooks/123456789012345678/${token}/messages/@original`,
      { body: { content: 'secret prompt' }, files: undefined },
    );
    logger.warn({ err: error }, 'message write failed');
    logger.error(
      {
        err: new Error(
          'GET https://api.telegram.org/file/bot123456:AAH-secret_x/photos/1.jpg failed',
        ),
      },
      'download failed',
    );
    const out = lines.join('');
    expect(out).toContain('Invalid Webhook Token');
    expect(out).toContain('/webhooks/123456789012345678/[redacted]/messages/@original');
    for (const secret of [token, 'AAH-secret_x', 'secret prompt'])
      expect(out).not.toContain(secret);
  });
});
