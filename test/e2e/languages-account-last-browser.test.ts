// The last of the security center in Polish and German in Chromium: the PIN page with a refused
// PIN beside its field, the "Your data" page, an organisation admin's webhook form with a refusal
// and its one-time secret page, and the assisted recovery's cancel page, at phone and desktop
// widths, saved as screenshots/languages-account-last/<language>-<page>-<width>.png for a person to
// look at. Nothing spills out of the page; axe-core finds nothing.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, type TestUser } from '../support/flow.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/languages-account-last');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WIDTHS = [390, 1280];

describe('the last of the security center in Polish and German in a real browser (screenshots, axe)', function () {
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

  async function look(page: Page, name: string, width: number): Promise<void> {
    await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
    await fits(page, `${name} @${width}`);
    await axe(page, `${name} @${width}`);
  }

  for (const lang of ['pl', 'de'] as const) {
    it(`shows the ${lang} PIN, data, webhook and recovery-cancel pages at 390 and 1280 px`, async () => {
      const user: TestUser = await createUser(t);
      const org = await t.services.organisations.create(`Org ${lang} ${Math.random().toString(36).slice(2, 6)}`);
      await t.services.organisations.setMember(org.id, user.id, true);
      const context = await browser.newContext({ locale: lang === 'pl' ? 'pl-PL' : 'de-DE', viewport: { width: 1280, height: 900 }, bypassCSP: true });
      const page = await context.newPage();
      try {
        await page.goto(`${t.issuer}/account/security`);
        await page.locator('input[name="email"]').fill(user.email);
        await page.locator('input[name="password"]').fill(user.password);
        await page.locator('input[name="password"]').press('Enter');
        await page.waitForURL(/\/account\/security$/);
        for (const width of WIDTHS) {
          await page.setViewportSize({ width, height: 900 });
          await page.goto(`${t.issuer}/account/security/pin`);
          assert.equal(await page.getAttribute('html', 'lang'), lang);
          await page.locator('#pin').fill('111111');
          await page.locator('#repeat').fill('111111');
          await page.locator('#pin-password').fill(user.password);
          await page.locator('form[action="/account/security/pin"] button[type="submit"]').click();
          await page.waitForLoadState();
          assert.match((await page.locator('#pin-error').textContent()) ?? '', lang === 'pl' ? /Ten PIN się powtarza/ : /Diese PIN wiederholt sich/);
          await look(page, `${lang}-pin-error`, width);

          await page.goto(`${t.issuer}/account/security/data`);
          assert.equal((await page.locator('h1').textContent())?.trim(), lang === 'pl' ? 'Twoje dane' : 'Ihre Daten');
          await look(page, `${lang}-data`, width);

          await page.goto(`${t.issuer}/account/security/organisation/webhooks/new`);
          await page.locator('#url').fill('http://siem.example.com/tessera');
          await page.locator('form.webhook-form button[type="submit"]').click();
          await page.waitForLoadState();
          assert.ok(await page.locator('#types-error').isVisible());
          await page.locator('input[name="type_password_reset"]').check();
          await page.locator('form.webhook-form button[type="submit"]').click();
          await page.waitForLoadState();
          assert.match((await page.locator('#url-error').textContent()) ?? '', /https:\/\//);
          await look(page, `${lang}-webhook-url-error`, width);
          await page.locator('#url').fill(`https://siem.example.com/${lang}-${width}`);
          await page.locator('form.webhook-form button[type="submit"]').click();
          await page.waitForLoadState();
          assert.ok(await page.locator('#webhook-secret').isVisible());
          await look(page, `${lang}-webhook-secret`, width);

          await page.goto(`${t.issuer}/account/recovery/cancel?token=nope`);
          assert.equal((await page.locator('h1').textContent())?.trim(), lang === 'pl' ? 'Anulowanie wspomaganego odzyskiwania' : 'Unterstützte Wiederherstellung abbrechen');
          await look(page, `${lang}-recovery-cancel-invalid`, width);
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
