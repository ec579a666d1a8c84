// Which language a page or an email is in: pure, from what the request and the account say.
// The order: the language the person chose with the switcher in this browser, the relying party's
// `ui_locales` (OIDC Core §3.1.2.1, a space-separated list in order of preference), the account's
// `locale`, the browser's Accept-Language (q-values honoured), then the installation's default.
// A tag matches a supported language by its primary subtag ("pl-PL" → "pl", "de-AT" → "de").

export interface LocaleHints {
  /** The switcher's choice for this browser (a cookie). */
  chosen?: string;
  /** The authorization request's ui_locales. */
  uiLocales?: string;
  /** The signed-in or addressed account's `locale` claim. */
  accountLocale?: string;
  /** The Accept-Language header. */
  acceptLanguage?: string;
}

/** The supported language a tag names, if any ("pl-PL" → "pl"). */
export function supportedTag(tag: string | undefined, supported: readonly string[]): string | undefined {
  if (!tag) return undefined;
  const primary = tag.trim().toLowerCase().split(/[-_]/)[0] ?? '';
  return supported.find((s) => s === primary);
}

/** Accept-Language's tags, most preferred first (q=0 left out; at most 20 looked at). */
export function acceptedTags(header: string | undefined): string[] {
  if (!header) return [];
  return header.slice(0, 512).split(',').slice(0, 20)
    .map((part, i) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([01](?:\.\d{1,3})?)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { tag: (tag ?? '').trim(), q: q === undefined ? 1 : Number(q), i };
    })
    .filter((x) => x.tag && x.tag !== '*' && x.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i)
    .map((x) => x.tag);
}

export function chooseLocale(hints: LocaleHints, supported: readonly string[], fallback: string): string {
  const candidates = [
    hints.chosen,
    ...(hints.uiLocales ?? '').slice(0, 256).split(' '),
    hints.accountLocale,
    ...acceptedTags(hints.acceptLanguage),
  ];
  for (const tag of candidates) {
    const hit = supportedTag(tag, supported);
    if (hit) return hit;
  }
  return fallback;
}
