// Times on the security center's pages, in the time zone of the person's profile (`zoneinfo`, an
// IANA name, daylight saving included) and named after it, or in UTC without one (or with one the
// runtime does not know). In English one shape everywhere: "YYYY-MM-DD HH:MM <zone>", or the date
// alone; in another language (`locale`: "pl", "de") the language's own numeric date and 24-hour
// time through Intl ("15.03.2026, 14:05 Europe/Warsaw"), the zone still named.

const formats = new Map<string, Intl.DateTimeFormat | undefined>();

/** The formatter for `zone` and `locale` (cached), or undefined for a zone the runtime does not know. */
function formatFor(zone: string, locale = 'en', withTime = true): Intl.DateTimeFormat | undefined {
  const key = `${zone} ${locale} ${withTime}`;
  if (!formats.has(key)) {
    try {
      // sv-SE writes "YYYY-MM-DD HH:MM", English's shape
      const tag = locale === 'en' ? 'sv-SE' : locale;
      formats.set(key, new Intl.DateTimeFormat(tag, { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', ...(withTime ? { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' } as const : {}) }));
    } catch {
      formats.set(key, undefined);
    }
  }
  return formats.get(key);
}

/** A moment as "YYYY-MM-DD HH:MM <zone>" in English, the language's own shape in another ("—" for none). */
export function stamp(d: Date | undefined, zone?: string, locale = 'en'): string {
  if (!d) return '—';
  const known = zone ? formatFor(zone, locale) : undefined;
  if (known && zone) return `${known.format(new Date(d))} ${zone}`;
  if (locale === 'en') return `${new Date(d).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return `${formatFor('UTC', locale)!.format(new Date(d))} UTC`;
}

/** The day of a moment in that zone, "YYYY-MM-DD" in English ("—" for none). */
export function day(d: Date | undefined, zone?: string, locale = 'en'): string {
  if (!d) return '—';
  const known = (zone ? formatFor(zone, locale, false) : undefined) ?? formatFor('UTC', locale, false)!;
  return known.format(new Date(d));
}

/** Both, bound to one zone and language: what the pages get as `when` and `day`. */
export function clockFace(zone?: string, locale = 'en'): { when: (d: Date | undefined) => string; day: (d: Date | undefined) => string } {
  return { when: (d) => stamp(d, zone, locale), day: (d) => day(d, zone, locale) };
}
