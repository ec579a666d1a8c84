// The admin console (/admin) in Chromium, the way an administrator uses it: the admin is made with
// the `tessera` CLI (`user create --admin`) and has an authenticator app; they open /admin, sign
// in with password and app code by clicking, create a client whose redirect URI is a local relying
// party's callback, copy the secret from the page, and a real relying party (openid-client) signs a
// person in with that client id and secret. That person, not an admin, gets the 403 page. Users,
// a confirmation, organisations and the audit log are opened too. Every page is saved as
// screenshots/admin-console/<name>.png for a person to look at.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { tesseraCli } from '../support/cli.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/admin-console');
const ADMIN = { email: 'grace@example.com', password: 'Correct#Horse1' };
const PERSON = { email: 'alan@example.com', password: 'Battery#Staple42' };

/** A relying party's callback endpoint: records the URL the browser was sent back with. */
async function callbackListener() {
  const received: string[] = [];
  const server = http.createServer((req, res) => {
    received.push(`http://${req.headers.host}${req.url}`);
    res.setHeader('content-type', 'text/html');
    res.end('<!doctype html><title>Shop</title><h1>Back at the shop</h1>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { uri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`, received, close: () => server.close() };
}

describe('the admin console in a real browser (sign-in with a second factor, a client used by a real RP, screenshots)', function () {
  this.timeout(180_000);
  let t: Tessera;
  let browser: Browser;
  let adminContext: BrowserContext;
  let page: Page;
  let dataDir: string;
  let rpCallback: Awaited<ReturnType<typeof callbackListener>>;
  let totpSecret = '';
  let clientSecret = '';
  let personId = '';
  const failures: unknown[] = [];

  before(async function () {
    const launched = await launchChromium();
    if (!launched) this.skip();
    browser = launched!;
    mkdirSync(SHOTS, { recursive: true });
    rpCallback = await callbackListener();
    t = await startTessera({ log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-cli-'));
    const admin = await tesseraCli(t, dataDir, 'user', 'create', '--email', ADMIN.email, '--password', ADMIN.password, '--name', 'Grace Hopper', '--admin', '--json');
    assert.equal(admin.code, 0, admin.stderr);
    const adminId = (JSON.parse(admin.stdout) as { id: string }).id;
    const person = await tesseraCli(t, dataDir, 'user', 'create', '--email', PERSON.email, '--password', PERSON.password, '--name', 'Alan Turing', '--json');
    assert.equal(person.code, 0, person.stderr);
    personId = (JSON.parse(person.stdout) as { id: string }).id;
    // new-device codes are another feature (test/e2e/devices-browser.test.ts); an admin turns them off here
    for (const email of [ADMIN.email, PERSON.email]) {
      const updated = await tesseraCli(t, dataDir, 'user', 'update', '--email', email, '--device-verification', 'off');
      assert.equal(updated.code, 0, updated.stderr);
    }
    assert.equal((await t.services.accounts.findById(adminId))!.role, 'admin');
    // the admin's authenticator app (its setup is the security center's: test/e2e/security-center-browser.test.ts)
    const { secret } = await t.services.totp.begin(adminId, ADMIN.email);
    assert.ok(await t.services.totp.confirm(adminId, await generate({ secret })));
    totpSecret = secret;
    adminContext = await browser.newContext();
    page = await adminContext.newPage();
  });
  after(async () => {
    await adminContext?.close();
    await browser?.close();
    await t?.close();
    rpCallback?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  const url = (p: string) => `${t.issuer}${p}`;
  const heading = async (p: Page) => (await p.locator('h1').textContent())?.trim();
  const notice = (p: Page) => p.locator('p.notice').textContent();
  const alert = (p: Page) => p.locator('[role=alert]:visible').first().textContent();
  const shot = (p: Page, name: string) => p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  const click = async (p: Page, name: string) => { await p.getByRole('button', { name, exact: true }).click(); await p.waitForLoadState(); };
  /** The app's code one step ahead (the sign-in takes a later step than the setup). */
  const appCode = () => generate({ secret: totpSecret, epoch: Math.floor(Date.now() / 1000) + 30 });

  it('1. signs the admin in with password and authenticator app by clicking, and shows the overview', async () => {
    await page.goto(url('/admin'));
    assert.equal(await heading(page), 'Sign in');
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await click(page, 'Sign in');
    assert.equal(await heading(page), 'Verify it is you', 'the console asks for the second factor');
    await shot(page, 'sign-in-second-factor');
    await page.getByLabel('Code').fill(await appCode());
    await click(page, 'Verify');
    await page.waitForURL(url('/admin'));
    assert.equal(await heading(page), 'Administration');
    assert.match((await page.locator('.signed-in').textContent())!, /Signed in as grace@example\.com/);
    await shot(page, 'overview');
  });

  it('2. refuses a client with a javascript: redirect URI, naming the problem and keeping the typed values', async () => {
    await page.getByRole('link', { name: 'Clients', exact: true }).click();
    assert.equal(await heading(page), 'Clients');
    await page.getByRole('link', { name: 'New client' }).click();
    assert.equal(await heading(page), 'New client');
    await page.getByLabel('Client id').fill('shop');
    await page.getByLabel('Name').fill('The Shop');
    await page.getByLabel('Redirect URIs (one per line)', { exact: true }).fill('javascript:alert(1)');
    await click(page, 'Create the client');
    assert.match((await alert(page))!, /the scheme javascript: is not allowed/);
    assert.equal(await page.getByLabel('Name').inputValue(), 'The Shop');
    assert.equal(await t.services.clients.find('shop'), undefined, 'nothing was created');
    await shot(page, 'client-invalid');
  });

  it('3. creates a client for a local relying party: the secret is shown once, with a warning', async () => {
    await page.getByLabel('Redirect URIs (one per line)', { exact: true }).fill(rpCallback.uri);
    await page.getByLabel('Refresh tokens').check();
    await page.getByLabel('Skip the consent page (first-party application)').check();
    await click(page, 'Create the client');
    assert.equal(await heading(page), 'Client created');
    assert.match((await page.locator('p.warning').textContent())!, /Copy the secret now\./);
    clientSecret = (await page.locator('#client-secret').textContent())!.trim();
    assert.match(clientSecret, /^[\w-]{40,}$/);
    await shot(page, 'client-secret');
    await page.getByRole('link', { name: 'I have copied it: open the client' }).click();
    assert.equal(await heading(page), 'Client shop');
    assert.ok(!(await page.content()).includes(clientSecret), 'never shown again');
    await shot(page, 'client');
  });

  it('4. a real relying party signs a person in with that client id and secret; that person gets the 403 page', async () => {
    const config = await oidc.discovery(new URL(t.issuer), 'shop', clientSecret, oidc.ClientSecretBasic(clientSecret), { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const authUrl = oidc.buildAuthorizationUrl(config, {
      redirect_uri: rpCallback.uri, scope: 'openid email', state, nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const personContext = await browser.newContext();
    try {
      const person = await personContext.newPage();
      await person.goto(authUrl.href);
      assert.equal(await heading(person), 'Sign in');
      await person.getByLabel('Email').fill(PERSON.email);
      await person.getByLabel('Password').fill(PERSON.password);
      await click(person, 'Sign in');
      await person.waitForURL(`${rpCallback.uri}?**`);
      assert.equal(await heading(person), 'Back at the shop');
      const tokens = await oidc.authorizationCodeGrant(config, new URL(rpCallback.received.filter((u) => u.includes('/callback?')).at(-1)!), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
      const claims = tokens.claims()!;
      assert.equal(claims.sub, personId);
      assert.equal(claims.aud, 'shop');
      const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
      assert.equal(userinfo.email, PERSON.email, 'the access token works at userinfo');

      // that person is not an administrator: the console shows them the 403 page
      await person.goto(url('/admin'));
      assert.equal(await heading(person), 'You need an administrator account');
      assert.match((await person.locator('.lead').textContent())!, /alan@example\.com/);
      await shot(person, 'forbidden');
    } finally {
      await personContext.close();
    }
  });

  it('5. finds the person, opens their page with the device, and asks for confirmation before locking them out', async () => {
    await page.getByRole('link', { name: 'Users', exact: true }).click();
    await page.getByLabel('Search by email or name').fill('alan');
    await click(page, 'Search');
    assert.equal(await page.locator('table.grid tbody tr').count(), 1);
    await shot(page, 'users');
    await page.getByRole('link', { name: PERSON.email }).click();
    assert.equal(await heading(page), PERSON.email);
    assert.equal(await page.locator('li[data-device]').count(), 1, 'the browser that signed in');
    await page.locator('li[data-device] summary').click();
    await page.locator('li[data-device]').getByLabel('New flag').fill('shared');
    await click(page, 'Add flag');
    assert.equal(await notice(page), 'The flag was added.');
    await page.locator('li[data-device] summary').click();
    await shot(page, 'user');
    await page.getByRole('link', { name: 'Lock…' }).click();
    assert.match((await heading(page))!, /^Lock: alan@example\.com/);
    await shot(page, 'confirm-lock');
    await click(page, 'Lock');
    assert.equal(await notice(page), 'The account was locked: sign-ins fail until it is unlocked.');
    assert.equal((await t.services.admin.users.get(personId)).locked, true);
    // giving access back is confirmed too (issue 26)
    await page.getByRole('link', { name: 'Unlock…' }).click();
    assert.match((await heading(page))!, /^Unlock: alan@example\.com/);
    await shot(page, 'confirm-unlock');
    await click(page, 'Unlock');
    assert.equal(await notice(page), 'The account was unlocked.');
  });

  it('6. creates an organisation and adds the person', async () => {
    await page.getByRole('link', { name: 'Organisations', exact: true }).click();
    await page.getByLabel('Name of the new organisation').fill('Bletchley Park');
    await click(page, 'Create');
    assert.equal(await heading(page), 'Bletchley Park');
    await page.getByLabel('Email of the account').fill(PERSON.email);
    await page.getByLabel('Organisation admin').check();
    await click(page, 'Add member');
    assert.equal(await notice(page), 'The member was saved.');
    assert.equal(await page.locator('tr[data-member]').count(), 1);
    await shot(page, 'organisation');
  });

  it('7. shows the audit log, filtered by type family', async () => {
    await page.getByRole('link', { name: 'Audit log', exact: true }).first().click();
    assert.equal(await heading(page), 'Audit log');
    await page.getByLabel('Type').selectOption('admin.*');
    await click(page, 'Filter');
    const types = await page.locator('table.audit tbody td:nth-child(2)').allTextContents();
    assert.ok(types.length >= 4, types.join(', '));
    assert.ok(types.every((type) => type.startsWith('admin.')), types.join(', '));
    assert.ok(types.includes('admin.client.created') && types.includes('admin.user.locked'));
    await shot(page, 'audit');
    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Download CSV' }).click();
    const file = await download;
    assert.match(file.suggestedFilename(), /^tessera-audit-\d{4}-\d\d-\d\d\.csv$/);
  });
});
