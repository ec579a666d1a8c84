// Organisation webhooks in the security center, in Chromium: an organisation admin finds the
// Organisation section, registers an endpoint by clicking (a refusal first, beside its field),
// copies the secret shown once, a member's event reaches a local HTTPS listener, the endpoint's
// page shows the delivery log, the delete confirmation, and a plain member's refusal. Each page is
// checked with axe-core (WCAG 2.2 A/AA) at 390 and 1280 px and saved as
// screenshots/org-webhooks/<name>-<width>.png.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, type TestUser } from '../support/flow.ts';
import { certificate, listener } from '../support/webhook-receiver.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/org-webhooks');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

describe('organisation webhooks in the security center, in a real browser', function () {
  this.timeout(120_000);
  let t: Tessera;
  let browser: Browser;
  let hook: Awaited<ReturnType<typeof listener>>;
  let admin: TestUser;
  let member: TestUser;
  const failures: unknown[] = [];

  before(async function () {
    const launched = await launchChromium();
    if (!launched) this.skip();
    browser = launched!;
    mkdirSync(SHOTS, { recursive: true });
    const tls = certificate();
    hook = await listener(tls);
    t = await startTessera({
      env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_CA_FILE: tls.certFile },
      log: (err) => { failures.push(err); console.error('    [tessera 500]', err); },
    });
    const org = await t.services.organisations.create('Acme Research');
    admin = await createUser(t, { email: 'grace@acme.example' });
    member = await createUser(t, { email: 'alan@acme.example' });
    await t.services.organisations.setMember(org.id, admin.id, true);
    await t.services.organisations.setMember(org.id, member.id, false);
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    await hook?.close();
  });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  async function signIn(user: TestUser): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(`${t.issuer}/account/security`);
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${t.issuer}/account/security`);
    return page;
  }

  /** Screenshots at phone and desktop widths, and no axe-core violation at either. */
  async function check(page: Page, name: string): Promise<void> {
    for (const width of [390, 1280]) {
      await page.setViewportSize({ width, height: 800 });
      await page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
      await page.evaluate(AXE);
      const violations = await page.evaluate(async () => {
        const axe = (globalThis as unknown as { axe: { run(o: object): Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } }).axe;
        const result = await axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
        return result.violations.map((v) => `${v.id} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
      });
      assert.deepEqual(violations, [], `${name} @${width}`);
      // nothing wider than the screen
      assert.ok(await page.evaluate(() => { const g = globalThis as unknown as { document: { documentElement: { scrollWidth: number } }; innerWidth: number }; return g.document.documentElement.scrollWidth <= g.innerWidth; }), `${name} @${width} scrolls sideways`);
    }
  }

  it('lets an organisation admin register an endpoint, copy its secret once, and read its deliveries', async () => {
    const page = await signIn(admin);
    await page.getByRole('navigation', { name: 'Security center' }).getByRole('link', { name: 'Organisation' }).click();
    assert.equal((await page.locator('h1').textContent())?.trim(), 'Organisation webhooks');
    assert.match((await page.locator('.lead').textContent())!, /Acme Research/);
    await check(page, 'list-empty');

    await page.getByRole('link', { name: 'Register an endpoint' }).click();
    await page.getByLabel('URL').fill('http://siem.acme.example/tessera');
    await page.getByLabel(/Password changed by the person/).check();
    await page.getByRole('button', { name: 'Register the endpoint' }).click();
    assert.match((await page.locator('#url-error').textContent())!, /The URL must start with https:\/\//);
    assert.equal(await page.getByLabel('URL').getAttribute('aria-invalid'), 'true');
    await check(page, 'new-refused');

    await page.getByLabel('URL').fill(hook.url);
    await page.getByLabel(/Description/).fill('Acme security team');
    await page.getByLabel(/Second factor removed/).check();
    await page.getByRole('button', { name: 'Register the endpoint' }).click();
    assert.equal((await page.locator('h1').textContent())?.trim(), 'Webhook endpoint registered');
    const secret = (await page.locator('#webhook-secret').textContent())!.trim();
    assert.match(secret, /^whsec_/);
    await check(page, 'secret-shown-once');
    await page.getByRole('link', { name: /I have copied it/ }).click();
    assert.equal((await page.locator('h1').textContent())?.trim(), 'Webhook endpoint');
    assert.ok(!(await page.content()).includes(secret), 'the secret is not shown again');

    // a member's password change is delivered, signed with the secret
    t.services.audit.record({ type: 'password.changed', outcome: 'success', actor: { type: 'user', id: member.id }, subject: { type: 'account', id: member.id }, accountId: member.id, details: { change: 'Your password was changed.' } });
    await t.services.audit.flush();
    await t.services.webhooks.runOnce();
    assert.equal(hook.received.length, 1);
    const event = new Webhook(secret).verify(hook.received[0]!.body, hook.received[0]!.headers) as { type: string; data: { accountId: string } };
    assert.deepEqual([event.type, event.data.accountId], ['password.changed', member.id]);
    await page.reload();
    assert.match((await page.locator('table').textContent())!, /password\.changed[\s\S]*Delivered \(200\)/);
    await check(page, 'endpoint-with-log');

    await page.getByRole('link', { name: 'Delete the endpoint' }).click();
    assert.equal((await page.locator('h1').textContent())?.trim(), 'Delete the webhook endpoint');
    await check(page, 'delete-confirmation');
    await page.getByRole('link', { name: '← The endpoint' }).click();
    await page.getByRole('link', { name: '← Organisation webhooks' }).click();
    assert.match((await page.locator('ul.webhooks').textContent())!, /Acme security team/);
    await check(page, 'list');
    await page.close();
  });

  it('shows a plain member no Organisation section, and a way forward at its address', async () => {
    const page = await signIn(member);
    assert.equal(await page.getByRole('navigation', { name: 'Security center' }).getByRole('link', { name: 'Organisation' }).count(), 0);
    const res = await page.goto(`${t.issuer}/account/security/organisation/webhooks`);
    assert.equal(res!.status(), 403);
    assert.match((await page.locator('[role=alert]').textContent())!, /Only your organisation's admins manage its webhooks/);
    await check(page, 'member-refused');
    await page.getByRole('link', { name: 'Go to your security center' }).click();
    await page.waitForURL(`${t.issuer}/account/security`);
    await page.close();
  });
});
