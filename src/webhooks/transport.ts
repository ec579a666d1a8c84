// One webhook POST, made safely: the host is resolved once and every address checked (private,
// loopback, link-local and other non-public ranges are refused unless WEBHOOK_ALLOW_PRIVATE is on),
// then the connection goes to that checked address — a second DNS answer (rebinding) is never
// asked for. TLS still verifies the certificate for the URL's host name. A redirect is an answer,
// never followed; every request has a timeout; the response body is read and dropped.
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

export interface SendSettings {
  timeoutMs: number;
  allowPrivate: boolean;
  /** Extra trusted certificate authorities (PEM), besides Node's own. */
  ca?: string;
}

export interface SendResult {
  status?: number;
  /** A short, fixed description of what went wrong (never a secret, never the response body). */
  error?: string;
  durationMs: number;
}

/** The address as one family (an IPv4-mapped IPv6 address is its IPv4 address). */
function parse(address: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (!ipaddr.isValid(address)) return undefined;
  const parsed = ipaddr.parse(address);
  return parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress() ? (parsed as ipaddr.IPv6).toIPv4Address() : parsed;
}

/** Only ordinary public unicast addresses: everything else (private, loopback, link-local, CGNAT, ULA, 6to4, …) is refused. */
export function isPublicAddress(address: string): boolean {
  const parsed = parse(address);
  return !!parsed && parsed.range() === 'unicast';
}

/** The host of a URL as typed (brackets of an IPv6 literal removed). */
export const hostOf = (url: URL) => url.hostname.replace(/^\[|\]$/g, '');

class Refused extends Error {}

async function addressesOf(host: string): Promise<{ address: string; family: number }[]> {
  if (ipaddr.isValid(host)) return [{ address: host, family: host.includes(':') ? 6 : 4 }];
  try {
    return await lookup(host, { all: true, verbatim: true });
  } catch {
    throw new Refused('the host name did not resolve');
  }
}

export async function send(target: string, headers: Record<string, string>, body: string, settings: SendSettings): Promise<SendResult> {
  const started = process.hrtime.bigint();
  const elapsed = () => Number((process.hrtime.bigint() - started) / 1_000_000n);
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return { error: 'the URL is not valid', durationMs: 0 };
  }
  try {
    const host = hostOf(url);
    const addresses = await addressesOf(host);
    if (!addresses.length) throw new Refused('the host name did not resolve');
    if (!settings.allowPrivate && addresses.some((a) => !isPublicAddress(a.address))) {
      throw new Refused('refused: the host resolves to a private, loopback or link-local address (WEBHOOK_ALLOW_PRIVATE is off)');
    }
    const chosen = addresses[0]!;
    // connect to the address checked above, whatever the resolver would answer now
    const pinned: LookupFunction = (_hostname, options, callback) => {
      if ((options as { all?: boolean }).all) (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [chosen]);
      else callback(null, chosen.address, chosen.family);
    };
    const status = await new Promise<number>((resolve, reject) => {
      const secure = url.protocol === 'https:';
      const options: https.RequestOptions = {
        method: 'POST', hostname: host, port: url.port || (secure ? 443 : 80), path: `${url.pathname}${url.search}`,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'Tessera-Webhooks/1', host: url.host },
        lookup: pinned, agent: false, timeout: settings.timeoutMs,
        ...(secure && !ipaddr.isValid(host) ? { servername: host } : {}),
        // the extra CA joins Node's own roots (a bare `ca` would replace them)
        ...(secure && settings.ca ? { ca: [...tls.rootCertificates, settings.ca] } : {}),
      };
      const req = (secure ? https : http).request(options, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      // the whole exchange, not only idle time, is bounded
      const timer = setTimeout(() => req.destroy(new Refused(`no answer within ${settings.timeoutMs} ms`)), settings.timeoutMs);
      req.on('timeout', () => req.destroy(new Refused(`no answer within ${settings.timeoutMs} ms`)));
      req.on('error', (err) => { clearTimeout(timer); reject(err); });
      req.on('close', () => clearTimeout(timer));
      req.end(body);
    });
    return { status, durationMs: elapsed() };
  } catch (err) {
    return { error: describe(err), durationMs: elapsed() };
  }
}

/** A bounded description of a failure (error codes, never a stack or a header value). */
function describe(err: unknown): string {
  if (err instanceof Refused) return err.message;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^[A-Z_]{2,40}$/.test(code)) {
    if (code.startsWith('ERR_TLS') || code.includes('CERT') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT') return `TLS failed (${code})`;
    return `connection failed (${code})`;
  }
  return 'connection failed';
}
