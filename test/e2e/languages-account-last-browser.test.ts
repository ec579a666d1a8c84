// The last of the security center in Polish and German in Chromium: the PIN page with a refused
// PIN beside its field, the "Your data" page, an organisation admin's webhook form with a refusal
// and its one-time secret page, and the assisted recovery's cancel page, at phone and desktop
// widths, saved as screenshots/languages-account-last/<language>-<page>-<width>.png for a person to
// look at. Nothing spills out of the page; axe-core finds nothing.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import type { Tessera } from '../support/tessera.ts';
import { createUser } from '../support/flow.ts';
import { accountLooks, closeBrowserAndTessera, inSecurityCenter, launchWithTessera, WIDTHS } from '../support/languages.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/languages-account-last');

describe('the last of the security center in Polish and German in a real browser (screenshots, axe)', function () {
  this.timeout(240_000);
  let t: Tessera;
  let browser: Browser;
  const { problems, look } = accountLooks(SHOTS);

  before(async function () {
    ({ browser, t } = await launchWithTessera(this, { shots: SHOTS }));
  });
  after(() => closeBrowserAndTessera(browser, t));

  for (const lang of ['pl', 'de'] as const) {
    it(`shows the ${lang} PIN, data, webhook and recovery-cancel pages at 390 and 1280 px`, async () => {
      const user = await createUser(t);
      const org = await t.services.organisations.create(`Org ${lang} ${Math.random().toString(36).slice(2, 6)}`);
      await t.services.organisations.setMember(org.id, user.id, true);
      await inSecurityCenter(browser, t, user, lang === 'pl' ? 'pl-PL' : 'de-DE', async (page) => {
        for (const width of WIDTHS) {
          await page.setViewportSize({ width, height: 900 });
          await page.goto(`${t.issuer}/account/security/pin`);
          assert.equal(await page.getAttribute('html', 'lang'), lang);
          await page.locator('#pin').fill('111111');
          await page.locator('#repeat').fill('111111');
          await page.locator('#pin-password').fill(user.password);
          await page.locator('form[action="/account/security/pin"] button[type="submit"]').click();
          await page.waitForLoadState();
          assert.match((await page.locator('#pin-error').textContent()) ?? '', lang === 'pl' ? /Ten PIN się powtarza/ : /Diese PIN wiederholt sich/);
          await look(page, `${lang}-pin-error`, width);

          await page.goto(`${t.issuer}/account/security/data`);
          assert.equal((await page.locator('h1').textContent())?.trim(), lang === 'pl' ? 'Twoje dane' : 'Ihre Daten');
          await look(page, `${lang}-data`, width);

          await page.goto(`${t.issuer}/account/security/organisation/webhooks/new`);
          await page.locator('#url').fill('http://siem.example.com/tessera');
          await page.locator('form.webhook-form button[type="submit"]').click();
          await page.waitForLoadState();
          assert.ok(await page.locator('#types-error').isVisible());
          await page.locator('input[name="type_password_reset"]').check();
          await page.locator('form.webhook-form button[type="submit"]').click();
          await page.waitForLoadState();
          assert.match((await page.locator('#url-error').textContent()) ?? '', /https:\/\//);
          await look(page, `${lang}-webhook-url-error`, width);
          await page.locator('#url').fill(`https://siem.example.com/${lang}-${width}`);
          await page.locator('form.webhook-form button[type="submit"]').click();
          await page.waitForLoadState();
          assert.ok(await page.locator('#webhook-secret').isVisible());
          await look(page, `${lang}-webhook-secret`, width);

          await page.goto(`${t.issuer}/account/recovery/cancel?token=nope`);
          assert.equal((await page.locator('h1').textContent())?.trim(), lang === 'pl' ? 'Anulowanie wspomaganego odzyskiwania' : 'Unterstützte Wiederherstellung abbrechen');
          await look(page, `${lang}-recovery-cancel-invalid`, width);
        }
      });
    });
  }

  it('found no axe violation and nothing spilling out of the page', () => {
    assert.deepEqual(problems, []);
  });
});
