// A person in Chromium: opens the RP's authorization URL, types email and password, allows access,
// and the RP receives a code it can redeem. Sets up the browser harness later work builds on.
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, createUser, REDIRECT_URI, type TestUser } from '../support/flow.ts';


describe('sign-in in a real browser', function () {
  this.timeout(60_000);
  let t: Tessera;
  let rp: RelyingParty;
  let user: TestUser;
  let browser: Browser;

  before(async function () {
    t = await startTessera();
    rp = await RelyingParty.register(t, { name: 'Demo App' });
    user = await createUser(t);
    const launched = await launchChromium();
    if (!launched) this.skip();
    browser = launched!;
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('lets a person sign in and the relying party receive a code', async () => {
    const page = await browser.newPage();
    let callback: string | undefined;
    await page.route(`${REDIRECT_URI}**`, async (route) => {
      callback = route.request().url();
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>RP got the code</h1>' });
    });
    const auth = await rp.authorize();
    await page.goto(auth.url);
    assert.equal(await page.locator('h1').textContent(), 'Sign in');
    assert.match((await page.locator('.lead').textContent())!, /Demo App/);

    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password').fill('Wrong#Password1');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForSelector('.error:visible');
    assert.equal(await page.locator('.error:visible').textContent(), 'Incorrect email or password.');

    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForSelector('text=Allow access?');
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForSelector('text=RP got the code');

    assert.ok(callback?.startsWith(REDIRECT_URI), 'the browser was sent back to the RP');
    const tokens = await rp.tokens(callback!, auth);
    assert.equal(tokens.claims()?.sub, user.id);
  });
});
