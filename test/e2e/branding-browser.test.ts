// Branding in Chromium (issue 24): the sign-in, code and consent pages of a branded application
// (its uploaded logo, name, colour and links) and of an unbranded one (the installation's), in the
// light and the dark theme (prefers-color-scheme), at 390 and 1280 px: each page is axe-checked
// (WCAG 2.2 A/AA, colour contrast included) and saved as screenshots/branding/<case>.png for a
// person to look at.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, RelyingParty } from '../support/flow.ts';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/branding');

describe('branded and unbranded sign-in pages in a real browser, light and dark', function () {
  this.timeout(300_000);
  let t: Tessera;
  let browser: Browser | undefined;
  let branded: RelyingParty;
  let plain: RelyingParty;

  before(async function () {
    browser = await launchChromium();
    if (!browser) return this.skip();
    mkdirSync(SHOTS, { recursive: true });
    t = await startTessera();
    // a logo drawn by the browser itself (a PNG), uploaded as an admin would
    const draw = await browser.newPage({ viewport: { width: 200, height: 80 } });
    await draw.setContent('<div style="width:160px;height:64px;background:#0b5d1e;color:#fff;font:700 28px sans-serif;display:grid;place-items:center;border-radius:14px">ACME</div>');
    const logo = await draw.locator('div').screenshot({ type: 'png', omitBackground: true });
    await draw.close();
    const logoUri = await t.services.logos.save(logo);
    branded = await RelyingParty.register(t, {
      name: 'Acme Shop', logoUri, brandColor: '#0b5d1e',
      policyUri: 'https://acme.example/privacy', tosUri: 'https://acme.example/terms', supportUri: 'https://acme.example/help',
    });
    // the unbranded application: no name, logo or colour of its own
    plain = await RelyingParty.register(t);
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  async function axe(page: Page): Promise<string[]> {
    await page.addScriptTag({ content: AXE });
    return page.evaluate(async () => {
      const run = (globalThis as unknown as { axe: { run(o: object): Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } }).axe;
      const result = await run.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
      return result.violations.map((v) => `${v.id} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
    });
  }

  for (const brand of ['branded', 'unbranded'] as const) {
    for (const scheme of ['light', 'dark'] as const) {
      for (const width of [390, 1280]) {
        it(`${brand}, ${scheme}, ${width} px: sign-in, code and consent pages without an axe violation`, async () => {
          const rp = brand === 'branded' ? branded : plain;
          const user = await createUser(t, { deviceVerification: true });
          // bypassCSP only lets axe's own script in; the pages' stylesheets load as they do for anyone
          const context = await browser!.newContext({ viewport: { width, height: 900 }, colorScheme: scheme, bypassCSP: true });
          const page = await context.newPage();
          const problems: string[] = [];
          const shoot = async (step: string) => {
            await page.screenshot({ path: path.join(SHOTS, `${step}-${brand}-${scheme}-${width}.png`), fullPage: true });
            for (const v of await axe(page)) problems.push(`${step}: ${v}`);
          };
          await page.goto((await rp.authorize()).url);
          await page.waitForSelector('#email');
          const brandLine = (await page.locator('p.brand').textContent())?.trim();
          assert.equal(brandLine, brand === 'branded' ? 'Acme Shop' : 'Tessera');
          if (brand === 'branded') {
            assert.equal(await page.locator('img.brand-logo').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth > 0), true, 'the uploaded logo loads');
            const button = await page.locator('form[action$="/login"] button[type=submit]').evaluate((b) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(b).backgroundColor);
            assert.equal(button, 'rgb(11, 93, 30)', 'the button has the brand colour');
            assert.equal(await page.locator('nav.brand-links a').count(), 3);
          }
          const background = await page.evaluate<string>('getComputedStyle(document.documentElement).backgroundColor');
          assert.equal(scheme === 'dark', background !== 'rgb(243, 245, 249)', `the ${scheme} theme's page background (${background})`);
          await shoot('sign-in');

          await page.fill('#email', user.email);
          await page.fill('#password', user.password);
          await page.locator('form[action$="/login"] button[type=submit]').click();
          await page.waitForSelector('#code');
          await shoot('code');

          await t.services.notices.settled?.();
          const mail = t.services.outbox.list().filter((m) => m.to === user.email && /\b\d{6}\b/.test(m.text ?? '')).at(-1);
          const code = /\b(\d{6})\b/.exec(mail?.text ?? '')?.[1];
          assert.ok(code, 'the emailed code');
          await page.fill('#code', code);
          await page.locator('form[action$="/device"] button[type=submit]').click();
          await page.waitForSelector('form[action$="/confirm"]');
          await shoot('consent');
          await context.close();
          assert.deepEqual(problems, []);
        });
      }
    }
  }
});
