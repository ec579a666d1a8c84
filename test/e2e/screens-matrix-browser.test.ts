// The screenshot matrix of issue 24 (acceptance item 2): the sign-in, code and consent pages of a
// branded application (its uploaded logo, name, colour and links) and of an unbranded one, and the
// security center's overview (the installation's branding), each in English, Polish and German,
// light and dark (prefers-color-scheme), at 390 and 1280 px, saved as
// screenshots/matrix/<page>-<brand>-<lang>-<scheme>-<width>.png for a person to look at. One browser
// and one Tessera; each walk shoots its page in every scheme and width before moving on. Every shot
// checks the page's <html lang> and that nothing is wider than the window (axe runs in
// branding-browser, axe-pages and languages-*-browser).
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { Tessera } from '../support/tessera.ts';
import { createUser, RelyingParty } from '../support/flow.ts';
import { closeBrowserAndTessera, launchWithTessera, signInToSecurityCenter } from '../support/languages.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/matrix');
const LANGUAGES = [
  { lang: 'en', browserLocale: 'en-GB' },
  { lang: 'pl', browserLocale: 'pl-PL' },
  { lang: 'de', browserLocale: 'de-DE' },
] as const;
const SCHEMES = ['light', 'dark'] as const;
const WIDTHS = [390, 1280];

describe('the screenshot matrix: pages × brands × languages × themes × widths (Chromium)', function () {
  this.timeout(300_000);
  let t: Tessera;
  let browser: Browser;
  let branded: RelyingParty;
  let plain: RelyingParty;
  const problems: string[] = [];
  let shots = 0;

  before(async function () {
    ({ browser, t } = await launchWithTessera(this, { shots: SHOTS }));
    // a logo drawn by the browser itself (a PNG), uploaded as an admin would
    const draw = await browser.newPage({ viewport: { width: 200, height: 80 } });
    await draw.setContent('<div style="width:160px;height:64px;background:#0b5d1e;color:#fff;font:700 28px sans-serif;display:grid;place-items:center;border-radius:14px">ACME</div>');
    const logo = await draw.locator('div').screenshot({ type: 'png', omitBackground: true });
    await draw.close();
    branded = await RelyingParty.register(t, {
      name: 'Acme Shop', logoUri: await t.services.logos.save(logo), brandColor: '#0b5d1e',
      policyUri: 'https://acme.example/privacy', tosUri: 'https://acme.example/terms', supportUri: 'https://acme.example/help',
    });
    plain = await RelyingParty.register(t);
  });
  after(() => closeBrowserAndTessera(browser, t));

  /** The page as it is now, in each theme and width: its language, nothing wider than the window, a PNG. */
  async function shoot(page: Page, name: string, lang: string): Promise<void> {
    assert.equal(await page.getAttribute('html', 'lang'), lang, `${name}: <html lang>`);
    for (const scheme of SCHEMES) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const width of WIDTHS) {
        await page.setViewportSize({ width, height: 900 });
        const file = `${name}-${scheme}-${width}`;
        // run in the page (a string: the test's TypeScript has no DOM types)
        const spills = await page.evaluate<string[]>(`(() => {
          const out = [];
          const root = document.documentElement;
          if (root.scrollWidth > window.innerWidth) out.push('page ' + root.scrollWidth + ' px wide in ' + window.innerWidth + ' px');
          for (const el of document.body.querySelectorAll('*')) {
            if (el.closest('[hidden]') || !el.getClientRects().length) continue;
            const box = el.getBoundingClientRect();
            if (box.right > window.innerWidth + 1) out.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ' ends at ' + Math.round(box.right) + ' px');
          }
          return out.slice(0, 5);
        })()`);
        for (const s of spills) problems.push(`${file}: ${s}`);
        await page.screenshot({ path: path.join(SHOTS, `${file}.png`), fullPage: true });
        shots += 1;
      }
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  for (const brand of ['branded', 'unbranded'] as const) {
    for (const { lang, browserLocale } of LANGUAGES) {
      it(`${brand}, ${lang}: sign-in, code and consent`, async () => {
        const rp = brand === 'branded' ? branded : plain;
        const user = await createUser(t, { deviceVerification: true });
        const context = await browser.newContext({ locale: browserLocale, viewport: { width: 1280, height: 900 } });
        const page = await context.newPage();
        try {
          await page.goto((await rp.authorize()).url);
          await page.waitForSelector('#email');
          assert.equal((await page.locator('p.brand').textContent())?.trim(), brand === 'branded' ? 'Acme Shop' : 'Tessera');
          await shoot(page, `sign-in-${brand}-${lang}`, lang);

          await page.fill('#email', user.email);
          await page.fill('#password', user.password);
          await page.locator('form[action$="/login"] button[type=submit]').click();
          await page.waitForSelector('#code');
          await shoot(page, `code-${brand}-${lang}`, lang);

          await t.services.notices.settled?.();
          const mail = t.services.outbox.list().filter((m) => m.to === user.email && /\b\d{6}\b/.test(m.text ?? '')).at(-1);
          const code = /\b(\d{6})\b/.exec(mail?.text ?? '')?.[1];
          assert.ok(code, 'the emailed code');
          await page.fill('#code', code);
          await page.locator('form[action$="/device"] button[type=submit]').click();
          await page.waitForSelector('form[action$="/confirm"]');
          await shoot(page, `consent-${brand}-${lang}`, lang);
        } finally {
          await context.close();
        }
      });
    }
  }

  for (const { lang, browserLocale } of LANGUAGES) {
    it(`installation branding, ${lang}: the security center's overview`, async () => {
      const user = await createUser(t);
      const context = await browser.newContext({ locale: browserLocale, viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      try {
        await signInToSecurityCenter(page, t, user);
        await shoot(page, `security-center-installation-${lang}`, lang);
      } finally {
        await context.close();
      }
    });
  }

  it('saved every shot, and nothing was wider than its window', () => {
    assert.equal(shots, 3 * 2 * 3 * 2 * 2 + 3 * 2 * 2);
    assert.deepEqual(problems, []);
  });
});
