// Security keys in a real browser: Chromium with the DevTools virtual authenticator registers a
// key on the account page, then a relying party asking for the phishing-resistant level (phr)
// gets only the key step after the password session, and an ID token with acr phr. A first key
// (on the account page, or set up during a sign-in) comes with recovery codes, shown once.
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, REDIRECT_URI, type TestUser } from '../support/flow.ts';
import { ACR } from '../../src/policy/assurance.ts';
import { eventually } from '../support/mail.ts';


/** Waits until the page has followed the redirect to the relying party (its page, or Chromium's error page for port 9). */
async function settled(page: Page): Promise<void> {
  const there = (url: URL) => url.protocol === 'chrome-error:' || url.href.startsWith(REDIRECT_URI);
  // the navigation to port 9 fails (ERR_UNSAFE_PORT); the error page is then committed
  await page.waitForURL(there, { waitUntil: 'commit', timeout: 20_000 }).catch((err: Error) => { if (!/ERR_UNSAFE_PORT/.test(err.message)) throw err; });
  await page.waitForURL(there, { waitUntil: 'commit', timeout: 20_000 });
}

describe('security keys (WebAuthn) in Chromium', function () {
  this.timeout(60_000);
  let t: Tessera;
  let rp: RelyingParty;
  let user: TestUser;
  let browser: Browser;
  let page: Page;

  before(async function () {
    t = await startTessera({ localhost: true });
    rp = await RelyingParty.register(t, { skipConsent: true, name: 'Bank' });
    user = await createUser(t);
    const launched = await launchChromium();
    if (!launched) this.skip();
    browser = launched!;
    page = await browser.newPage();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'usb', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('registers a key with a name and the password on the account page', async () => {
    await page.goto(`${t.issuer}/account/security`);
    await page.fill('input[name=email]', user.email);
    await page.fill('input[name=password]', user.password);
    await page.click('button[type=submit]');
    await page.waitForURL(`${t.issuer}/account/security`);
    await page.fill('#key-name', 'Virtual key');
    await page.fill('#key-password', user.password);
    await page.click('#webauthn-start');
    await page.waitForSelector('.notice');
    assert.match(await page.textContent('.notice') ?? '', /"Virtual key" was added/);
    assert.equal((await t.services.webauthn.list(user.id)).length, 1);
    // a first second factor comes with recovery codes, shown once
    assert.equal(await page.locator('ul.codes li').count(), 10);
    assert.equal(await t.services.recovery.remaining(user.id), 10);
  });

  it('steps a password session up to phr with only the key: acr phr, amr pwd hwk user mfa', async () => {
    await page.route(`${REDIRECT_URI}**`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>RP got the code</h1>' }));
    const auth = await rp.authorize({ acr_values: ACR.phr });
    await page.goto(auth.url);
    await page.waitForSelector('#webauthn-start');
    assert.equal(await page.locator('input[name=password]').count(), 0, 'not the password again');
    // the provider's redirect to the relying party carries the code
    const toRp = page.waitForResponse((r) => r.headers().location?.startsWith(REDIRECT_URI) ?? false, { timeout: 20_000 });
    await page.click('#webauthn-start');
    const callback = (await toRp).headers().location!;
    // the browser then follows the redirect to the relying party (Chromium refuses its port 9 with an
    // error page): wait until it has, or that late navigation cuts into the next test's
    await settled(page);
    const claims = (await rp.tokens(callback, auth)).claims()!;
    assert.equal(claims.acr, ACR.phr);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['hwk', 'mfa', 'pwd', 'user']);
  });

  it('sets a key up during a sign-in that asks for phr, shows its recovery codes once, and Continue reaches the application', async () => {
    const other = await createUser(t);
    const auth = await rp.authorize({ acr_values: ACR.phr });
    await page.context().clearCookies();
    await page.goto(auth.url);
    await page.fill('input[name=email]', other.email);
    await page.fill('input[name=password]', other.password);
    await page.click('button[type=submit]');
    const code = (await eventually(() => t.services.outbox.list().find((m) => m.to === other.email && /sign-in code$/.test(m.subject ?? '')), 'the emailed code')).subject!.slice(0, 6);
    await page.fill('input[name=code]', code);
    await page.click('form[action$="/enrol/email"] button[type=submit]');
    await page.fill('#key-name', 'Sign-in key');
    await page.click('#webauthn-start');
    await page.waitForSelector('ul.codes');
    assert.equal(await page.locator('ul.codes li').count(), 10);
    assert.equal(await t.services.recovery.remaining(other.id), 10);
    const toRp = page.waitForResponse((r) => r.headers().location?.startsWith(REDIRECT_URI) ?? false, { timeout: 20_000 });
    await page.click('text=Continue to Bank');
    const location = (await toRp).headers().location!;
    await settled(page);
    const claims = (await rp.tokens(location, auth)).claims()!;
    assert.equal(claims.acr, ACR.phr);
  });

  it('offers an account without a key to set one up, and refuses phr when it declines', async () => {
    const other = await createUser(t);
    const agent = new UserAgent();
    const auth = await rp.authorize({ acr_values: ACR.phr });
    const offer = await agent.submit(await agent.visit(auth.url), /\/login$/, { email: other.email, password: other.password });
    assert.match(offer.body, /asks for a security key or passkey/);
    const declined = await agent.submit(offer, /\/enrol\/decline$/);
    assert.equal(new URL(declined.url).searchParams.get('error'), 'unmet_authentication_requirements');
  });
});
