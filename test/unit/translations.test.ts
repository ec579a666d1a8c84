// Every language has every string: the same keys in every namespace of every language (plural keys
// by each language's own CLDR categories), no empty value, the same {{placeholders}} as English,
// and every key the templates and the code ask for exists in English.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { LANGUAGES, loadResources, translations, translator } from '../../src/i18n/index.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PLURAL = /_(zero|one|two|few|many|other)$/;

/** key → value, nested objects flattened with dots. */
function flatten(tree: Record<string, unknown>, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(tree)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object') for (const [kk, vv] of flatten(v as Record<string, unknown>, key)) out.set(kk, vv);
    else out.set(key, String(v));
  }
  return out;
}

/** The keys without plural suffixes, and for each plural key the categories present. */
function shape(flat: Map<string, string>) {
  const plain = new Set<string>();
  const plurals = new Map<string, Set<string>>();
  for (const key of flat.keys()) {
    const m = PLURAL.exec(key);
    if (m) {
      const base = key.slice(0, -m[0].length);
      plurals.set(base, (plurals.get(base) ?? new Set()).add(m[1]!));
    } else plain.add(key);
  }
  return { plain, plurals };
}

const placeholders = (value: string) => [...value.matchAll(/\{\{\s*([\w.]+)[^}]*\}\}/g)].map((m) => m[1]).sort();

/** Every file below `dir` with one of the extensions. */
function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full, ext) : ext.test(name) ? [full] : [];
  });
}

describe('translations (locales/<language>/<namespace>.json)', () => {
  const resources = loadResources();
  const namespaces = Object.keys(resources.en!);

  it('every language has the same namespaces', () => {
    for (const language of LANGUAGES) assert.deepEqual(Object.keys(resources[language]!).sort(), [...namespaces].sort(), language);
  });

  for (const language of LANGUAGES.filter((l) => l !== 'en')) {
    it(`${language}: every English key, with its placeholders and its language's plural forms, and nothing else`, () => {
      const categories = new Intl.PluralRules(language).resolvedOptions().pluralCategories;
      for (const ns of namespaces) {
        const en = flatten(resources.en![ns]!);
        const other = flatten(resources[language]![ns] ?? {});
        const a = shape(en);
        const b = shape(other);
        const missing = [...a.plain].filter((k) => !b.plain.has(k)).concat([...a.plurals.keys()].filter((k) => !b.plurals.has(k)));
        assert.deepEqual(missing, [], `${language}/${ns}.json lacks keys`);
        const extra = [...b.plain].filter((k) => !a.plain.has(k)).concat([...b.plurals.keys()].filter((k) => !a.plurals.has(k)));
        assert.deepEqual(extra, [], `${language}/${ns}.json has keys English does not`);
        for (const [base, present] of b.plurals) {
          for (const c of categories) assert.ok(present.has(c), `${language}/${ns}.json: ${base}_${c} (${language} plural form) is missing`);
        }
        for (const [key, value] of other) {
          assert.ok(value.trim(), `${language}/${ns}.json: ${key} is empty`);
          const base = key.replace(PLURAL, '');
          const english = en.get(key) ?? en.get(`${base}_other`);
          if (english !== undefined) {
            // a plural form may leave out {{count}} (Polish "one" says "jeden"), nothing else
            const want = placeholders(english).filter((p) => !(PLURAL.test(key) && p === 'count'));
            const got = placeholders(value).filter((p) => !(PLURAL.test(key) && p === 'count'));
            assert.deepEqual([...new Set(got)], [...new Set(want)], `${language}/${ns}.json: ${key} has other placeholders than English`);
          }
        }
      }
    });
  }

  it('every key the templates and the code ask for exists in English', () => {
    const en = new Set<string>();
    for (const ns of namespaces) for (const key of flatten(resources.en![ns]!).keys()) { en.add(`${ns}:${key}`); en.add(`${ns}:${key.replace(PLURAL, '')}`); }
    const asked = new Set<string>();
    for (const file of [...files(path.join(ROOT, 'views'), /\.ejs$/), ...files(path.join(ROOT, 'src'), /\.ts$/)]) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\bt\(\s*'([a-z][\w-]*:[\w.-]+)'/g)) asked.add(`${m[1]}|${path.relative(ROOT, file)}`);
    }
    const unknown = [...asked].filter((a) => !en.has(a.split('|')[0]!));
    assert.deepEqual(unknown, [], 'keys asked for but missing from locales/en');
  });

  it('translates with plural rules per language and falls back to English for an unknown language', () => {
    assert.equal(translator('pl')('common:language.label'), 'Język');
    assert.equal(translator('de')('common:language.label'), 'Sprache');
    assert.equal(translator('xx')('common:language.label'), 'Language');
  });

  it('looks a string without values up once per language and process; one with values every time', () => {
    const i18n = translations();
    const original = i18n.getFixedT;
    const lookups: string[] = [];
    i18n.getFixedT = ((...args: Parameters<typeof original>) => {
      const fixed = original.apply(i18n, args);
      return ((key: string, vars?: object) => { lookups.push(`${String(args[0])} ${key}`); return fixed(key, vars as never); }) as never;
    }) as typeof original;
    try {
      // a key nobody asked for before in this process (a missing key reads as itself)
      const key = `common:memo-probe-${process.pid}-${Date.now()}`;
      for (let i = 0; i < 3; i++) assert.equal(translator('de')(key), key.slice('common:'.length));
      assert.equal(translator('pl')(key), key.slice('common:'.length));
      assert.deepEqual(lookups, [`de ${key}`, `pl ${key}`]);
      lookups.length = 0;
      for (let i = 0; i < 2; i++) assert.match(translator('pl')('common:language.label', { n: i }), /Język/);
      assert.equal(lookups.length, 2, 'with values: each time');
      assert.equal(translator('pl')('common:language.label'), 'Język');
    } finally {
      i18n.getFixedT = original;
    }
  });
});
