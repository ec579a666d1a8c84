// The sign-in pages in Chromium in English, Polish and German (README "Languages"): the sign-in,
// the emailed-code step and the consent, each language chosen by the application's ui_locales.
// Every page is saved at a phone's width (390 px) and a desktop's (1280 px) as
// screenshots/languages/<page>-<language>-<width>.png, checked with axe-core (WCAG 2.2 A/AA), and
// nothing (long German words included) is wider than the screen or its card.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { Tessera } from '../support/tessera.ts';
import { RelyingParty, createUser, REDIRECT_URI } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';
import { checkPage, closeBrowserAndTessera, launchWithTessera } from '../support/languages.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/languages');
/** Saves the page at both widths (nothing wider than the screen or its card) and finds no axe violation. */
const shots = (name: string, page: Page) => checkPage(page, SHOTS, name);

const WORDS = {
  en: { signIn: 'Sign in', factor: 'Verify it is you', consent: 'Allow access?' },
  pl: { signIn: 'Zaloguj się', factor: 'Potwierdź, że to Ty', consent: 'Zezwolić na dostęp?' },
  de: { signIn: 'Anmelden', factor: 'Bestätigen Sie, dass Sie es sind', consent: 'Zugriff erlauben?' },
} as const;

describe('the sign-in pages in three languages in a real browser (screenshots)', function () {
  this.timeout(180_000);
  let t: Tessera;
  let browser: Browser;
  let rp: RelyingParty;

  before(async function () {
    ({ browser, t } = await launchWithTessera(this, { shots: SHOTS }));
    rp = await RelyingParty.register(t, { name: 'Fotoalbum der Familie Kowalczyk' });
  });
  after(() => closeBrowserAndTessera(browser, t));

  for (const language of ['en', 'pl', 'de'] as const) {
    it(`signs in with an emailed code in ${language}: the sign-in, the code and the consent pages`, async () => {
      const user = await createUser(t);
      await t.services.accounts.setSecondFactor(user.id, 'email');
      const context = await browser.newContext();
      const page = await context.newPage();
      try {
        await page.goto((await rp.authorize({ ui_locales: language })).url);
        assert.equal(await page.getAttribute('html', 'lang'), language);
        assert.equal((await page.textContent('h1'))?.trim(), WORDS[language].signIn);
        await shots(`sign-in-${language}`, page);
        await page.fill('#email', user.email);
        await page.fill('#password', user.password);
        await page.click('form[action$="/login"] button[type=submit]');
        await page.waitForSelector('#code');
        assert.equal((await page.textContent('h1'))?.trim(), WORDS[language].factor);
        await shots(`code-${language}`, page);
        const mail = await eventually(() => t.services.outbox.list().find((m) => m.to === user.email && /\b\d{6}\b/.test(m.text ?? '')), 'the code');
        await page.fill('#code', /\b(\d{6})\b/.exec(mail.text!)![1]!);
        await page.click('form[action$="/factor"] button[type=submit]');
        await page.waitForSelector('form[action$="/confirm"]');
        assert.equal((await page.textContent('h1'))?.trim(), WORDS[language].consent);
        await shots(`consent-${language}`, page);
        const [request] = await Promise.all([
          page.waitForRequest((r) => r.url().startsWith(REDIRECT_URI)),
          page.click('form[action$="/confirm"] button[type=submit]'),
        ]);
        assert.match(request.url(), /code=/);
      } finally {
        await context.close();
      }
    });
  }
});
