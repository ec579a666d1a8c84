// The standard profile an account may hold (OIDC Core §5.1: profile and address claims) and its
// validation. Pure: the store persists it, the provider maps it to claims.
export interface Address {
  formatted?: string;
  streetAddress?: string;
  locality?: string;
  region?: string;
  postalCode?: string;
  country?: string;
}

export interface Profile {
  givenName?: string;
  familyName?: string;
  preferredUsername?: string;
  /** BCP 47 language tag, e.g. en-GB */
  locale?: string;
  /** IANA time zone, e.g. Europe/Paris */
  zoneinfo?: string;
  /** https URL of a picture */
  picture?: string;
  address?: Address;
}

const TEXT = 200;

function timeZoneExists(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** What is wrong with a profile, in words a person can act on; empty when it is fine. */
export function profileProblems(p: Profile): string[] {
  const problems: string[] = [];
  const text = (label: string, v: string | undefined, max = TEXT) => {
    if (v !== undefined && (v.trim() === '' || v.length > max || /[\u0000-\u001f]/.test(v))) problems.push(`${label} must be 1-${max} printable characters`);
  };
  text('given name', p.givenName, 100);
  text('family name', p.familyName, 100);
  if (p.preferredUsername !== undefined && !/^\S{1,64}$/u.test(p.preferredUsername)) problems.push('preferred username must be 1-64 characters without spaces');
  if (p.locale !== undefined) {
    try {
      if (!/^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$/.test(p.locale)) throw new RangeError();
      Intl.getCanonicalLocales(p.locale.replace('_', '-'));
    } catch {
      problems.push(`locale "${p.locale}" is not a language tag such as en-GB`);
    }
  }
  if (p.zoneinfo !== undefined && (!/^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/.test(p.zoneinfo) || !timeZoneExists(p.zoneinfo))) {
    problems.push(`zoneinfo "${p.zoneinfo}" is not a time zone such as Europe/Paris`);
  }
  if (p.picture !== undefined) {
    let ok = false;
    try { ok = new URL(p.picture).protocol === 'https:' && p.picture.length <= 2048; } catch { /* not a URL */ }
    if (!ok) problems.push('picture must be an https URL');
  }
  for (const [key, value] of Object.entries(p.address ?? {})) text(`address ${key}`, value as string | undefined);
  return problems;
}

/** The profile and address claims, named as OIDC Core names them; absent values are left out. */
export function profileClaims(p: Profile, updatedAt: Date): Record<string, unknown> {
  const a = p.address;
  const address = a && Object.values(a).some(Boolean)
    ? Object.fromEntries(Object.entries({
      formatted: a.formatted, street_address: a.streetAddress, locality: a.locality,
      region: a.region, postal_code: a.postalCode, country: a.country,
    }).filter(([, v]) => v))
    : undefined;
  return Object.fromEntries(Object.entries({
    given_name: p.givenName,
    family_name: p.familyName,
    preferred_username: p.preferredUsername,
    locale: p.locale?.replace('_', '-'),
    zoneinfo: p.zoneinfo,
    picture: p.picture,
    updated_at: Math.floor(updatedAt.getTime() / 1000),
    address,
  }).filter(([, v]) => v !== undefined));
}
