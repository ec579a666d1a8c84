// "This wasn't me — secure my account" through real HTTP, the real database, a real SMTP server, a
// real relying party with refresh tokens and a back-channel logout endpoint, and Tessera's clock in
// the test's hand: the new-device and unusual-sign-in emails carry both links; opening the link
// changes nothing; the button blocks the device, ends every session and refresh token
// (back-channel logout), stops the password, emails the person and the organisation's admins and
// is audited; once (20 parallel confirmations, one effect); expired and tampered links are refused.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, backchannelListener, createUser, signIn, type Page, type TestUser } from '../support/flow.ts';
import { startSmtp, type Smtp } from '../support/mail.ts';
import type { ClientInfo } from '../../src/devices/client-info.ts';

const DAY = 86_400_000;
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const SEEN: ClientInfo = { ip: '81.2.69.142', location: { country: 'GB', city: 'Newmarket' }, browser: 'Firefox 128', os: 'Linux' };

const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&amp;/g, '&').replace(/&#39;/g, "'").replace(/&#34;|&quot;/g, '"').replace(/\s+/g, ' ').trim();
const alert = (page: Page) => text(/role="alert">([\s\S]*?)<\/p>/.exec(page.body)?.[1] ?? '');
/** The "This wasn't me" link of an email's text part. */
/** A new-device email with the two links (the sign-in's own new-device email may arrive too). */
const WITH_LINKS = /Subject: New sign-in to your Tessera account[\s\S]*This wasn't me/;
const notMeLink = (mail: string) => /^(http:\/\/\S+\/account\/not-me\?token=\S+)$/m.exec(mail)?.[1];

describe('"This wasn\'t me": one-click containment from a sign-in email', function () {
  this.timeout(180_000);
  let smtp: Smtp;
  let t: Tessera;
  let now = Date.now();
  const serverErrors: unknown[] = [];

  before(async () => {
    now = Date.now(); // from the start of the run, not the file's load (the expiry purge runs on real time)
    smtp = await startSmtp();
    t = await startTessera({ env: { SMTP_URL: smtp.url }, clock: () => new Date(now), noticeRetryDelayMs: () => 10, log: (err) => serverErrors.push(err) });
  });
  after(async () => {
    await t.close();
    await smtp.close();
  });
  afterEach(() => assert.deepEqual(serverErrors, [], 'no 500s'));

  /** A user signed in to an RP (refresh token, back-channel logout) from a Firefox: its registration, tokens and the browser. */
  async function signedInUser(rp: RelyingParty) {
    const user = await createUser(t);
    const agent = new UserAgent({ 'user-agent': FIREFOX });
    const auth = await rp.authorize({ scope: 'openid offline_access', prompt: 'consent' });
    const tokens = await rp.tokens(await signIn(agent, auth.url, user), auth);
    assert.ok(tokens.refresh_token, 'offline_access yields a refresh token');
    const [device] = await t.services.devices.listFor(user.id);
    assert.ok(device, 'the browser is a registration of the account');
    return { user, agent, tokens, device };
  }

  /** The "This wasn't me" link a new-device email about the registration carries. */
  async function newDeviceLink(user: TestUser, deviceId: string): Promise<string> {
    const since = smtp.received.length;
    t.services.notices.newDevice(user.id, SEEN, deviceId);
    const mail = await smtp.waitFor(user.email, WITH_LINKS, since);
    const link = notMeLink(mail.text);
    assert.ok(link, `the email has the link:\n${mail.text}`);
    return link;
  }

  async function passwordStillWorks(user: TestUser, rp: RelyingParty): Promise<boolean> {
    const agent = new UserAgent({ 'user-agent': FIREFOX });
    const page = await agent.visit((await rp.authorize({ prompt: 'login' })).url);
    const after = await agent.submit(page, /\/login$/, { email: user.email, password: user.password });
    return after.url.includes('code=') || /\/confirm"/.test(after.body);
  }

  it('the new-device email and the unusual-sign-in email carry "This was me" and "This wasn\'t me" (HTML and text)', async () => {
    const rp = await RelyingParty.register(t, { skipConsent: true });
    const beforeSignIn = smtp.received.length;
    const { user, device } = await signedInUser(rp);
    // the sign-in's own new-device email links the browser that signed in
    const own = await smtp.waitFor(user.email, WITH_LINKS, beforeSignIn);
    assert.ok(notMeLink(own.text)?.includes(device.id), `the sign-in's email links its device:\n${own.text}`);
    const since = smtp.received.length;
    t.services.notices.newDevice(user.id, SEEN, device.id);
    const mail = await smtp.waitFor(user.email, WITH_LINKS, since);
    assert.match(mail.text, /This was me: there is nothing to do/);
    assert.match(mail.text, new RegExp(`${t.issuer}/account/security/devices`));
    assert.match(mail.text, /This wasn't me: someone may know your password/);
    assert.match(mail.text, /<a href="http:\/\/[^"]+\/account\/not-me\?token=[^"]+"[^>]*>Secure my account<\/a>/, 'the HTML part links it');
    assert.ok(notMeLink(mail.text)?.includes(device.id), 'the link names the device');

    const before = smtp.received.length;
    t.services.notices.unusualSignIn(user.id, SEEN, ['First sign-in from United Kingdom; the previous one was from Poland.', 'Warsaw to Newmarket in 1 hour is faster than a plane.'], device.id);
    const unusual = await smtp.waitFor(user.email, /Subject: Unusual sign-in to your Tessera account/, before);
    assert.match(unusual.text, /Why it looked unusual:/);
    assert.match(unusual.text, /- First sign-in from United Kingdom; the previous one was from Poland\./);
    assert.match(unusual.text, /<li>Warsaw to Newmarket in 1 hour is faster than a plane\.<\/li>/);
    assert.match(unusual.text, /Where:\s+Newmarket, United Kingdom \(approximate\)/);
    assert.match(unusual.text, /IP:\s+81\.2\.69\.142/);
    assert.match(unusual.text, /This was me:/);
    const link = notMeLink(unusual.text);
    assert.ok(link?.includes(device.id), 'the unusual-sign-in email links "This wasn\'t me" for the device');
    const page = await new UserAgent().visit(link!);
    assert.equal(page.status, 200);
    assert.match(page.body, /<h1>Secure your account<\/h1>/);
  });

  it('opening the link changes nothing; the button blocks the device, ends sessions and refresh tokens (back-channel logout), stops the password, emails the person and the admins, audits; once', async () => {
    const listener = await backchannelListener();
    try {
      const rp = await RelyingParty.register(t, { grants: ['refresh_token'], backchannelLogoutUri: listener.uri });
      const { user, device, tokens } = await signedInUser(rp);
      const admin = await createUser(t);
      const org = await t.services.organisations.create(`Org ${randomBytes(3).toString('hex')}`);
      await t.services.organisations.setMember(org.id, user.id, false);
      await t.services.organisations.setMember(org.id, admin.id, true);
      const link = await newDeviceLink(user, device.id);

      // a mail scanner (or the person) opens it: a page, nothing more
      const scanner = new UserAgent();
      const page = await scanner.visit(link);
      assert.equal(page.status, 200);
      assert.equal(page.headers.get('cache-control'), 'no-store');
      assert.match(page.body, /<h1>Secure your account<\/h1>/);
      assert.match(text(page.body), new RegExp(`A sign-in to ${user.email} was not you\\?`));
      assert.match(text(page.body), /Firefox 128 on Linux/);
      assert.equal((await t.services.devices.byId(device.id))!.state, 'ACTIVE');
      assert.equal((await t.services.accounts.findById(user.id))!.passwordResetRequired, false);
      assert.deepEqual(Object.keys((await t.services.accounts.findById(user.id))!.consents), [rp.clientId], 'the consent given to the RP is kept');
      assert.ok((await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!)).access_token, 'the refresh token still works after a GET');
      assert.equal(listener.received.length, 0);
      // the form needs its CSRF token: a bare POST of the link changes nothing
      const forged = await scanner.request(`${t.issuer}/account/not-me`, { form: { token: new URL(link).searchParams.get('token')! } });
      assert.equal(forged.status, 403);
      assert.equal((await t.services.devices.byId(device.id))!.state, 'ACTIVE');

      const since = smtp.received.length;
      const done = await scanner.submit(page, /\/account\/not-me$/);
      assert.equal(done.status, 200, alert(done));
      assert.match(done.body, /<h1>Your account is secured<\/h1>/);
      assert.match(text(done.body), /Forgot password\?/);

      const blocked = (await t.services.devices.byId(device.id))!;
      assert.equal(blocked.state, 'BLOCKED');
      assert.deepEqual(blocked.history.at(-1)!.to, 'BLOCKED');
      assert.match(blocked.history.at(-1)!.why, /not them/);
      assert.equal(blocked.trustedUntil, undefined);
      const account = (await t.services.accounts.findById(user.id))!;
      assert.equal(account.passwordResetRequired, true);
      assert.deepEqual(account.consents, {}, 'what was allowed while someone else had the account is asked again');
      assert.equal(await passwordStillWorks(user, rp), false, 'the old password no longer signs in');
      await assert.rejects(oidc.refreshTokenGrant(rp.config, tokens.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
      assert.equal(listener.received.length, 1, 'one back-channel logout token');
      assert.equal(JSON.parse(Buffer.from(listener.received[0]!.split('.')[1]!, 'base64url').toString()).sub, user.id);

      const summary = await smtp.waitFor(user.email, /Subject: Your Tessera account was secured/, since);
      assert.match(summary.text, /Blocked device:\s+Firefox 128 on Linux/);
      assert.match(summary.text, /choose "Forgot password\?"/);
      const notice = await smtp.waitFor(admin.email, /said a sign-in to Tessera was not them and secured their account/, since);
      assert.match(notice.text, new RegExp(`${user.email.replace('.', '\\.')}`));
      await t.services.audit.flush();
      const audited = (await t.services.audit.query({ accountId: user.id, type: 'account.secured', limit: 10 })).events;
      assert.equal(audited.length, 1);
      assert.equal(audited[0]!.details?.device, device.id);

      // the second use: refused with a way forward, nothing more happens
      const again = await scanner.submit(page, /\/account\/not-me$/);
      assert.equal(again.status, 400);
      assert.match(alert(again), /already used/);
      assert.match(text(again.body), /Forgot password\?/);
      assert.equal((await scanner.visit(link)).status, 400);
      await t.services.audit.flush();
      assert.equal((await t.services.audit.query({ accountId: user.id, type: 'account.secured', limit: 10 })).events.length, 1);
    } finally {
      listener.close();
    }
  });

  it('refuses an expired or tampered link (400, a way forward) and changes nothing', async () => {
    const rp = await RelyingParty.register(t, { skipConsent: true });
    const { user, device } = await signedInUser(rp);
    const link = await newDeviceLink(user, device.id);
    const token = new URL(link).searchParams.get('token')!;
    const agent = new UserAgent();
    for (const bad of [token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA'), token.replace(user.id, `${user.id}x`), 'garbage', '']) {
      const page = await agent.visit(`${t.issuer}/account/not-me?token=${encodeURIComponent(bad)}`);
      assert.equal(page.status, 400, bad);
      assert.match(alert(page), /not valid/);
    }
    const page = await agent.visit(link);
    now += 7 * DAY + 1000;
    try {
      assert.match(alert(await agent.visit(link)), /expired/);
      const late = await agent.submit(page, /\/account\/not-me$/);
      assert.equal(late.status, 400);
      assert.match(alert(late), /expired: it works for 7 days/);
    } finally {
      now -= 7 * DAY + 1000;
    }
    assert.equal((await t.services.devices.byId(device.id))!.state, 'ACTIVE');
    assert.equal((await t.services.accounts.findById(user.id))!.passwordResetRequired, false);
    assert.equal(await passwordStillWorks(user, rp), true);
  });

  it('20 parallel confirmations of one link secure the account once', async () => {
    const rp = await RelyingParty.register(t, { skipConsent: true });
    const { user, device } = await signedInUser(rp);
    const link = await newDeviceLink(user, device.id);
    const agent = new UserAgent();
    const page = await agent.visit(link);
    const results = await Promise.all(Array.from({ length: 20 }, () => agent.submit(page, /\/account\/not-me$/)));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, ...Array(19).fill(400)]);
    const history = (await t.services.devices.byId(device.id))!.history.filter((h) => h.to === 'BLOCKED');
    assert.equal(history.length, 1);
    await t.services.audit.flush();
    assert.equal((await t.services.audit.query({ accountId: user.id, type: 'account.secured', limit: 10 })).events.length, 1);
    await t.services.notices.settled();
    assert.equal(smtp.received.filter((m) => m.to.includes(user.email) && /Subject: Your Tessera account was secured/.test(m.text)).length, 1);
  });
});
