// More sign-in pages in Chromium in Polish and German (README "Languages"): "Forgot password?"
// (the form, an address refused beside its field, the code page) chosen by the application's
// ui_locales, and the "This wasn't me" page in the language of the account its link names. Every
// page is saved at a phone's width (390 px) and a desktop's (1280 px) as
// screenshots/languages-more/<page>-<language>-<width>.png, checked with axe-core (WCAG 2.2 A/AA),
// and nothing (long German words included) is wider than the screen or its card.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, signIn } from '../support/flow.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/languages-more');
const WIDTHS = [390, 1280];
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

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
    const launched = await launchChromium();
    if (!launched) this.skip();
    browser = launched!;
    mkdirSync(SHOTS, { recursive: true });
    t = await startTessera();
    rp = await RelyingParty.register(t, { name: 'Fotoalbum der Familie Kowalczyk' });
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  /** Saves `p` at both widths (nothing wider than the screen or its card) and finds no axe violation. */
  async function shots(name: string, p: Page) {
    for (const width of WIDTHS) {
      await p.setViewportSize({ width, height: 800 });
      assert.ok(await p.evaluate<number>('document.documentElement.scrollWidth') <= width, `${name}: nothing wider than ${width} px`);
      const overflowing = await p.evaluate<string[]>(`[...document.querySelectorAll('main *')].filter((e) => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'auto').map((e) => e.tagName + ' ' + e.textContent.trim().slice(0, 40))`);
      assert.deepEqual(overflowing, [], `${name} @${width}: no text wider than its box`);
      await p.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
      await p.evaluate(AXE); // not a script tag: the pages' CSP allows no inline script
      const violations = await p.evaluate(async () => {
        const axe = (globalThis as unknown as { axe: { run(o: object): Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } }).axe;
        const result = await axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
        return result.violations.map((v) => `${v.id} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
      });
      assert.deepEqual(violations, [], `${name} @${width}: axe`);
    }
  }

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
