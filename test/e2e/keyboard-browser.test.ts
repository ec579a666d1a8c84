// Keyboard-only sign-in with a second factor in Chromium (README "Accessibility"): only key presses
// (Tab, typing, Space, Enter; never a click or a fill) from the sign-in page to the relying party,
// through a wrong password (focus lands on the error), the "Show password" toggle, and the emailed
// code. Then the same focus rule on the security center's forms. Screenshots of the focused states
// at 390 and 1280 px go to screenshots/keyboard/ for a person to look at.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, RelyingParty, REDIRECT_URI, type TestUser } from '../support/flow.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/keyboard');

interface Focused { tag: string; id: string; className: string; role: string; pressed: string; controls: string; text: string }
/** What has focus: its tag, id, class, role, and for a toggle its state (evaluated in the page; no DOM types here). */
const focused = (page: Page) => page.evaluate<Focused>(`(() => {
  const el = document.activeElement;
  return {
    tag: el ? el.tagName.toLowerCase() : '', id: el?.id ?? '', className: el?.className ?? '', role: el?.getAttribute('role') ?? '',
    pressed: el?.getAttribute('aria-pressed') ?? '', controls: el?.getAttribute('aria-controls') ?? '', text: el?.textContent?.trim() ?? '',
  };
})()`);
/**
 * The element the page's own autofocus lands on: the browser moves focus there at its next
 * rendering update after the page loads, which a busy machine may not have reached yet.
 */
const autofocused = async (page: Page, id: string) => {
  await page.waitForFunction(`document.activeElement && document.activeElement.id === ${JSON.stringify(id)}`, undefined, { timeout: 10_000 }).catch(() => undefined);
  return focused(page);
};
/** The focus ring: the focused element's computed outline (a visible one is at least 2px, not "none"). */
const ring = (page: Page) => page.evaluate<{ style: string; width: number }>(`(() => {
  const style = getComputedStyle(document.activeElement);
  return { style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
})()`);
/** The text a screen reader reads as the element's description (its aria-describedby targets). */
const description = (page: Page, id: string) => page.evaluate<string>(`(() => {
  const ids = (document.getElementById(${JSON.stringify(id)})?.getAttribute('aria-describedby') ?? '').split(' ');
  return ids.map((d) => document.getElementById(d)?.textContent ?? '').join(' ');
})()`);

describe('keyboard-only sign-in with a second factor, in Chromium', function () {
  this.timeout(180_000);
  let t: Tessera;
  let browser: Browser | undefined;
  let rp: RelyingParty;
  let app: http.Server;
  let callback = '';
  const arrivals: string[] = [];

  before(async function () {
    browser = await launchChromium();
    if (!browser) return this.skip();
    mkdirSync(SHOTS, { recursive: true });
    t = await startTessera();
    // the relying party's callback: a local page the browser can really reach
    app = http.createServer((req, res) => { arrivals.push(req.url ?? ''); res.setHeader('content-type', 'text/html'); res.end('<!doctype html><title>App</title><h1>Back at the app</h1>'); });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    callback = `http://127.0.0.1:${(app.address() as AddressInfo).port}/callback`;
    rp = await RelyingParty.register(t, { skipConsent: true, redirectUris: [REDIRECT_URI, callback] });
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    app?.close();
  });

  /** The six digits of the newest sign-in code emailed to `user` (matched by recipient and subject). */
  async function emailedCode(user: TestUser, before: number): Promise<string> {
    for (let i = 0; i < 500; i++) {
      const mail = t.services.outbox.list().filter((m) => m.to === user.email && /sign-in code/.test(m.subject ?? '')).slice(before)[0];
      if (mail) return /(\d{6})/.exec(mail.subject!)![1]!;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no sign-in code emailed to ${user.email}`);
  }
  const codesSent = (user: TestUser) => t.services.outbox.list().filter((m) => m.to === user.email && /sign-in code/.test(m.subject ?? '')).length;

  for (const width of [390, 1280]) {
    it(`signs in with password and emailed code using only the keyboard, at ${width} px`, async () => {
      const user = await createUser(t);
      await t.services.accounts.setSecondFactor(user.id, 'email');
      const context = await browser!.newContext({ viewport: { width, height: 900 } });
      const page = await context.newPage();
      const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
      try {
        await page.goto((await rp.authorize({ redirect_uri: callback })).url);
        assert.equal(await page.locator('h1').textContent(), 'Sign in');
        assert.equal((await autofocused(page, 'email')).id, 'email', 'the email field has focus when the page opens');

        // a wrong password: the page comes back with focus on the error, which is announced (role=alert)
        await page.keyboard.type(user.email);
        await page.keyboard.press('Tab');
        assert.equal((await focused(page)).id, 'password');
        await page.keyboard.type('Wrong#Guess1');
        await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
        const onError = await focused(page);
        assert.equal(onError.role, 'alert', `focus is on the error: ${JSON.stringify(onError)}`);
        assert.match(onError.className, /\berror\b/);
        assert.match(onError.text, /email or password/i);
        assert.deepEqual(await ring(page), { style: 'solid', width: 3 }, 'the focused error shows the focus ring');
        await shot('wrong-password-error-focused');

        // from the error, Tab reaches the fields; the email was kept
        await page.keyboard.press('Tab');
        assert.equal((await focused(page)).id, 'email');
        assert.equal(await page.locator('#email').inputValue(), user.email);
        await page.keyboard.press('Tab');
        assert.equal((await focused(page)).id, 'password');
        await page.keyboard.type(user.password);
        assert.equal(await page.locator('#password').getAttribute('type'), 'password');

        // "Show password" is the next stop: a real toggle button, pressed with Space
        await page.keyboard.press('Tab');
        const toggle = await focused(page);
        assert.deepEqual([toggle.tag, toggle.className, toggle.text, toggle.pressed, toggle.controls], ['button', 'reveal', 'Show password', 'false', 'password']);
        assert.deepEqual(await ring(page), { style: 'solid', width: 3 }, 'the focused toggle shows the focus ring');
        await page.keyboard.press('Space');
        assert.equal((await focused(page)).pressed, 'true');
        assert.equal(await page.locator('#password').getAttribute('type'), 'text', 'the password is shown');
        await shot('show-password-focused');
        await page.keyboard.press('Space');
        assert.equal(await page.locator('#password').getAttribute('type'), 'password', 'and hidden again');
        await page.keyboard.press('Space');

        // back to the field, Enter submits (the form goes with the field hidden again)
        await page.keyboard.press('Shift+Tab');
        assert.equal((await focused(page)).id, 'password');
        await shot('password-focused');
        const sent = codesSent(user);
        await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
        assert.equal(await page.locator('h1').textContent(), 'Verify it is you');

        // the code page: focus on the code field, which has a label, numeric keyboard and one-time-code autofill
        const onCode = await autofocused(page, 'code');
        assert.equal(onCode.id, 'code', `focus is on the code field: ${JSON.stringify(onCode)}`);
        assert.equal(await page.locator('#code').getAttribute('autocomplete'), 'one-time-code');
        assert.equal(await page.locator('#code').getAttribute('inputmode'), 'numeric');
        assert.equal(await page.getByLabel('Code', { exact: true }).getAttribute('id'), 'code');
        assert.match(await description(page, 'code'), /We emailed a 6-digit code to u\*+@example\.com/, 'a screen reader hears where the code was sent');
        assert.deepEqual(await ring(page), { style: 'solid', width: 3 }, 'the code field shows the focus ring');
        await shot('code-focused');

        // a wrong code first: focus goes to the error; Tab reaches the field again
        const code = await emailedCode(user, sent);
        await page.keyboard.type(code === '000000' ? '111111' : '000000');
        await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
        const wrongCode = await focused(page);
        assert.equal(wrongCode.role, 'alert', `focus is on the error: ${JSON.stringify(wrongCode)}`);
        assert.match(wrongCode.text, /not right/);
        await shot('wrong-code-error-focused');
        await page.keyboard.press('Tab');
        assert.equal((await focused(page)).id, 'code');
        await page.keyboard.type(code);
        await Promise.all([page.waitForURL(`${callback}?**`), page.keyboard.press('Enter')]);
        assert.match(page.url(), /[?&]code=/, 'the relying party got an authorization code');
        assert.ok(arrivals.includes(new URL(page.url()).pathname + new URL(page.url()).search), 'and its server was reached');
        assert.equal(await page.locator('h1').textContent(), 'Back at the app');
      } finally {
        await context.close();
      }
    });
  }

  it('leaves focus alone on a page without an error, adds nothing without JavaScript, and labels the toggle in the page\'s language', async () => {
    const context = await browser!.newContext({ javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      await page.goto((await rp.authorize()).url);
      assert.equal(await page.locator('button.reveal').count(), 0);
      assert.equal(await page.locator('#password').getAttribute('type'), 'password');
    } finally {
      await context.close();
    }
    const scripted = await browser!.newContext();
    try {
      const page = await scripted.newPage();
      await page.goto((await rp.authorize()).url);
      assert.equal((await autofocused(page, 'email')).id, 'email', 'the page\'s own autofocus, not moved');
      assert.equal(await page.locator('button.reveal').count(), 1);
      // the label comes in the page's language
      await page.goto((await rp.authorize({ ui_locales: 'pl' })).url);
      assert.equal(await page.locator('button.reveal').textContent(), 'Pokaż hasło');
      await page.goto((await rp.authorize({ ui_locales: 'de' })).url);
      assert.equal(await page.locator('button.reveal').textContent(), 'Passwort anzeigen');
    } finally {
      await scripted.close();
    }
  });

  it('puts focus on the refused field of the security center\'s forms, and on the PIN page labels the toggle "Show PIN"', async () => {
    const user = await createUser(t);
    const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    try {
      await page.goto(`${t.issuer}/account/security`);
      await page.keyboard.type(user.email);
      await page.keyboard.press('Tab');
      await page.keyboard.type(user.password);
      await Promise.all([page.waitForURL(`${t.issuer}/account/**`), page.keyboard.press('Enter')]);

      // the password page: rules broken → focus on the new password, which its message describes
      await page.goto(`${t.issuer}/account/security/password`);
      assert.equal(await page.locator('button.reveal').count(), 3, 'a toggle after each of the three password fields');
      assert.equal((await focused(page)).tag, 'body', 'no error: nothing is focused for the person');
      await page.locator('#current').focus();
      await page.keyboard.type(user.password);
      await page.locator('#new-password').focus();
      await page.keyboard.type('short');
      await page.locator('#confirm').focus();
      await page.keyboard.type('short');
      await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
      const refused = await focused(page);
      assert.equal(refused.id, 'new-password', JSON.stringify(refused));
      assert.equal(await page.locator('#new-password').getAttribute('aria-invalid'), 'true');
      assert.equal(await page.locator('#new-password-error').getAttribute('role'), 'alert', 'the message is announced');
      await page.screenshot({ path: path.join(SHOTS, 'security-password-refused-1280.png'), fullPage: true });

      // the PIN page: its toggles say PIN; the password fields' (its form's and the settings' re-authentication) say password
      await page.goto(`${t.issuer}/account/security/pin`);
      const labels = await page.locator('button.reveal').allTextContents();
      assert.deepEqual(labels, ['Show PIN', 'Show PIN', 'Show password', 'Show password']);
    } finally {
      await context.close();
    }
  });
});
