// Every user-facing string, in every supported language (README "Languages"): i18next with the
// strings in locales/<language>/<namespace>.json, one namespace per area (common, interaction,
// account, email, …). Plurals follow each language's CLDR rules through Intl.PluralRules
// (i18next's `_one`, `_few`, `_many`, `_other` keys: Polish needs all four). Values are
// interpolated unescaped ({{name}}): the templates escape what they print (ejs `<%=`).
// Loaded once, synchronously, at start; test/unit/translations.test.ts fails on a key missing in
// any language.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import i18next, { type i18n, type TOptions } from 'i18next';

/** The languages Tessera speaks; English is complete by definition (every key starts there). */
export const LANGUAGES = ['en', 'pl', 'de'] as const;
export type Language = (typeof LANGUAGES)[number];

/** Each language's own name, for the switcher. */
export const LANGUAGE_NAMES: Record<Language, string> = { en: 'English', pl: 'Polski', de: 'Deutsch' };

export const LOCALES_DIR = path.resolve(import.meta.dirname, '../../locales');

/** A translation function for one language: a namespaced key ("interaction:login.title") and its values. */
export type Translate = (key: string, vars?: TOptions) => string;

/** Every namespace file of every language, as i18next resources. */
export function loadResources(dir = LOCALES_DIR): Record<string, Record<string, Record<string, unknown>>> {
  const resources: Record<string, Record<string, Record<string, unknown>>> = {};
  for (const language of LANGUAGES) {
    resources[language] = {};
    const folder = path.join(dir, language);
    for (const file of readdirSync(folder).filter((f) => f.endsWith('.json')).sort()) {
      resources[language][file.slice(0, -'.json'.length)] = JSON.parse(readFileSync(path.join(folder, file), 'utf8')) as Record<string, unknown>;
    }
  }
  return resources;
}

let shared: i18n | undefined;

/** The one i18next instance (made on first use). */
export function translations(): i18n {
  if (shared) return shared;
  const resources = loadResources();
  const instance = i18next.createInstance();
  void instance.init({
    resources,
    lng: 'en',
    fallbackLng: 'en',
    supportedLngs: [...LANGUAGES],
    ns: Object.keys(resources.en ?? {}),
    defaultNS: 'common',
    nsSeparator: ':',
    keySeparator: '.',
    interpolation: { escapeValue: false },
    returnNull: false,
    initAsync: false,
    showSupportNotice: false,
  } as Parameters<i18n['init']>[0]);
  shared = instance;
  return instance;
}

const MAX_PLAIN = 10_000;

/** The translation function of `language` (unsupported: English). */
export function translator(language: string): Translate {
  const lng = (LANGUAGES as readonly string[]).includes(language) ? language : 'en';
  const fixed = translations().getFixedT(lng);
  // a page asks for a hundred or more strings: one without values is looked up once per process
  const plain = plainStrings(lng);
  return (key, vars) => {
    if (vars) return fixed(key, vars as never) as unknown as string;
    let text = plain.get(key);
    if (text === undefined) {
      text = fixed(key) as unknown as string;
      // bounded, should a key ever be made from a request's input
      if (plain.size < MAX_PLAIN) plain.set(key, text);
    }
    return text;
  };
}

/** Per language, the strings looked up without values (the resources never change while the process runs). */
const plainByLanguage = new Map<string, Map<string, string>>();
function plainStrings(lng: string): Map<string, string> {
  let plain = plainByLanguage.get(lng);
  if (!plain) plainByLanguage.set(lng, (plain = new Map()));
  return plain;
}
