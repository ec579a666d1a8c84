// "Forgot password?" (issue 21): an emailed code bound to this interaction and browser, a second
// factor for accounts that have one, the password policy, every other session and refresh token
// ended, and the sign-in carried on to the application. Unknown and disabled addresses get the
// same answer with the same database work.
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, backchannelListener, createUser, giveVerifiedPhone, signIn, REDIRECT_URI, type Page, type TestUser } from '../support/flow.ts';
import { startSmtp, type Smtp } from '../support/mail.ts';
import { recordCommands } from '../support/commands.ts';
import * as oidc from 'openid-client';
import { startFakeTwilio, type FakeTwilio } from '../support/fake-twilio.ts';

const NEW_PASSWORD = 'Quartz#Lantern77';

describe('forgot password', () => {
  let smtp: Smtp;
  let twilio: FakeTwilio;
  let t: Tessera;
  let rp: RelyingParty;
  let offset = 0;
  const clock = () => new Date(Date.now() + offset);

  before(async () => {
    smtp = await startSmtp();
    twilio = await startFakeTwilio();
    t = await startTessera({ clock, env: {
      SMTP_URL: smtp.url, CLIENT_CACHE_SECONDS: '0', RESET_PER_IP_HOUR: '1000', // every request here comes from one address
      SMS_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: twilio.account.sid, TWILIO_AUTH_TOKEN: twilio.account.token, TWILIO_FROM: twilio.account.from, TWILIO_API_BASE: twilio.apiBase,
    } });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  afterEach(() => { offset = 0; });
  after(async () => { await t.close(); await smtp.close(); await twilio.close(); });

  /** Opens the sign-in page of a new authorization and follows "Forgot password?". */
  async function forgotPage(agent: UserAgent, params: Record<string, string> = {}): Promise<Page> {
    const login = await agent.visit((await rp.authorize(params)).url);
    const link = /href="(\/interaction\/[^"]+\/forgot)"/.exec(login.body);
    assert.ok(link, 'the sign-in page links to "Forgot password?"');
    assert.match(login.body, />Forgot password\?</);
    return agent.visit(new URL(link[1]!, t.issuer).href);
  }

  /** Asks for a code for `email`; the code page, and the code when one was emailed to it (matched by recipient and subject). */
  async function askCode(agent: UserAgent, email: string, params: Record<string, string> = {}) {
    const since = smtp.received.length;
    const page = await agent.submit(await forgotPage(agent, params), /\/forgot$/, { email });
    return { page, code: async () => /(\d{6}) is your Tessera password reset code/.exec((await smtp.waitFor(email, /password reset code/, since)).text)![1]! };
  }

  /** The code an authenticator app shows `steps` periods from now. */
  const appCode = (secret: string, steps = 0) => generate({ secret, epoch: Math.floor(clock().getTime() / 1000) + steps * 30 });

  /** A mobile number no other test uses (texts are matched by their recipient). */
  const newNumber = () => `+41 79 ${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
  const e164 = (n: string) => n.replace(/[^\d+]/g, '');
  /** The texts sent to `number` since the `since`-th one. */
  const textsTo = (number: string, since = 0) => twilio.accepted.slice(since).filter((r) => r.resource === 'Messages' && r.form.To === e164(number));
  /** The password reset code texted to `number` since the `since`-th text (it goes in the background). */
  async function textedCode(number: string, since: number): Promise<string> {
    for (let i = 0; i < 250; i++) {
      const text = textsTo(number, since).find((r) => /password reset code/.test(r.form.Body ?? ''));
      if (text) return /(\d{6}) is your Tessera password reset code/.exec(text.form.Body!)![1]!;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no password reset code was texted to ${number}`);
  }

  async function withApp(user: TestUser): Promise<string> {
    await giveVerifiedPhone(t, user);
    const enrolment = await t.services.totp.begin(user.id, user.email);
    assert.ok(await t.services.totp.confirm(user.id, await appCode(enrolment.secret)));
    return enrolment.secret;
  }

  it('resets the password of an account without a second factor and lands back at the application with tokens; every other session and refresh token is dead', async () => {
    const listener = await backchannelListener();
    try {
      const app = await RelyingParty.register(t, { skipConsent: true, backchannelLogoutUri: listener.uri });
      const user = await createUser(t, { name: 'Ada Lovelace' });
      // signed in elsewhere, with a refresh token
      const elsewhere = new UserAgent();
      const auth = await app.authorize({ scope: 'openid offline_access', prompt: 'consent' });
      const before = await app.tokens(await signIn(elsewhere, auth.url, user), auth);
      assert.ok(before.refresh_token);

      const browser = new UserAgent();
      const mine = await app.authorize();
      const login = await browser.visit(mine.url);
      const forgot = await browser.visit(new URL(/href="(\/interaction\/[^"]+\/forgot)"/.exec(login.body)![1]!, t.issuer).href);
      assert.match(forgot.body, /Forgot your password\?/);
      const since = smtp.received.length;
      const codePage = await browser.submit(forgot, /\/forgot$/, { email: user.email });
      assert.equal(codePage.status, 200);
      assert.match(codePage.body, /we emailed it a 6-digit code/);
      const mail = await smtp.waitFor(user.email, /password reset code/, since);
      const code = /(\d{6}) is your Tessera password reset code/.exec(mail.text)![1]!;
      const passwordPage = await browser.submit(codePage, /\/forgot\/code$/, { code });
      assert.match(passwordPage.body, /Choose a new password/);
      const back = await browser.submit(passwordPage, /\/forgot\/password$/, { password: NEW_PASSWORD, confirm: NEW_PASSWORD });
      assert.ok(back.url.startsWith(REDIRECT_URI), `back at the application: ${back.status} ${back.url}`);

      assert.equal((await app.tokens(back.url, mine)).claims()!.sub, user.id, 'signed in at the application');
      // the refresh token of the other browser is dead, its session too, and the application heard of it
      await assert.rejects(oidc.refreshTokenGrant(app.config, before.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant');
      const silent = await elsewhere.visit((await app.authorize({ prompt: 'none' })).url);
      assert.match(silent.url, /error=login_required/);
      assert.ok(listener.received.length >= 1, 'back-channel logout sent');
      // the old password no longer works, the new one does
      assert.equal(await t.services.accounts.authenticate(user.email, user.password), undefined);
      assert.equal((await t.services.accounts.authenticate(user.email, NEW_PASSWORD))?.id, user.id);
      // the person is told what happened, when, from where and what to do
      const notice = await smtp.waitFor(user.email, /Security change/, since);
      assert.match(notice.text, /Your password was reset with "Forgot password\?"/);
      assert.match(notice.text, /If this was not you/);
      await t.services.audit.flush();
      const events = await t.services.db.connection.collection('audit_events').find({ type: 'account.password_reset_self' }).toArray();
      assert.ok(events.some((e) => e.accountId === user.id));
    } finally {
      listener.close();
    }
  });

  it('hands the application tokens for the reset sign-in (real OIDC client, amr pwd and email)', async () => {
    const user = await createUser(t);
    const browser = new UserAgent();
    const auth = await rp.authorize();
    const since = smtp.received.length;
    const login = await browser.visit(auth.url);
    const forgot = await browser.visit(new URL(/href="(\/interaction\/[^"]+\/forgot)"/.exec(login.body)![1]!, t.issuer).href);
    const codePage = await browser.submit(forgot, /\/forgot$/, { email: user.email });
    const code = /(\d{6}) is your/.exec((await smtp.waitFor(user.email, /password reset code/, since)).text)![1]!;
    const passwordPage = await browser.submit(codePage, /\/forgot\/code$/, { code });
    const back = await browser.submit(passwordPage, /\/forgot\/password$/, { password: NEW_PASSWORD, confirm: NEW_PASSWORD });
    const tokens = await rp.tokens(back.url, auth);
    const claims = tokens.claims()!;
    assert.equal(claims.sub, user.id);
    assert.ok((claims.amr as string[]).includes('pwd'));
    assert.ok((claims.amr as string[]).includes('email'));
  });

  it('asks an account with an authenticator app for the app too: the emailed code alone sets no password', async () => {
    const user = await createUser(t);
    const secret = await withApp(user);
    const browser = new UserAgent();
    const { page, code } = await askCode(browser, user.email);
    const factorPage = await browser.submit(page, /\/forgot\/code$/, { code: await code() });
    assert.match(factorPage.body, /needs your second step too/);
    assert.doesNotMatch(factorPage.body, /Choose a new password/);
    // posting a password straight away is refused and changes nothing
    const uid = /\/interaction\/([^/]+)\/forgot/.exec(factorPage.body)![1]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(factorPage.body)![1]!;
    const skipped = await browser.request(`${t.issuer}/interaction/${uid}/forgot/password`, { form: { _csrf: csrf, password: NEW_PASSWORD, confirm: NEW_PASSWORD } });
    assert.equal(skipped.status, 400);
    assert.equal((await t.services.accounts.authenticate(user.email, user.password))?.id, user.id, 'the old password still works');
    // a wrong app code is refused beside the field
    const wrong = await browser.submit(factorPage, /\/forgot\/factor$/, { method: 'totp', code: '000000' === await appCode(secret, 1) ? '111111' : '000000' });
    assert.equal(wrong.status, 400);
    assert.match(wrong.body, /aria-invalid="true" aria-describedby="code-error"/);
    const passwordPage = await browser.submit(factorPage, /\/forgot\/factor$/, { method: 'totp', code: await appCode(secret, 1) });
    assert.match(passwordPage.body, /Choose a new password/);
    const back = await browser.submit(passwordPage, /\/forgot\/password$/, { password: NEW_PASSWORD, confirm: NEW_PASSWORD });
    assert.ok(back.url.startsWith(REDIRECT_URI), `${back.status} ${back.body.slice(0, 300)}`);
    assert.equal((await t.services.accounts.authenticate(user.email, NEW_PASSWORD))?.id, user.id);
  });

  it('accepts a recovery code instead of the second factor', async () => {
    const user = await createUser(t);
    await withApp(user);
    const [recoveryCode] = await t.services.recovery.generate(user.id);
    const browser = new UserAgent();
    const { page, code } = await askCode(browser, user.email);
    const factorPage = await browser.submit(page, /\/forgot\/code$/, { code: await code() });
    assert.match(factorPage.body, /href="\/interaction\/[^"]+\/forgot\?method=recovery"/);
    const recoveryPage = await browser.visit(new URL(/href="(\/interaction\/[^"]+\/forgot\?method=recovery)"/.exec(factorPage.body)![1]!, t.issuer).href);
    const passwordPage = await browser.submit(recoveryPage, /\/forgot\/factor$/, { method: 'recovery', code: recoveryCode! });
    assert.match(passwordPage.body, /Choose a new password/);
    const back = await browser.submit(passwordPage, /\/forgot\/password$/, { password: NEW_PASSWORD, confirm: NEW_PASSWORD });
    assert.ok(back.url.startsWith(REDIRECT_URI));
    assert.equal(await t.services.recovery.remaining(user.id), 9);
  });

  it('sets the password once when the form is sent many times at once: one goes on to the application, the others are "already done"', async () => {
    const user = await createUser(t);
    const browser = new UserAgent();
    const { page, code } = await askCode(browser, user.email);
    const passwordPage = await browser.submit(page, /\/forgot\/code$/, { code: await code() });
    await t.services.audit.flush();
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => browser.request(
      new URL(/action="([^"]+\/forgot\/password)"/.exec(passwordPage.body)![1]!, t.issuer).href,
      { form: { _csrf: /name="_csrf" value="([^"]+)"/.exec(passwordPage.body)![1]!, password: `${NEW_PASSWORD}${i}`, confirm: `${NEW_PASSWORD}${i}` } })));
    assert.equal(answers.filter((a) => a.status === 303).length, 1, 'one goes on');
    assert.deepEqual([...new Set(answers.filter((a) => a.status !== 303).map((a) => a.status))], [409]);
    const winner = answers.findIndex((a) => a.status === 303);
    assert.equal((await t.services.accounts.authenticate(user.email, `${NEW_PASSWORD}${winner}`))?.id, user.id, "the winner's password is the one set");
    await t.services.audit.flush();
    const events = await t.services.db.connection.collection('audit_events').find({ type: 'account.password_reset_self', accountId: user.id }).toArray();
    assert.equal(events.length, 1, 'audited once');
  });

  describe('an address without a usable account', () => {
    /** The code page for `email` in a fresh browser, as a person sees it (the address, the interaction and the CSRF token put aside). */
    async function answer(email: string, channel?: 'email' | 'sms') {
      const browser = new UserAgent();
      const forgot = await forgotPage(browser);
      await t.services.audit.flush();
      const recorder = recordCommands(t);
      let page: Page;
      try {
        const res = await browser.request(new URL(/action="([^"]+\/forgot)"/.exec(forgot.body)![1]!, t.issuer).href, { form: { _csrf: /name="_csrf" value="([^"]+)"/.exec(forgot.body)![1]!, email, ...(channel ? { channel } : {}) } });
        const redirect = { status: res.status, location: res.headers.get('location')!.replace(/\/interaction\/[^/]+\//, '/interaction/UID/') };
        await t.services.audit.flush();
        page = await browser.visit(new URL(res.headers.get('location')!, t.issuer).href);
        const work = recorder.commands.map((c) => `${c.name} ${c.collection}`).sort();
        const body = page.body.replaceAll(email, 'EMAIL').replace(/\/interaction\/[^/"]+/g, '/interaction/UID').replace(/name="_csrf" value="[^"]+"/g, 'CSRF');
        return { redirect, status: page.status, body, work };
      } finally {
        recorder.stop();
      }
    }

    it('gets the same answer, status and database work as an existing account (unknown and disabled), and no email', async () => {
      const known = await createUser(t);
      const disabled = await createUser(t);
      await t.services.accounts.setDisabled(disabled.email, true);
      const unknown = `nobody-${Date.now()}@example.com`;
      const since = smtp.received.length;
      const a = await answer(known.email);
      const b = await answer(unknown);
      const c = await answer(disabled.email);
      assert.deepEqual(b.redirect, a.redirect);
      assert.deepEqual(c.redirect, a.redirect);
      assert.equal(b.status, a.status);
      assert.equal(c.status, a.status);
      assert.equal(b.body, a.body, 'the same page');
      assert.equal(c.body, a.body, 'the same page');
      assert.ok(a.work.some((w) => w.startsWith('insert challenges')), 'a code is made');
      assert.deepEqual(b.work, a.work, 'unknown: the same commands on the same collections');
      assert.deepEqual(c.work, a.work, 'disabled: the same commands on the same collections');
      await smtp.waitFor(known.email, /password reset code/, since);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(smtp.received.slice(since).filter((m) => m.to.includes(unknown) || m.to.includes(disabled.email)).length, 0, 'nothing is sent to them');
    });

    it('by text: the same answer, status and database work for an account with a verified mobile, one without, an unknown and a disabled address; only the mobile gets a text', async () => {
      const withPhone = await createUser(t);
      const number = await giveVerifiedPhone(t, withPhone, newNumber());
      const withoutPhone = await createUser(t);
      const disabled = await createUser(t);
      const disabledNumber = await giveVerifiedPhone(t, disabled, newNumber());
      await t.services.accounts.setDisabled(disabled.email, true);
      const unknown = `nobody-${Date.now()}@example.com`;
      const since = smtp.received.length;
      const texts = twilio.accepted.length;
      const a = await answer(withPhone.email, 'sms');
      const others = { withoutPhone: await answer(withoutPhone.email, 'sms'), unknown: await answer(unknown, 'sms'), disabled: await answer(disabled.email, 'sms') };
      assert.match(a.body, /we texted a 6-digit code to that number/);
      assert.ok(a.work.some((w) => w.startsWith('insert challenges')), 'a code is made');
      assert.ok(a.work.some((w) => /limits|rate/.test(w)), `the text is counted on the phone caps: ${a.work.join(', ')}`);
      for (const [who, b] of Object.entries(others)) {
        assert.deepEqual(b.redirect, a.redirect, who);
        assert.equal(b.status, a.status, who);
        assert.equal(b.body, a.body, `${who}: the same page`);
        assert.deepEqual(b.work, a.work, `${who}: the same commands on the same collections`);
      }
      await textedCode(number, texts);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(textsTo(disabledNumber, texts).length, 0, 'the disabled account is texted nothing');
      assert.equal(twilio.accepted.slice(texts).length, 1, 'one text in all');
      assert.equal(smtp.received.slice(since).filter((m) => /password reset code/.test(m.raw)).length, 0, 'nothing is emailed');
    });

    it('refuses every code for an unknown address as a wrong one', async () => {
      const browser = new UserAgent();
      const { page } = await askCode(browser, `nobody-${Date.now()}@example.com`);
      const wrong = await browser.submit(page, /\/forgot\/code$/, { code: '123456' });
      assert.equal(wrong.status, 400);
      assert.match(wrong.body, /That code is not right\. 2 tries left\./);
    });
  });

  describe('by text message', () => {
    /** The code page after asking for a text for `email`. */
    async function askText(browser: UserAgent, email: string): Promise<Page> {
      const forgot = await forgotPage(browser);
      assert.match(forgot.body, /<button type="submit" name="channel" value="sms"[^>]*>Text the code to my phone on file \(if there is one\)</);
      return browser.submit(forgot, /\/forgot$/, { email, channel: 'sms' });
    }

    it('texts the code to the verified mobile; the text alone sets no password: one more method (not the same phone), then the application', async () => {
      const user = await createUser(t);
      const number = await giveVerifiedPhone(t, user, newNumber());
      const browser = new UserAgent();
      const auth = await rp.authorize();
      const login = await browser.visit(auth.url);
      const forgot = await browser.visit(new URL(/href="(\/interaction\/[^"]+\/forgot)"/.exec(login.body)![1]!, t.issuer).href);
      const texts = twilio.accepted.length;
      const codePage = await browser.submit(forgot, /\/forgot$/, { email: user.email, channel: 'sms' });
      assert.equal(codePage.status, 200);
      assert.match(codePage.body, /with a verified mobile number, we texted a 6-digit code/);
      const code = await textedCode(number, texts);
      const factorPage = await browser.submit(codePage, /\/forgot\/code$/, { code });
      assert.match(factorPage.body, /A texted code alone does not set a new password/);
      assert.doesNotMatch(factorPage.body, /Choose a new password/);
      assert.match(factorPage.body, /name="method" value="email"/, 'an emailed code is the other method');
      assert.doesNotMatch(factorPage.body, /method=(sms|voice)|name="method" value="(sms|voice)"/, 'not the phone that got the text');
      // the password cannot be set yet
      const uid = /\/interaction\/([^/]+)\/forgot/.exec(factorPage.body)![1]!;
      const csrf = /name="_csrf" value="([^"]+)"/.exec(factorPage.body)![1]!;
      const skipped = await browser.request(`${t.issuer}/interaction/${uid}/forgot/password`, { form: { _csrf: csrf, password: NEW_PASSWORD, confirm: NEW_PASSWORD } });
      assert.equal(skipped.status, 400);
      const sms = await browser.request(`${t.issuer}/interaction/${uid}/forgot/factor`, { form: { _csrf: csrf, method: 'sms', code } });
      assert.equal(sms.status, 400, 'the phone cannot be the second step too');
      assert.equal((await t.services.accounts.authenticate(user.email, user.password))?.id, user.id, 'the old password still works');
      const emailed = /Use this code to set a new password[^:]*:\s+(\d{6})/.exec((await smtp.waitFor(user.email, /Use this code to set a new password/, 0)).text)![1]!;
      const passwordPage = await browser.submit(factorPage, /\/forgot\/factor$/, { method: 'email', code: emailed });
      assert.match(passwordPage.body, /Choose a new password/);
      const since = smtp.received.length;
      const back = await browser.submit(passwordPage, /\/forgot\/password$/, { password: NEW_PASSWORD, confirm: NEW_PASSWORD });
      assert.ok(back.url.startsWith(REDIRECT_URI), `${back.status} ${back.body.slice(0, 300)}`);
      const claims = (await rp.tokens(back.url, auth)).claims()!;
      assert.equal(claims.sub, user.id);
      assert.ok((claims.amr as string[]).includes('sms'), `amr ${String(claims.amr)}`);
      assert.equal((await t.services.accounts.authenticate(user.email, NEW_PASSWORD))?.id, user.id);
      assert.match((await smtp.waitFor(user.email, /Security change/, since)).text, /a code texted to your mobile number/);
    });

    it('"Send the code again" texts it again after a minute; "Email me the code instead" emails one', async () => {
      const user = await createUser(t);
      const number = await giveVerifiedPhone(t, user, newNumber());
      const browser = new UserAgent();
      let texts = twilio.accepted.length;
      const codePage = await askText(browser, user.email);
      const first = await textedCode(number, texts);
      offset = 61_000;
      texts = twilio.accepted.length;
      const again = await browser.submit(codePage, /\/forgot\/resend$/);
      assert.equal(again.status, 200);
      assert.match(again.body, /we texted it the code again/);
      assert.equal(await textedCode(number, texts), first, 'the same code while it is valid');
      const since = smtp.received.length;
      const byEmail = await browser.submit(again, /\/forgot$/);
      assert.match(byEmail.body, /we emailed it a 6-digit code/);
      const emailed = /(\d{6}) is your Tessera password reset code/.exec((await smtp.waitFor(user.email, /password reset code/, since)).text)![1]!;
      const passwordPage = await browser.submit(byEmail, /\/forgot\/code$/, { code: emailed });
      // an account with a verified mobile has a second factor: after the email, the phone
      assert.match(passwordPage.body, /needs your second step too/);
    });

    it('at the daily cap of texts to the number nothing is texted, and the page is the same', async () => {
      const user = await createUser(t);
      const number = await giveVerifiedPhone(t, user, newNumber());
      while (!(await t.services.limits.phoneSend({ accountId: user.id, number: e164(number), verified: true })));
      const texts = twilio.accepted.length;
      const page = await askText(new UserAgent(), user.email);
      assert.equal(page.status, 200);
      assert.match(page.body, /with a verified mobile number, we texted a 6-digit code/);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(textsTo(number, texts).length, 0);
    });
  });

  describe('the code', () => {
    it('refuses a wrong code (tries left, beside the field), then locks after three', async () => {
      const user = await createUser(t);
      const browser = new UserAgent();
      const { page, code } = await askCode(browser, user.email);
      const right = await code();
      const other = right === '000000' ? '111111' : '000000';
      const wrong = await browser.submit(page, /\/forgot\/code$/, { code: other });
      assert.equal(wrong.status, 400);
      assert.match(wrong.body, /<input id="code"[^>]*aria-invalid="true" aria-describedby="code-error"/);
      assert.match(wrong.body, /id="code-error" role="alert">That code is not right\. 2 tries left\./);
      await browser.submit(page, /\/forgot\/code$/, { code: other });
      await browser.submit(page, /\/forgot\/code$/, { code: other });
      const locked = await browser.submit(page, /\/forgot\/code$/, { code: right });
      assert.match(locked.body, /Too many wrong codes/);
      assert.doesNotMatch(locked.body, /Choose a new password/);
    });

    it('expires after 15 minutes on the injected clock', async () => {
      const user = await createUser(t);
      const browser = new UserAgent();
      const { page, code } = await askCode(browser, user.email);
      const right = await code();
      offset = 15 * 60_000 + 1000;
      const expired = await browser.submit(page, /\/forgot\/code$/, { code: right });
      assert.equal(expired.status, 400);
      assert.match(expired.body, /This code expired/);
    });

    it('is used once: sent again after it worked, it is refused', async () => {
      const user = await createUser(t);
      const browser = new UserAgent();
      const { page, code } = await askCode(browser, user.email);
      const right = await code();
      const ok = await browser.submit(page, /\/forgot\/code$/, { code: right });
      assert.match(ok.body, /Choose a new password/);
      const again = await browser.submit(page, /\/forgot\/code$/, { code: right });
      assert.equal(again.status, 400);
      assert.doesNotMatch(again.body, /Choose a new password/);
    });

    it('works only in the interaction and browser that asked for it', async () => {
      const user = await createUser(t);
      const first = new UserAgent();
      const { page, code } = await askCode(first, user.email);
      const right = await code();
      // another browser with its own reset for the same address cannot use it
      const second = new UserAgent();
      const { page: secondPage } = await askCode(second, user.email);
      const elsewhere = await second.submit(secondPage, /\/forgot\/code$/, { code: right });
      assert.equal(elsewhere.status, 400);
      assert.doesNotMatch(elsewhere.body, /Choose a new password/);
      // nor can it post to the first browser's interaction
      const csrf = /name="_csrf" value="([^"]+)"/.exec(secondPage.body)![1]!;
      const foreign = await second.request(new URL(/action="([^"]+\/forgot\/code)"/.exec(page.body)![1]!, t.issuer).href, { form: { _csrf: csrf, code: right } });
      assert.ok(foreign.status >= 400 && foreign.status < 500, `refused: ${foreign.status}`);
      assert.doesNotMatch(foreign.body, /Choose a new password/);
    });
  });

  describe('bad input', () => {
    it('refuses an empty or malformed address beside the field and makes nothing', async () => {
      const browser = new UserAgent();
      const forgot = await forgotPage(browser);
      for (const email of ['', 'not-an-email', 'a@b', 'x'.repeat(400)]) {
        const res = await browser.submit(forgot, /\/forgot$/, { email });
        assert.equal(res.status, 400, email);
        assert.match(res.body, /<input id="email"[^>]*aria-invalid="true" aria-describedby="email-error"/);
        assert.match(res.body, /Enter the email address you sign in with/);
      }
      const uid = /\/interaction\/([^/]+)\/forgot/.exec(forgot.body)![1]!;
      assert.equal(await t.services.flows.get(uid), undefined, 'no flow record was made');
    });

    it('answers code and password posts without a reset with a clear 400, never a 500', async () => {
      const browser = new UserAgent();
      const forgot = await forgotPage(browser);
      const csrf = /name="_csrf" value="([^"]+)"/.exec(forgot.body)![1]!;
      const base = new URL(/action="([^"]+\/forgot)"/.exec(forgot.body)![1]!, t.issuer).href;
      for (const path of ['/code', '/factor', '/password', '/resend']) {
        const res = await browser.request(`${base}${path}`, { form: { _csrf: csrf, code: '123456', password: NEW_PASSWORD, confirm: NEW_PASSWORD, method: 'totp' } });
        assert.equal(res.status, 400, path);
        assert.match(res.body, /No password reset is in progress here/);
      }
      const noCsrf = await browser.request(base, { form: { email: 'someone@example.com' } });
      assert.equal(noCsrf.status, 403);
    });

    it('refuses a new password that breaks the policy beside the field, and a mismatch beside the confirmation; nothing changes', async () => {
      const user = await createUser(t, { name: 'Gus Grissom' });
      const browser = new UserAgent();
      const { page, code } = await askCode(browser, user.email);
      const passwordPage = await browser.submit(page, /\/forgot\/code$/, { code: await code() });
      const short = await browser.submit(passwordPage, /\/forgot\/password$/, { password: 'abc', confirm: 'abc' });
      assert.equal(short.status, 400);
      assert.match(short.body, /<input id="new-password"[^>]*aria-invalid="true" aria-describedby="new-password-error"/);
      assert.match(short.body, /The new password needs at least 8 characters\./);
      const personal = await browser.submit(passwordPage, /\/forgot\/password$/, { password: 'Grissom#2024x', confirm: 'Grissom#2024x' });
      assert.match(personal.body, /contains your name or email address/);
      const mismatch = await browser.submit(passwordPage, /\/forgot\/password$/, { password: NEW_PASSWORD, confirm: `${NEW_PASSWORD}x` });
      assert.match(mismatch.body, /<input id="confirm"[^>]*aria-invalid="true" aria-describedby="confirm-error"/);
      assert.match(mismatch.body, /do not match/);
      assert.equal((await t.services.accounts.authenticate(user.email, user.password))?.id, user.id, 'the password is unchanged');
      // the reset is still open: the right form goes through
      const back = await browser.submit(passwordPage, /\/forgot\/password$/, { password: NEW_PASSWORD, confirm: NEW_PASSWORD });
      assert.ok(back.url.startsWith(REDIRECT_URI));
    });
  });
});
