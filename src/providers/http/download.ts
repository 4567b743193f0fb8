import { lookup as dnsLookup } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent, fetch, type Response } from 'undici';
import { ProviderError } from '../../core/errors.js';
import { abortError, reasonOf, timedOut, tooLarge, unavailable } from './errors.js';
import { BodyTooLarge, readLimited } from './read-body.js';

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

/** 2000::/3, where IANA allocates IPv6 global unicast; everything outside it is not public. */
const GLOBAL_UNICAST_V6: [ipaddr.IPv6, number] = [ipaddr.IPv6.parse('2000::'), 3];

/**
 * The IPv4 address an IPv6 one carries: IPv4-mapped (::ffff:127.0.0.1) or IPv4-compatible
 * (::127.0.0.1, written ::7f00:1; deprecated, but a socket may still reach 127.0.0.1 by it).
 * `::` and `::1` come out as 0.0.0.0 and 0.0.0.1, which are not public either.
 */
function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  if (address.isIPv4MappedAddress()) return address.toIPv4Address();
  const [a, b, c, d, e, f, high = 0, low = 0] = address.parts;
  if ([a, b, c, d, e, f].some((part) => part !== 0)) return undefined;
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/**
 * Whether an address is global unicast: an allow-list, not a list of ranges to refuse. An
 * IPv4 address passes only in ipaddr.js's `unicast` range (not loopback, private, link-local
 * with the cloud metadata service, carrier-grade NAT, multicast, reserved…); an IPv6 one that
 * carries an IPv4 address is judged as that address; any other IPv6 address passes only
 * inside 2000::/3 and in the `unicast` range (not 6to4, Teredo, NAT64, documentation…).
 * Anything that is not an IP address at all is not public.
 */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return ipaddr.IPv4.parse(address).range() === 'unicast';
  if (family !== 6) return false;
  const v6 = ipaddr.IPv6.parse(address);
  const v4 = embeddedIPv4(v6);
  if (v4) return v4.range() === 'unicast';
  return v6.match(GLOBAL_UNICAST_V6) && v6.range() === 'unicast';
}

class BlockedAddress extends Error {
  override readonly name = 'BlockedAddress';
}

/** A DNS lookup that refuses to hand a non-public address to the connection. */
const guardedLookup: LookupFunction = (hostname, options, callback) => {
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
};

/**
 * The connection pools of one download, made as its hops need them and closed when it ends:
 * an undici Agent keeps a pool for every origin it has served and never drops one, so agents
 * shared by every download would grow with each host a backend names.
 */
class HopAgents {
  #guarded: Agent | undefined;
  #open: Agent | undefined;

  /** Exempt hops (a self-hosted backend, a test's server) skip the address check. */
  for(exempt: boolean): Agent {
    if (exempt) return (this.#open ??= new Agent());
    return (this.#guarded ??= new Agent({ connect: { lookup: guardedLookup } }));
  }

  /** Drops the pools and their sockets: the body has been read or given up on by now. */
  async close(): Promise<void> {
    await Promise.all([this.#guarded?.destroy(), this.#open?.destroy()]);
  }
}

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

/** One download under way: what every hop and the body read share. */
interface Download {
  provider: string;
  policy: DownloadPolicy;
  /** The job's signal: its abort is a cancel or the model's timeout, never ours to classify. */
  signal: AbortSignal;
  /** The download's own time limit. */
  timeout: AbortSignal;
  /** Either of the two: what every hop and the body read are bound to. */
  bounded: AbortSignal;
  /** Sent to the first URL's origin only. */
  headers: Record<string, string>;
  /** Undefined when the first URL does not parse; its hop refuses it. */
  origin: string | undefined;
  agents: HopAgents;
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
  const download: Download = {
    provider,
    policy,
    signal,
    timeout,
    bounded: AbortSignal.any([signal, timeout]),
    headers,
    origin: URL.parse(url)?.origin,
    agents: new HopAgents(),
  };
  try {
    const response = await follow(download, url);
    await refuseFailure(provider, response);
    const data = await readCapped(download, response);
    return { data, mime: mediaType(provider, data, response.headers.get('content-type')) };
  } finally {
    await download.agents.close();
  }
}

/** The answer at the end of the redirects, each hop checked before it is fetched. */
async function follow(download: Download, url: string): Promise<Response> {
  const maxRedirects = download.policy.maxRedirects ?? DOWNLOAD_DEFAULTS.maxRedirects;
  let current = url;
  for (let hop = 0; ; hop += 1) {
    const target = checkedTarget(download, current);
    const response = await fetchHop(download, target);
    if (![301, 302, 303, 307, 308].includes(response.status)) return response;
    const location = response.headers.get('location');
    await response.body?.cancel();
    if (!location) throw refusedUrl(download.provider, 'a redirect without a location');
    if (hop >= maxRedirects) throw refusedUrl(download.provider, 'too many redirects');
    current = new URL(location, target.url).toString();
  }
}

/** A hop's URL, refused unless http(s) and, for a hosted backend, not a private address. */
function checkedTarget(download: Download, current: string): { url: URL; exempt: boolean } {
  const { provider, policy } = download;
  const url = URL.parse(current);
  if (!url) throw refusedUrl(provider, `not a URL: ${current.slice(0, 100)}`);
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw refusedUrl(provider, `${url.protocol} is not http(s)`);
  const exempt = policy.allowPrivate || (policy.allowHosts ?? []).includes(url.host);
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (!exempt && isIP(literal) !== 0 && !isPublicAddress(literal))
    throw refusedUrl(provider, `${literal} is not a public address`);
  return { url, exempt };
}

/** One hop, its failure classified: a cancel, a blocked address, a timeout or the network. */
async function fetchHop(
  download: Download,
  target: { url: URL; exempt: boolean },
): Promise<Response> {
  const { provider, signal, timeout } = download;
  try {
    return await fetch(target.url, {
      redirect: 'manual',
      headers: target.url.origin === download.origin ? download.headers : {},
      signal: download.bounded,
      dispatcher: download.agents.for(target.exempt),
    });
  } catch (error) {
    if (signal.aborted) throw abortError(signal);
    // undici reports a refused lookup as the cause of its "fetch failed".
    const cause = error instanceof Error ? error.cause : undefined;
    if (cause instanceof BlockedAddress) throw refusedUrl(provider, cause.message);
    if (timeout.aborted) throw timedOut(provider, 'the output download', error);
    throw unavailable(provider, `could not download an output (${reasonOf(error)})`, error);
  }
}

/** An error status: a server's trouble is worth another try, a refusal is not. */
async function refuseFailure(provider: string, response: Response): Promise<void> {
  if (response.ok) return;
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

/** The body, refused as soon as it grows past the limit (a declared length is checked first). */
async function readCapped(download: Download, response: Response): Promise<Buffer> {
  const { provider, policy, signal, timeout } = download;
  try {
    return await readLimited(response, policy.maxBytes);
  } catch (error) {
    if (error instanceof BodyTooLarge) throw tooLarge(provider, policy.maxBytes);
    if (signal.aborted) throw abortError(signal);
    if (timeout.aborted) throw timedOut(provider, 'the output download', error);
    // The connection broke mid-file: worth another try.
    throw unavailable(provider, `the output download broke off (${reasonOf(error)})`, error);
  }
}

/** The file's media type from its bytes; anything but an image or video is refused. */
function mediaType(provider: string, data: Buffer, contentType: string | null): string {
  const declared = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
  const sniffed = sniffMime(data);
  if (
    sniffed &&
    (!declared || /^(image|video)\//.test(declared) || declared === 'application/octet-stream')
  )
    return sniffed;
  throw new ProviderError(
    `${provider}: an output is not an image or video (${declared || 'unknown type'})`,
    {
      code: 'provider_failed',
      retryable: false,
      userMessage:
        'The generator returned something that is not an image or video. Your points were returned.',
    },
  );
}
