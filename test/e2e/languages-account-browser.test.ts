// The security center in English, Polish and German in Chromium: the overview and the password
// page with an error beside its field, at phone and desktop widths, saved as
// screenshots/languages-account/<language>-<page>-<width>.png for a person to look at. Long German
// words must not push the sidebar or the section tabs out of the page; axe-core finds nothing.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import type { Tessera } from '../support/tessera.ts';
import { accountLooks, closeBrowserAndTessera, createUserWithProfile, inSecurityCenter, launchWithTessera, WIDTHS } from '../support/languages.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/languages-account');

/** Each language, how the account or browser asks for it, and the words its pages must show. */
const LANGUAGES = [
  { lang: 'en', profile: {}, browserLocale: 'en-GB', heading: 'Security', passwordHeading: 'Password', wrong: 'Your current password is not right: nothing was changed.' },
  { lang: 'pl', profile: { locale: 'pl', zoneinfo: 'Europe/Warsaw' }, browserLocale: 'en-GB', heading: 'Bezpieczeństwo', passwordHeading: 'Hasło', wrong: 'Obecne hasło jest nieprawidłowe: nic nie zostało zmienione.' },
  { lang: 'de', profile: {}, browserLocale: 'de-DE', heading: 'Sicherheit', passwordHeading: 'Passwort', wrong: 'Ihr aktuelles Passwort ist nicht richtig: Es wurde nichts geändert.' },
] as const;

describe('the security center in three languages in a real browser (screenshots, axe)', function () {
  this.timeout(240_000);
  let t: Tessera;
  let browser: Browser;
  const { problems, look } = accountLooks(SHOTS);

  before(async function () {
    ({ browser, t } = await launchWithTessera(this, { shots: SHOTS }));
  });
  after(() => closeBrowserAndTessera(browser, t));

  for (const language of LANGUAGES) {
    it(`shows the ${language.lang} overview and a refused password change at 390 and 1280 px`, async () => {
      const user = await createUserWithProfile(t, language.profile);
      // signed in on the hosted page (its own language is the sign-in pages' business)
      await inSecurityCenter(browser, t, user, language.browserLocale, async (page) => {
        for (const width of WIDTHS) {
          await page.setViewportSize({ width, height: 900 });
          await page.goto(`${t.issuer}/account/security`);
          assert.equal(await page.getAttribute('html', 'lang'), language.lang);
          assert.equal((await page.locator('h1').textContent())?.trim(), language.heading);
          await look(page, `${language.lang}-overview`, width);

          await page.goto(`${t.issuer}/account/security/password`);
          await page.locator('#current').fill('Not#The1Password');
          await page.locator('#new-password').fill('Brand#New2Secret');
          await page.locator('#confirm').fill('Brand#New2Secret');
          await page.locator('form[action="/account/security/password"] button[type="submit"]').click();
          await page.waitForLoadState();
          assert.equal((await page.locator('h1').textContent())?.trim(), language.passwordHeading);
          assert.equal((await page.locator('#current-error').textContent())?.trim(), language.wrong);
          await look(page, `${language.lang}-password-error`, width);
        }
      });
    });
  }

  it('found no axe violation and nothing spilling out of the sidebar or the tabs', () => {
    assert.deepEqual(problems, []);
  });
});
