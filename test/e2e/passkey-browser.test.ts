// Passkeys in a real browser (issue 21): Chromium with the DevTools virtual authenticator (a
// platform authenticator with resident keys and user verification). After a password sign-in the
// browser is offered a passkey once and creates it (then its first recovery codes, shown once);
// "Not now" is remembered in another browser; the passkey then signs in from the email field's
// autofill (conditional mediation) and from the "Sign in with a passkey" button, each giving an ID
// token with acr phr and amr hwk + user. Pages are saved at 390 and 1280 px as
// screenshots/passkeys/<name>-<width>.png, nothing wider than the screen. No step waits on a race:
// the autofill may sign in before its page has loaded, so what it asked for is recorded as it asks.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, createUser, type TestUser } from '../support/flow.ts';
import { ACR } from '../../src/policy/assurance.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/passkeys');
const WIDTHS = [390, 1280];


describe('passkeys in Chromium (virtual authenticator)', function () {
  this.timeout(90_000);
  let t: Tessera;
  let rp: RelyingParty;
  let browser: Browser;
  let page: Page;
  let user: TestUser;
  const failures: unknown[] = [];
  // the relying party's callback: a real listener (Chromium refuses flow.ts's port 9, and routes miss redirects)
  const callbackServer = http.createServer((req, res) => { res.setHeader('content-type', 'text/html'); res.end('<h1>RP got the code</h1>'); });
  let CALLBACK = '';

  /** A fresh browser profile whose tab has a platform authenticator (resident keys, user verification). */
  async function browserWithAuthenticator(): Promise<Page> {
    const p = await (await browser.newContext()).newPage();
    const cdp = await p.context().newCDPSession(p);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    return p;
  }
  async function shots(p: Page, name: string) {
    for (const width of WIDTHS) {
      await p.setViewportSize({ width, height: 800 });
      assert.ok(await p.evaluate<number>('document.documentElement.scrollWidth') <= width, `${name}: nothing wider than ${width} px`);
      await p.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
    }
  }
  /** The callback URL (with the code) the provider's redirect to the relying party carries. */
  async function toRp(p: Page): Promise<string> {
    const location = (await p.waitForResponse((r) => r.headers().location?.startsWith(CALLBACK) ?? false, { timeout: 60_000 })).headers().location!;
    await p.waitForURL(`${CALLBACK}**`, { timeout: 60_000 });
    return location;
  }
  async function passwordSignIn(p: Page, who: TestUser, params: Record<string, string> = {}) {
    const auth = await rp.authorize({ redirect_uri: CALLBACK, ...params });
    await p.goto(auth.url);
    await p.waitForFunction('document.cookie.includes("tessera.passkey-capable=1")');
    await p.fill('input[name=email]', who.email);
    await p.fill('input[name=password]', who.password);
    return auth;
  }

  before(async function () {
    const launched = await launchChromium();
    if (!launched) this.skip();
    browser = launched!;
    mkdirSync(SHOTS, { recursive: true });
    await new Promise<void>((resolve) => callbackServer.listen(0, '127.0.0.1', resolve));
    CALLBACK = `http://127.0.0.1:${(callbackServer.address() as AddressInfo).port}/callback`;
    t = await startTessera({ localhost: true, log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
    rp = await RelyingParty.register(t, { skipConsent: true, name: 'Bank', redirectUris: [CALLBACK] });
    user = await createUser(t);
    page = await browserWithAuthenticator();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    callbackServer.close();
  });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  it('offers a passkey after a password sign-in and creates it on this device, no password again', async () => {
    const auth = await passwordSignIn(page, user);
    assert.ok(await page.isVisible('#passkey-start'), 'the passkey button shows where WebAuthn works');
    await shots(page, 'sign-in');
    await page.click('form[action$="/login"] button[type=submit]');
    await page.waitForSelector('h1:text("Sign in faster next time")');
    await page.waitForSelector('#passkey-create', { state: 'visible' });
    await shots(page, 'offer');
    await page.click('#passkey-create');
    // a first second factor: its recovery codes, shown once, then on to the application
    await page.waitForSelector('h1:text("Save your recovery codes")');
    assert.equal(await page.locator('#recovery-codes li').count(), 10);
    await shots(page, 'codes');
    const code = toRp(page);
    await page.click('text=Continue to Bank');
    const claims = (await rp.tokens(await code, auth)).claims()!;
    assert.deepEqual(claims.amr, ['pwd']);
    const keys = await t.services.webauthn.list(user.id);
    assert.equal(keys.length, 1);
    assert.match(keys[0]!.name, /^Passkey \(/);
    assert.ok(keys[0]!.aaguid, 'the authenticator\'s model is stored');
  });

  it('remembers "Not now" in that browser: the next sign-in there goes straight to the application', async () => {
    const other = await createUser(t);
    const p = await browserWithAuthenticator();
    await passwordSignIn(p, other);
    await p.click('form[action$="/login"] button[type=submit]');
    await p.waitForSelector('h1:text("Sign in faster next time")');
    let code = toRp(p);
    await p.click('text=Not now, continue to Bank');
    await code;
    const auth = await passwordSignIn(p, other, { prompt: 'login' });
    code = toRp(p);
    await p.click('form[action$="/login"] button[type=submit]');
    assert.deepEqual((await rp.tokens(await code, auth)).claims()!.amr, ['pwd'], 'no offer this time');
    assert.equal((await t.services.webauthn.list(other.id)).length, 0);
    await p.context().close();
  });

  it('signs in from the email field\'s autofill (conditional mediation): acr phr, amr hwk and user', async () => {
    await page.context().clearCookies();
    const auth = await rp.authorize({ redirect_uri: CALLBACK });
    // the virtual authenticator answers the conditional request itself, as a person picking the
    // passkey from the autofill list would: no click, no email typed. It may answer before the page
    // has even finished loading, so the request is recorded as it is made, not read off the page
    // afterwards (which may already be the application's).
    const requests: string[] = [];
    await page.exposeFunction('recordCredentialRequest', (mediation: string) => { requests.push(mediation); });
    await page.addInitScript(`(() => {
      const get = navigator.credentials.get.bind(navigator.credentials);
      navigator.credentials.get = (options) => { window.recordCredentialRequest(String(options && options.mediation)); return get(options); };
    })()`);
    const code = toRp(page);
    await page.goto(auth.url, { waitUntil: 'commit' });
    const claims = (await rp.tokens(await code, auth)).claims()!;
    assert.equal(claims.sub, user.id);
    assert.equal(claims.acr, ACR.phr);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['hwk', 'user']);
    assert.deepEqual(requests, ['conditional'], 'the page started a conditional request, and only that');
  });

  it('signs in with the "Sign in with a passkey" button where the browser has no passkey autofill', async () => {
    await page.context().clearCookies();
    await page.addInitScript('PublicKeyCredential.isConditionalMediationAvailable = async () => false;');
    const auth = await rp.authorize({ redirect_uri: CALLBACK });
    await page.goto(auth.url);
    await page.waitForSelector('#passkey-start', { state: 'visible' });
    assert.equal(await page.getAttribute('#passkey-form', 'data-autofill'), null);
    const code = toRp(page);
    await page.click('#passkey-start');
    const claims = (await rp.tokens(await code, auth)).claims()!;
    assert.equal(claims.acr, ACR.phr);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['hwk', 'user']);
  });

  it('shows a refused passkey beside its button', async () => {
    await page.context().clearCookies();
    await page.goto((await rp.authorize({ redirect_uri: CALLBACK })).url);
    await page.waitForSelector('#passkey-start', { state: 'visible' });
    await page.evaluate('(() => { const f = document.getElementById("passkey-form"); f.elements.response.value = "{}"; f.submit(); })()');
    await page.waitForSelector('#passkey-error:not([hidden])');
    assert.match(await page.textContent('#passkey-error') ?? '', /That passkey did not sign you in/);
    await shots(page, 'sign-in-refused');
  });
});
