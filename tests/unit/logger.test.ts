import { Writable } from 'node:stream';
import { DiscordAPIError } from 'discord.js';
import { GrammyError } from 'grammy';
import { errors as undiciErrors } from 'undici';
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

/**
 * A Redis error reply as ioredis rejects a command with it (its ReplyError is untyped): the
 * command, arguments and all, hung on the error.
 */
function replyError(message: string, command: { name: string; args: string[] }): Error {
  return Object.assign(new Error(message), { name: 'ReplyError', command });
}

function refusedAuth(password: string): Error {
  return replyError('WRONGPASS invalid username-password pair or user is disabled.', {
    name: 'auth',
    args: ['default', password],
  });
}

/** `value` wrapped in `levels` objects: `{ a: { a: ... } }`. */
function nested(levels: number, value: unknown): unknown {
  return levels === 0 ? value : { a: nested(levels - 1, value) };
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

  it('names a failed Redis command without its arguments, wherever the error is logged', () => {
    const { lines, logger } = capture();
    const multi = Object.assign(
      replyError('EXECABORT Transaction discarded', { name: 'exec', args: [] }),
      { previousErrors: [refusedAuth('pw-in-a-multi')] },
    );
    logger.error({ err: refusedAuth('pw-under-err') }, 'worker error');
    logger.warn({ reason: refusedAuth('pw-under-reason'), errors: [multi] }, 'lost');
    logger.error(refusedAuth('pw-as-the-first-argument'));
    const out = lines.join('');
    expect(out).toContain('"command":{"name":"auth"}');
    expect(out).toContain('WRONGPASS');
    for (const secret of ['pw-in-a-multi', 'pw-under-err', 'pw-under-reason', 'pw-as-the-first'])
      expect(out).not.toContain(secret);
    expect(out).not.toContain('previousErrors');
  });

  it("never writes a refused Telegram request's payload, image data included", () => {
    const { lines, logger } = capture();
    const photo = Buffer.from('PNG-bytes-of-a-member-image');
    const error = new GrammyError(
      "Call to 'sendPhoto' failed!",
      { ok: false, error_code: 400, description: 'Bad Request: PHOTO_INVALID_DIMENSIONS' },
      'sendPhoto',
      { chat_id: 42, photo: { fileData: photo }, caption: 'a private prompt' },
    );
    logger.warn({ err: error, chat: 42 }, 'delivery refused');
    const out = lines.join('');
    expect(out).toContain('PHOTO_INVALID_DIMENSIONS');
    expect(out).toContain('"method":"sendPhoto"');
    for (const sent of ['payload', 'a private prompt', 'PNG-bytes', photo.toString('base64')])
      expect(out).not.toContain(sent);
  });

  it('drops the request and response bodies HTTP errors carry', () => {
    const { lines, logger } = capture();
    const status = new undiciErrors.ResponseStatusCodeError(
      'Response status code 500',
      500,
      {},
      {
        echo: 'prompt sent back',
      },
    );
    const fetchFailed = Object.assign(new Error('fetch failed'), {
      request: {
        url: 'https://api.example.com/v1/images',
        headers: { Authorization: 'Key fal-id:fal-secret', 'x-api-key': 'xk-123' },
        body: JSON.stringify({
          prompt: 'request body prompt',
          image: 'data:image/png;base64,AAAA',
        }),
      },
    });
    logger.error({ err: status, provider: 'fal' }, 'provider failed');
    logger.error({ err: fetchFailed }, 'provider failed');
    const out = lines.join('');
    expect(out).toContain('Response status code 500');
    expect(out).toContain('https://api.example.com/v1/images');
    for (const sent of ['prompt sent back', 'request body prompt', 'fal-secret', 'xk-123'])
      expect(out).not.toContain(sent);
  });

  it('scrubs every field at any depth, not only err and not only four levels down', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        deep: nested(9, {
          password: 'deep-password',
          apiKey: 'deep-api-key',
          headers: { authorization: 'Bearer deep-bearer', cookie: 'sid=deep-cookie' },
          url: 'mongodb://genbot:deep-url-password@mongo:27017/genbot?authSource=admin',
        }),
        env: { TELEGRAM_BOT_TOKEN: '123456:env-token', FAL_KEY: 'env-fal-key' },
        link: new URL('https://user:url-object-password@example.com/x?token=query-token'),
        callback: 'https://example.com/hook?api_key=query-api-key&page=2',
        list: [[[[[['redis://:list-password@redis:6379']]]]]],
        size: 3,
      },
      'configured',
    );
    const out = lines.join('');
    for (const secret of [
      'deep-password',
      'deep-api-key',
      'deep-bearer',
      'deep-cookie',
      'deep-url-password',
      'env-token',
      'env-fal-key',
      'url-object-password',
      'query-token',
      'query-api-key',
      'list-password',
    ])
      expect(out).not.toContain(secret);
    expect(out).toContain('@mongo:27017/genbot');
    expect(out).toContain('page=2');
    expect(out).toContain('"size":3');
  });

  it("scrubs the message and a child logger's bindings too", () => {
    const { lines, logger } = capture();
    logger
      .child({ upstream: 'redis://:child-password@redis:6379' })
      .child({ hook: 'https://example.com/cb?secret=grandchild-secret' })
      .warn('retrying https://admin:message-password@example.com/api');
    const out = lines.join('');
    for (const secret of ['child-password', 'grandchild-secret', 'message-password'])
      expect(out).not.toContain(secret);
    expect(out).toContain('redis:6379');
    expect(out).toContain('retrying https://');
  });

  it('writes a cycle, a buffer and a deep object without failing the log call', () => {
    const { lines, logger } = capture();
    const loop: Record<string, unknown> = { id: 'g1' };
    loop.self = loop;
    logger.info({ loop, image: Buffer.alloc(2048), deep: nested(200, 'bottom') }, 'odd fields');
    const line = JSON.parse(lines.join('')) as Record<string, unknown>;
    expect(line.loop).toEqual({ id: 'g1', self: '[Circular]' });
    expect(line.image).toBe('[2048 bytes]');
    expect(line.msg).toBe('odd fields');
  });
});
