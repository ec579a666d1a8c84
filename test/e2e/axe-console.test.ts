// axe-core on the admin console (/admin) as a signed-in administrator sees it in Chromium, at phone
// and desktop widths: every page of the console, its confirmations, and its forms with their
// refusals shown — no WCAG 2.x A/AA violation (README "Accessibility"). The webhook and recovery
// pages are also checked in their own tests (webhooks-browser, assisted-recovery-browser).
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { Tessera } from '../support/tessera.ts';
import { createUser, signInAndGetTokens, RelyingParty } from '../support/flow.ts';
import { createAdmin, signInToConsole } from '../support/console.ts';
import { axeViolations, closeBrowserAndTessera, launchWithTessera } from '../support/languages.ts';

describe('accessibility of the admin console (axe-core, WCAG 2.2 A/AA)', function () {
  this.timeout(240_000);
  let t: Tessera;
  let browser: Browser;
  let page: Page;
  const failures: unknown[] = [];
  const problems: string[] = [];
  const checked: string[] = [];

  before(async function () {
    ({ browser, t } = await launchWithTessera(this, { tessera: { log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } } }));
    page = await browser.newPage();
    await signInToConsole(page, t, await createAdmin(t, { email: 'axe-admin@example.com' }));
  });
  after(() => closeBrowserAndTessera(browser, t));

  /** axe on the page as shown now, at 390 and 1280 px (the script runs in the page's world, past the CSP). */
  async function check(name: string): Promise<void> {
    for (const width of [390, 1280]) {
      await page.setViewportSize({ width, height: 800 });
      for (const v of await axeViolations(page)) problems.push(`${name} @${width}: ${v}`);
    }
    checked.push(name);
  }
  const open = async (name: string, path: string) => {
    const res = await page.goto(`${t.issuer}${path}`);
    assert.ok(res && res.status() < 500, `${name}: ${res?.status()}`);
    await check(name);
  };
  const submit = async (name: string) => {
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    assert.ok(await page.locator('[role=alert]').count(), `${name}: the refusal is shown`);
    await check(name);
  };

  it('finds no violation on any page or state of the console, at 390 and 1280 px', async () => {
    // a person with a device and an organisation, so their pages have something to show
    const person = await createUser(t, { email: 'axe-person@example.com' });
    await signInAndGetTokens(await RelyingParty.register(t, { skipConsent: true }), person);
    const org = await t.services.organisations.create('Axe Org');
    await t.services.organisations.setMember(org.id, person.id, false);

    await open('overview', '/admin');
    await open('clients', '/admin/clients');
    await open('new client', '/admin/clients/new');
    await page.getByLabel('Client id').fill('axe-shop');
    await page.getByLabel('Name').fill('Axe Shop');
    await page.getByLabel('Redirect URIs (one per line)', { exact: true }).fill('javascript:alert(1)');
    await page.getByLabel('Client id').focus();
    await submit('new client, refused');
    await page.getByLabel('Redirect URIs (one per line)', { exact: true }).fill('https://shop.example/cb');
    await page.getByLabel('Client id').focus();
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    await check('client secret, shown once');
    await open('client', '/admin/clients/axe-shop');
    await open('client, rotate confirmation', '/admin/clients/axe-shop/rotate');
    await open('client, delete confirmation', '/admin/clients/axe-shop/delete');

    await open('users', '/admin/users');
    await open('users, searched', '/admin/users?q=axe');
    await open('new user', '/admin/users/new');
    await page.getByLabel('Email').fill(person.email);
    await submit('new user, refused (the address is taken)');
    await open('user', `/admin/users/${encodeURIComponent(person.id)}`);
    await open('user, lock confirmation', `/admin/users/${encodeURIComponent(person.id)}/lock`);
    await open('user, reset second factors confirmation', `/admin/users/${encodeURIComponent(person.id)}/reset-mfa`);
    const [device] = await t.services.devices.listFor(person.id);
    if (device) await open('device, remove confirmation', `/admin/devices/${encodeURIComponent(device.id)}/remove`);

    await open('organisations', '/admin/organisations');
    await open('organisation', `/admin/organisations/${encodeURIComponent(org.id)}`);
    await page.getByLabel('Email of the account').fill('nobody-here@example.com');
    await submit('organisation, refused member');
    await open('organisation, remove member confirmation', `/admin/organisations/${encodeURIComponent(org.id)}/members/${encodeURIComponent(person.id)}/remove`);

    await open('recoveries', '/admin/recoveries');
    await open('webhooks', '/admin/webhooks');
    await open('new webhook', '/admin/webhooks/new');
    await open('audit log', '/admin/audit');
    await open('audit log, filtered', '/admin/audit?type=admin.*');
    await open('console error page', '/admin/users/no-such-account');

    assert.ok(checked.length >= 25, checked.join(', '));
    assert.deepEqual(problems, []);
    assert.deepEqual(failures, [], 'never a 500');
  });
});
