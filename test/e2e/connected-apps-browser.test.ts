// Connected applications in Chromium the way a person uses them: sign in to two applications
// (allowing each on the consent page), open the page from the security overview, remove one
// application's access; its refresh token then fails. Saved as screenshots/connected-apps/*.png
// at a phone's width (390 px) and a desktop's (1280 px) for a person to look at.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, createUser, REDIRECT_URI, type TestUser } from '../support/flow.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/connected-apps');
const WIDTHS = [390, 1280];

describe('connected applications in a real browser (screenshots)', function () {
  this.timeout(120_000);
  let t: Tessera;
  let browser: Browser;
  let page: Page;
  let user: TestUser;
  let photos: RelyingParty;
  let calendar: RelyingParty;
  const failures: unknown[] = [];
  let callback: string | undefined;

  before(async function () {
    const launched = await launchChromium();
    if (!launched) this.skip();
    browser = launched!;
    mkdirSync(SHOTS, { recursive: true });
    t = await startTessera({ log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
    photos = await RelyingParty.register(t, { name: 'Photo Album' });
    calendar = await RelyingParty.register(t, { name: 'Team Calendar' });
    user = await createUser(t, { name: 'Ada Lovelace' });
    page = await browser.newPage();
    await page.route(`${REDIRECT_URI}**`, async (route) => {
      callback = route.request().url();
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>RP got the code</h1>' });
    });
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  const heading = async () => (await page.locator('h1').textContent())?.trim();
  const click = async (name: string, within = page.locator('body')) => { await within.getByRole('button', { name, exact: true }).click(); await page.waitForLoadState(); };
  async function shots(name: string) {
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 800 });
      assert.ok(await page.evaluate<number>('document.documentElement.scrollWidth') <= width, `nothing wider than ${width} px`);
      await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
    }
  }
  /** Signs in to `rp` (the password only the first time), allows access; resolves to its tokens. */
  async function connect(rp: RelyingParty, scope: string) {
    const auth = await rp.authorize({ scope, prompt: 'consent' });
    callback = undefined;
    await page.goto(auth.url);
    if ((await heading()) === 'Sign in') {
      await page.getByLabel('Email').fill(user.email);
      await page.getByLabel('Password').fill(user.password);
      await click('Sign in');
    }
    assert.equal(await heading(), 'Allow access?');
    await click('Allow');
    await page.waitForSelector('text=RP got the code');
    return rp.tokens(callback!, auth);
  }

  it('lists two applications with what each may see, and removes one: its refresh token stops working', async () => {
    const album = await connect(photos, 'openid email profile offline_access');
    const team = await connect(calendar, 'openid email offline_access');

    await page.goto(`${t.issuer}/account/security`);
    await page.locator('section#apps').getByRole('link', { name: 'Applications' }).click();
    assert.equal(await heading(), 'Connected applications');
    const rows = page.locator('li[data-app]');
    assert.equal(await rows.count(), 2);
    const albumRow = rows.filter({ hasText: 'Photo Album' });
    assert.match((await albumRow.textContent())!, /Allowed: who you are, your email address, your profile \(name and other details\), stay signed in \(offline access\)/);
    await shots('two-apps');

    await click('Remove access', albumRow);
    assert.equal(await page.locator('p.notice').textContent(), 'Photo Album no longer has access to your account. If you use it again, it will ask for your permission.');
    assert.equal(await rows.count(), 1);
    await shots('removed');
    await assert.rejects(oidc.refreshTokenGrant(photos.config, album.refresh_token!));
    assert.ok((await oidc.refreshTokenGrant(calendar.config, team.refresh_token!)).access_token);
  });
});
