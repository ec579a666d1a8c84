// Adaptive sign-in in Chromium (issue 22, acceptance 3): a person signs in from Warsaw, then from
// Rio two days later (a new country: the second-factor step says why), then from Warsaw again two
// hours after that (impossible travel: the step says why and an unusual-sign-in email goes out),
// and answers that email with "This wasn't me — secure my account". Tessera runs behind a trusted
// proxy, so the browser sends the client address in X-Forwarded-For; its clock is the test's.
// Emails arrive at a real SMTP server; their HTML part is shown in the browser, their text part in
// a <pre> (and saved as .txt). Every page and email is saved at a phone's width (390 px) and a
// desktop's (1280 px) as screenshots/adaptive-sign-in/<name>-<width>.png, checked with axe-core
// (WCAG 2.2 A/AA), and nothing is wider than the screen.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, createUser, REDIRECT_URI, type TestUser } from '../support/flow.ts';
import { partOf, startSmtp, type ReceivedMail, type Smtp } from '../support/mail.ts';

const SHOTS = path.resolve(import.meta.dirname, '../../screenshots/adaptive-sign-in');
const WIDTHS = [390, 1280];
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const HOUR = 3600 * 1000;
const POLAND = '83.0.0.1'; // Warsaw (geoip-lite knows its country and coordinates, not its city)
const BRAZIL = '200.147.67.142'; // Rio de Janeiro (likewise)

const subjectOf = (mail: ReceivedMail) => /^Subject: (.*)$/m.exec(mail.text)?.[1]?.trim() ?? '';
const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

describe('adaptive sign-in in a real browser: the step page\'s reason, the emails, "This wasn\'t me" (screenshots)', function () {
  this.timeout(180_000);
  let smtp: Smtp;
  let t: Tessera;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let rp: RelyingParty;
  let user: TestUser;
  let offset = 0;
  let notMeLink = '';
  const failures: unknown[] = [];

  before(async function () {
    const launched = await launchChromium();
    if (!launched) this.skip();
    browser = launched!;
    mkdirSync(SHOTS, { recursive: true });
    smtp = await startSmtp();
    t = await startTessera({
      env: { TRUST_PROXY: 'true', SMTP_URL: smtp.url }, clock: () => new Date(Date.now() + offset), noticeRetryDelayMs: () => 10,
      log: (err) => { failures.push(err); console.error('    [tessera 500]', err); },
    });
    rp = await RelyingParty.register(t, { name: 'Photo Album', skipConsent: true });
    user = await createUser(t, { name: 'Ada Lovelace', email: `ada-${Date.now().toString(36)}@example.com` });
    context = await browser.newContext();
    page = await context.newPage();
    await page.route(`${REDIRECT_URI}**`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>RP got the code</h1>' }));
  });
  after(async () => {
    await browser?.close();
    await t?.close();
    await smtp?.close();
  });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  const heading = async (p = page) => (await p.locator('h1').textContent())?.trim();
  const click = async (name: string, p = page) => { await p.getByRole('button', { name, exact: true }).click(); await p.waitForLoadState(); };

  /** Saves `p` at both widths (nothing wider than the screen) and finds no axe violation. */
  async function shots(name: string, p = page) {
    for (const width of WIDTHS) {
      await p.setViewportSize({ width, height: 800 });
      assert.ok(await p.evaluate<number>('document.documentElement.scrollWidth') <= width, `${name}: nothing wider than ${width} px`);
      await p.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`), fullPage: true });
      await p.evaluate(AXE); // not a script tag: the pages' CSP allows no inline script
      const violations = await p.evaluate(async () => {
        const axe = (globalThis as unknown as { axe: { run(o: object): Promise<{ violations: { id: string; nodes: { target: string[] }[] }[] }> } }).axe;
        const result = await axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
        return result.violations.map((v) => `${v.id} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
      });
      assert.deepEqual(violations, [], `${name} @${width}: axe`);
    }
  }

  /** An email as a person sees it: its HTML part in the browser, its text part in a <pre> (and as .txt). */
  async function emailShots(name: string, mail: ReceivedMail): Promise<{ html: string; text: string; shown: string }> {
    const html = partOf(mail, 'text/html');
    const text = partOf(mail, 'text/plain').replace(/\r\n/g, '\n');
    const viewer = await context.newPage();
    try {
      await viewer.setContent(html);
      const shown = (await viewer.locator('body').innerText()).replace(/\s+/g, ' ');
      await shots(`${name}-email-html`, viewer);
      writeFileSync(path.join(SHOTS, `${name}-email.txt`), `Subject: ${subjectOf(mail)}\n\n${text}`);
      await viewer.setContent(`<!doctype html><html lang="en"><head><title>${escapeHtml(subjectOf(mail))}</title></head><body><main>`
        + `<pre style="white-space: pre-wrap; overflow-wrap: anywhere; font: 14px/1.45 monospace; margin: 16px;">Subject: ${escapeHtml(subjectOf(mail))}\n\n${escapeHtml(text)}</pre></main></body></html>`);
      await shots(`${name}-email-text`, viewer);
      return { html, text, shown };
    } finally {
      await viewer.close();
    }
  }

  /** Starts a sign-in (prompt=login) from `ip` and types the password. */
  async function signInFrom(ip: string) {
    await context.setExtraHTTPHeaders({ 'x-forwarded-for': ip });
    await page.goto((await rp.authorize({ prompt: 'login' })).url);
    assert.equal(await heading(), 'Sign in');
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password').fill(user.password);
    await click('Sign in');
  }

  /** The sign-in code emailed from `since` on, typed on the step page. */
  async function enterCode(since: number) {
    const mail = await smtp.waitFor(user.email, /^Subject: \d{6} is your Tessera sign-in code/m, since);
    await page.getByLabel('Code').fill(/^Subject: (\d{6})/m.exec(mail.text)![1]!);
    await click('Verify');
    await page.waitForSelector('text=RP got the code');
  }

  it('1. signs in from Warsaw in a new browser: the new-device email, HTML and text, with both answers', async () => {
    const since = smtp.received.length;
    await signInFrom(POLAND);
    await page.waitForSelector('text=RP got the code');
    const mail = await smtp.waitFor(user.email, (m) => /^Subject: New sign-in to your Tessera account/m.test(m.text) && /This wasn't me/.test(m.text), since);
    const { text, shown } = await emailShots('new-device', mail);
    for (const body of [text, shown]) {
      assert.match(body, /Your Tessera account was just signed in to from a new device\./);
      assert.match(body, /IP:?\s+83\.0\.0\.1/);
      assert.match(body, /Where:?\s+Poland \(approximate\)/);
      assert.match(body, /Browser:?\s+\S.* on Linux/);
      assert.match(body, /This was me: there is nothing to do\./);
      assert.match(body, /This wasn't me: someone may know your password\./);
    }
    assert.match(text, /^http:\/\/\S+\/account\/not-me\?token=\S+$/m, 'the text part carries the link in full');
    assert.match(mail.text, /<a href="http:\/\/[^"]+\/account\/not-me\?token=[^"]+" style="[^"]*background: #c92a2a[^"]*">Secure my account<\/a>/, 'the HTML part shows it as a button');
  });

  it('2. two days later from Rio: the step page says it is a first sign-in from Brazil', async () => {
    offset += 50 * HOUR;
    const since = smtp.received.length;
    await signInFrom(BRAZIL);
    assert.equal(await heading(), 'Verify it is you');
    assert.equal((await page.locator('p.lead').textContent())?.trim(), 'This sign-in needs a second step.');
    assert.equal((await page.locator('.risk-reason').textContent())?.trim(),
      'This sign-in is unusual for your account: first sign-in from Brazil; previous sign-in from Poland 2 days ago.');
    await shots('step-new-country');
    await enterCode(since);
  });

  it('3. two hours later from Warsaw: impossible travel, on the step page and in the unusual-sign-in email', async () => {
    offset += 2 * HOUR;
    const since = smtp.received.length;
    await signInFrom(POLAND);
    assert.equal(await heading(), 'Verify it is you');
    const reason = (await page.locator('.risk-reason').textContent())?.trim() ?? '';
    assert.match(reason, /^This sign-in is unusual for your account: Poland is 10,\d{3} km from the previous sign-in \(Brazil, 2 h ago\): faster than 1,000 km\/h\.$/);
    await shots('step-impossible-travel');
    await enterCode(since);

    const mail = await smtp.waitFor(user.email, /^Subject: Unusual sign-in to your Tessera account/m, since);
    const { text, shown } = await emailShots('unusual-sign-in', mail);
    for (const body of [text, shown]) {
      assert.match(body, /Your Tessera account was just signed in to, and the sign-in looked unusual\./);
      assert.match(body, /IP:?\s+83\.0\.0\.1/);
      assert.match(body, /Where:?\s+Poland \(approximate\)/);
      assert.match(body, /Why it looked unusual:/);
      assert.match(body, /Poland is 10,\d{3} km from the previous sign-in \(Brazil, 2 h ago\): faster than 1,000 km\/h/);
      assert.match(body, /This wasn't me: someone may know your password\./);
    }
    notMeLink = /^(http:\/\/\S+\/account\/not-me\?token=\S+)$/m.exec(text)?.[1] ?? '';
    assert.ok(notMeLink, 'the unusual-sign-in email links "This wasn\'t me"');
    assert.match(mail.text, /<a href="http:\/\/[^"]+\/account\/not-me\?token=[^"]+"[^>]*>Secure my account<\/a>/, 'the HTML part links it too');
  });

  it('4. "This wasn\'t me — secure my account" from that email: the confirmation page, then the account is secured', async () => {
    // the person reads the email on their phone: another browser, not signed in
    const phone = await browser.newContext({ extraHTTPHeaders: { 'x-forwarded-for': POLAND } });
    try {
      const p = await phone.newPage();
      await p.goto(notMeLink);
      assert.equal(await heading(p), 'Secure your account');
      const body = (await p.locator('main').innerText()).replace(/\s+/g, ' ');
      assert.match(body, new RegExp(`A sign-in to ${user.email.replace(/\./g, '\\.')} was not you\\? Secure the account now\\.`));
      assert.match(body, /The device: .+, last used \d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC\./);
      assert.match(body, /blocks that device from the account/);
      assert.match(body, /signs out every session/);
      await shots('not-me-confirm', p);
      const [device] = await t.services.devices.listFor(user.id);
      assert.equal(device?.state, 'ACTIVE', 'opening the link changed nothing');

      const since = smtp.received.length;
      await click('Secure my account', p);
      assert.equal(await heading(p), 'Your account is secured');
      assert.match((await p.getByRole('status').textContent())!.replace(/\s+/g, ' '),
        new RegExp(`The account ${user.email.replace(/\./g, '\\.')} is secured: the device is blocked, every session is signed out`));
      assert.match(await p.locator('main').innerText(), /Forgot password\?/);
      await shots('not-me-done', p);
      assert.equal((await t.services.devices.listFor(user.id))[0]?.state, 'BLOCKED');

      const summary = await smtp.waitFor(user.email, /^Subject: Your Tessera account was secured/m, since);
      const { text } = await emailShots('account-secured', summary);
      assert.match(text, /Confirmed from:\s+Poland \(approximate\), IP 83\.0\.0\.1, /);
      assert.match(text, /Blocked device:\s+.+ on Linux \(IP 83\.0\.0\.1\)/);
      assert.match(text, /If you did not ask for this, set a new password the same way \(Forgot password\?\)/);
    } finally {
      await phone.close();
    }
  });
});
