// Dates and times as a person reads them, on every hosted page, the security center, emails and
// text messages: in the language of the page or message and in the account's time zone (its
// `zoneinfo` claim, an IANA name; none, or one this runtime does not know: UTC), the zone always
// named so a time is never ambiguous: "5 December 2026, 20:48 UTC", "5 grudnia 2026, 21:48 CET",
// "5. Dezember 2026, 21:48 MEZ". A day alone is the language's long date ("5 December 2026").
// Intl (Node's full ICU) knows the months, the zones' names and daylight saving; durations are
// plural translations ("Try again in {{count}} minutes"), not formatted here.
import { LANGUAGES } from './index.ts';

/** English as written in most of the world: day before month, a 24-hour clock (as pl and de). */
const TAG: Record<string, string> = { en: 'en-GB', pl: 'pl', de: 'de' };

const cache = new Map<string, { date: Intl.DateTimeFormat; time: Intl.DateTimeFormat }>();
const zones = new Map<string, boolean>();

/** The zone of a profile's `zoneinfo` when this runtime knows it, else UTC. */
export function zoneOf(zoneinfo: string | undefined): string {
  if (!zoneinfo) return 'UTC';
  if (!zones.has(zoneinfo)) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: zoneinfo });
      zones.set(zoneinfo, true);
    } catch {
      zones.set(zoneinfo, false);
    }
  }
  return zones.get(zoneinfo) ? zoneinfo : 'UTC';
}

function formatsFor(zoneinfo: string | undefined, lang: string) {
  const zone = zoneOf(zoneinfo);
  const tag = TAG[(LANGUAGES as readonly string[]).includes(lang) ? lang : 'en']!;
  const id = `${tag} ${zone}`;
  if (!cache.has(id)) {
    cache.set(id, {
      date: new Intl.DateTimeFormat(tag, { timeZone: zone, dateStyle: 'long' }),
      time: new Intl.DateTimeFormat(tag, { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' }),
    });
  }
  return cache.get(id)!;
}

/** A moment, its zone named: "5 December 2026, 20:48 UTC" ("—" for none). */
export function stamp(d: Date | undefined, zoneinfo?: string, lang = 'en'): string {
  if (!d) return '—';
  const { date, time } = formatsFor(zoneinfo, lang);
  return `${date.format(new Date(d))}, ${time.format(new Date(d))}`;
}

/** The day of a moment in that zone: "5 December 2026" ("—" for none). */
export function day(d: Date | undefined, zoneinfo?: string, lang = 'en'): string {
  if (!d) return '—';
  return formatsFor(zoneinfo, lang).date.format(new Date(d));
}

/** Both, bound to one zone and language: what the pages get as `when` and `day`. */
export function clockFace(zoneinfo?: string, lang = 'en'): { when: (d: Date | undefined) => string; day: (d: Date | undefined) => string } {
  return { when: (d) => stamp(d, zoneinfo, lang), day: (d) => day(d, zoneinfo, lang) };
}
