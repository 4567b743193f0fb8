import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent, fetch, type Response } from 'undici';
import { ProviderError } from '../../core/errors.js';
import { abortError, tooLarge, unavailable } from './errors.js';

export interface DownloadPolicy {
  /** Larger files are refused while they stream (a declared length is not trusted). */
  maxBytes: number;
  /** Self-hosted backends (ComfyUI, A1111 on a LAN) may serve from private addresses. */
  allowPrivate: boolean;
  /** host:port pairs exempt from the private-address rule (tests' loopback file servers). */
  allowHosts?: readonly string[];
  /** The whole download, redirects included. */
  timeoutMs?: number;
  /** Redirects followed before the download is refused. */
  maxRedirects?: number;
}

export interface Downloaded {
  data: Buffer;
  mime: string;
}

/** What a download policy leaves unset. */
export const DOWNLOAD_DEFAULTS = {
  timeoutMs: 120_000,
  maxRedirects: 5,
} as const satisfies Required<Pick<DownloadPolicy, 'timeoutMs' | 'maxRedirects'>>;

/** Loopback, private, link-local (cloud metadata), carrier-grade NAT, multicast, reserved… */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress())
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  return parsed.range() === 'unicast';
}

class BlockedAddress extends Error {
  override readonly name = 'BlockedAddress';
}

/** A DNS lookup that refuses to hand a non-public address to the connection. */
function guardedLookup(
  hostname: string,
  options: { all?: boolean; family?: number },
  callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void,
): void {
  dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (error, addresses) => {
    if (error) {
      callback(error, []);
      return;
    }
    const blocked = addresses.find((a) => !isPublicAddress(a.address));
    if (blocked) {
      callback(
        new BlockedAddress(`${hostname} resolves to a non-public address (${blocked.address})`),
        [],
      );
      return;
    }
    if (options.all) callback(null, addresses);
    else callback(null, addresses[0]?.address ?? '', addresses[0]?.family ?? 4);
  });
}

const guardedAgent = new Agent({ connect: { lookup: guardedLookup as never } });
const openAgent = new Agent();

const MAGIC: [string, RegExp][] = [
  ['image/png', /^89504e47/],
  ['image/jpeg', /^ffd8ff/],
  ['image/gif', /^47494638/],
  ['image/webp', /^52494646.{8}57454250/],
  ['video/mp4', /^.{8}66747970/],
  ['video/webm', /^1a45dfa3/],
];

/** The media type of a file from its first bytes, when the server's header says nothing useful. */
export function sniffMime(data: Uint8Array): string | undefined {
  const head = Buffer.from(data.subarray(0, 16)).toString('hex');
  return MAGIC.find(([, re]) => re.test(head))?.[0];
}

function refusedUrl(provider: string, why: string): ProviderError {
  return new ProviderError(`${provider}: refused to download an output: ${why}`, {
    code: 'provider_failed',
    retryable: false,
    userMessage: 'The generator returned a file the bot will not fetch. Your points were returned.',
  });
}

/**
 * Fetches a generated file: http(s) only, redirects followed by hand (at most five) with
 * every hop checked, never a private or loopback address unless the backend is local (the
 * check runs on the address actually connected to, so DNS tricks do not get around it),
 * a size limit enforced while streaming, and only images or videos accepted.
 */
export async function downloadOutput(
  provider: string,
  url: string,
  policy: DownloadPolicy,
  signal: AbortSignal,
  /** Sent to the first URL's origin only (a self-hosted backend's basic auth), never onwards. */
  headers: Record<string, string> = {},
): Promise<Downloaded> {
  const timeout = AbortSignal.timeout(policy.timeoutMs ?? DOWNLOAD_DEFAULTS.timeoutMs);
  const combined = AbortSignal.any([signal, timeout]);
  let current = url;
  // Undefined when `url` does not parse; the first hop refuses it.
  const origin = URL.parse(url)?.origin;
  let response: Response | undefined;
  for (let hop = 0; ; hop += 1) {
    const parsed = URL.parse(current);
    if (!parsed) throw refusedUrl(provider, `not a URL: ${current.slice(0, 100)}`);
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
      throw refusedUrl(provider, `${parsed.protocol} is not http(s)`);
    const exempt = policy.allowPrivate || (policy.allowHosts ?? []).includes(parsed.host);
    const literal = parsed.hostname.replace(/^\[|\]$/g, '');
    if (!exempt && isIP(literal) !== 0 && !isPublicAddress(literal))
      throw refusedUrl(provider, `${literal} is not a public address`);
    try {
      response = await fetch(parsed, {
        redirect: 'manual',
        headers: parsed.origin === origin ? headers : {},
        signal: combined,
        dispatcher: exempt ? openAgent : guardedAgent,
      });
    } catch (error) {
      if (signal.aborted) throw abortError(signal);
      const cause = (error as { cause?: unknown }).cause;
      if (cause instanceof BlockedAddress) throw refusedUrl(provider, cause.message);
      if (timeout.aborted) throw unavailable(provider, 'the output download timed out', error);
      throw unavailable(
        provider,
        `could not download an output (${(error as Error).message})`,
        error,
      );
    }
    if ([301, 302, 303, 307, 308].includes(response.status)) {
      const location = response.headers.get('location');
      await response.body?.cancel();
      if (!location) throw refusedUrl(provider, 'a redirect without a location');
      if (hop >= (policy.maxRedirects ?? DOWNLOAD_DEFAULTS.maxRedirects))
        throw refusedUrl(provider, 'too many redirects');
      current = new URL(location, parsed).toString();
      continue;
    }
    break;
  }
  if (!response.ok) {
    await response.body?.cancel();
    if (response.status >= 500 || response.status === 429)
      throw unavailable(provider, `output download answered HTTP ${response.status}`);
    throw new ProviderError(`${provider}: output download answered HTTP ${response.status}`, {
      code: 'provider_failed',
      retryable: false,
      userMessage:
        'The generated file could not be fetched from the generator. Your points were returned.',
    });
  }
  const tooBig = () => tooLarge(provider, policy.maxBytes);
  if (Number(response.headers.get('content-length') ?? 0) > policy.maxBytes) {
    await response.body?.cancel();
    throw tooBig();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  if (response.body) {
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength;
        if (size > policy.maxBytes) throw tooBig();
        chunks.push(Buffer.from(chunk));
      }
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      if (signal.aborted) throw abortError(signal);
      // The connection broke mid-file: worth another try.
      throw unavailable(
        provider,
        `the output download broke off (${(error as Error).message})`,
        error,
      );
    }
  }
  const data = Buffer.concat(chunks);
  const declared = response.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase() ?? '';
  const sniffed = sniffMime(data);
  if (
    !sniffed ||
    (declared && !/^(image|video)\//.test(declared) && declared !== 'application/octet-stream')
  )
    throw new ProviderError(
      `${provider}: an output is not an image or video (${declared || 'unknown type'})`,
      {
        code: 'provider_failed',
        retryable: false,
        userMessage:
          'The generator returned something that is not an image or video. Your points were returned.',
      },
    );
  return { data, mime: sniffed };
}
