// The security center walked in Chromium through its navigation (issue 20): the sections' sidebar
// and tabs, the profile (name, and the email address changed with a code sent to the new address),
// connected applications, the data download, and the deletion of the account with its
// cancellation by signing in again. Codes are read from Tessera's outbox by recipient and subject.
// Every page is saved at a phone's width (390 px) and a desktop's (1280 px) as
// screenshots/security-center-walk/<name>-<width>.png, and nothing is wider than the screen.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, createUser, REDIRECT_URI, type TestUser } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/security-center-walk');
const WIDTHS = [390, 1280];
const NEW_EMAIL = 'ada.byron@example.org';

describe('the security center walked through its navigation in a real browser (screenshots)', function () {
  this.timeout(180_000);
  let t: Tessera;
  let browser: Browser;
  let page: Page;
  let user: TestUser;
  let rp: RelyingParty;
  let email = '';
  const failures: unknown[] = [];

  before(async function () {
    const launched = await launchChromium();
    if (!launched) this.skip();
    browser = launched!;
    mkdirSync(SHOTS, { recursive: true });
    t = await startTessera({ log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
    rp = await RelyingParty.register(t, { name: 'Photo Album' });
    user = await createUser(t, { name: 'Ada Lovelace' });
    email = user.email;
    page = await browser.newPage();
    await page.route(`${REDIRECT_URI}**`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>RP got the code</h1>' }));
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  const heading = async () => (await page.locator('h1').textContent())?.trim();
  const click = async (name: string) => { await page.getByRole('button', { name, exact: true }).click(); await page.waitForLoadState(); };
  const sections = () => page.getByRole('navigation', { name: 'Security center' });
  async function shots(name: string) {
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 800 });
      assert.ok(await page.evaluate<number>('document.documentElement.scrollWidth') <= width, `${name}: nothing wider than ${width} px`);
      await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
    }
  }
  async function signInWith(address: string) {
    assert.equal(await heading(), 'Sign in');
    await page.getByLabel('Email').fill(address);
    await page.getByLabel('Password').fill(user.password);
    await click('Sign in');
  }
  /** The 6-digit code in the newest outbox email to `to` whose subject matches. */
  async function codeTo(to: string, subject: RegExp): Promise<string> {
    let code = '';
    await eventually(() => {
      const mail = t.services.outbox.list().filter((m) => m.channel === 'email' && m.to === to && subject.test(m.subject ?? '')).at(-1);
      code = /(\d{6})/.exec(mail?.subject ?? '')?.[1] ?? '';
      return !!code;
    }, `a code to ${to}`);
    return code;
  }

  it('1. signs in to an application, then finds every section from the navigation', async () => {
    await page.goto((await rp.authorize({ scope: 'openid email profile', prompt: 'consent' })).url);
    await signInWith(email);
    assert.equal(await heading(), 'Allow access?');
    await click('Allow');
    await page.waitForSelector('text=RP got the code');

    await page.goto(`${t.issuer}/account/security`);
    assert.match((await page.locator('.signed-in').textContent())!, new RegExp(`Signed in as ${email.replace('.', '\\.')}`));
    const expected: [string, string][] = [
      ['Profile and contacts', 'Profile'], ['Devices', 'Devices'], ['Sessions and history', 'Active sessions'],
      ['Applications', 'Connected applications'], ['Your data', 'Your data'], ['Sign-in methods', 'Security'],
    ];
    for (const [section, title] of expected) {
      await sections().getByRole('link', { name: section }).click();
      assert.equal(await heading(), title, section);
      assert.equal(await sections().getByRole('link', { name: section }).getAttribute('aria-current'), 'page', `${section} is marked as the current section`);
    }
    await shots('overview');
  });

  it('2. edits the name and changes the email address with a code sent to the new one', async () => {
    await sections().getByRole('link', { name: 'Profile and contacts' }).click();
    await page.locator('#name').fill('Ada King');
    await click('Save');
    assert.match((await page.locator('p.notice').textContent())!, /saved/i);
    await shots('profile');

    await page.getByLabel('New email address').fill(NEW_EMAIL);
    await click('Email a code to the new address');
    await shots('email-code');
    await page.getByLabel('Code').fill(await codeTo(NEW_EMAIL, /is your Tessera/));
    await click('Change my email address');
    assert.match((await page.locator('body').textContent())!, new RegExp(NEW_EMAIL.replace(/\./g, '\\.')));
    assert.equal((await t.services.accounts.findById(user.id))!.email, NEW_EMAIL);
    await eventually(() => t.services.outbox.list().some((m) => m.to === email && /email address of your Tessera account was changed/.test(m.subject ?? '')), 'the notice to the old address');
    email = NEW_EMAIL;
    await shots('email-changed');
  });

  it('3. lists the connected application, then downloads the data', async () => {
    await sections().getByRole('link', { name: 'Applications' }).click();
    assert.match((await page.locator('body').textContent())!, /Photo Album/);
    await shots('apps');

    await sections().getByRole('link', { name: 'Your data' }).click();
    assert.equal(await heading(), 'Your data');
    await shots('data');
    const [download] = await Promise.all([page.waitForEvent('download'), click('Download my data')]);
    const data = JSON.parse(readFileSync((await download.path())!, 'utf8')) as { profile?: { email?: string; name?: string } };
    assert.equal(data.profile?.email, NEW_EMAIL);
    assert.equal(data.profile?.name, 'Ada King');
  });

  it('4. schedules the deletion (signed out everywhere), and signing in again cancels it', async () => {
    await page.goto(`${t.issuer}/account/security/data`);
    await page.getByRole('navigation', { name: 'Your data' }).getByRole('link', { name: 'Delete your account' }).click();
    assert.equal(await heading(), 'Delete your account');
    await shots('delete');
    await page.getByLabel('Current password').fill(user.password);
    await click('Delete my account in 14 days');
    assert.equal(await heading(), 'Your account will be deleted');
    await shots('delete-scheduled');
    assert.ok((await t.services.accounts.findById(user.id))!.deletionScheduledFor, 'scheduled');

    await page.getByRole('link', { name: 'Sign in again' }).click();
    await signInWith(NEW_EMAIL);
    assert.equal(await heading(), 'Security');
    assert.equal((await t.services.accounts.findById(user.id))!.deletionScheduledFor, undefined, 'signing in cancelled it');
    await eventually(() => t.services.outbox.list().some((m) => m.to === NEW_EMAIL && /will not be deleted/.test(m.text ?? '')), 'the cancellation email');
    await shots('deletion-cancelled');
  });
});
