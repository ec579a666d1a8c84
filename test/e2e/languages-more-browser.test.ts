// More sign-in pages in Chromium in Polish and German (README "Languages"): "Forgot password?"
// (the form, an address refused beside its field, the code page) chosen by the application's
// ui_locales, and the "This wasn't me" page in the language of the account its link names. Every
// page is saved at a phone's width (390 px) and a desktop's (1280 px) as
// screenshots/languages-more/<page>-<language>-<width>.png, checked with axe-core (WCAG 2.2 A/AA),
// and nothing (long German words included) is wider than the screen or its card.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, signIn } from '../support/flow.ts';
import { checkPage, closeBrowserAndTessera, launchWithTessera } from '../support/languages.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/languages-more');
/** Saves the page at both widths (nothing wider than the screen or its card) and finds no axe violation. */
const shots = (name: string, page: Page) => checkPage(page, SHOTS, name);

const WORDS = {
  pl: { forgot: 'Nie pamiętasz hasła?', badEmail: 'Wpisz adres e-mail, którym się logujesz, np. imie@example.com.', code: 'Wpisz kod', notMe: 'Zabezpiecz swoje konto' },
  de: { forgot: 'Passwort vergessen?', badEmail: 'Geben Sie die E-Mail-Adresse ein, mit der Sie sich anmelden, zum Beispiel name@example.com.', code: 'Code eingeben', notMe: 'Sichern Sie Ihr Konto' },
} as const;

describe('more sign-in pages in Polish and German in a real browser (screenshots)', function () {
  this.timeout(180_000);
  let t: Tessera;
  let browser: Browser;
  let rp: RelyingParty;

  before(async function () {
    ({ browser, t } = await launchWithTessera(this, { shots: SHOTS }));
    rp = await RelyingParty.register(t, { name: 'Fotoalbum der Familie Kowalczyk' });
  });
  after(() => closeBrowserAndTessera(browser, t));

  for (const language of ['pl', 'de'] as const) {
    it(`asks for a new password in ${language}: the form, an address refused beside its field, the code page`, async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      try {
        await page.goto((await rp.authorize({ ui_locales: language })).url);
        await page.click('a[href$="/forgot"]');
        await page.waitForSelector('form[action$="/forgot"]');
        assert.equal(await page.getAttribute('html', 'lang'), language);
        assert.equal((await page.textContent('h1'))?.trim(), WORDS[language].forgot);
        await shots(`forgot-${language}`, page);
        // the browser lets "name@localhost" through; the server asks for a whole address
        await page.fill('#email', 'name@localhost');
        await page.click('button[value="email"]');
        await page.waitForSelector('#email-error');
        assert.equal((await page.textContent('#email-error'))?.trim(), WORDS[language].badEmail);
        assert.equal(await page.getAttribute('#email', 'aria-describedby'), 'email-error');
        await shots(`forgot-refused-${language}`, page);
        await page.fill('#email', `somebody-${language}@example.com`);
        await page.click('button[value="email"]');
        await page.waitForSelector('#code');
        assert.equal((await page.textContent('h1'))?.trim(), WORDS[language].code);
        await shots(`forgot-code-${language}`, page);
      } finally {
        await context.close();
      }
    });

    it(`shows "This wasn't me" in the language of the link's account (${language})`, async () => {
      const user = await createUser(t);
      await t.services.accounts.updateProfile(user.email, { locale: language });
      await signIn(new UserAgent({ 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0' }), (await rp.authorize()).url, user);
      const [device] = await t.services.devices.listFor(user.id);
      const context = await browser.newContext({ locale: 'en-GB' });
      const page = await context.newPage();
      try {
        await page.goto(t.services.containment.linkFor(user.id, device!.id));
        assert.equal(await page.getAttribute('html', 'lang'), language, 'the account\'s language, not the browser\'s');
        assert.equal((await page.textContent('h1'))?.trim(), WORDS[language].notMe);
        await shots(`not-me-${language}`, page);
      } finally {
        await context.close();
      }
    });
  }
});
