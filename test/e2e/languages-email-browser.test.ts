// Two emails in Polish and German as a person sees them (README "Emails and text messages"): the
// sign-in code and the new-device notice with its "This wasn't me" button, their HTML shown in
// Chromium at a phone's width (390 px) and a desktop's (1280 px), saved as
// screenshots/languages-email/<name>-<width>.png, nothing wider than the screen, axe-core clean.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { createMessages } from '../../src/notify/messages.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/languages-email');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const seen = { at: new Date('2026-03-05T13:05:00Z'), ip: '83.0.0.1', where: 'Warszawa, Polska', browser: 'Firefox 128', os: 'Linux' };
const links = { wasMe: 'https://id.example/account/security/devices', notMe: 'https://id.example/secure/abc', days: 7 };

describe('emails in Polish and German in a real browser (screenshots)', function () {
  this.timeout(120_000);
  let browser: Browser;
  let page: Page;

  before(async function () {
    const launched = await launchChromium();
    if (!launched) this.skip();
    browser = launched!;
    mkdirSync(SHOTS, { recursive: true });
    page = await browser.newPage();
  });
  after(async () => { await browser?.close(); });

  async function shots(name: string, html: string) {
    await page.setContent(html);
    for (const width of [390, 1280]) {
      await page.setViewportSize({ width, height: 800 });
      assert.ok(await page.evaluate<number>('document.documentElement.scrollWidth') <= width, `${name}: nothing wider than ${width} px`);
      await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
      await page.evaluate(AXE);
      const violations = await page.evaluate(async () => {
        const axe = (globalThis as unknown as { axe: { run(o: object): Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } }).axe;
        const result = await axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
        return result.violations.map((v) => `${v.id} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
      });
      assert.deepEqual(violations, [], `${name} @${width}: axe`);
    }
  }

  for (const [language, zone] of [['pl', 'Europe/Warsaw'], ['de', 'Europe/Berlin']] as const) {
    it(`shows the sign-in code and the new-device notice in ${language === 'pl' ? 'Polish' : 'German'}`, async () => {
      const messages = createMessages('Tessera', 10).in({ locale: language, zoneinfo: zone });
      const code = await messages.signInCode('ada@example.com', '482913', 10, 'new-device');
      await shots(`${language}-sign-in-code`, code.html);
      assert.equal(await page.getAttribute('html', 'lang'), language);
      assert.match(await page.locator('body').innerText(), /482913/);

      const notice = await messages.newDevice('ada@example.com', seen, undefined, links);
      await shots(`${language}-new-device`, notice.html);
      assert.equal(await page.getAttribute('html', 'lang'), language);
      const button = page.getByRole('link', { name: language === 'pl' ? 'Zabezpiecz moje konto' : 'Mein Konto sichern' });
      assert.equal(await button.getAttribute('href'), links.notMe);
    });
  }
});
