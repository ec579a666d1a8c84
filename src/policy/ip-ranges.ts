// IP addresses and CIDR ranges (IPv4 and IPv6) for the trusted-IP list: parse what a person typed
// into one canonical range, and ask whether a client address falls in it. Pure; ipaddr.js parses.
import ipaddr from 'ipaddr.js';

export interface IpRange {
  /** Canonical text: "203.0.113.0/24", "2001:db8::/32", a single address as "/32" or "/128". */
  cidr: string;
  kind: 'ipv4' | 'ipv6';
}

/** An address as one family: IPv4-mapped IPv6 (::ffff:203.0.113.9) is the IPv4 address. */
function address(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const trimmed = text.trim().replace(/^\[|\]$/g, '');
  if (!ipaddr.isValid(trimmed)) return undefined;
  // ipaddr.isValid accepts legacy forms such as "10.1" or "0x7f.1": only the four-part dotted quad is an IPv4 address here
  if (!trimmed.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(trimmed)) return undefined;
  const parsed = ipaddr.parse(trimmed);
  return parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress() ? (parsed as ipaddr.IPv6).toIPv4Address() : parsed;
}

/** The canonical form of a client address, or undefined when it is not one. */
export function normalizeIp(text: string): string | undefined {
  return address(text)?.toString();
}

/**
 * The widest range a person may trust: a /16 of IPv4 (65,536 addresses) or a /32 of IPv6 (one
 * provider's allocation). Wider ones, and several of them together (two /1 ranges are the whole
 * internet), would let anyone anywhere skip the second factor.
 */
export const WIDEST_PREFIX = { ipv4: 16, ipv6: 32 } as const;

/** Why a typed range was refused: in English (the audit log, the API), and as a translation with its values (the pages). */
export interface RangeProblem {
  problem: string;
  said: { key: string; vars?: Record<string, string | number> };
}

/** A typed address or range as a canonical range, or why it is not one. */
export function parseRange(text: string): IpRange | RangeProblem {
  const value = text.trim();
  if (!value || value.length > 64) return { problem: 'Enter an IP address (203.0.113.7, 2001:db8::7) or a range (203.0.113.0/24, 2001:db8::/48).', said: { key: 'account:ips.problems.empty' } };
  const [host = '', bits, ...rest] = value.split('/');
  const ip = address(host);
  if (!ip || rest.length || host.includes('%')) return { problem: `"${value}" is not an IP address or range.`, said: { key: 'account:ips.problems.notAddress', vars: { value } } };
  // an IPv4 address written as IPv6 (::ffff:203.0.113.0/120) keeps its IPv6 prefix length
  const mapped = ip.kind() === 'ipv4' && host.includes(':');
  const max = ip.kind() === 'ipv4' ? 32 : 128;
  let prefix = max;
  if (bits !== undefined) {
    const written = mapped ? 128 : max;
    if (!/^(0|[1-9]\d{0,2})$/.test(bits) || Number(bits) > written || (mapped && Number(bits) < 96)) {
      return { problem: `The range size after "/" must be a number from ${mapped ? 96 : 0} to ${written}.`, said: { key: 'account:ips.problems.badPrefix', vars: { min: mapped ? 96 : 0, max: written } } };
    }
    prefix = mapped ? Number(bits) - 96 : Number(bits);
  }
  if (prefix === 0) return { problem: 'A range of every address (/0) cannot be trusted.', said: { key: 'account:ips.problems.everyAddress' } };
  const widest = WIDEST_PREFIX[ip.kind()];
  if (prefix < widest) {
    const shown = mapped ? widest + 96 : widest;
    const vars = { prefix: mapped ? prefix + 96 : prefix, widest: shown, family: ip.kind() === 'ipv4' ? 'IPv4' : 'IPv6' };
    return { problem: `A range this wide (/${vars.prefix}) cannot be trusted: the widest is /${shown} for ${vars.family}. Enter your network's own range, or a single address.`, said: { key: 'account:ips.problems.tooWide', vars } };
  }
  const network = ipaddr.parse(ip.kind() === 'ipv4'
    ? ipaddr.IPv4.networkAddressFromCIDR(`${ip.toString()}/${prefix}`).toString()
    : ipaddr.IPv6.networkAddressFromCIDR(`${ip.toString()}/${prefix}`).toString());
  return { cidr: `${network.toString()}/${prefix}`, kind: ip.kind() };
}

/** Whether a client address is inside a canonical range (different families never match). */
export function inRange(client: string, cidr: string): boolean {
  const ip = address(client);
  if (!ip) return false;
  let range: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    range = ipaddr.parseCIDR(cidr);
  } catch {
    return false;
  }
  return ip.kind() === range[0].kind() && ip.match(range);
}
