// Brute-force and abuse limits on a real Tessera over real HTTP: sign-in lockout per account
// (identical answers while locked, exponential backoff, known devices unaffected, one email per
// lockout), per IP (X-Forwarded-For honoured only behind TRUST_PROXY), wrong codes per account,
// "Resend" per account, and the owner's own daily allowance of texts and calls to their number (a
// fake Twilio counts what was sent; the caps on numbers being verified: codes-and-channels.test.ts). Limits read Tessera's injected clock, so backoff is tested by moving it, not waiting.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, giveVerifiedPhone, type Page, type TestUser } from '../support/flow.ts';
import { attempt, movableClock, passed, refused } from '../support/sign-in-attempts.ts';
import { startFakeTwilio, type FakeTwilio } from '../support/fake-twilio.ts';
import { createDbLimiter, type LimitModel } from '../../src/limits/store.ts';

/** The page without what differs between any two renders: the interaction id, the CSRF token and the device-key challenge. */
const comparable = (p: Page) => ({
  status: p.status, type: p.headers.get('content-type'),
  body: p.body.replace(/\/interaction\/[\w-]+/g, '/interaction/UID').replace(/name="_csrf" value="[^"]*"/g, 'name="_csrf" value="CSRF"').replace(/name="device_challenge" value="[^"]*"/g, 'name="device_challenge" value="CHALLENGE"'),
});
const wrong = (u: TestUser) => ({ email: u.email, password: 'Wrong#Horse9' });

describe('limits: sign-in lockout per account, with backoff', () => {
  const time = movableClock();
  let t: Tessera;
  let rp: RelyingParty;

  before(async () => {
    t = await startTessera({ clock: time.clock, env: { LOCKOUT_AFTER: '5', LOCKOUT_KNOWN_DEVICE_AFTER: '8', LOCKOUT_IP_AFTER: '1000', LOCKOUT_SECONDS: '60', LOCKOUT_MAX_SECONDS: '3600', DEVICE_MAX_FAILURES: '100' } });
    rp = await RelyingParty.register(t);
  });
  after(() => t.close());

  const lockoutMails = (u: TestUser) => t.services.outbox.list().filter((m) => m.to === u.email && /were paused/.test(m.subject ?? ''));

  it('locks after 5 wrong passwords from new devices: the right password then gets the very same answer; the wait doubles; one email per lockout', async () => {
    const user = await createUser(t);
    let last: Page | undefined;
    for (let i = 0; i < 5; i++) {
      last = await attempt(rp, wrong(user));
      assert.ok(refused(last), `wrong password ${i + 1} refused`);
    }
    const locked = await attempt(rp, user);
    assert.ok(refused(locked), 'the right password is refused while locked');
    assert.deepEqual(comparable(locked), comparable(last!), 'a locked sign-in answers exactly like a wrong password');
    // an email that has no account gets the same answer too
    const ghost = await attempt(rp, { email: 'nobody-here@example.com', password: 'Wrong#Horse9' });
    assert.deepEqual(comparable(ghost).body.replace('nobody-here@example.com', user.email), comparable(last!).body);

    time.advance(61);
    assert.ok(refused(await attempt(rp, wrong(user))), 'the sixth wrong password (after the first lock) locks for 120 s');
    time.advance(61);
    assert.ok(refused(await attempt(rp, user)), 'still locked 61 s into the doubled lock');
    time.advance(60);
    assert.ok(passed(await attempt(rp, user)), 'the right password works once the doubled lock is over');

    await t.services.limits.settled();
    assert.equal(lockoutMails(user).length, 1, 'two locks of one lockout: one email');
    assert.match(lockoutMails(user)[0]!.text, /Sign-ins to your Tessera account were paused/);
  });

  it('a known device of the account still signs in while new devices are locked out; its own limit is softer', async () => {
    const user = await createUser(t);
    const mine = new UserAgent();
    assert.ok(passed(await attempt(rp, user, mine)), 'the owner signs in once: this browser becomes a known device');
    for (let i = 0; i < 6; i++) await attempt(rp, wrong(user));
    assert.ok(refused(await attempt(rp, user)), 'new devices are locked out');
    assert.ok(passed(await attempt(rp, user, mine)), 'the known device is not');
    // the known device's own (softer) limits: 5 for this device (account+device) — it locks only itself
    for (let i = 0; i < 5; i++) assert.ok(refused(await attempt(rp, wrong(user), mine)));
    assert.ok(refused(await attempt(rp, user, mine)), 'a known device that guesses is locked too');
  });

  it('sets one counter from 20 parallel blocks of the same key (no duplicate-key error on the upsert)', async () => {
    const model = t.services.db.connection.model('Limit') as unknown as LimitModel;
    const limiter = createDbLimiter(t.services.db, model, time.clock, { keyPrefix: 'race', points: 5, duration: 60 });
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => limiter.block('same-key', 60)));
    assert.deepEqual(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), []);
    assert.equal((await limiter.get('same-key'))?.consumedPoints, 6, 'blocked: one past the 5 points');
  });

  it('without a lockout (fewer than 5) a right password resets the count', async () => {
    const user = await createUser(t);
    const agent = new UserAgent();
    for (let i = 0; i < 4; i++) await attempt(rp, wrong(user), agent);
    assert.ok(passed(await attempt(rp, user, agent)));
    for (let i = 0; i < 4; i++) await attempt(rp, wrong(user), agent);
    assert.ok(passed(await attempt(rp, user, agent)), 'counting started again after the success');
    await t.services.limits.settled();
    assert.equal(lockoutMails(user).length, 0);
  });
});

describe('limits: per client IP, and X-Forwarded-For', () => {
  let rp: RelyingParty;

  async function lockIp(t: Tessera, headers: () => Record<string, string>) {
    for (let i = 0; i < 5; i++) {
      const victim = await createUser(t);
      assert.ok(refused(await attempt(rp, wrong(victim), new UserAgent(headers()))));
    }
  }

  it('counts failures per IP across accounts; a spoofed X-Forwarded-For without TRUST_PROXY changes nothing', async () => {
    const t = await startTessera({ env: { LOCKOUT_IP_AFTER: '5', LOCKOUT_SECONDS: '600', DEVICE_MAX_FAILURES: '100' } });
    try {
      rp = await RelyingParty.register(t);
      let n = 0;
      const spoofed = () => ({ 'x-forwarded-for': `203.0.113.${++n}` });
      await lockIp(t, spoofed);
      const fresh = await createUser(t);
      assert.ok(refused(await attempt(rp, fresh, new UserAgent(spoofed()))), 'a sixth account from the same IP is refused, whatever the header says');
      assert.ok(refused(await attempt(rp, fresh, new UserAgent())), 'and without the header');
    } finally {
      await t.close();
    }
  });

  it('with TRUST_PROXY=true TRUST_PROXY_COUNT=1 the last X-Forwarded-For entry is the client IP', async () => {
    const t = await startTessera({ env: { TRUST_PROXY: 'true', TRUST_PROXY_COUNT: '1', LOCKOUT_IP_AFTER: '5', LOCKOUT_SECONDS: '600', DEVICE_MAX_FAILURES: '100' } });
    try {
      rp = await RelyingParty.register(t);
      let n = 0;
      // the client forges a first entry; the proxy appends the address it saw
      await lockIp(t, () => ({ 'x-forwarded-for': `10.9.9.${++n}, 198.51.100.7` }));
      const fresh = await createUser(t);
      assert.ok(refused(await attempt(rp, fresh, new UserAgent({ 'x-forwarded-for': '198.51.100.7' }))), 'the locked client stays locked');
      assert.ok(refused(await attempt(rp, fresh, new UserAgent({ 'x-forwarded-for': '192.0.2.1, 198.51.100.7' }))), 'a forged first entry does not help');
      assert.ok(passed(await attempt(rp, fresh, new UserAgent({ 'x-forwarded-for': '198.51.100.7, 198.51.100.8' }))), 'another client (last entry) is not locked');
    } finally {
      await t.close();
    }
  });
});

describe('limits: codes, resend, text and voice caps', () => {
  const time = movableClock();
  let t: Tessera;
  let rp: RelyingParty;
  let twilio: FakeTwilio;

  before(async () => {
    twilio = await startFakeTwilio();
    t = await startTessera({
      clock: time.clock,
      env: {
        CODE_LOCKOUT_AFTER: '3', RESEND_PER_HOUR: '2', PHONE_SENDS_PER_OWNER_DAY: '3', LOCKOUT_IP_AFTER: '1000', DEVICE_MAX_FAILURES: '100',
        SMS_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: twilio.account.sid, TWILIO_AUTH_TOKEN: twilio.account.token, TWILIO_FROM: twilio.account.from, TWILIO_API_BASE: twilio.apiBase,
      },
    });
    rp = await RelyingParty.register(t);
  });
  after(async () => { await t.close(); await twilio.close(); });

  const codeIn = (text: string) => /(\d{6})/.exec(text)![1]!;
  const emailsTo = (u: TestUser) => t.services.outbox.list().filter((m) => m.to === u.email && /sign-in code/.test(m.subject ?? ''));

  async function withSecondFactor(factor: 'email' | 'sms') {
    const user = await createUser(t);
    await t.services.accounts.setSecondFactor(user.id, factor);
    return user;
  }

  it('wrong codes count per account across sign-ins: at the limit even the right code is refused, with a clear 429', async () => {
    const user = await withSecondFactor('email');
    const agent = new UserAgent();
    let page = await attempt(rp, user, agent);
    for (let i = 0; i < 3; i++) page = await agent.submit(page, /\/factor$/, { code: '000000' });
    // a new sign-in: a new challenge, but the account's code limit holds
    page = await attempt(rp, user, agent);
    assert.match(page.body, /action="[^"]*\/factor"/);
    const blocked = await agent.submit(page, /\/factor$/, { code: codeIn(emailsTo(user)[0]!.subject!) });
    assert.equal(blocked.status, 429);
    assert.match(blocked.body, /Too many wrong codes were entered for this account\. Try again in 1 minute\./);
    time.advance(61);
    page = await attempt(rp, user, agent);
    const done = await agent.submit(page, /\/factor$/, { code: codeIn(emailsTo(user)[0]!.subject!) });
    assert.ok(passed(done) && !/\/factor"/.test(done.body), 'the code is accepted once the lock is over');
  });

  it('"Resend" is capped per account: past the cap nothing is sent and the page says so', async () => {
    const user = await withSecondFactor('email');
    const agent = new UserAgent();
    let page = await attempt(rp, user, agent);
    assert.equal(emailsTo(user).length, 1);
    for (let i = 0; i < 2; i++) {
      time.advance(61);
      page = await agent.submit(page, /\/resend$/, { method: 'email' });
    }
    assert.equal(emailsTo(user).length, 3, 'two resends sent');
    time.advance(61);
    page = await agent.submit(page, /\/resend$/, { method: 'email' });
    assert.match(page.body, /No code was sent: codes were sent again too often in the last hour/);
    assert.equal(emailsTo(user).length, 3, 'the third resend sent nothing');
  });

  it('texts to the owner\'s own number are capped per day: at the cap nothing is sent and the page names the other methods', async () => {
    const user = await withSecondFactor('sms');
    await giveVerifiedPhone(t, user, '+41 79 555 00 01');
    await t.services.recovery.generate(user.id);
    const before = twilio.accepted.length;
    for (let i = 0; i < 3; i++) assert.match((await attempt(rp, user)).body, /We texted a 6-digit code/);
    assert.equal(twilio.accepted.length - before, 3);
    const capped = await attempt(rp, user);
    assert.equal(capped.status, 429);
    assert.match(capped.body, /No code was sent: your phone number has had the most text messages and calls we send it in a day\. Choose another way below: &#34;Use a recovery code&#34;\./);
    assert.match(capped.body, /href="\/interaction\/[\w-]+\?method=recovery"/, 'another method this sign-in accepts is offered');
    assert.match(capped.body, /Call me with a code <span class="muted">\(no more texts or calls to your number today\)/, 'a call is the same allowance');
    assert.doesNotMatch(capped.body, /name="code"/, 'no code field: nothing was sent');
    assert.equal(twilio.accepted.length - before, 3, 'nothing was sent at the cap');
    time.advance(24 * 3600 + 1);
    assert.match((await attempt(rp, user)).body, /We texted a 6-digit code/, 'a day later texts are sent again');
  });

  it('two accounts that verified one number each have their own allowance', async () => {
    const number = '+41 79 555 00 02';
    const first = await withSecondFactor('sms');
    const second = await withSecondFactor('sms');
    await giveVerifiedPhone(t, first, number);
    await giveVerifiedPhone(t, second, number);
    const before = twilio.accepted.length;
    for (let i = 0; i < 3; i++) await attempt(rp, first);
    assert.equal((await attempt(rp, first)).status, 429, 'the first account used its allowance');
    for (let i = 0; i < 3; i++) assert.match((await attempt(rp, second)).body, /We texted a 6-digit code/);
    assert.equal(twilio.accepted.length - before, 6);
  });
});
