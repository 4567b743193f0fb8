import { describe, expect, it } from 'vitest';
import { isPublicAddress, sniffMime } from '../../src/providers/http/download.js';
import { memberMessage, type ProviderError } from '../../src/core/errors.js';
import {
  abortError,
  failed,
  httpError,
  MEMBER_SENTENCES,
  parseRetryAfter,
  refused,
  timedOut,
} from '../../src/providers/http/errors.js';
import { base64Size } from '../../src/providers/http/output.js';
import { progressFromLogs } from '../../src/providers/http/log-progress.js';
import { fillTemplate } from '../../src/providers/http/template.js';
import { openAiSize } from '../../src/providers/remote/openai.js';

const headers = (h: Record<string, string> = {}) => ({
  get: (n: string) => h[n.toLowerCase()] ?? null,
});

describe('provider toolkit', () => {
  it('reads Retry-After in seconds or as a date, and caps it', () => {
    const now = Date.parse('2026-11-22T10:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter('0.5', now)).toBe(500);
    expect(parseRetryAfter('Sun, 22 Nov 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('86400', now)).toBe(600_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('classifies HTTP errors: retry 429 and 5xx, not 4xx; refusals by their words', () => {
    const limited = httpError('X', 429, headers({ 'retry-after': '3' }), 'slow down');
    expect(limited).toMatchObject({ code: 'rate_limited', retryable: true, retryAfterMs: 3000 });
    expect(httpError('X', 503, headers(), '')).toMatchObject({
      code: 'provider_unavailable',
      retryable: true,
    });
    expect(httpError('X', 401, headers(), 'bad key')).toMatchObject({
      retryable: false,
      code: 'provider_unavailable',
    });
    expect(httpError('X', 422, headers(), 'width must be <= 1440')).toMatchObject({
      retryable: false,
      code: 'provider_failed',
    });
    expect(httpError('X', 400, headers(), 'content_policy_violation: blocked')).toMatchObject({
      retryable: false,
      code: 'provider_refused',
    });
  });

  it('gives members a fixed sentence per kind of failure and keeps the backend’s words for the log', () => {
    const said = "Value not in list: ckpt_name: 'secret-lora.safetensors' not in [...]";
    const cases: [ProviderError, string][] = [
      [httpError('X', 422, headers(), said), MEMBER_SENTENCES.badRequest],
      [httpError('X', 400, headers(), `content policy: ${said}`), MEMBER_SENTENCES.refused],
      [httpError('X', 429, headers(), said), MEMBER_SENTENCES.rateLimited],
      [httpError('X', 503, headers(), said), MEMBER_SENTENCES.unavailable],
      [failed('X', `Traceback (most recent call last): ${said}`), MEMBER_SENTENCES.failed],
      [refused('X', `NSFW: ${said}`), MEMBER_SENTENCES.refused],
    ];
    for (const [error, sentence] of cases) {
      expect(error.userMessage).toBe(sentence);
      expect(memberMessage(error)).not.toMatch(/secret-lora|Traceback/);
      expect(error.backendText).toContain('secret-lora.safetensors');
    }
    // Billing and credentials answers were fixed sentences already; the words go to the log.
    const billing = httpError('X', 402, headers(), 'card ending 4242 declined');
    expect(billing.userMessage).not.toContain('4242');
    expect(billing.backendText).toBe('card ending 4242 declined');
    expect(timedOut('X', 'no answer within 10 ms')).toMatchObject({
      code: 'timeout',
      retryable: true,
      userMessage: MEMBER_SENTENCES.timedOut,
    });
  });

  it('keeps HTML error pages and vague words out of member messages', () => {
    const page = httpError('X', 404, headers(), '<html><body>nginx</body></html>');
    expect(page.userMessage).toBe(
      'The generator rejected this request. Your points were returned.',
    );
    // "Method Not Allowed" is not a content refusal.
    expect(httpError('X', 405, headers(), 'Method Not Allowed').code).toBe('provider_failed');
    expect(
      httpError('X', 400, headers(), 'Your prompt was flagged as sensitive content').code,
    ).toBe('provider_refused');
  });

  it('turns an abort reason into an Error, whatever BullMQ handed the signal', () => {
    const controller = new AbortController();
    controller.abort('cancelled by member');
    const error = abortError(controller.signal);
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toBe('cancelled by member');
  });

  it('treats loopback, private, link-local and mapped addresses as non-public', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '192.168.0.5',
      '172.16.4.4',
      '169.254.169.254',
      '100.64.0.1',
      '::1',
      'fd00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      '0.0.0.0',
    ])
      expect(isPublicAddress(a), a).toBe(false);
    for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111'])
      expect(isPublicAddress(a), a).toBe(true);
  });

  it('lets through only global unicast, judging IPv4 carried in IPv6 as the IPv4 it is', () => {
    for (const a of [
      // Loopback, written every way IPv6 can carry it.
      '::ffff:7f00:1',
      '0:0:0:0:0:ffff:7f00:1',
      '::7f00:1',
      '::127.0.0.1',
      '::a9fe:a9fe', // 169.254.169.254, IPv4-compatible
      '::',
      // Outside 2000::/3, or special inside it: NAT64, 6to4, Teredo, documentation.
      '64:ff9b::7f00:1',
      '2002:7f00:1::1',
      '2001::1',
      '2001:db8::1',
      '4000::1',
      'ff02::1',
      // Not an address.
      'localhost',
      '',
    ])
      expect(isPublicAddress(a), a).toBe(false);
    for (const a of ['::ffff:8.8.8.8', '::8.8.8.8', '2a00:1450:4001:80b::200e'])
      expect(isPublicAddress(a), a).toBe(true);
  });

  it('counts what base64 decodes to without decoding it', () => {
    for (const bytes of [0, 1, 2, 3, 4, 1000, 1001, 1002]) {
      const b64 = Buffer.alloc(bytes, 7).toString('base64');
      expect(base64Size(b64), String(bytes)).toBe(bytes);
      expect(base64Size(`data:image/png;base64,${b64}`), String(bytes)).toBe(bytes);
    }
  });

  it('recognises images and videos by their first bytes', () => {
    expect(sniffMime(Buffer.from('89504e470d0a1a0a', 'hex'))).toBe('image/png');
    expect(sniffMime(Buffer.from('ffd8ffe000104a46', 'hex'))).toBe('image/jpeg');
    expect(sniffMime(Buffer.from('GIF89a'))).toBe('image/gif');
    expect(sniffMime(Buffer.from('<html>'))).toBeUndefined();
  });

  it('fills request templates with typed values and drops missing ones', () => {
    const filled = fillTemplate(
      {
        prompt: '{{prompt}}',
        seed: '{{seed}}',
        neg: '{{negative_prompt}}',
        size: { w: '{{width}}' },
        tag: 'p-{{seed}}',
        list: ['{{prompt}}', '{{nothing}}'],
      },
      { prompt: 'a fox', seed: 7, width: 512 },
    );
    expect(filled).toEqual({
      prompt: 'a fox',
      seed: 7,
      size: { w: 512 },
      tag: 'p-7',
      list: ['a fox'],
    });
  });

  it('reads progress bars from backend logs', () => {
    expect(progressFromLogs('Using seed: 1\n 45%|████▌     | 9/20 [00:02<00:03]')).toEqual({
      percent: 45,
      step: 9,
      steps: 20,
    });
    expect(progressFromLogs('no bar here')).toBeUndefined();
  });

  it('maps a request to the size OpenAI accepts, closest in shape', () => {
    expect(openAiSize('dall-e-3', 1024, 576)).toBe('1792x1024');
    expect(openAiSize('gpt-image-1', 512, 768)).toBe('1024x1536');
    expect(openAiSize('dall-e-2', 1024, 1024)).toBe('1024x1024');
    expect(openAiSize('dall-e-2', 300, 300)).toBe('512x512');
  });
});

describe('output downloads', () => {
  it('refuses a host name that resolves to a private address, without connecting', async () => {
    const { createServer } = await import('node:http');
    const { downloadOutput } = await import('../../src/providers/http/download.js');
    let hits = 0;
    const server = createServer((_req, res) => {
      hits += 1;
      res.writeHead(200, { 'content-type': 'image/png' }).end('x');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const policy = { maxBytes: 1024, allowPrivate: false };
      await expect(
        downloadOutput('X', `http://localhost:${port}/out.png`, policy, AbortSignal.timeout(5000)),
      ).rejects.toMatchObject({
        retryable: false,
        userMessage: expect.stringMatching(/will not fetch/) as unknown,
      });
      await expect(
        downloadOutput(
          'X',
          `http://[::ffff:127.0.0.1]:${port}/out.png`,
          policy,
          AbortSignal.timeout(5000),
        ),
      ).rejects.toMatchObject({ retryable: false });
      await expect(
        downloadOutput('X', `file:///etc/passwd`, policy, AbortSignal.timeout(5000)),
      ).rejects.toMatchObject({ retryable: false });
      expect(hits).toBe(0);
    } finally {
      server.close();
    }
  });
});
