// The language of a page or an email, as a table: the switcher's choice, then ui_locales, then the
// account's locale, then Accept-Language (q-values), then the default.
import assert from 'node:assert/strict';
import { acceptedTags, chooseLocale } from '../../src/policy/locale.ts';

const S = ['en', 'pl', 'de'];

describe('choosing the language (policy/locale.ts)', () => {
  const rows: [string, Parameters<typeof chooseLocale>[0], string][] = [
    ['nothing said: the default', {}, 'en'],
    ['ui_locales', { uiLocales: 'pl' }, 'pl'],
    ['ui_locales: the first supported of the list', { uiLocales: 'fr-CA pl-PL de' }, 'pl'],
    ['ui_locales over the account and the browser', { uiLocales: 'de', accountLocale: 'pl', acceptLanguage: 'pl' }, 'de'],
    ['the switcher over everything', { chosen: 'en', uiLocales: 'de', accountLocale: 'pl', acceptLanguage: 'pl' }, 'en'],
    ['an unsupported switcher value is ignored', { chosen: 'fr', acceptLanguage: 'de' }, 'de'],
    ['the account locale over the browser', { accountLocale: 'pl-PL', acceptLanguage: 'de' }, 'pl'],
    ['Accept-Language by q-value', { acceptLanguage: 'fr;q=1, de;q=0.5, pl;q=0.8' }, 'pl'],
    ['Accept-Language: q=0 refuses a language', { acceptLanguage: 'pl;q=0, de;q=0.1' }, 'de'],
    ['Accept-Language: region tags', { acceptLanguage: 'de-AT,de;q=0.9' }, 'de'],
    ['nothing supported: the default', { uiLocales: 'fr ja', acceptLanguage: 'es' }, 'en'],
    ['garbage everywhere: the default', { uiLocales: '\u0000<>', acceptLanguage: ';;;q=x,,', accountLocale: '' }, 'en'],
  ];
  for (const [name, hints, want] of rows) it(name, () => assert.equal(chooseLocale(hints, S, 'en'), want));

  it('another default', () => assert.equal(chooseLocale({}, S, 'pl'), 'pl'));
  it('reads at most 20 Accept-Language entries', () => assert.equal(acceptedTags(Array.from({ length: 50 }, () => 'fr').join(',')).length, 20));
});
