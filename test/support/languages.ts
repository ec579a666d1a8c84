// What the language tests share (README "Languages"): in Chromium, a browser and a Tessera for a
// suite, signing in to the security center, and the look at a page (a screenshot, nothing wider
// than the window, axe-core's WCAG 2.2 A/AA); over plain HTTP, an account with a language signed
// in, and reading a page's language, heading and notice. Other browser tests use the launch and
// the axe run too.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Browser, BrowserContext, Page as BrowserPage } from 'playwright-core';
import { launchChromium } from './browser.ts';
import { startTessera, type Tessera, type TesseraOptions } from './tessera.ts';
import { createUser, signIn, UserAgent, type Page, type RelyingParty, type TestUser } from './flow.ts';

export const WIDTHS = [390, 1280];

/** The profile claims that choose a language and a time zone. */
export interface LanguageProfile { locale?: string; zoneinfo?: string }

/** A new account, with these profile claims when there are any. */
export async function createUserWithProfile(t: Tessera, profile: LanguageProfile): Promise<TestUser> {
  const user = await createUser(t);
  if (profile.locale || profile.zoneinfo) await t.services.accounts.updateProfile(user.email, profile);
  return user;
}

// ---- over plain HTTP ----

/** An account with these profile claims, signed in through `rp` from a browser sending `headers`. */
export async function signedInAgent(t: Tessera, rp: RelyingParty, profile: LanguageProfile, headers: Record<string, string> = {}): Promise<{ user: TestUser; agent: UserAgent }> {
  const user = await createUserWithProfile(t, profile);
  const agent = new UserAgent(headers);
  await signIn(agent, (await rp.authorize()).url, user);
  return { user, agent };
}

/** The words of some HTML, entities decoded and spaces squeezed. */
export const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&#34;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&').replace(/\s+/g, ' ');
export const h1 = (page: Page) => text(/<h1>([\s\S]*?)<\/h1>/.exec(page.body)?.[1] ?? '').trim();
export const lang = (page: Page) => /<html lang="([^"]+)"/.exec(page.body)?.[1];
export const notice = (page: Page) => text(/<p class="notice" role="status">([\s\S]*?)<\/p>/.exec(page.body)?.[1] ?? '').trim();

// ---- in Chromium ----

/**
 * In a mocha `before`: Chromium (or the suite skipped when the machine has none), `shots` made,
 * then a Tessera. Close both with closeBrowserAndTessera in `after`.
 */
export async function launchWithTessera(suite: Mocha.Context, options: { shots?: string; tessera?: TesseraOptions } = {}): Promise<{ browser: Browser; t: Tessera }> {
  const browser = await launchChromium();
  if (!browser) suite.skip();
  if (options.shots) mkdirSync(options.shots, { recursive: true });
  return { browser: browser!, t: await startTessera(options.tessera) };
}

export async function closeBrowserAndTessera(browser: Browser | undefined, t: Tessera | undefined): Promise<void> {
  await browser?.close();
  await t?.close();
}

/** Signs `user` in on the hosted page the security center sends the browser to, and waits for the overview. */
export async function signInToSecurityCenter(page: BrowserPage, t: Tessera, user: { email: string; password: string }): Promise<void> {
  await page.goto(`${t.issuer}/account/security`);
  await page.locator('input[name="email"]').fill(user.email);
  await page.locator('input[name="password"]').fill(user.password);
  await page.locator('input[name="password"]').press('Enter');
  await page.waitForURL(/\/account\/security$/);
}

/** A new window (1280 × 900, the browser asking for `locale`) signed in to the security center as `user`. */
export async function securityCenterWindow(browser: Browser, t: Tessera, user: TestUser, locale: string): Promise<{ context: BrowserContext; page: BrowserPage }> {
  const context = await browser.newContext({ locale, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  try {
    await signInToSecurityCenter(page, t, user);
  } catch (error) {
    await context.close();
    throw error;
  }
  return { context, page };
}

/** Runs `walk` in a securityCenterWindow, and closes the window after it, whatever happened. */
export async function inSecurityCenter(browser: Browser, t: Tessera, user: TestUser, locale: string, walk: (page: BrowserPage) => Promise<void>): Promise<void> {
  const { context, page } = await securityCenterWindow(browser, t, user, locale);
  try {
    await walk(page);
  } finally {
    await context.close();
  }
}

let axeSource: string | undefined;

/** axe-core's WCAG 2.2 A/AA violations on the page as it is now. */
export async function axeViolations(page: BrowserPage): Promise<string[]> {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(axeSource); // not a script tag: the pages' CSP allows no inline script
  return page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(o: object): Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const result = await axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
    return result.violations.map((v) => `${v.id} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  });
}

/**
 * A sign-in page at both widths: nothing wider than the screen or its card, saved as
 * `<shots>/<name>-<width>.png`, no axe violation (each asserted at once).
 */
export async function checkPage(page: BrowserPage, shots: string, name: string): Promise<void> {
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 800 });
    assert.ok(await page.evaluate<number>('document.documentElement.scrollWidth') <= width, `${name}: nothing wider than ${width} px`);
    const overflowing = await page.evaluate<string[]>(`[...document.querySelectorAll('main *')].filter((e) => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'auto').map((e) => e.tagName + ' ' + e.textContent.trim().slice(0, 40))`);
    assert.deepEqual(overflowing, [], `${name} @${width}: no text wider than its box`);
    await page.screenshot({ path: path.join(shots, `${name}-${width}.png`), fullPage: true });
    assert.deepEqual(await axeViolations(page), [], `${name} @${width}: axe`);
  }
}

/**
 * The security center's pages at the width they are shown at: `look` saves `<shots>/<name>-<width>.png`
 * and notes in `problems` what axe finds and anything wider than the window or a link of the sidebar
 * or the tabs cut off; the suite's last test asserts `problems` is empty.
 */
export function accountLooks(shots: string): { problems: string[]; look(page: BrowserPage, name: string, width: number): Promise<void> } {
  const problems: string[] = [];
  return {
    problems,
    async look(page, name, width) {
      await page.screenshot({ path: path.join(shots, `${name}-${width}.png`), fullPage: true });
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
      for (const s of spills) problems.push(`${name} @${width}: ${s}`);
      for (const v of await axeViolations(page)) problems.push(`${name} @${width}: ${v}`);
    },
  };
}
