// Unblocking a blocked device yourself (issue 20): the blocked-device email carries a signed link
// for that one block; the link's page asks for the account's password (through the sign-in
// limits), then for a code it emails; then the device is unblocked (history entry and audit event
// by the user) and signs in again. Real HTTP, the real database, the real SMTP listener, and
// Tessera's clock in the test's hand (the link's expiry). Nothing ever answers 500.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { startSmtp, type Smtp } from '../support/mail.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, type Page, type TestUser } from '../support/flow.ts';

const FIREFOX_ON_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const browser = () => new UserAgent({ 'user-agent': FIREFOX_ON_LINUX });
const HOUR = 3600_000;

const signedIn = (page: Page) => page.url.startsWith(REDIRECT_URI) && page.url.includes('code=');
const text = (html: string | undefined) => html?.replaceAll('&#39;', "'").replaceAll('&#34;', '"').replaceAll('&amp;', '&');
/** The error shown beside a field (`password` or `code`), or undefined. */
const errorBeside = (page: Page, name: string) => text(new RegExp(`<p class="error" id="${name}-error" role="alert">([^<]*)</p>`).exec(page.body)?.[1]);
/** The one alert of a refused link's page. */
const alertOf = (page: Page) => text(/<p class="error" role="alert">([^<]*)<\/p>/.exec(page.body)?.[1]);
const NO_STACK = /\n\s+at /;

describe('unblocking a blocked device yourself (emailed link, password, emailed code)', function () {
  this.timeout(120_000);
  let t: Tessera;
  let rp: RelyingParty;
  let smtp: Smtp;
  /** Tessera's clock runs with real time plus this offset (the embedded database purges by real time). */
  let offset = 0;
  const serverErrors: unknown[] = [];

  before(async () => {
    smtp = await startSmtp();
    // every test here types wrong passwords from 127.0.0.1: the per-IP lock is not what they are about
    t = await startTessera({ clock: () => new Date(Date.now() + offset), env: { SMTP_URL: smtp.url, LOCKOUT_IP_AFTER: '100000' }, log: (err) => serverErrors.push(err) });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(async () => {
    await t.close();
    await smtp.close();
  });
  afterEach(() => {
    offset = 0;
    assert.deepEqual(serverErrors, [], 'no 500s');
  });

  /** A fresh sign-in (prompt=login) up to the page after the password. */
  async function password(agent: UserAgent, email: string, pw: string): Promise<Page> {
    const page = await agent.visit((await rp.authorize({ prompt: 'login' })).url);
    return agent.submit(page, /\/login$/, { email, password: pw });
  }

  /**
   * The browser signs in (so it is one of the account's registrations), then five wrong passwords
   * from it block it; returns the blocked page, the registration and the link of its email.
   */
  async function block(agent: UserAgent, user: TestUser, signInFirst = true) {
    if (signInFirst) assert.ok(signedIn(await password(agent, user.email, user.password)), 'the browser signs in first');
    const since = smtp.received.length;
    let page: Page | undefined;
    for (let i = 1; i <= 5; i++) page = await password(agent, user.email, `Wrong#Guess${i}`);
    assert.equal(page!.status, 403, 'the fifth failure shows the blocked page');
    const device = (await t.services.devices.listFor(user.id)).find((d) => d.state === 'BLOCKED');
    assert.ok(device, 'a blocked registration');
    const mail = await smtp.waitFor(user.email, /A device was blocked from your Tessera account/, since);
    const link = /(http:\/\/[^\s"<]+\/account\/unblock-device\?token=[\w.-]+)/.exec(mail.text)?.[1];
    assert.ok(link, `the email carries an unblock link:\n${mail.text}`);
    return { page: page!, device, link, mail };
  }

  /** The code emailed for unblocking, after message index `since`. */
  async function unblockCode(user: TestUser, since: number): Promise<string> {
    const mail = await smtp.waitFor(user.email, /is your Tessera code to unblock a device/, since);
    return /(\d{6}) is your Tessera code to unblock a device/.exec(mail.text)![1]!;
  }

  const stateOf = async (id: string) => (await t.services.devices.byId(id))!.state;

  it('walks the link: wrong password refused, right password sends a code, wrong code refused, right code unblocks; the browser signs in again; the link works once', async () => {
    const user = await createUser(t);
    const agent = browser();
    const { page: blocked, device, link, mail } = await block(agent, user);
    assert.match(blocked.body, /an email with an unblock link was sent to the account&#39;s email address; the link asks for the account&#39;s password and then for a code it emails you/);
    assert.match(mail.text, /you can unblock the device yourself with this link \(it works for 24 hours, for this block only\)/);

    const form = await agent.visit(link);
    assert.equal(form.status, 200);
    assert.match(form.body, /<h1>Unblock a device<\/h1>/);
    assert.match(form.body, new RegExp(`blocked from signing in to <strong>${user.email}</strong>`));
    assert.match(form.body, /Firefox 128 on Linux/);
    assert.equal(form.headers.get('referrer-policy'), 'no-referrer');
    assert.match(form.headers.get('cache-control') ?? '', /no-store/);

    const before = smtp.received.length;
    const wrong = await agent.submit(form, /\/unblock-device\/password$/, { password: 'Wrong#Guess9' });
    assert.equal(wrong.status, 400);
    assert.match(errorBeside(wrong, 'password')!, /^That password is not right/);
    assert.match(wrong.body, /aria-invalid="true" aria-describedby="password-error"/);
    assert.equal(await stateOf(device.id), 'BLOCKED', 'nothing changed');

    const codePage = await agent.submit(wrong, /\/unblock-device\/password$/, { password: user.password });
    assert.equal(codePage.status, 200);
    assert.match(codePage.body, /We emailed a 6-digit code to u\*+@example\.com/);
    const code = await unblockCode(user, before);
    const codesSent = smtp.received.slice(before).filter((m) => m.to.includes(user.email) && /code to unblock a device/.test(m.text));
    assert.equal(codesSent.length, 1, 'one code, for the right password only');

    const wrongCode = await agent.submit(codePage, /\/unblock-device\/code$/, { code: code === '000000' ? '111111' : '000000' });
    assert.equal(wrongCode.status, 400);
    assert.match(errorBeside(wrongCode, 'code')!, /^That code is not right\. 2 tries left\. Nothing was changed\.$/);
    assert.equal(await stateOf(device.id), 'BLOCKED', 'nothing changed');

    const done = await agent.submit(wrongCode, /\/unblock-device\/code$/, { code });
    assert.equal(done.status, 200);
    assert.match(done.body, /<h1>The device is unblocked<\/h1>/);
    assert.match(done.body, /<a href="\/account\/security">sign in to your account's security page<\/a>/);
    const after = (await t.services.devices.byId(device.id))!;
    assert.equal(after.state, 'ACTIVE');
    const { from, to, by, actor } = after.history.at(-1)!;
    assert.deepEqual({ from, to, by, actor }, { from: 'BLOCKED', to: 'ACTIVE', by: 'user', actor: user.email });
    await t.services.audit.flush();
    const audited = (await t.services.audit.query({ accountId: user.id, type: 'device.unblocked' })).events;
    assert.deepEqual(audited.map((e) => [e.outcome, e.actor.type, e.subject?.id]), [['success', 'user', device.id], ['failure', 'user', device.id]], 'the unblock and the wrong password');
    await smtp.waitFor(user.email, /was unblocked with the link we emailed, your password and an emailed code/, before);

    assert.ok(signedIn(await password(agent, user.email, user.password)), 'the browser signs in again');
    const again = await agent.visit(link);
    assert.equal(again.status, 400, 'the link works once');
    assert.match(alertOf(again)!, /^This unblock link no longer works: the block it was made for has ended/);
    assert.match(again.body, /<a href="\/account\/security">sign in again<\/a>/);
  });

  it('says the same on the blocked page whether the email has an account or not', async () => {
    const user = await createUser(t);
    const { page: known } = await block(browser(), user);
    const stranger = browser();
    let ghost: Page | undefined;
    for (let i = 1; i <= 5; i++) ghost = await password(stranger, `nobody-${user.id}@example.com`, `Wrong#Guess${i}`);
    assert.equal(ghost!.status, 403);
    assert.equal(alertOf(ghost!), alertOf(known));
    assert.match(alertOf(known)!, /unblock link/);
  });

  it('refuses a tampered, made-up or missing link cleanly (400, a way forward), without checking any password', async () => {
    const user = await createUser(t);
    const agent = browser();
    const { device, link } = await block(agent, user);
    const token = new URL(link).searchParams.get('token')!;
    const flip = (s: string, i: number) => `${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
    const [id, blockPart, expires] = token.split('.');
    const later = (parseInt(expires!, 36) + 10 * 24 * 3600).toString(36);
    const tampered = [
      flip(token, token.length - 5), // the signature
      token.replace(/^dev_[\w-]+/, 'dev_AAAAAAAAAAAAAAAAAAAAAA'), // another device
      [id, blockPart, later, token.split('.')[3]].join('.'), // a longer life
      'nonsense', '', `${token}x`, 'x'.repeat(500),
    ];
    for (const bad of tampered) {
      const page = await agent.request(`${t.issuer}/account/unblock-device?token=${encodeURIComponent(bad)}`);
      assert.equal(page.status, 400, bad);
      assert.equal(alertOf(page), 'This unblock link is not valid. Nothing was changed.', bad);
      assert.match(page.body, /ask your administrator or support to unblock the device/);
      assert.doesNotMatch(page.body, NO_STACK);
    }
    // a form posted with a tampered token: refused before any password is looked at
    const form = await agent.visit(link);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)![1]!;
    const posted = await agent.request(`${t.issuer}/account/unblock-device/password`, { form: { _csrf: csrf, token: tampered[0]!, password: user.password } });
    assert.equal(posted.status, 400);
    assert.equal(alertOf(posted), 'This unblock link is not valid. Nothing was changed.');
    // the code step without the password step (or with another browser's proof) goes back to the password
    const skipped = await agent.request(`${t.issuer}/account/unblock-device/code`, { form: { _csrf: csrf, token, proof: 'A'.repeat(43), code: '123456' } });
    assert.equal(skipped.status, 400);
    assert.match(errorBeside(skipped, 'password')!, /^Type the account's password first/);
    assert.equal(await stateOf(device.id), 'BLOCKED');
    await t.services.audit.flush();
    assert.deepEqual((await t.services.audit.query({ accountId: user.id, type: 'device.unblocked' })).events, [], 'no password was checked');
  });

  it('lets a link expire after DEVICE_UNBLOCK_LINK_HOURS (24) on Tessera\'s clock', async () => {
    const user = await createUser(t);
    const agent = browser();
    const { device, link } = await block(agent, user);
    offset = 23 * HOUR;
    const form = await agent.visit(link);
    assert.equal(form.status, 200, 'still works after 23 hours');
    offset = 24 * HOUR + 1000;
    const expired = await agent.visit(link);
    assert.equal(expired.status, 400);
    assert.match(alertOf(expired)!, /^This unblock link has expired: a link works for 24 hours after it was sent\./);
    assert.match(expired.body, /Ask your administrator or support to unblock it/);
    const posted = await agent.submit(form, /\/unblock-device\/password$/, { password: user.password });
    assert.equal(posted.status, 400, 'its form is refused too');
    assert.match(alertOf(posted)!, /^This unblock link has expired/);
    assert.equal(await stateOf(device.id), 'BLOCKED');
  });

  it('ties a link to its block: once unblocked (by an administrator) it is dead, and after a new block only the new email\'s link works', async () => {
    const user = await createUser(t);
    const agent = browser();
    const first = await block(agent, user);
    await t.services.devices.unblock(first.device.id, 'admin', 'test');
    assert.match(alertOf(await agent.visit(first.link))!, /^This unblock link no longer works/);
    const second = await block(agent, user);
    assert.equal(second.device.id, first.device.id, 'the same registration, blocked again');
    assert.notEqual(second.link, first.link);
    const old = await agent.visit(first.link);
    assert.equal(old.status, 400, 'the earlier block\'s link stays dead');
    assert.match(alertOf(old)!, /blocked again later/);
    assert.equal((await agent.visit(second.link)).status, 200, 'the new link works');
    await t.services.devices.remove(second.device.id, 'admin', 'test');
    assert.match(alertOf(await agent.visit(second.link))!, /^This unblock link no longer works/, 'a removed device cannot be unblocked');
  });

  it('counts wrong passwords on the sign-in limits: from the blocked browser, its 5 failures and 5 more lock it, and then even the right password is refused', async () => {
    const user = await createUser(t);
    const agent = browser();
    const { device, link } = await block(agent, user);
    let page = await agent.visit(link);
    const since = smtp.received.length;
    for (let i = 0; i < 5; i++) {
      page = await agent.submit(page, /\/unblock-device\/password$/, { password: `Wrong#Guess${i}` });
      assert.equal(page.status, 400);
    }
    // LOCKOUT_AFTER (10) per account and browser: the 5 wrong passwords that blocked it count too
    const right = await agent.submit(page, /\/unblock-device\/password$/, { password: user.password });
    assert.equal(right.status, 400, 'refused while locked, like a wrong password');
    assert.match(errorBeside(right, 'password')!, /^That password is not right, or too many wrong passwords were typed for this account lately \(then wait a few minutes\)\. Nothing was changed\.$/);
    await t.services.notices.settled();
    assert.ok(!smtp.received.slice(since).some((m) => /code to unblock a device/.test(m.text)), 'no code was sent');
    assert.equal(await stateOf(device.id), 'BLOCKED');
  });

  it('counts wrong passwords from another browser as sign-ins from a new device: at LOCKOUT_AFTER (10) the account is told sign-ins were paused, and the right one is refused', async () => {
    const user = await createUser(t);
    const { device, link } = await block(browser(), user);
    const phone = browser();
    let page = await phone.visit(link);
    const since = smtp.received.length;
    for (let i = 0; i < 10; i++) page = await phone.submit(page, /\/unblock-device\/password$/, { password: `Wrong#Guess${i}` });
    await smtp.waitFor(user.email, /Sign-ins to your Tessera account were paused/, since);
    const right = await phone.submit(page, /\/unblock-device\/password$/, { password: user.password });
    assert.equal(right.status, 400);
    assert.match(errorBeside(right, 'password')!, /^That password is not right, or too many wrong passwords/);
    assert.equal(await stateOf(device.id), 'BLOCKED');
  });

  it('locks the code after 3 wrong entries: the right one is refused then, and "Resend" (after a minute) sends a new code that works', async () => {
    const user = await createUser(t);
    const agent = browser();
    const { device, link } = await block(agent, user);
    const since = smtp.received.length;
    let page = await agent.submit(await agent.visit(link), /\/unblock-device\/password$/, { password: user.password });
    const code = await unblockCode(user, since);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 3; i++) page = await agent.submit(page, /\/unblock-device\/code$/, { code: wrong });
    assert.match(errorBeside(page, 'code')!, /^Too many wrong codes\. Use "Resend" to get a new code\./);
    page = await agent.submit(page, /\/unblock-device\/code$/, { code });
    assert.equal(page.status, 400, 'the right code is refused on a locked challenge');
    assert.equal(await stateOf(device.id), 'BLOCKED');
    offset = 61_000;
    const resendFrom = smtp.received.length;
    page = await agent.submit(page, /\/unblock-device\/resend$/);
    assert.equal(page.status, 200);
    const fresh = await unblockCode(user, resendFrom);
    const done = await agent.submit(page, /\/unblock-device\/code$/, { code: fresh });
    assert.match(done.body, /<h1>The device is unblocked<\/h1>/);
    assert.equal(await stateOf(device.id), 'ACTIVE');
    await smtp.waitFor(user.email, /was unblocked with the link we emailed/, resendFrom);
  });
});
