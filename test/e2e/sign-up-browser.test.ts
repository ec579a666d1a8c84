// Sign-up walked in Chromium (issue 21): the sign-in page's link, the form with its refusals beside
// the fields, the emailed code (read from the outbox by recipient and subject), a wrong code, then
// the right one, and the person lands back in the application that sent them (through its consent
// page). Each page is checked by axe-core (WCAG 2.2 A/AA) and saved at a phone's width (390 px)
// and a desktop's (1280 px) as screenshots/sign-up/<name>-<width>.png, nothing wider than the screen.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, REDIRECT_URI } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/sign-up');
const WIDTHS = [390, 1280];
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

describe('sign-up in a real browser (screenshots, axe)', function () {
  this.timeout(180_000);
  let t: Tessera;
  let browser: Browser;
  let page: Page;
  let rp: RelyingParty;
  const failures: unknown[] = [];

  before(async function () {
    const launched = await launchChromium();
    if (!launched) this.skip();
    browser = launched!;
    mkdirSync(SHOTS, { recursive: true });
    t = await startTessera({ env: { SIGNUP_ENABLED: 'true' }, log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
    rp = await RelyingParty.register(t, { name: 'Photo Album' });
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
  /** axe-core finds no WCAG A/AA violation; then the page at both widths, nothing wider than the screen. */
  async function check(name: string) {
    await page.addScriptTag({ content: AXE }).catch(async () => {
      // the strict CSP refuses an inline script: evaluate axe's source in the page instead
      await page.evaluate(AXE);
    });
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 800 });
      const violations = await page.evaluate<{ id: string; nodes: unknown[] }[]>(`axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] }).then((r) => r.violations.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target) })))`);
      assert.deepEqual(violations, [], `${name} at ${width} px`);
      assert.ok(await page.evaluate<number>('document.documentElement.scrollWidth') <= width, `${name}: nothing wider than ${width} px`);
      await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
    }
  }
  async function codeTo(to: string): Promise<string> {
    let code = '';
    await eventually(() => {
      const mail = t.services.outbox.list().filter((m) => m.channel === 'email' && m.to === to && /code to confirm your email address$/.test(m.subject ?? '')).at(-1);
      code = /(\d{6})/.exec(mail?.subject ?? '')?.[1] ?? '';
      return !!code;
    }, `a code to ${to}`);
    return code;
  }

  it('creates an account from the sign-in page and lands back in the application', async () => {
    const email = `grace-${randomBytes(3).toString('hex')}@example.com`;
    await page.goto((await rp.authorize({ scope: 'openid email profile' })).url);
    assert.equal(await heading(), 'Sign in');
    await check('sign-in');
    await page.getByRole('link', { name: 'Create an account' }).click();
    assert.equal(await heading(), 'Create an account');
    await check('form');

    // refusals stand beside their fields; what was typed stays
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Name').fill('Grace Hopper');
    await page.getByLabel('Password', { exact: true }).fill('grace');
    await page.getByLabel('Password again').fill('grace');
    await click('Create account');
    assert.match((await page.locator('#password-error').textContent())!, /The password needs at least 8 characters/);
    assert.equal(await page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByLabel('Email').inputValue(), email);
    await check('form-refused');

    await page.getByLabel('Password', { exact: true }).fill('Lantern#Quiet7');
    await page.getByLabel('Password again').fill('Lantern#Quiet7');
    await click('Create account');
    assert.equal(await heading(), 'Confirm your email address');
    assert.equal(await t.services.accounts.findByEmail(email), undefined, 'no account before the code');
    await check('code');

    const code = await codeTo(email);
    await page.getByLabel('Code').fill(code === '000000' ? '111111' : '000000');
    await click('Create my account');
    assert.match((await page.locator('#code-error').textContent())!, /That code is not right\. 2 tries left\./);
    await check('code-wrong');

    await page.getByLabel('Code').fill(code);
    await click('Create my account');
    // the application asks for consent on the same interaction, then gets its code
    assert.equal(await heading(), 'Allow access?');
    await check('consent');
    await click('Allow');
    await page.waitForSelector('text=RP got the code');
    const account = await t.services.accounts.findByEmail(email);
    assert.equal(account?.name, 'Grace Hopper');
    assert.equal(account?.emailVerified, true);
  });
});
