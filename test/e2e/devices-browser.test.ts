// New-device verification in Chromium with emails read from a real SMTP server: a new browser
// context (or cleared cookies) needs a code and is announced by email, a known one is not; a trusted
// device skips the routine TOTP but not an RP's step-up; the CLI lists the devices with history.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'otplib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { tesseraCli } from '../support/cli.ts';
import { launchChromium } from '../support/browser.ts';
import { startSmtp, type Smtp } from '../support/mail.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, createUser, REDIRECT_URI, type Authorization, type TestUser } from '../support/flow.ts';
import { ACR } from '../../src/policy/assurance.ts';

const NEW_DEVICE_SUBJECT = /^Subject: New sign-in to your Tessera account/m;

describe('devices in a real browser (new-device codes by SMTP, trusted devices)', function () {
  this.timeout(120_000);
  let t: Tessera;
  let smtp: Smtp;
  let rp: RelyingParty;
  let user: TestUser;
  let browser: Browser;
  /** The browser context of tests 1–3 (one device, later with cleared cookies). */
  let first: BrowserContext;

  before(async function () {
    const launched = await launchChromium();
    if (!launched) this.skip();
    browser = launched!;
    smtp = await startSmtp();
    t = await startTessera({ env: { SMTP_URL: smtp.url } });
    rp = await RelyingParty.register(t, { name: 'Demo App', skipConsent: true });
    user = await createUser(t, { deviceVerification: true });
  });
  after(async () => {
    await first?.close();
    await browser?.close();
    await t?.close();
    await smtp?.close();
  });

  /** A new browser context (a new device) whose requests to the RP's callback are answered. */
  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext();
    await context.route(`${REDIRECT_URI}**`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>RP got the code</h1>' }));
    return context;
  }

  async function open(context: BrowserContext, params: Record<string, string> = {}): Promise<{ page: Page; auth: Authorization }> {
    const page = await context.newPage();
    const auth = await rp.authorize(params);
    await page.goto(auth.url);
    return { page, auth };
  }

  async function typePassword(page: Page, who: TestUser): Promise<void> {
    assert.equal(await page.locator('h1').textContent(), 'Sign in');
    await page.getByLabel('Email').fill(who.email);
    await page.getByLabel('Password').fill(who.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForLoadState();
  }

  /** The newest mail to `address` matching `pattern` among those that arrived after the first `since`, waiting for it. */
  async function mailTo(address: string, pattern: RegExp, since: number): Promise<string> {
    return (await smtp.waitFor(address, pattern, since)).text;
  }
  const codeIn = (mail: string) => /(\d{6}) is your Tessera sign-in code/.exec(mail)![1]!;

  async function newDeviceMails(address: string): Promise<string[]> {
    await t.services.notices.settled();
    return smtp.received.filter((m) => m.to.includes(address) && NEW_DEVICE_SUBJECT.test(m.text)).map((m) => m.text);
  }

  /** On the New device page: the code from the latest email, optionally "Trust this device", Verify. */
  async function enterEmailedCode(page: Page, who: TestUser, since: number, trust = false): Promise<void> {
    assert.equal(await page.locator('h1').textContent(), 'New device');
    await page.getByLabel('Code').fill(codeIn(await mailTo(who.email, /sign-in code/, since)));
    if (trust) await page.getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Verify' }).click();
  }

  async function tokensAt(page: Page, auth: Authorization) {
    await page.waitForURL(`${REDIRECT_URI}**`, { timeout: 10_000 }).catch(async () => assert.fail(`not back at the RP; the page shows "${await page.locator('h1').textContent()}"`));
    const claims = (await rp.tokens(page.url(), auth)).claims()!;
    return { acr: claims.acr, amr: claims.amr as string[] };
  }

  it('asks a new browser for an emailed code after the password, then signs in and emails a new-device notice', async () => {
    first = await newContext();
    const since = smtp.received.length;
    const { page, auth } = await open(first);
    await typePassword(page, user);
    await enterEmailedCode(page, user, since);
    const { amr } = await tokensAt(page, auth);
    assert.ok(amr.includes('pwd') && amr.includes('email'), `amr ${amr}`);

    const notices = await newDeviceMails(user.email);
    assert.equal(notices.length, 1);
    assert.match(notices[0]!, /IP:\s+127\.0\.0\.1/);
    assert.match(notices[0]!, /Where:\s+unknown location/);
    assert.match(notices[0]!, /Browser:\s+Chrome[^\n]* on Linux/);
    assert.match(notices[0]!, /This wasn't me: someone may know your password/);
  });

  it('asks the same browser for no code and sends no new-device email on its next sign-in', async () => {
    const since = smtp.received.length;
    const { page, auth } = await open(first, { prompt: 'login' });
    await typePassword(page, user);
    const { amr } = await tokensAt(page, auth);
    assert.deepEqual(amr, ['pwd'], 'the password alone: no new-device code');
    assert.equal((await newDeviceMails(user.email)).length, 1, 'still one new-device email');
    assert.equal(smtp.received.slice(since).filter((m) => m.to.includes(user.email)).length, 0, 'no code sent either');
  });

  it('treats the same browser with cleared cookies as a new device: a code and a new-device email again', async () => {
    await first.clearCookies();
    const since = smtp.received.length;
    const { page, auth } = await open(first);
    await typePassword(page, user);
    await enterEmailedCode(page, user, since);
    const { amr } = await tokensAt(page, auth);
    assert.ok(amr.includes('email'), `amr ${amr}`);
    assert.equal((await newDeviceMails(user.email)).length, 2);
  });

  it('shows the text-message option disabled with its reason when the account has no verified mobile number', async () => {
    const context = await newContext();
    try {
      const { page } = await open(context);
      await typePassword(page, user);
      assert.equal(await page.locator('h1').textContent(), 'New device');
      const sms = page.locator('ul.methods li', { hasText: 'Text me a code' });
      assert.equal(await sms.getAttribute('aria-disabled'), 'true');
      assert.match((await sms.textContent())!, /no verified mobile number/);
      assert.equal(await sms.locator('a').count(), 0, 'not a link');
    } finally {
      await context.close();
    }
  });

  it('lets a trusted device skip the routine TOTP, but still asks for it when an RP asks for mfa', async () => {
    const owner = await createUser(t, { deviceVerification: true });
    const { secret } = await t.services.totp.begin(owner.id, owner.email);
    assert.ok(await t.services.totp.confirm(owner.id, await generate({ secret })));
    await t.services.accounts.setSecondFactor(owner.id, 'totp');
    const context = await newContext();
    try {
      const since = smtp.received.length;
      const signIn = await open(context);
      await typePassword(signIn.page, owner);
      await enterEmailedCode(signIn.page, owner, since, true);
      const trusted = await tokensAt(signIn.page, signIn.auth);
      assert.ok(!trusted.amr.includes('otp'), `trusting the device skipped the routine TOTP at once: amr ${trusted.amr}`);
      assert.deepEqual(trusted.amr, ['pwd', 'email']);

      const again = await open(context, { prompt: 'login' });
      await typePassword(again.page, owner);
      assert.deepEqual(await tokensAt(again.page, again.auth), { acr: ACR.password, amr: ['pwd'] }, 'password only: no TOTP');

      const stepUp = await open(context, { acr_values: ACR.mfa });
      assert.equal(await stepUp.page.locator('h1').textContent(), 'Verify it is you', 'the RP\'s step-up is not skipped');
      assert.match((await stepUp.page.locator('.lead').textContent())!, /Demo App asks for a stronger sign-in/);
      await stepUp.page.getByLabel('Code').fill(await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 }));
      await stepUp.page.getByRole('button', { name: 'Verify' }).click();
      const stepped = await tokensAt(stepUp.page, stepUp.auth);
      assert.equal(stepped.acr, ACR.mfa);
      assert.ok(stepped.amr.includes('otp'), `amr ${stepped.amr}`);
    } finally {
      await context.close();
    }
  });

  it('lists the devices with their history through the CLI (`device list --email E --json`)', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-cli-'));
    try {
      const result = await tesseraCli(t, dataDir, 'device', 'list', '--email', user.email, '--json');
      assert.equal(result.code, 0, result.stderr);
      const { account, devices } = JSON.parse(result.stdout) as { account: string; devices: { state: string; verifiedAt?: string; browser: string; history: { why: string }[] }[] };
      assert.equal(account, user.id);
      const verified = devices.filter((d) => d.verifiedAt);
      assert.ok(verified.length >= 2, `two verified registrations (a context and its cleared cookies), got ${verified.length}`);
      for (const d of devices) {
        assert.equal(d.state, 'ACTIVE');
        assert.match(d.browser, /Chrome/);
        assert.equal(d.history[0]?.why, 'first seen');
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
