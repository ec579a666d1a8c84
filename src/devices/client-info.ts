// What a request says about where it comes from: the client IP (ctx.ip: X-Forwarded-For only
// behind TRUST_PROXY), its approximate location (geoip-lite's bundled database, offline) and the
// browser and operating system (ua-parser-js). Shown to people; never used to decide anything.
import geoip from 'geoip-lite';
import { UAParser } from 'ua-parser-js';
import { normalizeIp } from '../policy/ip-ranges.ts';
import { countryName } from '../policy/risk.ts';

export interface Location {
  country: string;
  region?: string;
  city?: string;
}

/** What is recorded for a request that names no browser or system (pages translate them: device-words.ts). */
export const UNKNOWN_BROWSER = 'Unknown browser';
export const UNKNOWN_SYSTEM = 'unknown system';

export interface ClientInfo {
  ip?: string;
  location?: Location;
  /** The location's [latitude, longitude] (geoip-lite): for the risk policy's travel speed, never shown. */
  ll?: [number, number];
  browser: string;
  os: string;
}

function placeOf(hit: ReturnType<typeof geoip.lookup>): Location | undefined {
  if (!hit?.country) return undefined;
  return { country: hit.country, ...(hit.region ? { region: hit.region } : {}), ...(hit.city ? { city: hit.city } : {}) };
}

export function describeLocation(location: Location | undefined): string {
  if (!location) return 'unknown location';
  // the town and the country's name ("Newmarket, United Kingdom"): geoip's region codes ("ENG") say nothing to people
  return [location.city, countryName(location.country)].filter(Boolean).join(', ');
}

// A browser sends the same User-Agent on every request, and parsing one costs more than the rest of
// this together: each is parsed once per process (bounded: the header is the sender's to choose).
const MAX_AGENTS = 1_000;
const agents = new Map<string, { browser: string; os: string }>();

function browserAndSystem(userAgent: string | undefined): { browser: string; os: string } {
  const header = (userAgent ?? '').slice(0, 512);
  let named = agents.get(header);
  if (!named) {
    const parser = new UAParser(header);
    const browser = parser.getBrowser();
    const os = parser.getOS();
    named = {
      browser: [browser.name, browser.major].filter(Boolean).join(' ') || UNKNOWN_BROWSER,
      os: [os.name, os.version].filter(Boolean).join(' ') || UNKNOWN_SYSTEM,
    };
    if (agents.size >= MAX_AGENTS) agents.clear();
    agents.set(header, named);
  }
  return named;
}

export function clientInfo(ip: string, userAgent: string | undefined): ClientInfo {
  const normalized = normalizeIp(ip);
  const hit = normalized ? geoip.lookup(normalized) : null;
  const location = placeOf(hit);
  const ll = location ? hit!.ll : undefined;
  return {
    ...(normalized ? { ip: normalized } : {}),
    ...(location ? { location } : {}),
    ...(ll && ll.length === 2 && (ll[0] !== 0 || ll[1] !== 0) ? { ll: [ll[0], ll[1]] as [number, number] } : {}),
    ...browserAndSystem(userAgent),
  };
}
