// The standard profile an account may hold (OIDC Core §5.1: every profile claim and the address) and
// its validation. Pure: the store persists it, the provider maps it to claims.
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
  middleName?: string;
  nickname?: string;
  preferredUsername?: string;
  /** BCP 47 language tag, e.g. en-GB */
  locale?: string;
  /** IANA time zone, e.g. Europe/Paris */
  zoneinfo?: string;
  /** https URL of a picture */
  picture?: string;
  /** http(s) URL of the person's profile page (the `profile` claim) */
  profileUrl?: string;
  /** http(s) URL of the person's web page or blog */
  website?: string;
  /** free text: `female`, `male`, or another value the person chooses (OIDC Core §5.1) */
  gender?: string;
  /** YYYY, YYYY-MM-DD, or 0000-MM-DD when the year is withheld (OIDC Core §5.1) */
  birthdate?: string;
  address?: Address;
}

/** Why a birthdate cannot be kept: not one of §5.1's three forms, or no such day (30 February). */
export function birthdateProblem(value: string): string | undefined {
  const form = /^(\d{4})(?:-(\d{2})-(\d{2}))?$/.exec(value);
  const wrong = `birthdate "${value}" must be YYYY-MM-DD (0000-MM-DD without the year, or only YYYY)`;
  if (!form) return wrong;
  const [, year, month, day] = form;
  if (month === undefined) return year === '0000' ? wrong : undefined;
  // the withheld year 0000 is read as a leap year, so 0000-02-29 stays possible
  const y = year === '0000' ? 2000 : Number(year);
  const date = new Date(0);
  date.setUTCFullYear(y, Number(month) - 1, Number(day)); // (Date.UTC would read years 0-99 as 1900-1999)
  if (date.getUTCMonth() !== Number(month) - 1 || date.getUTCDate() !== Number(day)) return `birthdate "${value}" is not a real date`;
  return undefined;
}

/** An http(s) URL of at most 2048 characters, or false. */
function webAddress(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && !!url.hostname && value.length <= 2048 && !/\s/.test(value);
  } catch {
    return false;
  }
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
  text('middle name', p.middleName, 100);
  text('nickname', p.nickname, 100);
  text('gender', p.gender, 50);
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
  if (p.profileUrl !== undefined && !webAddress(p.profileUrl)) problems.push('profile must be an http or https URL');
  if (p.website !== undefined && !webAddress(p.website)) problems.push('website must be an http or https URL');
  if (p.birthdate !== undefined) {
    const problem = birthdateProblem(p.birthdate);
    if (problem) problems.push(problem);
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
    middle_name: p.middleName,
    nickname: p.nickname,
    preferred_username: p.preferredUsername,
    locale: p.locale?.replace('_', '-'),
    zoneinfo: p.zoneinfo,
    picture: p.picture,
    profile: p.profileUrl,
    website: p.website,
    gender: p.gender,
    birthdate: p.birthdate,
    updated_at: Math.floor(updatedAt.getTime() / 1000),
    address,
  }).filter(([, v]) => v !== undefined));
}
