// Times on the security center's pages, in the time zone of the person's profile (`zoneinfo`, an
// IANA name, daylight saving included) and named after it, or in UTC without one (or with one the
// runtime does not know). One shape everywhere: "YYYY-MM-DD HH:MM <zone>", or the date alone.

const formats = new Map<string, Intl.DateTimeFormat | undefined>();

/** The formatter for `zone` (cached), or undefined for a zone the runtime does not know. */
function formatFor(zone: string): Intl.DateTimeFormat | undefined {
  if (!formats.has(zone)) {
    try {
      // sv-SE writes "YYYY-MM-DD HH:MM"
      formats.set(zone, new Intl.DateTimeFormat('sv-SE', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }));
    } catch {
      formats.set(zone, undefined);
    }
  }
  return formats.get(zone);
}

/** A moment as "YYYY-MM-DD HH:MM <zone>" ("—" for none). */
export function stamp(d: Date | undefined, zone?: string): string {
  if (!d) return '—';
  const format = zone ? formatFor(zone) : undefined;
  if (format && zone) return `${format.format(new Date(d))} ${zone}`;
  return `${new Date(d).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** The day of a moment in that zone, "YYYY-MM-DD" ("—" for none). */
export function day(d: Date | undefined, zone?: string): string {
  if (!d) return '—';
  const format = zone ? formatFor(zone) : undefined;
  return format ? format.format(new Date(d)).slice(0, 10) : new Date(d).toISOString().slice(0, 10);
}

/** Both, bound to one zone: what the pages get as `when` and `day`. */
export function clockFace(zone?: string): { when: (d: Date | undefined) => string; day: (d: Date | undefined) => string } {
  return { when: (d) => stamp(d, zone), day: (d) => day(d, zone) };
}
