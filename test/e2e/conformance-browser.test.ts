// Issue 25's conformance pages in Chromium: a form_post response (the provider's auto-submitting
// page with its one inline script) reaches the relying party under Tessera's strict CSP with no
// violation, and without JavaScript the person still has a working Continue button. The changed
// pages are saved as screenshots/conformance/<name>-<width>.png at phone (390 px) and desktop
// (1280 px) widths, none wider than the screen and each without an axe-core violation: the incomplete sign-out request's error page, the
// profile page with the new claims, and the console's account page with the claims and phones.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import type { Tessera } from '../support/tessera.ts';
import { RelyingParty, createUser, giveVerifiedPhone, type TestUser } from '../support/flow.ts';
import { COMMAND_LINE } from '../../src/admin/types.ts';
import { createAdmin, signInToConsole } from '../support/console.ts';
import { axeViolations, closeBrowserAndTessera, launchWithTessera } from '../support/languages.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/conformance');
const WIDTHS = [390, 1280];

/** A relying party's callback that takes the form_post: records each POSTed body. */
async function formPostCallback() {
  const received: URLSearchParams[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.method === 'POST') received.push(new URLSearchParams(body));
      res.setHeader('content-type', 'text/html');
      res.end('<!doctype html><title>Shop</title><h1>Back at the shop</h1>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { uri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`, received, close: () => server.close() };
}

describe('conformance pages in a real browser (form_post under the CSP, screenshots)', function () {
  this.timeout(180_000);
  let t: Tessera;
  let browser: Browser;
  let callback: Awaited<ReturnType<typeof formPostCallback>>;
  let rp: RelyingParty;
  let user: TestUser;

  before(async function () {
    ({ browser, t } = await launchWithTessera(this, { shots: SHOTS }));
    callback = await formPostCallback();
    const client = await t.services.clients.create({ clientId: 'form-post-shop', name: 'The Shop', redirectUris: [callback.uri], skipConsent: true });
    rp = await RelyingParty.discover(t.issuer, client.clientId, client.clientSecret);
    user = await createUser(t, { name: 'Ada Lovelace' });
  });
  after(async () => {
    await closeBrowserAndTessera(browser, t);
    callback?.close();
  });

  /** Screenshots at both widths, each checked for a horizontal scroll bar and by axe-core (WCAG 2.2 A/AA, under the page's own CSP). */
  async function shots(page: Page, name: string): Promise<void> {
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 900 });
      assert.ok(await page.evaluate<number>('document.documentElement.scrollWidth') <= width, `${name}: nothing wider than ${width} px`);
      assert.deepEqual(await axeViolations(page), [], `${name} @${width}: axe`);
      await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
    }
  }

  async function signInThroughForm(page: Page, who: { email: string; password: string }) {
    await page.getByLabel('Email').fill(who.email);
    await page.getByLabel('Password').fill(who.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  for (const javaScript of [true, false]) {
    it(javaScript ? 'submits the form_post page by itself, with no CSP violation, and the relying party redeems the code'
      : 'without JavaScript, shows a Continue button that delivers the code', async () => {
      const context = await browser.newContext({ javaScriptEnabled: javaScript });
      const page = await context.newPage();
      const violations: string[] = [];
      page.on('console', (m) => { if (/Content[- ]Security[- ]Policy|Refused to/i.test(m.text())) violations.push(m.text()); });
      const before = callback.received.length;
      const verifier = oidc.randomPKCECodeVerifier();
      const auth = oidc.buildAuthorizationUrl(rp.config, {
        redirect_uri: callback.uri, scope: 'openid profile', response_mode: 'form_post', state: 'st', nonce: 'n',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      });
      await page.goto(auth.href);
      await signInThroughForm(page, user);
      if (!javaScript) {
        await page.getByRole('button', { name: 'Continue' }).click();
      }
      await page.waitForURL(callback.uri);
      assert.equal(await page.locator('h1').textContent(), 'Back at the shop');
      assert.equal(callback.received.length, before + 1, 'one POST to the callback');
      const posted = callback.received.at(-1)!;
      assert.deepEqual([...posted.keys()].sort(), ['code', 'iss', 'state']);
      assert.deepEqual(violations, [], 'no CSP violation');
      const request = new Request(callback.uri, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: posted });
      const tokens = await oidc.authorizationCodeGrant(rp.config, request, { pkceCodeVerifier: verifier, expectedState: 'st', expectedNonce: 'n' });
      assert.equal(tokens.claims()!.sub, user.id);
      await context.close();
    });
  }

  it('shows the incomplete sign-out request\'s error page (screenshots)', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const res = await page.goto(`${t.issuer}/session/end?post_logout_redirect_uri=${encodeURIComponent(`${callback.uri}/bye`)}`);
    assert.equal(res?.status(), 400);
    assert.equal(page.url().startsWith(t.issuer), true, 'no redirect');
    assert.equal(await page.locator('h1').textContent(), 'This sign-out request is incomplete');
    await page.locator('details summary').click();
    await shots(page, 'logout-missing-client');
    await context.close();
  });

  it('shows the profile page with every standard claim (screenshots)', async () => {
    const person = await createUser(t, { name: 'Ada Lovelace' });
    await t.services.admin.users.update(COMMAND_LINE, person.id, { profile: { givenName: 'Ada', middleName: 'Augusta', familyName: 'Lovelace', nickname: 'Ada', birthdate: '1815-12-10', website: 'https://ada.example.org/', gender: 'female' } });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${t.issuer}/account/security/profile`);
    await signInThroughForm(page, person);
    await page.waitForURL(`${t.issuer}/account/security/profile`);
    assert.equal(await page.getByLabel('Middle name').inputValue(), 'Augusta');
    await shots(page, 'profile');
    await page.getByLabel(/^Birthdate/).fill('1815-02-30');
    await page.getByLabel(/^Website/).fill('ftp://ada.example.org/');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.waitForLoadState();
    assert.match((await page.locator('#birthdate-error').textContent())!, /is not a real date/);
    await shots(page, 'profile-refused');
    await context.close();
  });

  it('shows the console\'s account page with the claims and the phone numbers (screenshots)', async () => {
    const admin = await createAdmin(t, { name: 'Grace Admin' });
    const person = await createUser(t, { name: 'Ada Lovelace' });
    await t.services.admin.users.update(COMMAND_LINE, person.id, { profile: {
      givenName: 'Ada', middleName: 'Augusta', familyName: 'Lovelace', nickname: 'Ada', preferredUsername: 'ada', profileUrl: 'https://people.example.com/ada',
      website: 'https://ada.example.org/', gender: 'female', birthdate: '1815-12-10', zoneinfo: 'Europe/London', locale: 'en-GB', address: { locality: 'London', country: 'GB' },
    } });
    await giveVerifiedPhone(t, person, '+41 79 123 45 67');
    await t.services.phones.add(person.id, '+44 20 7946 0958');

    const context = await browser.newContext();
    const page = await context.newPage();
    await signInToConsole(page, t, admin, `/admin/users/${person.id}`);
    assert.equal(await page.getByLabel(/^Birthdate/).inputValue(), '1815-12-10');
    await shots(page, 'console-user');
    // a refused number beside its field, then the confirmation of a good one
    await page.getByLabel('Set an already verified number').fill('079 123 45 67');
    await page.getByRole('button', { name: 'Set the number…' }).click();
    await page.waitForLoadState();
    assert.match((await page.locator('#phone-number-error').textContent())!, /international form/);
    await page.locator('#phones').scrollIntoViewIfNeeded();
    await shots(page, 'console-user-phone-refused');
    await page.getByLabel('Set an already verified number').fill('+41 78 765 43 21');
    await page.getByLabel(/Make it the primary number/).check();
    await page.getByRole('button', { name: 'Set the number…' }).click();
    await page.waitForLoadState();
    assert.equal(await page.locator('h1').textContent(), `Set a verified phone number for ${person.email}`);
    await shots(page, 'console-phone-confirm');
    await context.close();
  });
});
