// "Keep trusting this device" on the security-key step in Chromium (README "Device-bound trust"):
// a device trusted before device keys, whose account's routine factor is a security key (Chromium's
// virtual authenticator), ticks the box and uses the key; views/static/webauthn.js sends the form
// only once device-key.js has made the key and signed the challenge (the test holds WebCrypto's key
// generation until the authenticator has answered, so a form sent at once would carry no key). The
// next sign-in from that browser skips the key (its device key proves it); its cookies in a fresh
// context are asked. A browser without WebCrypto still signs in with the key and binds nothing.
// Screens: screenshots/device-bound-trust/keep-trusting-security-key-<width>.png (axe-checked).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Tessera } from '../support/tessera.ts';
import { RelyingParty, createUser, type Authorization, type TestUser } from '../support/flow.ts';
import { checkPage, closeBrowserAndTessera, launchWithTessera } from '../support/languages.ts';
import { SoftSecurityKey } from '../support/soft-security-key.ts';
import { ACR } from '../../src/policy/assurance.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/device-bound-trust');

// in the page before its scripts: WebCrypto's key generation waits while the test holds it
const HOLDABLE_KEYGEN = `(() => {
  if (!window.crypto || !crypto.subtle) return;
  const generate = crypto.subtle.generateKey.bind(crypto.subtle);
  crypto.subtle.generateKey = async (...args) => { if (window.__keygenHeld) await window.__keygenHeld; return generate(...args); };
})()`;
// a browser without WebCrypto
const NO_WEBCRYPTO = `Object.defineProperty(Crypto.prototype, 'subtle', { get: () => undefined, configurable: true })`;

describe('"Keep trusting this device" on the security-key step in Chromium', function () {
  this.timeout(120_000);
  let t: Tessera;
  let rp: RelyingParty;
  let browser: Browser;
  const problems: string[] = [];
  // the relying party's callback: a real listener (Chromium refuses flow.ts's port 9, and routes miss redirects)
  const callbackServer = http.createServer((req, res) => { res.setHeader('content-type', 'text/html'); res.end('<h1>RP got the code</h1>'); });
  let CALLBACK = '';

  before(async function () {
    ({ browser, t } = await launchWithTessera(this, { shots: SHOTS, tessera: { localhost: true } }));
    await new Promise<void>((resolve) => callbackServer.listen(0, '127.0.0.1', resolve));
    CALLBACK = `http://127.0.0.1:${(callbackServer.address() as AddressInfo).port}/callback`;
    rp = await RelyingParty.register(t, { name: 'Demo App', skipConsent: true, redirectUris: [CALLBACK] });
  });
  after(async () => {
    await closeBrowserAndTessera(browser, t);
    await new Promise((resolve) => callbackServer.close(resolve));
  });

  async function newContext(initScript?: string): Promise<BrowserContext> {
    const context = await browser.newContext();
    if (initScript) await context.addInitScript(initScript);
    return context;
  }

  /** A tab whose virtual authenticator (a USB security key) holds `key`. */
  async function tabWithKey(context: BrowserContext, key?: SoftSecurityKey): Promise<Page> {
    const page = await context.newPage();
    // the strict CSP and the scripts: no violation, no script error (the browser's own favicon request aside)
    page.on('console', (m) => { if (m.type() === 'error' && !m.location().url.endsWith('/favicon.ico')) problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    if (key) {
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { protocol: 'ctap2', transport: 'usb', hasResidentKey: false, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
      });
      await cdp.send('WebAuthn.addCredential', { authenticatorId, credential: key.virtualCredential() });
    }
    return page;
  }

  const heading = async (page: Page) => (await page.locator('h1').textContent())?.trim();

  async function signInPage(page: Page, user: TestUser, webCrypto = true): Promise<Authorization> {
    const auth = await rp.authorize({ prompt: 'login', redirect_uri: CALLBACK });
    await page.goto(auth.url);
    assert.equal(await heading(page), 'Sign in');
    if (webCrypto) await page.waitForSelector('form[data-device-key-ready="yes"]', { state: 'attached' });
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForLoadState();
    return auth;
  }

  async function tokensAt(page: Page, auth: Authorization) {
    await page.waitForURL(`${CALLBACK}**`, { timeout: 15_000 }).catch(async () => assert.fail(`not back at the RP; the page shows "${await heading(page)}" at ${page.url()}`));
    const claims = (await rp.tokens(page.url(), auth)).claims()!;
    return { acr: claims.acr, amr: claims.amr as string[] };
  }

  const browserIdOf = async (context: BrowserContext) => (await context.cookies()).find((c) => /tessera\.device$/.test(c.name))!.value;

  /** An account whose routine factor is `key`, and a browser it knows (new-device code, then the key) trusted by its cookie alone, as before device keys. */
  async function legacyDevice(page: Page, key: SoftSecurityKey, webCrypto = true) {
    const user = await createUser(t, { deviceVerification: true });
    await key.registerTo(t, user);
    const auth = await signInPage(page, user, webCrypto);
    assert.equal(await heading(page), 'New device');
    await page.getByLabel('Code').fill(/(\d{6})/.exec(t.services.outbox.list().find((m) => m.to === user.email && /sign-in code/.test(m.subject ?? ''))!.subject!)![1]!);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForLoadState();
    assert.equal(await heading(page), 'Verify it is you');
    assert.equal(await page.getByRole('checkbox').count(), 0, 'known, not trusted: no box');
    await page.locator('#webauthn-start').click();
    assert.ok((await tokensAt(page, auth)).amr.includes('hwk'));
    const browserId = await browserIdOf(page.context());
    const device = (await t.services.devices.registrationFor(user.id, browserId))!;
    await t.services.devices.trust(device.id, 'Old laptop', new Date(Date.now() + 86_400_000));
    return { user, browserId, until: (await t.services.devices.registrationFor(user.id, browserId))!.trustedUntil! };
  }

  it('binds the browser\'s key once the security key answers, waiting for device-key.js: the next sign-in skips the key, copied cookies are asked', async () => {
    const key = new SoftSecurityKey(t.issuer);
    const laptop = await newContext(HOLDABLE_KEYGEN);
    try {
      const page = await tabWithKey(laptop, key);
      const { user, browserId, until } = await legacyDevice(page, key);

      const auth = await signInPage(page, user);
      assert.equal(await heading(page), 'Verify it is you', 'trusted without a key: asked for the security key');
      const keep = page.getByRole('checkbox', { name: 'Keep trusting this device' });
      assert.equal(await keep.isChecked(), false);
      await checkPage(page, SHOTS, 'keep-trusting-security-key');
      // the device key is not made until the authenticator has answered: the form must wait for it
      await page.evaluate('void (window.__keygenHeld = new Promise((resolve) => { window.__releaseKeygen = resolve; }))');
      await keep.check();
      await page.locator('#webauthn-start').click();
      await page.waitForFunction(`!document.getElementById('webauthn-form') || document.getElementById('webauthn-form').elements.code.value !== ''`).catch(() => undefined);
      await page.evaluate('window.__releaseKeygen && window.__releaseKeygen()').catch(() => undefined);
      assert.ok((await tokensAt(page, auth)).amr.includes('hwk'));
      const bound = (await t.services.devices.registrationFor(user.id, browserId))!;
      assert.ok(bound.key, 'bound to the browser\'s key');
      assert.equal(bound.trustedUntil!.getTime(), until.getTime(), 'the trust period stays');

      const next = await signInPage(page, user);
      assert.deepEqual(await tokensAt(page, next), { acr: ACR.password, amr: ['pwd'] }, 'the device key signed: password only');

      const thief = await newContext();
      try {
        await thief.addCookies(await laptop.cookies());
        const stolen = await tabWithKey(thief);
        await signInPage(stolen, user);
        assert.equal(await heading(stolen), 'Verify it is you', 'the copied cookies alone do not skip the key');
      } finally {
        await thief.close();
      }
      assert.deepEqual(problems, [], 'no CSP violation or script error');
    } finally {
      await laptop.close();
    }
  });

  it('signs a browser without WebCrypto in with the key when the box is ticked, and binds nothing', async () => {
    const key = new SoftSecurityKey(t.issuer);
    const old = await newContext(NO_WEBCRYPTO);
    try {
      const page = await tabWithKey(old, key);
      const { user, browserId, until } = await legacyDevice(page, key, false);
      const auth = await signInPage(page, user, false);
      await page.getByRole('checkbox', { name: 'Keep trusting this device' }).check();
      await page.locator('#webauthn-start').click();
      assert.ok((await tokensAt(page, auth)).amr.includes('hwk'));
      const after = (await t.services.devices.registrationFor(user.id, browserId))!;
      assert.equal(after.key, undefined, 'no key bound');
      assert.equal(after.trustedUntil!.getTime(), until.getTime());
      assert.deepEqual(problems, [], 'no CSP violation or script error');
    } finally {
      await old.close();
    }
  });
});
