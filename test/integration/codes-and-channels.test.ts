// Codes and channels over real HTTP, with a fake Twilio counting what was texted or called and
// Tessera's injected clock: the owner of a verified number has a daily allowance of texts and calls
// that nobody else's sends touch (another account verifying the same number hits the toll-fraud
// caps instead); at a cap the page names what else finishes the step, or whom to ask; a text or
// email that did not go out is never reported as sent; an expired code says so without spending a
// try and a reload sends nothing; a locked code still shows its lock after a reload; the primary
// mobile stays in place while the authenticator app depends on it.
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { displayNumber } from '../../src/phones/numbers.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { startFakeTwilio, type FakeTwilio } from '../support/fake-twilio.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, formOn, giveVerifiedPhone, signIn, type Page, type TestUser } from '../support/flow.ts';

const MINUTE = 60;

function movableClock() {
  // real time plus what the test moved on: never behind the embedded database's keeper, which
  // purges by real time (a frozen clock falls behind it on a slow run, and counters vanish)
  let offset = 0;
  return { clock: () => new Date(Date.now() + offset), advance: (seconds: number) => { offset += seconds * 1000; } };
}

const decoded = (html: string) => html.replaceAll('&#34;', '"').replaceAll('&#39;', "'");
const alerts = (page: Page) => [...page.body.matchAll(/<p class="error" role="alert">([^<]*)<\/p>/g)].map((m) => decoded(m[1]!));
const notice = (page: Page) => decoded(/<p class="notice" role="status">([^<]*)<\/p>/.exec(page.body)?.[1] ?? '');
const e164 = (n: string) => n.replace(/[^\d+]/g, '');

describe('codes and channels', () => {
  const time = movableClock();
  let twilio: FakeTwilio;
  let t: Tessera;
  let rp: RelyingParty;
  const failures: unknown[] = [];

  before(async () => {
    twilio = await startFakeTwilio();
    // the default caps, except where a test starts its own server
    t = await startTessera({ clock: time.clock, log: (err) => failures.push(err), env: twilioEnv(twilio) });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(async () => { await t.close(); await twilio.close(); });
  afterEach(() => { twilio.fail(undefined); assert.deepEqual(failures.splice(0), [], 'never a 500'); });

  function twilioEnv(fake: FakeTwilio) {
    return { SMS_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: fake.account.sid, TWILIO_AUTH_TOKEN: fake.account.token, TWILIO_FROM: fake.account.from, TWILIO_API_BASE: fake.apiBase };
  }
  const texts = (number: string) => twilio.accepted.filter((r) => r.form.To === e164(number));
  /** The code of the newest text to `number` that carries one for `purpose` (its words in the message). */
  const lastTextedCode = (number: string, purpose: 'sign-in code' | 'code to verify your phone number') => {
    const pattern = new RegExp(`^(\\d{6}) is your Tessera ${purpose}\\.`);
    return pattern.exec(texts(number).filter((r) => r.resource === 'Messages' && pattern.test(r.form.Body ?? '')).at(-1)!.form.Body!)![1]!;
  };

  /** A sign-in that asks again for everything (prompt=login): the page after the password. */
  async function password(server: Tessera, app: RelyingParty, user: TestUser, agent = new UserAgent()): Promise<Page> {
    const page = await agent.visit((await app.authorize({ prompt: 'login' })).url);
    assert.equal(page.status, 200);
    return agent.submit(page, /\/login$/, { email: user.email, password: user.password });
  }

  async function signedIn(app: RelyingParty, user: TestUser): Promise<UserAgent> {
    const agent = new UserAgent();
    await signIn(agent, (await app.authorize()).url, user);
    return agent;
  }

  /** Adds a number on the contacts page; its id. */
  async function addNumber(server: Tessera, agent: UserAgent, user: TestUser, number: string): Promise<{ id: string; page: Page }> {
    const list = await agent.visit(`${server.issuer}/account/security/phones`);
    const page = await agent.submit(list, /\/account\/security\/phones$/, { number, password: user.password });
    assert.equal(page.status, 200, alerts(page).join(' '));
    // the list shows the number in international format: compare its digits
    const id = [...page.body.matchAll(/<li data-phone="([^"]+)">[\s\S]*?<code class="range">([^<]+)<\/code>/g)].find((m) => e164(m[2]!) === e164(number))![1]!;
    return { id, page };
  }

  describe('the owner of a verified number', () => {
    it('signs in by text after another account sent verification codes to the same number until its cap', async () => {
      const number = '+33 6 10 20 30 40';
      const victim = await createUser(t);
      await giveVerifiedPhone(t, victim, number);
      await t.services.accounts.setSecondFactor(victim.id, 'sms');

      // an unrelated account adds the victim's number and asks for codes by text, call and Resend
      const other = await createUser(t);
      const agent = await signedIn(rp, other);
      const { id, page } = await addNumber(t, agent, other, number);
      let code = await agent.submit(page, new RegExp(`/phones/${id}/verify$`), { channel: 'sms' });
      assert.match(code.body, /We texted a 6-digit code/);
      code = await agent.submit(code, new RegExp(`/phones/${id}/verify$`), { channel: 'voice' });
      assert.match(code.body, /We are calling/);
      for (const channel of ['sms', 'voice', 'sms']) {
        time.advance(MINUTE + 1);
        code = await agent.request(`${t.issuer}/account/security/phones/${id}/resend`, { form: { _csrf: formOn(code, /\/resend$/).fields._csrf!, channel } });
        assert.equal(code.status, 200, alerts(code).join(' '));
      }
      const sentByOther = texts(number).length;
      assert.equal(sentByOther, 5, 'the number cap (PHONE_SENDS_PER_NUMBER_DAY, 5) is reached');
      time.advance(MINUTE + 1);
      const refused = await agent.request(`${t.issuer}/account/security/phones/${id}/resend`, { form: { _csrf: formOn(code, /\/resend$/).fields._csrf!, channel: 'sms' } });
      assert.equal(refused.status, 429);
      assert.ok(alerts(refused).includes('No code was sent: this number has had the most verification texts and calls allowed in a day. Try again tomorrow.'), alerts(refused).join(' | '));
      assert.match(refused.body, /href="\/account\/security\/phones"/, 'a way back');
      assert.equal(texts(number).length, sentByOther, 'nothing sent past the cap');

      // the owner's sign-in is untouched
      const owner = new UserAgent();
      const factor = await password(t, rp, victim, owner);
      assert.equal(factor.status, 200);
      assert.match(factor.body, /We texted a 6-digit code to \+33•+40/);
      assert.equal(texts(number).length, sentByOther + 1);
      const done = await owner.submit(factor, /\/factor$/, { code: lastTextedCode(number, 'sign-in code') });
      assert.ok(done.url.startsWith(REDIRECT_URI), done.body.slice(0, 300));
    });

    it('signs in by text ten times a day with the default caps, after verifying the number by text', async () => {
      const number = '+33 6 11 22 33 01';
      const user = await createUser(t);
      const agent = await signedIn(rp, user);
      const { id, page } = await addNumber(t, agent, user, number);
      const code = await agent.submit(page, new RegExp(`/phones/${id}/verify$`), { channel: 'sms' });
      const verified = await agent.submit(code, new RegExp(`/phones/${id}/code$`), { code: lastTextedCode(number, 'code to verify your phone number') });
      assert.match(notice(verified), /is verified and Active/);
      await t.services.accounts.setSecondFactor(user.id, 'sms');
      for (let i = 1; i <= 10; i++) {
        const factor = await password(t, rp, user, agent);
        assert.match(factor.body, /We texted a 6-digit code/, `sign-in ${i}`);
        const done = await agent.submit(factor, /\/factor$/, { code: lastTextedCode(number, 'sign-in code') });
        assert.ok(done.url.startsWith(REDIRECT_URI), `sign-in ${i}: ${alerts(done).join(' ')}`);
      }
      assert.equal(texts(number).length, 11, 'the verification text and ten sign-in codes');
    });
  });

  describe('the toll-fraud caps (numbers the sender has not verified)', () => {
    it('count per sending account, per IP and per number; a verified owner\'s sends count on none of them', async () => {
      const limits = t.services.limits;
      const ip = `198.51.100.${Math.floor(Math.random() * 200) + 1}`;
      const unverified = (accountId: string, number: string, from = ip) => limits.phoneSend({ accountId, number, verified: false, ip: from });
      // one account: 10 a day (PHONE_SENDS_PER_ACCOUNT_DAY), whatever the numbers and networks
      const one = (await createUser(t)).id;
      for (let i = 0; i < 10; i++) assert.equal(await unverified(one, `+3361000${String(i).padStart(4, '0')}`, `203.0.113.${i + 1}`), undefined);
      assert.equal(await unverified(one, '+33610009999', '203.0.113.99'), 'account');
      // one network: 20 a day (PHONE_SENDS_PER_IP_DAY) over many accounts
      for (let i = 0; i < 20; i++) assert.equal(await unverified((await createUser(t)).id, `+3362000${String(i).padStart(4, '0')}`), undefined);
      assert.equal(await unverified((await createUser(t)).id, '+33620009999'), 'ip');
      // one number: 5 a day (PHONE_SENDS_PER_NUMBER_DAY) over many accounts and networks
      for (let i = 0; i < 5; i++) assert.equal(await unverified((await createUser(t)).id, '+33630000001', `192.0.2.${i + 1}`), undefined);
      assert.equal(await unverified((await createUser(t)).id, '+33630000001', '192.0.2.99'), 'number');
      // the number's verified owner, from that same network, is not touched by any of it
      assert.equal(await limits.phoneSend({ accountId: one, number: '+33630000001', verified: true, ip }), undefined);
    });
  });

  describe('at the owner\'s daily cap (PHONE_SENDS_PER_OWNER_DAY=1)', () => {
    let small: Tessera;
    let app: RelyingParty;
    let fake: FakeTwilio;
    const smallFailures: unknown[] = [];
    before(async () => {
      fake = await startFakeTwilio();
      small = await startTessera({ clock: time.clock, log: (err) => smallFailures.push(err), env: { ...twilioEnv(fake), PHONE_SENDS_PER_OWNER_DAY: '1' } });
      app = await RelyingParty.register(small, { skipConsent: true });
    });
    after(async () => { await small.close(); await fake.close(); });
    afterEach(() => assert.deepEqual(smallFailures.splice(0), [], 'never a 500'));
    const sent = (number: string) => fake.accepted.filter((r) => r.form.To === e164(number));

    it('with no other method for the step, says whom to ask instead of only "tomorrow"', async () => {
      const number = '+33 6 44 00 00 01';
      const user = await createUser(small);
      await giveVerifiedPhone(small, user, number);
      await small.services.accounts.setSecondFactor(user.id, 'sms');
      assert.match((await password(small, app, user)).body, /We texted a 6-digit code/);
      const capped = await password(small, app, user);
      assert.equal(capped.status, 429);
      assert.deepEqual(alerts(capped), ['No code was sent: your phone number has had the most text messages and calls we send it in a day. No other method can finish this sign-in for you now. Ask your administrator to reset your two-step verification: you can then sign in with your password and set it up again. Or try again tomorrow.']);
      assert.doesNotMatch(capped.body, /name="code"/, 'nothing to type: nothing was sent');
      assert.doesNotMatch(capped.body, /We texted/);
      assert.match(capped.body, /\/abort"/, 'a way back to the application');
      assert.equal(sent(number).length, 1);
    });

    it('on the new-device step, offers the email code when no more texts may go', async () => {
      const number = '+33 6 44 00 00 02';
      const user = await createUser(small, { deviceVerification: true });
      await giveVerifiedPhone(small, user, number);
      const bySms = async () => {
        const agent = new UserAgent();
        const device = await password(small, app, user, agent);
        assert.match(device.body, /We emailed a 6-digit code/, 'email is the first choice');
        return agent.visit(`${device.url.replace(/\?.*$/, '')}?method=sms`);
      };
      assert.match((await bySms()).body, /We texted a 6-digit code/);
      const capped = await bySms();
      assert.equal(capped.status, 429);
      assert.deepEqual(alerts(capped), ['No code was sent: your phone number has had the most text messages and calls we send it in a day. Choose another way below: "Email me a code".']);
      assert.match(capped.body, /href="\/interaction\/[\w-]+\?method=email">Email me a code</);
      assert.match(capped.body, /Text me a code <span class="muted">\(no more texts or calls to your number today\)/);
      assert.equal(sent(number).length, 1);
    });

    it('trusting a device by text: the page says which confirmation went out, and the next code comes by email', async () => {
      const number = '+33 6 44 00 00 03';
      const user = await createUser(small);
      await giveVerifiedPhone(small, user, number);
      const agent = await signedIn(app, user);
      const devices = await agent.visit(`${small.issuer}/account/security/devices`);
      const verify = await agent.submit(devices, /\/devices\/trust$/, { name: 'Work laptop' });
      assert.match(verify.body, /We texted a 6-digit code/);
      assert.equal(sent(number).length, 1, 'the code used the day\'s one text');
      const code = /(\d{6})/.exec(sent(number)[0]!.form.Body!)![1]!;
      const done = await agent.submit(verify, /\/devices\/verify$/, { code });
      assert.equal(done.status, 200);
      assert.match(notice(done), /^This browser is now a trusted device \("Work laptop"\) until \d{1,2} [A-Z][a-z]+ \d{4}\. We sent you a confirmation by email\. The confirmation by text message could not be sent\.$/);
      assert.equal(sent(number).length, 1, 'no confirmation text past the cap');
      assert.ok(small.services.outbox.list().some((m) => m.to === user.email && m.subject === '"Work laptop" is now a trusted device'));

      // removing it needs a code too: no more texts today, so it comes by email, and the page says why
      const again = await agent.visit(`${small.issuer}/account/security/devices`);
      const deviceId = /name="device" value="(dev_[\w-]+)"/.exec(again.body)?.[1] ?? /\/devices\/(dev_[\w-]+)\/remove/.exec(again.body)![1]!;
      const remove = await agent.request(`${small.issuer}/account/security/devices/${deviceId}/remove`, { form: { _csrf: formOn(again, /\/remove$/).fields._csrf! } });
      assert.equal(remove.status, 200);
      assert.match(decoded(remove.body), /No code was sent: your phone number has had the most text messages and calls we send it in a day\. We emailed the code instead\. We emailed a 6-digit code/);
      assert.equal(sent(number).length, 1);
    });
  });

  describe('code pages', () => {
    const emailCodes = (user: TestUser) => t.services.outbox.list().filter((m) => m.to === user.email && /sign-in code/.test(m.subject ?? ''));
    const codeOf = (subject: string) => /(\d{6})/.exec(subject)![1]!;

    it('an expired code: a reload sends nothing and says so, and the old code is "expired" without spending a try', async () => {
      const user = await createUser(t);
      await t.services.accounts.setSecondFactor(user.id, 'email');
      const agent = new UserAgent();
      const factor = await password(t, rp, user, agent);
      assert.match(factor.body, /We emailed a 6-digit code/);
      const first = codeOf(emailCodes(user)[0]!.subject!);
      time.advance(15 * MINUTE + 1);
      const reloaded = await agent.visit(factor.url);
      assert.equal(reloaded.status, 200);
      assert.deepEqual(alerts(reloaded), ['This code expired. Use "Resend" to get a new one.']);
      assert.doesNotMatch(reloaded.body, /valid for/);
      assert.equal(emailCodes(user).length, 1, 'a reload sends no new code');
      const typed = await agent.submit(reloaded, /\/factor$/, { code: first });
      assert.equal(typed.status, 400);
      assert.ok(alerts(typed).includes('This code expired. Use "Resend" to get a new one.'), alerts(typed).join(' | '));
      const uid = /\/interaction\/([\w-]+)/.exec(reloaded.url)![1]!;
      const state = await t.services.challenges.peek(uid, 'sign-in', 'email', user.id);
      assert.equal(state?.failures, 0, 'no try spent');
      assert.equal(state?.attemptsLeft, 3);
      const resent = await agent.submit(typed, /\/resend$/, { method: 'email' });
      assert.match(resent.body, /We emailed a 6-digit code/);
      assert.equal(emailCodes(user).length, 2);
      const fresh = emailCodes(user).map((m) => codeOf(m.subject!)).find((c) => c !== first)!;
      const done = await agent.submit(resent, /\/factor$/, { code: fresh });
      assert.ok(done.url.startsWith(REDIRECT_URI), `${done.status} ${alerts(done).join(' | ')} ${done.body.slice(0, 500)}`);
    });

    it('a locked code: a reload still shows the lock and Resend, and sends nothing', async () => {
      const user = await createUser(t);
      await t.services.accounts.setSecondFactor(user.id, 'email');
      const agent = new UserAgent();
      let page = await password(t, rp, user, agent);
      for (let i = 0; i < 3; i++) page = await agent.submit(page, /\/factor$/, { code: '000000' });
      assert.ok(alerts(page).includes('Too many wrong codes. Use "Resend" to get a new code.'));
      const reloaded = await agent.visit(page.url.replace(/\/factor$/, ''));
      assert.equal(reloaded.status, 200);
      assert.deepEqual(alerts(reloaded), ['Too many wrong codes. Use "Resend" to get a new code.']);
      assert.match(reloaded.body, /\/resend"/);
      assert.equal(emailCodes(user).length, 1);
    });

    it('a text the provider refused is never shown as sent, not even after a reload', async () => {
      const number = '+33 6 55 00 00 01';
      const user = await createUser(t);
      await giveVerifiedPhone(t, user, number);
      await t.services.accounts.setSecondFactor(user.id, 'sms');
      twilio.fail(500);
      const agent = new UserAgent();
      const factor = await password(t, rp, user, agent);
      assert.doesNotMatch(factor.body, /We texted/);
      assert.ok(alerts(factor).some((a) => a.startsWith('We could not send the code by text message right now')), alerts(factor).join(' | '));
      const reloaded = await agent.visit(factor.url);
      assert.doesNotMatch(reloaded.body, /We texted/, 'the reload does not claim it went');
      assert.ok(alerts(reloaded).some((a) => a.startsWith('We could not send the code by text message right now')));
      twilio.fail(undefined);
      time.advance(MINUTE + 1);
      const resent = await agent.submit(reloaded, /\/resend$/, { method: 'sms' });
      assert.match(resent.body, /We texted a 6-digit code/);
      const done = await agent.submit(resent, /\/factor$/, { code: lastTextedCode(number, 'sign-in code') });
      assert.ok(done.url.startsWith(REDIRECT_URI));
    });

    it('a verification text the provider refused is not shown as sent when the code page is opened again', async () => {
      const user = await createUser(t);
      const agent = await signedIn(rp, user);
      const { id, page } = await addNumber(t, agent, user, '+33 6 55 00 00 02');
      twilio.fail(500);
      const refused = await agent.submit(page, new RegExp(`/phones/${id}/verify$`), { channel: 'sms' });
      assert.doesNotMatch(refused.body, /We texted/);
      const again = await agent.visit(`${t.issuer}/account/security/phones/${id}/code?channel=sms`);
      assert.equal(again.status, 200);
      assert.doesNotMatch(again.body, /We texted/);
      assert.deepEqual(alerts(again), ['We could not send the code right now; try "Resend" in a minute, or the other way (text or call).']);
    });
  });

  describe('the authenticator app and the primary mobile', () => {
    it('keeps the primary number while the app is set up: no delete, no change; the page says why; after removing the app it can go', async () => {
      const user = await createUser(t);
      const number = await giveVerifiedPhone(t, user, '+33 6 66 00 00 01');
      const { secret } = await t.services.totp.begin(user.id, user.email);
      assert.ok(await t.services.totp.confirm(user.id, await generate({ secret, epoch: Math.floor(time.clock().getTime() / 1000) })));
      const agent = await signedIn(rp, user);
      const security = await agent.visit(`${t.issuer}/account/security`);
      assert.match(security.body, /Your authenticator app depends on it: it cannot be changed or deleted while the app is set up\./);
      const list = await agent.visit(`${t.issuer}/account/security/phones`);
      const id = /<li data-phone="([^"]+)">/.exec(list.body)![1]!;
      const csrf = formOn(list, /\/account\/security\/phones$/).fields._csrf!;
      for (const what of ['delete', 'change']) {
        const res = await agent.request(`${t.issuer}/account/security/phones/${id}/${what}`, { form: { _csrf: csrf, number: '+33 6 66 00 00 02', password: user.password } });
        assert.equal(res.status, 400, what);
        assert.deepEqual(alerts(res), ['Your authenticator app needs a verified primary mobile number (to recover your account). Make another verified mobile number your primary first, or remove the authenticator app on the security page. Nothing was changed.'], what);
      }
      assert.equal(await t.services.phones.primaryVerified(user.id), number);
      await t.services.totp.remove(user.id);
      const gone = await agent.request(`${t.issuer}/account/security/phones/${id}/delete`, { form: { _csrf: csrf, password: user.password } });
      assert.equal(notice(gone), `${displayNumber(number)} was deleted.`);
    });

    it('says so on the security page when the app was set up without a primary mobile (an older account)', async () => {
      const user = await createUser(t);
      const { secret } = await t.services.totp.begin(user.id, user.email);
      assert.ok(await t.services.totp.confirm(user.id, await generate({ secret, epoch: Math.floor(time.clock().getTime() / 1000) })));
      const agent = await signedIn(rp, user);
      const security = await agent.visit(`${t.issuer}/account/security`);
      assert.match(security.body, /Your authenticator app is set up but you have no verified primary mobile number, which it needs \(to recover your account\)\. <a href="\/account\/security\/phones">Add and verify a mobile number<\/a>/);
      assert.doesNotMatch(security.body, /No verified primary mobile number \(needed for text messages and the authenticator app\)/);
    });
  });
});
