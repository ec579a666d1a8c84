// The console's client page with the security fields (private_key_jwt keys, PAR, DPoP, FAPI 2.0) in
// Chromium: an admin pastes a JWKS with a private key and sees the refusal beside the field, then
// pastes the public key and saves. axe-core finds no WCAG 2.2 A/AA violation at 390 and 1280 px, and
// each state is saved as screenshots/client-security/<state>-<width>.png.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { Tessera } from '../support/tessera.ts';
import { createAdmin, signInToConsole } from '../support/console.ts';
import { axeViolations, closeBrowserAndTessera, launchWithTessera } from '../support/languages.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/client-security');
// RFC 8037 appendix A: an Ed25519 key pair
const PUBLIC = { kty: 'OKP', crv: 'Ed25519', kid: 'bank-1', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' };
const PRIVATE = { ...PUBLIC, d: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A' };

describe('the console\'s client security fields in Chromium', function () {
  this.timeout(120_000);
  let t: Tessera;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  before(async function () {
    ({ browser, t } = await launchWithTessera(this, { shots: SHOTS }));
    page = await browser.newPage();
    await signInToConsole(page, t, await createAdmin(t, { email: 'sec-admin@example.com' }));
  });
  after(() => closeBrowserAndTessera(browser, t));

  /** axe and a screenshot of the page as shown now, at 390 and 1280 px. */
  async function look(state: string): Promise<void> {
    for (const width of [390, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      for (const v of await axeViolations(page)) problems.push(`${state} @${width}: ${v}`);
      await page.screenshot({ path: path.join(SHOTS, `${state}-${width}.png`), fullPage: true });
    }
  }

  it('refuses a private key beside the JWKS field, then saves a FAPI 2.0 client with its public key', async () => {
    await t.services.clients.create({ clientId: 'bank-app', name: 'Bank app', redirectUris: ['https://bank.example/cb'] });
    await page.goto(`${t.issuer}/admin/clients/bank-app`);
    await look('edit');

    await page.getByLabel('Authentication at the token endpoint').selectOption('private_key_jwt');
    await page.getByLabel('Public keys (JWKS)').fill(JSON.stringify({ keys: [PRIVATE] }, null, 2));
    await page.getByLabel('Require pushed authorization requests (PAR)').check();
    await page.getByLabel('Require DPoP-bound access tokens').check();
    await page.getByLabel('Security profile').selectOption('fapi2');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Save' }).click()]);
    const error = page.locator('#jwks-error');
    assert.match(await error.innerText(), /private member "d": paste only the public key/);
    assert.equal(await page.getByLabel('Public keys (JWKS)').getAttribute('aria-invalid'), 'true');
    await page.locator('#jwks').scrollIntoViewIfNeeded();
    await look('edit-refused');
    assert.equal((await t.services.clients.find('bank-app'))?.authMethod, 'client_secret_basic', 'nothing saved');

    await page.getByLabel('Public keys (JWKS)').fill(JSON.stringify({ keys: [PUBLIC] }, null, 2));
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Save' }).click()]);
    assert.match(await page.locator('[role=status]').innerText(), /The client was saved/);
    await look('edit-saved');
    const stored = await t.services.clients.find('bank-app');
    assert.equal(stored?.securityProfile, 'fapi2');
    assert.deepEqual(stored?.jwks, { keys: [PUBLIC] });

    await page.goto(`${t.issuer}/admin/clients`);
    await look('list');
    assert.deepEqual(problems, []);
  });
});
