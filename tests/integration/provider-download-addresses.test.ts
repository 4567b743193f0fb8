import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadOutput, type DownloadPolicy } from '../../src/providers/http/download.js';
import { samplePng } from '../fakes/providers/fake-backend.js';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

/** Loopback as an IPv6 literal, every way IPv6 can write it. */
const LOOPBACK_AS_IPV6 = [
  '[::1]',
  '[::ffff:127.0.0.1]',
  '[::ffff:7f00:1]',
  '[::7f00:1]',
  '[0:0:0:0:0:ffff:7f00:1]',
];

/**
 * Output URLs come from the backend, so a hosted backend (or whoever controls the URLs it
 * hands back) must not make the worker fetch from loopback or the private network, however
 * the address is written and at any hop of a redirect chain. Only a self-hosted backend,
 * configured as private, may.
 */
describe('where an output may be downloaded from', () => {
  let png: Buffer;
  /** Stands in for a public file host: the only loopback host:port the policy lets through. */
  let origin: Server;
  let originHost = '';
  /** A private service: any request that reaches it is a failure of the check. */
  let secret: Server;
  let secretPort = 0;
  let secretHits = 0;

  beforeAll(async () => {
    png = await samplePng(16);
    origin = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://origin');
      const to = url.searchParams.get('to');
      if (url.pathname === '/redirect' && to) res.writeHead(302, { location: to }).end();
      else res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    });
    originHost = `127.0.0.1:${await listen(origin)}`;
    secret = createServer((_req, res) => {
      secretHits += 1;
      res.writeHead(200, { 'content-type': 'image/png' }).end(png);
    });
    secretPort = await listen(secret);
  });

  afterAll(async () => {
    for (const server of [origin, secret]) {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  const hosted = (): DownloadPolicy => ({
    maxBytes: 1024 * 1024,
    allowPrivate: false,
    allowHosts: [originHost],
  });
  const download = (url: string, policy = hosted()) =>
    downloadOutput('X', url, policy, AbortSignal.timeout(5000));
  const redirectTo = (target: string) =>
    `http://${originHost}/redirect?to=${encodeURIComponent(target)}`;
  const notFetched = {
    code: 'provider_failed',
    retryable: false,
    userMessage: expect.stringMatching(/will not fetch/) as unknown,
  };

  it.each(LOOPBACK_AS_IPV6)('refuses %s for a hosted backend without connecting', async (host) => {
    secretHits = 0;
    await expect(download(`http://${host}:${secretPort}/out.png`)).rejects.toMatchObject(
      notFetched,
    );
    expect(secretHits).toBe(0);
  });

  it.each(['127.0.0.1', 'localhost', '10.0.0.1', '169.254.169.254', ...LOOPBACK_AS_IPV6])(
    'refuses a redirect from a public host to %s for a hosted backend',
    async (host) => {
      secretHits = 0;
      const target = `http://${host}:${secretPort}/latest/meta-data`;
      await expect(download(redirectTo(target))).rejects.toMatchObject(notFetched);
      expect(secretHits).toBe(0);
    },
  );

  it('checks every hop, not only the first redirect', async () => {
    secretHits = 0;
    const twoHops = redirectTo(redirectTo(`http://[::7f00:1]:${secretPort}/`));
    await expect(download(twoHops)).rejects.toMatchObject(notFetched);
    expect(secretHits).toBe(0);
  });

  it('follows a redirect within the public host and downloads the file', async () => {
    const file = await download(redirectTo(`http://${originHost}/out.png`));
    expect(file.mime).toBe('image/png');
  });

  it('lets a self-hosted backend, configured as private, reach a private address', async () => {
    secretHits = 0;
    const selfHosted: DownloadPolicy = { maxBytes: 1024 * 1024, allowPrivate: true };
    const file = await download(redirectTo(`http://127.0.0.1:${secretPort}/out.png`), selfHosted);
    expect(file.mime).toBe('image/png');
    expect(secretHits).toBe(1);
  });
});
