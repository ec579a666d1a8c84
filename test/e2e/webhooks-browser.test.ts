// The webhook pages of the admin console in Chromium: an admin (password and authenticator app)
// registers an endpoint by clicking, copies the secret shown once, an event is delivered to a local
// HTTPS listener, and the endpoint's page shows the delivery log. Each page is checked with
// axe-core (WCAG 2.2 A/AA) at 390 and 1280 px and saved as screenshots/webhooks/<name>-<width>.png.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'otplib';
import type { Browser, Page } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser } from '../support/flow.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/webhooks');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

describe('the webhook pages of the admin console in a real browser', function () {
  this.timeout(120_000);
  let t: Tessera;
  let browser: Browser;
  let page: Page;
  let server: https.Server;
  const received: { headers: Record<string, string>; body: string }[] = [];
  let hookUrl = '';
  const failures: unknown[] = [];

  before(async function () {
    const launched = await launchChromium();
    if (!launched) this.skip();
    browser = launched!;
    mkdirSync(SHOTS, { recursive: true });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tessera-webhook-cert-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    server = https.createServer({ key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) }, (req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => { body += d.toString(); });
      req.on('end', () => { received.push({ headers: req.headers as Record<string, string>, body }); res.end(); });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    hookUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}/tessera`;
    t = await startTessera({
      env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_CA_FILE: path.join(dir, 'cert.pem') },
      log: (err) => { failures.push(err); console.error('    [tessera 500]', err); },
    });
    const admin = await createUser(t, { email: 'ada@example.com' });
    await t.services.accounts.setRole(admin.id, 'admin');
    const { secret } = await t.services.totp.begin(admin.id, admin.email);
    assert.ok(await t.services.totp.confirm(admin.id, await generate({ secret })));
    page = await browser.newPage();
    await page.goto(`${t.issuer}/admin/webhooks`);
    await page.getByLabel('Email').fill(admin.email);
    await page.getByLabel('Password').fill(admin.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByLabel('Code').fill(await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 }));
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    await page.waitForURL(`${t.issuer}/admin/webhooks`);
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    server?.closeAllConnections();
    server?.close();
  });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  /** Screenshots at phone and desktop widths, and no axe-core violation at either. */
  async function check(name: string): Promise<void> {
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
    }
  }

  it('registers an endpoint, shows its secret once, and lists its deliveries', async () => {
    assert.equal((await page.locator('h1').textContent())?.trim(), 'Webhooks');
    await check('list-empty');
    await page.getByRole('link', { name: 'New endpoint' }).click();
    // nothing chosen: the form again, with the problems and the typed URL
    await page.getByLabel('URL').fill(hookUrl);
    await page.getByRole('button', { name: 'Register the endpoint' }).click();
    // the summary links to the field; the refusal stands beside it, tied to the group of checkboxes
    assert.match((await page.locator('[role=alert]').first().textContent())!, /Nothing was saved\. Please correct:\s*Events to send/);
    assert.equal((await page.locator('#types-error').textContent())?.trim(), 'Choose at least one event type.');
    assert.equal(await page.locator('fieldset').getAttribute('aria-describedby'), 'types-error');
    assert.equal(await page.getByLabel('URL').inputValue(), hookUrl);
    await check('new-refused');
    await page.getByLabel(/Password changed by the person/).check();
    await page.getByLabel(/Any administrator action/).check();
    await page.getByLabel('Description').fill('Security team SIEM');
    await page.getByRole('button', { name: 'Register the endpoint' }).click();
    assert.equal((await page.locator('h1').textContent())?.trim(), 'Webhook endpoint registered');
    const secret = (await page.locator('#webhook-secret').textContent())!.trim();
    assert.match(secret, /^whsec_/);
    await check('secret-shown-once');
    await page.getByRole('link', { name: /I have copied it/ }).click();
    assert.ok(!(await page.content()).includes(secret), 'the secret is not shown again');

    // the registration itself was an admin action: delivered and signed
    await t.services.audit.flush();
    await t.services.webhooks.runOnce();
    assert.equal(received.length, 1);
    const event = new Webhook(secret).verify(received[0]!.body, received[0]!.headers) as { data: { auditType: string } };
    assert.equal(event.data.auditType, 'admin.webhook.created');
    await page.reload();
    assert.match((await page.locator('table').textContent())!, /Delivered \(200\)/);
    await check('endpoint-with-log');
    await page.goto(`${t.issuer}/admin/webhooks`);
    assert.match((await page.locator('table').textContent())!, /Security team SIEM/);
    await check('list');
  });
});
