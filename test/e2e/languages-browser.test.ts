// The sign-in pages in Chromium in English, Polish and German (README "Languages"): the sign-in,
// the emailed-code step and the consent, each language chosen by the application's ui_locales.
// Every page is saved at a phone's width (390 px) and a desktop's (1280 px) as
// screenshots/languages/<page>-<language>-<width>.png, checked with axe-core (WCAG 2.2 A/AA), and
// nothing (long German words included) is wider than the screen or its card.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, createUser, REDIRECT_URI } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/languages');
const WIDTHS = [390, 1280];
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

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
