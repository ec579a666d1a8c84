// Dates and times as people read them, in Chromium: a Polish account in Warsaw and a German one in
// Berlin see their security center (overview, devices, sessions) and the pages an email links to
// (unblock, "This wasn't me") with dates in their language and zone, the zone named, at phone and
// desktop widths; every choice of a drop-down fits it (the German "Ask for" once did not at 390 px).
// Saved as screenshots/dates/<language>-<page>-<width>.png for a person to look at; axe finds nothing.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Browser, Page as BrowserPage } from 'playwright-core';
import type { Tessera } from '../support/tessera.ts';
import { accountLooks, checkPage, closeBrowserAndTessera, createUserWithProfile, inSecurityCenter, launchWithTessera, WIDTHS } from '../support/languages.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/dates');

const LANGUAGES = [
  {
    lang: 'pl', profile: { locale: 'pl', zoneinfo: 'Europe/Warsaw' }, browserLocale: 'en-GB', lastUsed: 'Ostatnio używane',
    time: /^\d{1,2} (stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|września|października|listopada|grudnia) \d{4}, \d\d:\d\d CES?T$/,
    blockedSince: /Zablokowane od \d{1,2} \S+ \d{4}, \d\d:\d\d CES?T\./,
  },
  {
    lang: 'de', profile: { locale: 'de', zoneinfo: 'Europe/Berlin' }, browserLocale: 'de-DE', lastUsed: 'Zuletzt verwendet',
    time: /^\d{1,2}\. (Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember) \d{4}, \d\d:\d\d MES?Z$/,
    blockedSince: /Gesperrt seit \d{1,2}\. \S+ \d{4}, \d\d:\d\d MES?Z\./,
  },
] as const;

/** The drop-downs on the page whose widest choice is cut off (measured in the drop-down's own font). */
const cutSelects = (page: BrowserPage) => page.evaluate<string[]>(`(() => {
  const out = [];
  const ruler = document.createElement('canvas').getContext('2d');
  for (const select of document.querySelectorAll('main select')) {
    const style = getComputedStyle(select);
    ruler.font = style.font;
    // the room for the text: the box less its padding and the drop-down arrow (about 1.25em)
    const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 1.25 * parseFloat(style.fontSize);
    for (const option of select.options) {
      const width = ruler.measureText(option.text).width;
      if (width > room) out.push('#' + select.id + ': "' + option.text + '" ' + Math.round(width) + 'px in ' + Math.round(room) + 'px');
    }
  }
  return out;
})()`);

describe('dates and times in the account\'s language and zone, in a real browser (screenshots, axe)', function () {
  this.timeout(300_000);
  let t: Tessera;
  let browser: Browser;
  const { problems, look } = accountLooks(SHOTS);

  before(async function () {
    ({ browser, t } = await launchWithTessera(this, { shots: SHOTS }));
  });
  after(() => closeBrowserAndTessera(browser, t));

  for (const language of LANGUAGES) {
    it(`shows the ${language.lang} security center with ${language.lang} dates in the account's zone, at 390 and 1280 px`, async () => {
      const user = await createUserWithProfile(t, language.profile);
      await inSecurityCenter(browser, t, user, language.browserLocale, async (page) => {
        for (const width of WIDTHS) {
          await page.setViewportSize({ width, height: 900 });
          await page.goto(`${t.issuer}/account/security`);
          assert.equal(await page.getAttribute('html', 'lang'), language.lang);
          assert.deepEqual(await cutSelects(page), [], `${language.lang} overview @${width}: every choice fits its drop-down`);
          await look(page, `${language.lang}-overview`, width);

          await page.goto(`${t.issuer}/account/security/devices`);
          const lastUsed = page.locator(`dt:text-is("${language.lastUsed}") + dd`).first();
          assert.match((await lastUsed.textContent())?.trim() ?? '', language.time);
          assert.deepEqual(await cutSelects(page), [], `${language.lang} devices @${width}: every choice fits its drop-down`);
          await look(page, `${language.lang}-devices`, width);

          await page.goto(`${t.issuer}/account/security/sessions`);
          assert.deepEqual(await cutSelects(page), [], `${language.lang} sessions @${width}: every choice fits its drop-down`);
          await look(page, `${language.lang}-sessions`, width);

          // the other pages with drop-downs
          for (const other of ['ips', 'pin']) {
            await page.goto(`${t.issuer}/account/security/${other}`);
            assert.deepEqual(await cutSelects(page), [], `${language.lang} ${other} @${width}: every choice fits its drop-down`);
          }
        }
      });
    });

    it(`shows the ${language.lang} unblock and "This wasn't me" pages dated in the account's zone, at 390 and 1280 px`, async () => {
      const user = await createUserWithProfile(t, language.profile);
      await inSecurityCenter(browser, t, user, language.browserLocale, async (page) => {
        const [device] = await t.services.devices.listFor(user.id);
        assert.ok(device);
        await page.goto(t.services.containment.linkFor(user.id, device.id));
        assert.equal(await page.getAttribute('html', 'lang'), language.lang);
        await checkPage(page, SHOTS, `${language.lang}-not-me`);

        assert.ok(await t.services.devices.block(device.id, 'admin', 'test'));
        await page.goto((await t.services.unblockLinks.forNotice(user.id, device.id))!.link);
        assert.match((await page.locator('main').textContent()) ?? '', language.blockedSince);
        await checkPage(page, SHOTS, `${language.lang}-unblock`);
      });
    });
  }

  it('found no axe violation and nothing spilling out of the page', () => {
    assert.deepEqual(problems, []);
  });
});
