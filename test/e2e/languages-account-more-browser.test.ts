// More of the security center in Polish and German in Chromium: the profile with a refused time
// zone beside its field, and the session history with its times the language's way, at phone and
// desktop widths, saved as screenshots/languages-account-more/<language>-<page>-<width>.png for a
// person to look at. Nothing spills out of the page; axe-core finds nothing.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, type TestUser } from '../support/flow.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/languages-account-more');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WIDTHS = [390, 1280];

/** Each language, how the account or browser asks for it, and the words its pages must show. */
const LANGUAGES = [
  { lang: 'pl', profile: { locale: 'pl', zoneinfo: 'Europe/Warsaw' }, browserLocale: 'en-GB', zoneError: '„Mars/Olympus” nie jest strefą czasową, taką jak Europe/Warsaw.', history: 'Historia logowań', time: /^\d\d\.\d\d\.\d{4}, \d\d:\d\d Europe\/Warsaw$/ },
  { lang: 'de', profile: {}, browserLocale: 'de-DE', zoneError: '„Mars/Olympus“ ist keine Zeitzone wie Europe/Berlin.', history: 'Anmeldeverlauf', time: /^\d\d\.\d\d\.\d{4}, \d\d:\d\d UTC$/ },
] as const;

describe('more of the security center in Polish and German in a real browser (screenshots, axe)', function () {
  this.timeout(240_000);
  let t: Tessera;
  let browser: Browser;
  const problems: string[] = [];

  before(async function () {
    const launched = await launchChromium();
    if (!launched) this.skip();
    browser = launched!;
    mkdirSync(SHOTS, { recursive: true });
    t = await startTessera();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  /** axe-core's WCAG 2.2 A/AA violations on the page as it is now. */
  async function axe(page: Page, name: string): Promise<void> {
    await page.addScriptTag({ content: AXE });
    const violations = await page.evaluate(async () => {
      const run = (globalThis as unknown as { axe: { run(o: object): Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } }).axe;
      const result = await run.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
      return result.violations.map((v) => `${v.id} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
    });
    for (const v of violations) problems.push(`${name}: ${v}`);
  }

  /** Nothing wider than the window, and no link of the sidebar or the tabs cut off or spilling out of its box. */
  async function fits(page: Page, name: string): Promise<void> {
    // run in the page (a string: the test's TypeScript has no DOM types)
    const spills = await page.evaluate<string[]>(`(() => {
      const out = [];
      if (document.documentElement.scrollWidth > window.innerWidth + 1) out.push('page ' + document.documentElement.scrollWidth + 'px wide in ' + window.innerWidth + 'px');
      for (const el of document.querySelectorAll('.account-nav a, .section-pages a, .account-bar')) {
        const box = el.getBoundingClientRect();
        if (el.scrollWidth > el.clientWidth + 1 || box.right > window.innerWidth + 1) out.push('"' + el.textContent.trim() + '" overflows (' + el.scrollWidth + ' > ' + el.clientWidth + ', right ' + Math.round(box.right) + ')');
      }
      return out;
    })()`);
    for (const s of spills) problems.push(`${name}: ${s}`);
  }

  for (const language of LANGUAGES) {
    it(`shows the ${language.lang} profile with a refused time zone, and the session history, at 390 and 1280 px`, async () => {
      const user: TestUser = await createUser(t);
      if ('locale' in language.profile) await t.services.accounts.updateProfile(user.email, language.profile);
      // bypassCSP only lets the test add axe-core to the page; the pages themselves keep their CSP
      const context = await browser.newContext({ locale: language.browserLocale, viewport: { width: 1280, height: 900 }, bypassCSP: true });
      const page = await context.newPage();
      try {
        await page.goto(`${t.issuer}/account/security`);
        await page.locator('input[name="email"]').fill(user.email);
        await page.locator('input[name="password"]').fill(user.password);
        await page.locator('input[name="password"]').press('Enter');
        await page.waitForURL(/\/account\/security$/);
        for (const width of WIDTHS) {
          await page.setViewportSize({ width, height: 900 });
          await page.goto(`${t.issuer}/account/security/profile`);
          assert.equal(await page.getAttribute('html', 'lang'), language.lang);
          await page.locator('#zoneinfo').fill('Mars/Olympus');
          await page.locator('form[action="/account/security/profile"] button[type="submit"]').click();
          await page.waitForLoadState();
          assert.equal((await page.locator('#zoneinfo-error').textContent())?.trim(), language.zoneError);
          await page.screenshot({ path: path.join(SHOTS, `${language.lang}-profile-error-${width}.png`), fullPage: true });
          await fits(page, `${language.lang} profile error @${width}`);
          await axe(page, `${language.lang} profile error @${width}`);

          await page.goto(`${t.issuer}/account/security/history`);
          assert.equal((await page.locator('h1').textContent())?.trim(), language.history);
          assert.match((await page.locator('.history time').first().textContent())?.trim() ?? '', language.time);
          await page.screenshot({ path: path.join(SHOTS, `${language.lang}-history-${width}.png`), fullPage: true });
          await fits(page, `${language.lang} history @${width}`);
          await axe(page, `${language.lang} history @${width}`);
        }
      } finally {
        await context.close();
      }
    });
  }

  it('found no axe violation and nothing spilling out of the page', () => {
    assert.deepEqual(problems, []);
  });
});
