// Device-bound trust in Chromium (README "Proof of possession"): "Trust this device" makes a
// non-extractable ECDSA P-256 key in the browser's IndexedDB (views/static/device-key.js, under the
// strict CSP) and binds the device to it; the trusted device then skips the routine TOTP by
// signing the sign-in page's challenge. Its cookies copied into a fresh browser context (what
// infostealer malware takes) are asked for the TOTP, and the case is audited. Removing the device
// in the security center ends the skip. Screens: screenshots/device-bound-trust/<name>[-phone].png.
import assert from 'node:assert/strict';
import path from 'node:path';
import { generate } from 'otplib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Tessera } from '../support/tessera.ts';
import { RelyingParty, createUser, REDIRECT_URI, type Authorization, type TestUser } from '../support/flow.ts';
import { checkPage, closeBrowserAndTessera, launchWithTessera } from '../support/languages.ts';
import { ACR } from '../../src/policy/assurance.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/device-bound-trust');

describe('device-bound trust in Chromium (a trusted device is its key, not its cookies)', function () {
  this.timeout(120_000);
  let t: Tessera;
  let rp: RelyingParty;
  let browser: Browser;
  let owner: BrowserContext;
  let user: TestUser & { secret: string };
  const problems: string[] = [];

  before(async function () {
    ({ browser, t } = await launchWithTessera(this, { shots: SHOTS }));
    rp = await RelyingParty.register(t, { name: 'Demo App', skipConsent: true });
    const made = await createUser(t, { deviceVerification: true });
    const { secret } = await t.services.totp.begin(made.id, made.email);
    assert.ok(await t.services.totp.confirm(made.id, await generate({ secret })));
    await t.services.accounts.setSecondFactor(made.id, 'totp');
    user = { ...made, secret };
  });
  after(async () => {
    await owner?.close();
    await closeBrowserAndTessera(browser, t);
  });

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext();
    await context.route(`${REDIRECT_URI}**`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>RP got the code</h1>' }));
    return context;
  }

  async function watched(context: BrowserContext): Promise<Page> {
    const page = await context.newPage();
    // the strict CSP and the script: no violation, no script error
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    return page;
  }

  async function open(context: BrowserContext, params: Record<string, string> = {}): Promise<{ page: Page; auth: Authorization }> {
    const page = await watched(context);
    const auth = await rp.authorize(params);
    await page.goto(auth.url);
    return { page, auth };
  }

  const heading = async (page: Page) => (await page.locator('h1').textContent())?.trim();

  async function typePassword(page: Page, who: { email: string; password: string } = user): Promise<void> {
    assert.equal(await heading(page), 'Sign in');
    // the page's script signed the challenge as it opened (when the browser has a key)
    await page.waitForSelector('form[data-device-key-ready="yes"]', { state: 'attached' });
    await page.getByLabel('Email').fill(who.email);
    await page.getByLabel('Password', { exact: true }).fill(who.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForLoadState();
  }

  async function tokensAt(page: Page, auth: Authorization) {
    await page.waitForURL(`${REDIRECT_URI}**`, { timeout: 10_000 }).catch(async () => assert.fail(`not back at the RP; the page shows "${await heading(page)}" at ${page.url()}`));
    const claims = (await rp.tokens(page.url(), auth)).claims()!;
    return { acr: claims.acr, amr: claims.amr as string[] };
  }

  const newestCode = (subject: RegExp) => /(\d{6})/.exec(t.services.outbox.list().find((m) => m.to === user.email && subject.test(m.subject ?? ''))!.subject!)![1]!;

  async function shot(page: Page, name: string): Promise<void> {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(SHOTS, `${name}-phone.png`), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  it('1. "Trust this device" keeps a non-extractable P-256 key in IndexedDB, and the trusted device skips the routine TOTP', async () => {
    owner = await newContext();
    const first = await open(owner);
    await typePassword(first.page);
    assert.equal(await heading(first.page), 'New device');
    await shot(first.page, 'trust-checkbox');
    await first.page.getByLabel('Code').fill(newestCode(/sign-in code/));
    await first.page.getByRole('checkbox').check();
    await first.page.waitForSelector('form[data-device-key-ready="yes"]', { state: 'attached' });
    await first.page.getByRole('button', { name: 'Verify' }).click();
    assert.deepEqual((await tokensAt(first.page, first.auth)).amr, ['pwd', 'email'], 'the key was proven with the trust: no TOTP now');

    // the key as the page left it: CryptoKey objects in IndexedDB, the private one not extractable
    const login = await open(owner, { prompt: 'login' });
    // (the page's own code, as a string: this file is compiled without the DOM types)
    const stored = await login.page.evaluate(`(async () => {
      const db = await new Promise((resolve, reject) => { const r = indexedDB.open('tessera-device', 1); r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
      const pair = await new Promise((resolve, reject) => { const r = db.transaction('keys').objectStore('keys').get('device'); r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
      db.close();
      const exported = await crypto.subtle.exportKey('jwk', pair.privateKey).then(() => 'exported', (e) => e.name);
      return { extractable: pair.privateKey.extractable, algorithm: pair.privateKey.algorithm, usages: pair.privateKey.usages, exported };
    })()`);
    assert.deepEqual(stored, { extractable: false, algorithm: { name: 'ECDSA', namedCurve: 'P-256' }, usages: ['sign'], exported: 'InvalidAccessError' });

    await typePassword(login.page);
    assert.deepEqual(await tokensAt(login.page, login.auth), { acr: ACR.password, amr: ['pwd'] }, 'the trusted device signed: password only');
  });

  it('2. asks a fresh browser context holding the copied cookies for the TOTP, and audits the possible copied cookie', async () => {
    const thief = await newContext();
    try {
      await thief.addCookies(await owner.cookies());
      const { page, auth } = await open(thief, { prompt: 'login' });
      await typePassword(page);
      assert.equal(await heading(page), 'Verify it is you', 'the copied cookies alone do not skip the TOTP');
      assert.match((await page.locator('.lead').textContent())!, /Your account asks for a second step/);
      await shot(page, 'copied-cookie-factor');
      await t.services.audit.flush();
      const { events } = await t.services.audit.query({ accountId: user.id, type: 'device.key_proof_failed', limit: 10 });
      assert.equal(events.length, 1);
      assert.equal(events[0]!.details?.reason, 'missing');
      // the person behind the code still gets in, with the TOTP
      await page.getByLabel('Code').fill(await generate({ secret: user.secret, epoch: Math.floor(Date.now() / 1000) + 30 }));
      await page.getByRole('button', { name: 'Verify' }).click();
      assert.ok((await tokensAt(page, auth)).amr.includes('otp'));
    } finally {
      await thief.close();
    }
  });

  it('3. ends the skip when the device is removed in the security center', async () => {
    const page = await watched(owner);
    await page.goto(`${t.issuer}/account/security/devices`);
    if (await heading(page) === 'Sign in') await typePassword(page);
    assert.equal(await heading(page), 'Devices');
    const mine = page.locator('li', { has: page.locator('.tag', { hasText: 'This browser' }) });
    await mine.locator('summary').click();
    await mine.getByRole('button', { name: 'Remove' }).click();
    await page.waitForLoadState();
    await page.getByLabel('Code').fill(newestCode(/code/));
    await page.getByRole('button', { name: /Confirm|Verify/ }).click();
    await page.waitForLoadState();
    const again = await open(owner, { prompt: 'login' });
    await typePassword(again.page);
    assert.equal(await heading(again.page), 'New device', 'removed: the browser is a new device, no skip');
    assert.deepEqual(problems, [], 'no CSP violation or script error');
  });

  it('4. "Keep trusting this device" on the TOTP page binds a device trusted before keys to a key: the next sign-in skips the TOTP', async () => {
    // its own account: TOTP steps are single use, and the account above spent the current ones
    const made = await createUser(t, { deviceVerification: true });
    const { secret } = await t.services.totp.begin(made.id, made.email);
    assert.ok(await t.services.totp.confirm(made.id, await generate({ secret, epoch: Math.floor(Date.now() / 1000) - 30 })));
    await t.services.accounts.setSecondFactor(made.id, 'totp');
    const totp = (ahead: number) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + ahead });
    const laptop = await newContext();
    try {
      // a known browser (new-device code, not trusted), then trusted by its cookie alone as before keys
      const first = await open(laptop);
      await typePassword(first.page, made);
      assert.equal(await heading(first.page), 'New device');
      await first.page.getByLabel('Code').fill(/(\d{6})/.exec(t.services.outbox.list().find((m) => m.to === made.email && /sign-in code/.test(m.subject ?? ''))!.subject!)![1]!);
      await first.page.getByRole('button', { name: 'Verify' }).click();
      await first.page.waitForLoadState();
      assert.equal(await heading(first.page), 'Verify it is you');
      assert.equal(await first.page.getByRole('checkbox').count(), 0, 'not trusted: no box');
      await first.page.getByLabel('Code').fill(await totp(0));
      await first.page.getByRole('button', { name: 'Verify' }).click();
      await tokensAt(first.page, first.auth);
      const browserId = (await laptop.cookies()).find((c) => /tessera\.device$/.test(c.name))!.value;
      const device = (await t.services.devices.registrationFor(made.id, browserId))!;
      await t.services.devices.trust(device.id, 'Old laptop', new Date(Date.now() + 86_400_000));

      const asked = await open(laptop, { prompt: 'login' });
      await typePassword(asked.page, made);
      assert.equal(await heading(asked.page), 'Verify it is you', 'trusted without a key: asked');
      const keep = asked.page.getByRole('checkbox', { name: 'Keep trusting this device' });
      assert.equal(await keep.isChecked(), false);
      await checkPage(asked.page, SHOTS, 'keep-trusting-factor');
      await keep.check();
      await asked.page.waitForSelector('form[data-device-key-ready="yes"]', { state: 'attached' });
      await asked.page.getByLabel('Code').fill(await totp(30));
      await asked.page.getByRole('button', { name: 'Verify' }).click();
      assert.ok((await tokensAt(asked.page, asked.auth)).amr.includes('otp'));
      assert.ok((await t.services.devices.registrationFor(made.id, browserId))!.key, 'bound to the browser\'s key');

      const next = await open(laptop, { prompt: 'login' });
      await typePassword(next.page, made);
      assert.deepEqual(await tokensAt(next.page, next.auth), { acr: ACR.password, amr: ['pwd'] }, 'the key signed: password only');
      assert.deepEqual(problems, [], 'no CSP violation or script error');
    } finally {
      await laptop.close();
    }
  });
});
