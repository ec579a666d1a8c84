// The browser scripts' own messages in the page's language (issue 24): copy.js, passkeys.js and
// webauthn.js take their words from the hidden #script-strings element partials/foot.ejs renders
// (locales/<language>/scripts.json), not from English written into the scripts. In Chromium: a
// Polish security center's "Copy the key" says the Polish word after a click (clipboard granted), and
// a German sign-in page whose passkey prompt finds no passkey (the DevTools virtual authenticator
// holds none, so the browser answers NotAllowedError) says so in German. English stays as it was
// (test/e2e/security-center-browser.test.ts and passkey-browser.test.ts walk the English pages).
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import type { Tessera } from '../support/tessera.ts';
import { createUser, giveVerifiedPhone, RelyingParty } from '../support/flow.ts';
import { closeBrowserAndTessera, launchWithTessera, signInToSecurityCenter } from '../support/languages.ts';
import { translator } from '../../src/i18n/index.ts';

describe("the browser scripts' messages in the page's language (Chromium)", function () {
  this.timeout(120_000);
  let t: Tessera;
  let browser: Browser;

  before(async function () {
    // localhost: WebAuthn refuses an IP address as relying-party id
    ({ browser, t } = await launchWithTessera(this, { tessera: { localhost: true } }));
  });
  after(() => closeBrowserAndTessera(browser, t));

  it('a Polish page\'s copy button says "Skopiowano." after a click', async () => {
    assert.equal(translator('pl')('scripts:copied'), 'Skopiowano.');
    const user = await createUser(t);
    await t.services.accounts.updateProfile(user.email, { locale: 'pl' });
    await giveVerifiedPhone(t, user); // the authenticator app's page follows a verified number
    const context = await browser.newContext({ locale: 'en-GB' });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: t.issuer });
    const page = await context.newPage();
    try {
      await signInToSecurityCenter(page, t, user);
      await page.goto(`${t.issuer}/account/security/totp`);
      assert.equal(await page.getAttribute('html', 'lang'), 'pl');
      const key = (await page.locator('code.key').textContent())!.replace(/\s/g, '');
      await page.getByRole('button', { name: 'Kopiuj klucz' }).click();
      await page.locator('#key-status', { hasText: 'Skopiowano.' }).waitFor();
      assert.equal((await page.locator('#key-status').textContent())?.trim(), 'Skopiowano.');
      assert.equal(await page.evaluate<string>('navigator.clipboard.readText()'), key);
    } finally {
      await context.close();
    }
  });

  it('a German sign-in page says in German that no passkey was used when the prompt finds none', async () => {
    const rp = await RelyingParty.register(t, { skipConsent: true, name: 'Bank' });
    const context = await browser.newContext({ locale: 'de-DE' });
    const page = await context.newPage();
    try {
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      // a platform authenticator without any passkey: the prompt ends in NotAllowedError
      await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
      });
      await page.goto((await rp.authorize()).url);
      assert.equal(await page.getAttribute('html', 'lang'), 'de');
      await page.locator('#passkey-start').click();
      const error = page.locator('#passkey-error');
      await error.waitFor({ state: 'visible', timeout: 60_000 });
      assert.equal((await error.textContent())?.trim(), translator('de')('scripts:passkeyNotUsed'));
      assert.match((await error.textContent())!, /^Es wurde kein Passkey verwendet/);
    } finally {
      await context.close();
    }
  });
});
