// "Forgot password?" walked in Chromium (issue 21): from the sign-in page of an application, an
// account with an authenticator app asks for a code, enters it, proves its app, is refused a weak
// password beside the field, sets a good one and lands back at the application; an account
// without a second factor goes straight from the code to the new password. Codes are read from
// Tessera's outbox by recipient and subject. Every page is saved at a phone's width (390 px) and
// a desktop's (1280 px) as screenshots/forgot-password/<name>-<width>.png, nothing wider than the screen.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { generate } from 'otplib';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, createUser, giveVerifiedPhone, REDIRECT_URI, type TestUser } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';
import { startFakeTwilio, type FakeTwilio } from '../support/fake-twilio.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/forgot-password');
const WIDTHS = [390, 1280];
const NEW_PASSWORD = 'Quartz#Lantern77';

describe('forgot password in a real browser (screenshots)', function () {
  this.timeout(180_000);
  let t: Tessera;
  let browser: Browser;
  let rp: RelyingParty;
  let twilio: FakeTwilio;
  const failures: unknown[] = [];

  before(async function () {
    const launched = await launchChromium();
    if (!launched) this.skip();
    browser = launched!;
    mkdirSync(SHOTS, { recursive: true });
    twilio = await startFakeTwilio();
    t = await startTessera({
      log: (err) => { failures.push(err); console.error('    [tessera 500]', err); },
      env: { SMS_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: twilio.account.sid, TWILIO_AUTH_TOKEN: twilio.account.token, TWILIO_FROM: twilio.account.from, TWILIO_API_BASE: twilio.apiBase },
    });
    rp = await RelyingParty.register(t, { name: 'Photo Album', skipConsent: true });
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    await twilio?.close();
  });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  async function newPage(): Promise<Page> {
    return (await browser.newContext()).newPage();
  }
  const heading = async (page: Page) => (await page.locator('h1').textContent())?.trim();
  const click = async (page: Page, name: string) => { await page.getByRole('button', { name, exact: true }).click(); await page.waitForLoadState(); };
  async function shots(page: Page, name: string) {
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 800 });
      assert.ok(await page.evaluate<number>('document.documentElement.scrollWidth') <= width, `${name}: nothing wider than ${width} px`);
      await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
    }
  }
  async function resetCodeTo(to: string): Promise<string> {
    return eventually(() => /(\d{6}) is your Tessera password reset code/.exec(t.services.outbox.list().find((m) => m.to === to && /password reset code/.test(m.subject ?? ''))?.subject ?? '')?.[1], `a reset code to ${to}`);
  }
  /** From the application's sign-in page to the code page for `user`; the authorization it began. */
  async function askForCode(page: Page, user: TestUser, shoot = false) {
    const auth = await rp.authorize();
    await page.goto(auth.url);
    assert.equal(await heading(page), 'Sign in');
    if (shoot) await shots(page, 'sign-in-with-link');
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.waitForLoadState();
    assert.equal(await heading(page), 'Forgot your password?');
    if (shoot) {
      await shots(page, 'email');
      await page.getByLabel('Email').fill('not-an-address@nowhere');
      await click(page, 'Email me the code');
      assert.match(await page.locator('#email-error').textContent() ?? '', /Enter the email address you sign in with/);
      await shots(page, 'email-refused');
    }
    await page.getByLabel('Email').fill(user.email);
    await click(page, 'Email me the code');
    assert.equal(await heading(page), 'Enter the code');
    return auth;
  }
  /** The last button sends the browser back to the application: its callback (a port Chromium never opens) is redeemed by the real client. */
  async function backAtApplication(page: Page, auth: Awaited<ReturnType<RelyingParty['authorize']>>, user: TestUser) {
    const callback = page.waitForRequest((r) => r.url().startsWith(REDIRECT_URI));
    await page.getByRole('button', { name: 'Set password and continue', exact: true }).click();
    const tokens = await rp.tokens((await callback).url(), auth);
    assert.equal(tokens.claims()!.sub, user.id, 'the application signed the person in');
  }

  it('an account with an authenticator app: code, app, a refused and then a good new password, back at the application', async () => {
    const user = await createUser(t, { name: 'Ada Lovelace' });
    await giveVerifiedPhone(t, user);
    const app = await t.services.totp.begin(user.id, user.email);
    const appCode = (steps: number) => generate({ secret: app.secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });
    assert.ok(await t.services.totp.confirm(user.id, await appCode(0)));
    const page = await newPage();
    const auth = await askForCode(page, user, true);
    await shots(page, 'code');
    await page.getByLabel('Code').fill('000000' === await resetCodeTo(user.email) ? '111111' : '000000');
    await click(page, 'Continue');
    assert.match(await page.locator('#code-error').textContent() ?? '', /That code is not right/);
    await shots(page, 'code-wrong');
    await page.getByLabel('Code').fill(await resetCodeTo(user.email));
    await click(page, 'Continue');
    assert.equal(await heading(page), 'Verify it is you', 'the emailed code alone is not enough');
    await shots(page, 'second-factor');
    await page.getByLabel('Code').fill(await appCode(1));
    await click(page, 'Verify');
    assert.equal(await heading(page), 'Choose a new password');
    await shots(page, 'new-password');
    await page.getByLabel('New password', { exact: true }).fill('lovelace1!A');
    await page.getByLabel('New password again').fill('lovelace1!A');
    await click(page, 'Set password and continue');
    assert.match(await page.locator('#new-password-error').textContent() ?? '', /contains your name or email address/);
    await shots(page, 'new-password-refused');
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('New password again').fill(NEW_PASSWORD);
    await backAtApplication(page, auth, user);
    assert.equal((await t.services.accounts.authenticate(user.email, NEW_PASSWORD))?.id, user.id);
    await page.context().close();
  });

  it('by text message: the code texted to the verified mobile, then an emailed code as the second step, back at the application', async () => {
    const user = await createUser(t);
    const number = (await giveVerifiedPhone(t, user, '+41 79 555 12 34')).replace(/[^\d+]/g, '');
    const page = await newPage();
    const auth = await rp.authorize();
    await page.goto(auth.url);
    await page.getByRole('link', { name: 'Forgot password?' }).click();
    await page.waitForLoadState();
    await page.getByLabel('Email').fill(user.email);
    await click(page, 'Text the code to my phone on file (if there is one)');
    assert.equal(await heading(page), 'Enter the code');
    await shots(page, 'code-texted');
    const texted = await eventually(() => /(\d{6}) is your Tessera password reset code/.exec(twilio.accepted.find((r) => r.form.To === number)?.form.Body ?? '')?.[1], 'the texted code');
    await page.getByLabel('Code').fill(texted);
    await click(page, 'Continue');
    assert.equal(await heading(page), 'Verify it is you', 'the texted code alone is not enough');
    await shots(page, 'second-factor-after-text');
    const emailed = await eventually(() => /Use this code to set a new password[^:]*:\s+(\d{6})/.exec(t.services.outbox.list().find((m) => m.to === user.email && /password reset code/.test(m.subject ?? ''))?.text ?? '')?.[1], 'the emailed code');
    await page.getByLabel('Code').fill(emailed);
    await click(page, 'Verify');
    assert.equal(await heading(page), 'Choose a new password');
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('New password again').fill(NEW_PASSWORD);
    await backAtApplication(page, auth, user);
    await page.context().close();
  });

  it('an account without a second factor: from the code straight to the new password, back at the application', async () => {
    const user = await createUser(t);
    const page = await newPage();
    const auth = await askForCode(page, user);
    await page.getByLabel('Code').fill(await resetCodeTo(user.email));
    await click(page, 'Continue');
    assert.equal(await heading(page), 'Choose a new password');
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('New password again').fill(NEW_PASSWORD);
    await backAtApplication(page, auth, user);
    await page.context().close();
  });
});
