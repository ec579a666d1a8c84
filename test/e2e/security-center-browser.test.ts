// The account security center (/account/security) walked in Chromium the way a person would: sign
// in on the hosted page, then every block in turn — Password, Contacts (a number verified by text,
// another by call, through a fake Twilio), Two-factor (authenticator app, one routine method at a
// time), PIN and screen lock, Trusted devices, Trusted IPs, Active sessions (a second browser signs
// in with TOTP and PIN, then is logged out from the first), Session history, and the screen lock
// (Tessera's clock moved on: unlock with the PIN; five wrong PINs sign the session out). The user is
// made with the `tessera` CLI as the README does; notices arrive by real SMTP. Each block is saved
// as screenshots/security-center/<block>.png for a person to look at.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'otplib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { tesseraCli } from '../support/cli.ts';
import { startFakeTwilio, type FakeTwilio } from '../support/fake-twilio.ts';
import { eventually, startSmtp, type Smtp } from '../support/mail.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/security-center');
const EMAIL = 'ada@example.com';
const FIRST_PASSWORD = 'Correct#Horse1';
const NEW_PASSWORD = 'Battery#Staple42';
const PIN = '4826';
const MOBILE = '+41791234567';
const SECOND = '+41761234567';
const MINUTE = 60_000;

describe('the account security center in a real browser (every block, with screenshots)', function () {
  this.timeout(180_000);
  let t: Tessera;
  let twilio: FakeTwilio;
  let smtp: Smtp;
  let browser: Browser;
  let first: BrowserContext;
  let page: Page;
  let dataDir: string;
  let offsetMs = 0;
  let password = FIRST_PASSWORD;
  let totpSecret = '';
  let accountId = '';
  const failures: unknown[] = [];

  before(async function () {
    const launched = await launchChromium();
    if (!launched) this.skip();
    browser = launched!;
    mkdirSync(SHOTS, { recursive: true });
    twilio = await startFakeTwilio();
    smtp = await startSmtp();
    t = await startTessera({
      clock: () => new Date(Date.now() + offsetMs),
      log: (err) => { failures.push(err); console.error('    [tessera 500]', err); },
      env: {
        SMTP_URL: smtp.url, SMS_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: twilio.account.sid, TWILIO_AUTH_TOKEN: twilio.account.token,
        TWILIO_FROM: twilio.account.from, TWILIO_API_BASE: twilio.apiBase,
      },
    });
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-cli-'));
    const created = await tesseraCli(t, dataDir, 'user', 'create', '--email', EMAIL, '--password', FIRST_PASSWORD, '--name', 'Ada Lovelace', '--json');
    assert.equal(created.code, 0, created.stderr);
    accountId = (JSON.parse(created.stdout) as { id: string }).id;
    // new-device codes are another feature (test/e2e/devices-browser.test.ts); an admin turns them off here
    const updated = await tesseraCli(t, dataDir, 'user', 'update', '--email', EMAIL, '--device-verification', 'off');
    assert.equal(updated.code, 0, updated.stderr);
    first = await browser.newContext();
    await first.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: t.issuer });
    page = await first.newPage();
  });
  after(async () => {
    await first?.close();
    await browser?.close();
    await t?.close();
    await twilio?.close();
    await smtp?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  const url = (p: string) => `${t.issuer}${p}`;
  const heading = async (p: Page) => (await p.locator('h1').textContent())?.trim();
  const notice = (p: Page) => p.locator('p.notice').textContent();
  const alert = (p: Page) => p.locator('[role=alert]:visible').first().textContent();
  /** The page at a desktop's width, then at a phone's (<block>-phone.png). */
  async function shot(p: Page, block: string): Promise<void> {
    const desktop = p.viewportSize() ?? { width: 1280, height: 720 };
    await p.screenshot({ path: path.join(SHOTS, `${block}.png`), fullPage: true });
    await p.setViewportSize({ width: 390, height: 844 });
    await p.screenshot({ path: path.join(SHOTS, `${block}-phone.png`), fullPage: true });
    await p.setViewportSize(desktop);
  }
  const click = async (p: Page, name: string) => { await p.getByRole('button', { name, exact: true }).click(); await p.waitForLoadState(); };
  const appCode = (steps = 0) => generate({ secret: totpSecret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });

  /** The sign-in page: email and password, Sign in. */
  async function typePassword(p: Page): Promise<void> {
    assert.equal(await heading(p), 'Sign in');
    await p.getByLabel('Email').fill(EMAIL);
    await p.getByLabel('Password').fill(password);
    await click(p, 'Sign in');
  }

  /** The code in the newest text (a phone-verification code) or call (a code read out) Twilio accepted for `to`. */
  function sentCode(to: string, resource: 'Messages' | 'Calls'): string {
    const pattern = resource === 'Messages' ? /^(\d{6}) is your Tessera code to verify your phone number\./ : /Your Tessera code is ((?:\d, ){5}\d)\./;
    const sent = twilio.accepted.filter((r) => r.resource === resource && r.form.To === to && pattern.test(r.form.Body ?? r.form.Twiml ?? '')).at(-1);
    assert.ok(sent, `a ${resource} request with a code to ${to}`);
    return pattern.exec(sent.form.Body ?? sent.form.Twiml!)![1]!.replaceAll(', ', '');
  }

  /** Waits for the security-change email whose text matches `change`. */
  async function noticeMailed(change: RegExp): Promise<void> {
    await eventually(() => smtp.received.some((m) => m.to.includes(EMAIL) && /^Subject: Security change on your Tessera account/m.test(m.text) && change.test(m.text)), `a security notice matching ${change}`);
  }

  it('1. sends a visitor to the hosted sign-in, then shows the overview with every block', async () => {
    await page.goto(url('/account/security'));
    await typePassword(page);
    await page.waitForURL(url('/account/security'));
    assert.equal(await heading(page), 'Security');
    for (const block of ['password', 'pin', 'contacts', 'devices', 'ips', 'history', 'sessions', 'two-factor']) {
      assert.ok(await page.locator(`section#${block}`).isVisible(), `block ${block}`);
    }
    assert.match((await page.locator('.signed-in').textContent())!, /Signed in as ada@example\.com · Sign out/);
    await shot(page, 'overview');
  });

  it('2. changes the password: a wrong confirmation is named, then the change is confirmed and emailed', async () => {
    await page.getByRole('link', { name: 'Change password' }).click();
    assert.equal(await heading(page), 'Password');
    await page.getByLabel('Current password').fill(password);
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('New password again').fill(`${NEW_PASSWORD}x`);
    await click(page, 'Change password');
    assert.equal(await alert(page), 'The new password and its confirmation do not match.');
    await shot(page, 'password-mismatch');
    await page.getByLabel('Current password').fill(password);
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('New password again').fill(NEW_PASSWORD);
    await click(page, 'Change password');
    assert.equal(await notice(page), 'Your password was changed.');
    password = NEW_PASSWORD;
    await shot(page, 'password');
    await noticeMailed(/Your password was changed\./);
  });

  it('3. adds a mobile number verified by text (Active, primary) and a second one verified by call', async () => {
    await page.goto(url('/account/security'));
    await page.getByRole('link', { name: 'Phone numbers' }).click();
    assert.equal(await heading(page), 'Phone numbers');
    await page.getByLabel('Phone number').fill('+41 79 123 45 67');
    await click(page, 'Add');
    assert.equal(await notice(page), '+41 79 123 45 67 was added. Verify it now: we text or call you a code.');
    await page.locator('section.verify-now').getByRole('button', { name: 'Text me a code' }).click();
    assert.equal(await heading(page), 'Verify +41 79 123 45 67');
    await page.getByLabel('Code').fill(sentCode(MOBILE, 'Messages'));
    await shot(page, 'phone-code');
    await click(page, 'Verify');
    assert.match((await notice(page))!, /\+41 79 123 45 67 is verified and Active\. It is your primary number/);
    const mobile = page.locator('li[data-phone]', { hasText: '+41 79 123 45 67' });
    assert.equal(await mobile.locator('.tag', { hasText: 'primary' }).count(), 1);
    assert.equal(await mobile.locator('.tag.active').textContent(), 'Active');

    await page.getByLabel('Phone number').fill('+41 76 123 45 67');
    await click(page, 'Add');
    await page.locator('section.verify-now').getByRole('button', { name: 'Call me' }).click();
    assert.match((await page.locator('p', { hasText: 'We are calling' }).textContent())!, /\+41 76 123 45 67/);
    await page.getByLabel('Code').fill(sentCode(SECOND, 'Calls'));
    await click(page, 'Verify');
    assert.match((await notice(page))!, /\+41 76 123 45 67 is verified and Active\.$/);
    const second = page.locator('li[data-phone]', { hasText: '+41 76 123 45 67' });
    assert.match((await second.textContent())!, /Active/);
    assert.equal(await second.locator('.tag', { hasText: 'primary' }).count(), 0, 'the first number stays primary');
    assert.ok(await second.getByRole('link', { name: 'Make primary' }).isVisible());
    await shot(page, 'phones');
    await noticeMailed(/was verified\./);
  });

  it('4. sets up the authenticator app, makes it the routine method, and refuses a straight switch to text messages', async () => {
    await page.goto(url('/account/security'));
    await page.getByRole('link', { name: 'Set up an authenticator app' }).click();
    assert.equal(await heading(page), 'Set up an authenticator app');
    assert.ok(await page.locator('.qr svg').isVisible(), 'a QR code');
    totpSecret = (await page.locator('code.key').textContent())!.replace(/\s/g, '');
    assert.match(totpSecret, /^[A-Z2-7]{16,}$/);
    // "Copy the key" puts the key on the clipboard without the spaces shown for reading
    await page.getByRole('button', { name: 'Copy the key' }).click();
    await page.locator('#key-status', { hasText: 'Copied.' }).waitFor();
    assert.equal(await page.evaluate<string>('navigator.clipboard.readText()'), totpSecret);
    await shot(page, 'totp-setup');
    await page.getByLabel('Code from the app', { exact: true }).fill(await appCode());
    await page.getByLabel('Current password').fill(password);
    // the same form turns it on for every sign-in (checked by default)
    assert.equal(await page.getByLabel('Ask for a code from the app at every sign-in').isChecked(), true);
    await click(page, 'Turn on');
    assert.match((await notice(page))!, /Your authenticator app is set up, and every sign-in now asks for its code\./);
    // the first second factor comes with recovery codes, shown once
    assert.equal(await heading(page), 'Your recovery codes');
    assert.equal(await page.locator('ul.codes code').count(), 10);
    await shot(page, 'recovery-codes-after-setup');
    // kept as a file: the download holds every code shown
    const shown = await page.locator('ul.codes code').allTextContents();
    // copied one per line, and printed from the same page (the print style keeps only the codes)
    await page.getByRole('button', { name: 'Copy the codes' }).click();
    await page.locator('#codes-status', { hasText: 'Copied.' }).waitFor();
    assert.deepEqual((await page.evaluate<string>('navigator.clipboard.readText()')).split('\n'), shown);
    await page.evaluate('window.printed = 0; window.print = () => { window.printed += 1; }');
    await page.getByRole('button', { name: 'Print them' }).click();
    assert.equal(await page.evaluate<number>('window.printed'), 1);
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('nav.account-nav').isVisible(), false, 'the print shows the codes, not the navigation');
    assert.equal(await page.locator('ul.codes').isVisible(), true);
    await page.emulateMedia({ media: 'screen' });
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download them as a text file' }).click()]);
    assert.equal(download.suggestedFilename(), 'tessera-recovery-codes.txt');
    const saved = readFileSync((await download.path())!, 'utf8');
    for (const code of shown) assert.ok(saved.includes(code), code);
    await page.getByRole('link', { name: 'Done' }).click();
    await page.waitForLoadState();
    assert.match((await page.locator('section#two-factor').textContent())!, /Now: the authenticator app\. To switch, turn it off first\./);

    await page.getByLabel('Ask for').selectOption('sms');
    await page.locator('section#two-factor form[action$="/second-factor"]').getByRole('button', { name: 'Save' }).click();
    await page.waitForLoadState();
    assert.match((await alert(page))!, /Two-factor sign-in uses the authenticator app\. Turn it off first, then choose another method\. Nothing was changed\./);
    assert.equal((await t.services.accounts.findById(accountId))!.secondFactor, 'totp');
    await page.locator('section#two-factor').scrollIntoViewIfNeeded();
    await shot(page, 'two-factor');
  });

  it('5. sets a PIN, asks for it after sign-in, and locks the screen after 5 minutes', async () => {
    await page.goto(url('/account/security'));
    await page.getByRole('link', { name: 'Set a PIN' }).click();
    assert.equal(await heading(page), 'PIN and screen lock');
    await page.getByLabel('New PIN', { exact: true }).fill(PIN);
    await page.getByLabel('New PIN again').fill(PIN);
    await page.locator('#pin-password').fill(password);
    await click(page, 'Set PIN');
    assert.match((await notice(page))!, /Your PIN is set\./);
    await page.getByLabel('Request PIN after sign-in').selectOption('yes');
    await page.getByLabel('Screen lock').selectOption('5');
    await click(page, 'Save');
    assert.equal(await notice(page), 'Saved. PIN after sign-in: yes; screen lock: after 5 minutes of inactivity.');
    await shot(page, 'pin');
    await page.getByRole('navigation', { name: 'Sign-in methods' }).getByRole('link', { name: 'Overview' }).click();
    assert.match((await page.locator('section#pin').textContent())!, /PIN set · after sign-in: yes · screen lock: after 5 minutes\./);
  });

  it('6. opens the Trusted devices and Trusted IPs pages', async () => {
    // the sections' navigation, then the section's own pages
    await page.getByRole('navigation', { name: 'Security center' }).getByRole('link', { name: 'Devices' }).click();
    assert.equal(await heading(page), 'Devices');
    assert.equal(await page.getByRole('navigation', { name: 'Security center' }).getByRole('link', { name: 'Devices' }).getAttribute('aria-current'), 'page');
    await shot(page, 'devices');
    await page.getByRole('navigation', { name: 'Devices' }).getByRole('link', { name: 'Trusted IP addresses' }).click();
    assert.equal(await heading(page), 'Trusted IP addresses');
    assert.match((await page.locator('body').textContent())!, /None yet\./);
    await shot(page, 'ips');
  });

  it('7. lists a second browser (signed in with TOTP then PIN), logs it out from the first, and sets auto-logout', async () => {
    const other = await browser.newContext();
    try {
      const second = await other.newPage();
      await second.goto(url('/account/security'));
      await typePassword(second);
      assert.equal(await heading(second), 'Verify it is you');
      await shot(second, 'sign-in-totp');
      await second.getByLabel('Code').fill(await appCode(1));
      await click(second, 'Verify');
      assert.equal(await heading(second), 'Enter your PIN', 'PIN after sign-in');
      await shot(second, 'sign-in-pin');
      await second.getByLabel('PIN').fill(PIN);
      await click(second, 'Continue');
      await second.waitForURL(url('/account/security'));
      assert.equal(await heading(second), 'Security');

      await page.goto(url('/account/security'));
      await page.getByRole('link', { name: 'Active sessions' }).click();
      assert.equal(await heading(page), 'Active sessions');
      assert.equal(await page.locator('li[data-session]').count(), 2);
      assert.equal(await page.locator('li[data-session]').first().locator('.tag', { hasText: 'this device' }).count(), 1);
      await click(page, 'Log out all except this device');
      assert.equal(await notice(page), '1 other session was signed out.');
      assert.equal(await page.locator('li[data-session]').count(), 1);
      await shot(page, 'sessions');

      await second.goto(url('/account/security'));
      assert.equal(await heading(second), 'Sign in', 'the other browser is signed out');
    } finally {
      await other.close();
    }
    await page.getByLabel('End sessions after').selectOption('7');
    await click(page, 'Save');
    assert.match((await notice(page))!, /^Saved: sessions end 7 days after sign-in/);
    await shot(page, 'sessions-auto-logout');
  });

  it('8. shows the session history, newest first', async () => {
    await page.getByRole('link', { name: 'Session history' }).click();
    assert.equal(await heading(page), 'Session history');
    const entries = page.locator('ul.history > li');
    assert.ok(await entries.count() >= 2, `two sign-ins at least, got ${await entries.count()}`);
    assert.match((await entries.first().textContent())!, /Signed in[\s\S]*IP 127\.0\.0\.1[\s\S]*Chrome/);
    await shot(page, 'history');
  });

  it('9. locks the screen after inactivity: the right PIN unlocks, five wrong ones sign the session out', async () => {
    offsetMs += 6 * MINUTE;
    await page.goto(url('/account/security'));
    assert.equal(await heading(page), 'Unlock');
    assert.match(page.url(), /\/account\/unlock\?back=/);
    await shot(page, 'unlock');
    await page.getByLabel('PIN').fill(PIN);
    await click(page, 'Unlock');
    await page.waitForURL(url('/account/security'));
    assert.equal(await heading(page), 'Security');

    offsetMs += 6 * MINUTE;
    await page.reload();
    assert.equal(await heading(page), 'Unlock');
    for (let tries = 1; tries <= 5; tries++) {
      await page.getByLabel('PIN').fill('1357');
      await click(page, 'Unlock');
      if (tries < 5) assert.match((await alert(page))!, new RegExp(`That PIN is not right\\. ${5 - tries} tr(y|ies) left`));
    }
    assert.equal(await heading(page), 'Signed out');
    assert.match((await alert(page))!, /Too many wrong PINs/);
    await shot(page, 'signed-out');
    await page.goto(url('/account/security'));
    assert.equal(await heading(page), 'Sign in');
  });
});
