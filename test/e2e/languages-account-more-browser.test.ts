// More of the security center in Polish and German in Chromium: the profile with a refused time
// zone beside its field, and the session history with its times the language's way, at phone and
// desktop widths, saved as screenshots/languages-account-more/<language>-<page>-<width>.png for a
// person to look at. Nothing spills out of the page; axe-core finds nothing.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import type { Tessera } from '../support/tessera.ts';
import { accountLooks, closeBrowserAndTessera, createUserWithProfile, inSecurityCenter, launchWithTessera, WIDTHS } from '../support/languages.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/languages-account-more');

/** Each language, how the account or browser asks for it, and the words its pages must show. */
const LANGUAGES = [
  { lang: 'pl', profile: { locale: 'pl', zoneinfo: 'Europe/Warsaw' }, browserLocale: 'en-GB', zoneError: '„Mars/Olympus” nie jest strefą czasową, taką jak Europe/Warsaw.', history: 'Historia logowań', time: /^\d{1,2} (stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|września|października|listopada|grudnia) \d{4}, \d\d:\d\d CES?T$/ },
  { lang: 'de', profile: {}, browserLocale: 'de-DE', zoneError: '„Mars/Olympus“ ist keine Zeitzone wie Europe/Berlin.', history: 'Anmeldeverlauf', time: /^\d{1,2}\. (Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember) \d{4}, \d\d:\d\d UTC$/ },
] as const;

describe('more of the security center in Polish and German in a real browser (screenshots, axe)', function () {
  this.timeout(240_000);
  let t: Tessera;
  let browser: Browser;
  const { problems, look } = accountLooks(SHOTS);

  before(async function () {
    ({ browser, t } = await launchWithTessera(this, { shots: SHOTS }));
  });
  after(() => closeBrowserAndTessera(browser, t));

  for (const language of LANGUAGES) {
    it(`shows the ${language.lang} profile with a refused time zone, and the session history, at 390 and 1280 px`, async () => {
      const user = await createUserWithProfile(t, language.profile);
      await inSecurityCenter(browser, t, user, language.browserLocale, async (page) => {
        for (const width of WIDTHS) {
          await page.setViewportSize({ width, height: 900 });
          await page.goto(`${t.issuer}/account/security/profile`);
          assert.equal(await page.getAttribute('html', 'lang'), language.lang);
          await page.locator('#zoneinfo').fill('Mars/Olympus');
          await page.locator('form[action="/account/security/profile"] button[type="submit"]').click();
          await page.waitForLoadState();
          assert.equal((await page.locator('#zoneinfo-error').textContent())?.trim(), language.zoneError);
          await look(page, `${language.lang}-profile-error`, width);

          await page.goto(`${t.issuer}/account/security/history`);
          assert.equal((await page.locator('h1').textContent())?.trim(), language.history);
          assert.match((await page.locator('.history time').first().textContent())?.trim() ?? '', language.time);
          await look(page, `${language.lang}-history`, width);
        }
      });
    });
  }

  it('found no axe violation and nothing spilling out of the page', () => {
    assert.deepEqual(problems, []);
  });
});
