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

export function locate(ip: string | undefined): Location | undefined {
  const hit = ip ? geoip.lookup(ip) : null;
  if (!hit?.country) return undefined;
  return { country: hit.country, ...(hit.region ? { region: hit.region } : {}), ...(hit.city ? { city: hit.city } : {}) };
}

export function describeLocation(location: Location | undefined): string {
  if (!location) return 'unknown location';
  // the town and the country's name ("Newmarket, United Kingdom"): geoip's region codes ("ENG") say nothing to people
  return [location.city, countryName(location.country)].filter(Boolean).join(', ');
}

export function clientInfo(ip: string, userAgent: string | undefined): ClientInfo {
  const normalized = normalizeIp(ip);
  const ua = new UAParser((userAgent ?? '').slice(0, 512)).getResult();
  const location = locate(normalized);
  const ll = location && normalized ? geoip.lookup(normalized)?.ll : undefined;
  return {
    ...(normalized ? { ip: normalized } : {}),
    ...(location ? { location } : {}),
    ...(ll && ll.length === 2 && (ll[0] !== 0 || ll[1] !== 0) ? { ll: [ll[0], ll[1]] as [number, number] } : {}),
    browser: [ua.browser.name, ua.browser.major].filter(Boolean).join(' ') || UNKNOWN_BROWSER,
    os: [ua.os.name, ua.os.version].filter(Boolean).join(' ') || UNKNOWN_SYSTEM,
  };
}
