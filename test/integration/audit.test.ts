// The audit log through a real Tessera (real HTTP, the real database, Tessera's clock in the test's
// hand): real flows leave their events (sign-in success and failure, emailed codes issued and
// failed, a device blocked by wrong passwords, device actions by an admin with the admin as actor in
// the device history too, security-center changes, sessions ended); the admin query filters by
// time, account, type (exact or family) and outcome with cursor pages; retention hides and purges
// old events; the CSV export neutralises formulas and is capped. Nothing updates or deletes events.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, signIn, type Page, type TestUser } from '../support/flow.ts';
import { statusOf } from '../../src/http/errors.ts';
import { DomainError } from '../../src/domain-error.ts';
import { AuditError, CSV_HEADER } from '../../src/audit/store.ts';
import type { AuditEvent, AuditFilter, AuditInput } from '../../src/audit/events.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
const ADMIN = { id: 'acct_admin-for-audit', label: 'root@example.com', ip: '198.51.100.7' };

describe('audit log', function () {
  this.timeout(120_000);
  let t: Tessera;
  let rp: RelyingParty;
  /** Tessera's clock runs with real time plus this offset. */
  let offset = 0;
  const now = () => new Date(Date.now() + offset);
  const serverErrors: unknown[] = [];

  before(async () => {
    t = await startTessera({ clock: now, log: (err) => serverErrors.push(err) });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(() => t.close());
  afterEach(() => {
    offset = 0;
    assert.deepEqual(serverErrors, [], 'no 500s');
  });

  /** Every event matching `filter` (newest first), after the writes in flight have landed. */
  async function events(filter: AuditFilter): Promise<AuditEvent[]> {
    await t.services.audit.flush();
    const all: AuditEvent[] = [];
    let cursor: string | undefined;
    do {
      const page = await t.services.audit.query({ ...filter, ...(cursor ? { cursor } : {}), limit: 200 });
      all.push(...page.events);
      cursor = page.next;
    } while (cursor);
    return all;
  }
  const ofAccount = (user: { id: string }, type?: string) => events({ accountId: user.id, ...(type ? { type } : {}) });

  /** A fresh sign-in (prompt=login) up to the page after the password. */
  async function password(agent: UserAgent, email: string, pw: string): Promise<Page> {
    const page = await agent.visit((await rp.authorize({ prompt: 'login' })).url);
    return agent.submit(page, /\/login$/, { email, password: pw });
  }
  async function signedIn(user: TestUser, ua = CHROME): Promise<UserAgent> {
    const agent = new UserAgent({ 'user-agent': ua });
    await signIn(agent, (await rp.authorize()).url, user);
    return agent;
  }
  async function open(agent: UserAgent, path: string): Promise<Page> {
    const page = await agent.visit(`${t.issuer}/account/security${path}`);
    assert.equal(page.status, 200, page.body.slice(0, 400));
    return page;
  }

  describe('events from real flows', () => {
    it('records a sign-in success and a wrong password with the account, IP, browser and result', async () => {
      const user = await createUser(t);
      const start = now();
      await signedIn(user);
      const wrong = await password(new UserAgent({ 'user-agent': FIREFOX }), user.email, 'Wrong#Guess1');
      assert.equal(wrong.status, 200);

      const [failure, success, ...rest] = await ofAccount(user, 'sign_in.');
      assert.equal(rest.length, 0, `one event per attempt: ${JSON.stringify(rest)}`);
      assert.equal(success!.type, 'sign_in.success');
      assert.equal(success!.outcome, 'success');
      assert.deepEqual(success!.actor, { type: 'user', id: user.id });
      assert.deepEqual(success!.subject, { type: 'account', id: user.id });
      assert.equal(success!.accountId, user.id);
      assert.equal(success!.ip, '127.0.0.1');
      assert.equal(success!.details.result, 'success');
      assert.deepEqual(success!.details.factors, ['pwd']);
      assert.equal(success!.details.browser, 'Chrome 124');
      assert.ok(typeof success!.details.deviceId === 'string' && success!.details.deviceId.startsWith('dev_'), 'the device');
      assert.ok(success!.at.getTime() >= start.getTime() - 1000 && success!.at.getTime() <= now().getTime());

      assert.equal(failure!.type, 'sign_in.failure');
      assert.equal(failure!.outcome, 'failure');
      assert.equal(failure!.ip, '127.0.0.1');
      assert.equal(failure!.details.result, 'wrong_password');
      assert.equal(failure!.details.browser, 'Firefox 121');
      assert.ok(failure!.id > success!.id, 'time-ordered ids: the later event has the greater id');

      // the first sign-in from this browser also says a new device proved itself (not a sign-in attempt)
      const [verified, ...again] = await ofAccount(user, 'device.verified');
      assert.equal(again.length, 0);
      assert.equal(verified!.outcome, 'success');
      assert.deepEqual(verified!.subject, { type: 'device', id: success!.details.deviceId });
      assert.equal(verified!.ip, '127.0.0.1');
    });

    it('records an emailed code as challenge.issued (purpose and channel, never the code) and a wrong entry as challenge.failed', async () => {
      const user = await createUser(t);
      await t.services.accounts.setSecondFactor(user.id, 'email');
      const agent = new UserAgent();
      const page = await password(agent, user.email, user.password);
      assert.match(page.body, /We emailed a 6-digit code/);
      const mail = t.services.outbox.list().find((m) => m.to === user.email && /is your Tessera sign-in code/.test(m.subject ?? ''))!;
      const code = /^(\d{6})/.exec(mail.subject!)![1]!;
      const wrong = await agent.submit(page, /\/factor$/, { code: code === '000000' ? '111111' : '000000' });
      assert.match(wrong.body, /not right|wrong|incorrect/i, wrong.body.slice(0, 300));

      const [issued, ...more] = await ofAccount(user, 'challenge.issued');
      assert.equal(more.length, 0, 'one code sent');
      assert.equal(issued!.outcome, 'success');
      assert.deepEqual(issued!.details, { purpose: 'sign-in', channel: 'email', resend: false });
      assert.deepEqual(issued!.subject, { type: 'account', id: user.id });
      assert.doesNotMatch(JSON.stringify(issued), new RegExp(code), 'the code is never in the log');

      const [failed, ...others] = await ofAccount(user, 'challenge.failed');
      assert.equal(others.length, 0);
      assert.equal(failed!.outcome, 'failure');
      assert.equal(failed!.accountId, user.id);
      assert.deepEqual({ ...failed!.details }, { purpose: 'sign-in', channel: 'email', reason: 'wrong', attemptsLeft: 2, failures: 1 });
      assert.ok(failed!.id > issued!.id);
      // the wrong code also counts as a failed sign-in attempt
      assert.equal((await ofAccount(user, 'sign_in.failure'))[0]!.details.result, 'wrong_code');
    });

    it('records a resend as challenge.issued again and an expired entry as challenge.failed (reason expired)', async () => {
      const user = await createUser(t);
      const { challenges, config } = t.services;
      const scope = `audit-${randomBytes(4).toString('hex')}`;
      const { code } = await challenges.open(scope, 'phone-verify', 'sms', user.id);
      assert.ok(code);
      await challenges.open(scope, 'phone-verify', 'sms', user.id); // the same live code: nothing new sent
      offset += (config.codes.resendIntervalSeconds + 1) * 1000;
      await challenges.resend(scope, 'phone-verify', 'sms', user.id);
      offset += (config.codes.signInLifetimeSeconds + 1) * 1000;
      assert.equal((await challenges.verify(scope, 'phone-verify', 'sms', user.id, code!)).ok, false);
      const log = (await ofAccount(user, 'challenge.')).reverse();
      assert.deepEqual(log.map((e) => [e.type, e.outcome, e.details]), [
        ['challenge.issued', 'success', { purpose: 'phone-verify', channel: 'sms', resend: false }],
        ['challenge.issued', 'success', { purpose: 'phone-verify', channel: 'sms', resend: true, newCode: false }],
        ['challenge.failed', 'failure', { purpose: 'phone-verify', channel: 'sms', reason: 'expired', attemptsLeft: config.codes.maxAttempts, failures: 0 }],
      ]);
    });

    it('records a device blocked by wrong passwords, and unblock, remove, rename and flags by an admin with the admin as actor (audit and device history)', async () => {
      const user = await createUser(t);
      // a browser the account knows (it signed in before): its wrong passwords count on its registration
      const intruder = new UserAgent({ 'user-agent': FIREFOX });
      await password(intruder, user.email, user.password);
      for (let i = 1; i <= 5; i++) await password(intruder, user.email, `Wrong#Guess${i}`);
      const device = (await t.services.devices.listFor(user.id)).find((d) => d.state === 'BLOCKED')!;
      assert.ok(device, 'blocked');
      const [blocked, ...moreBlocked] = await ofAccount(user, 'device.blocked');
      assert.equal(moreBlocked.length, 0);
      assert.deepEqual(blocked!.actor, { type: 'system' });
      assert.deepEqual(blocked!.subject, { type: 'device', id: device.id });
      assert.equal(blocked!.details.why, '5 failed attempts (wrong password)');
      assert.equal((await ofAccount(user, 'sign_in.failure')).length, 5, 'each wrong password is a failed sign-in');

      const { devices } = t.services;
      await devices.unblock(device.id, 'admin', 'unblocked by administrator root@example.com', ADMIN);
      await devices.rename(device.id, 'Reception PC', 'admin', ADMIN);
      await devices.flag(device.id, { add: 'kiosk' }, 'admin', ADMIN);
      await devices.flag(device.id, { add: 'kiosk' }, 'admin', ADMIN); // already there: nothing changes
      await devices.flag(device.id, { remove: 'kiosk' }, 'admin', { id: 'ops-bot', label: 'ops-bot', type: 'client' });
      // refused: only a blocked device can be unblocked; the refusal is audited too
      await assert.rejects(devices.unblock(device.id, 'admin', 'again', ADMIN), /Only a blocked device/);
      await devices.remove(device.id, 'admin', 'removed by administrator root@example.com', ADMIN);

      // the browser's first sign-in made it a (verified) registration; the rest is the lifecycle
      const [verified, ...log] = (await ofAccount(user, 'device.*')).reverse();
      assert.deepEqual([verified!.type, verified!.subject!.id], ['device.verified', device.id]);
      assert.deepEqual(log.map((e) => [e.type, e.outcome, e.actor.type, e.actor.label ?? null]), [
        ['device.blocked', 'success', 'system', null],
        ['device.unblocked', 'success', 'admin', 'root@example.com'],
        ['device.renamed', 'success', 'admin', 'root@example.com'],
        ['device.flagged', 'success', 'admin', 'root@example.com'],
        ['device.flagged', 'success', 'client', 'ops-bot'],
        ['device.unblocked', 'failure', 'admin', 'root@example.com'],
        ['device.removed', 'success', 'admin', 'root@example.com'],
      ]);
      for (const e of log.slice(1)) {
        assert.equal(e.subject!.id, device.id);
        assert.equal(e.accountId, user.id);
      }
      const unblocked = log[1]!;
      assert.deepEqual(unblocked.actor, { type: 'admin', id: ADMIN.id, label: ADMIN.label });
      assert.equal(unblocked.ip, ADMIN.ip);
      assert.deepEqual(unblocked.details, { from: 'BLOCKED', to: 'ACTIVE', why: 'unblocked by administrator root@example.com' });
      assert.deepEqual(log[2]!.details, { from: null, to: 'Reception PC', why: 'renamed to "Reception PC"' });
      assert.deepEqual(log[3]!.details, { added: 'kiosk', flags: ['kiosk'], why: 'flag "kiosk" added' });
      assert.equal(log[3]!.subject!.label, 'Reception PC', 'the device by its name');
      assert.match(String(log[5]!.details.error), /Only a blocked device can be unblocked/);

      // the device's own history: every admin action, with the admin (or client) as actor
      const history = (await devices.byId(device.id))!.history.map(({ from, to, by, why, actor }) => ({ from, to, by, why, actor }));
      assert.deepEqual(history, [
        { from: null, to: 'ACTIVE', by: 'system', why: 'first seen', actor: undefined },
        { from: 'ACTIVE', to: 'BLOCKED', by: 'system', why: '5 failed attempts (wrong password)', actor: undefined },
        { from: 'BLOCKED', to: 'ACTIVE', by: 'admin', why: 'unblocked by administrator root@example.com', actor: 'root@example.com' },
        { from: 'ACTIVE', to: 'ACTIVE', by: 'admin', why: 'renamed to "Reception PC"', actor: 'root@example.com' },
        { from: 'ACTIVE', to: 'ACTIVE', by: 'admin', why: 'flag "kiosk" added', actor: 'root@example.com' },
        { from: 'ACTIVE', to: 'ACTIVE', by: 'admin', why: 'flag "kiosk" removed', actor: 'ops-bot' },
        { from: 'ACTIVE', to: 'REMOVED', by: 'admin', why: 'removed by administrator root@example.com', actor: 'root@example.com' },
      ]);
    });

    it('records trusting a device (new-device code with "trust") as device.trusted by the user', async () => {
      const user = await createUser(t, { deviceVerification: true });
      const agent = new UserAgent();
      const page = await password(agent, user.email, user.password);
      assert.match(page.body, /New device/);
      const mail = t.services.outbox.list().find((m) => m.to === user.email && /is your Tessera sign-in code/.test(m.subject ?? ''))!;
      await agent.submit(page, /\/device$/, { code: /^(\d{6})/.exec(mail.subject!)![1]!, trust: 'yes' });
      const [trusted, ...more] = await ofAccount(user, 'device.trusted');
      assert.equal(more.length, 0);
      assert.deepEqual(trusted!.actor, { type: 'user', id: user.id });
      assert.equal(trusted!.subject!.type, 'device');
      assert.equal((await t.services.devices.byId(trusted!.subject!.id))!.accountId, user.id);
      assert.equal(trusted!.details.why, 'trusted at new-device verification');
      assert.equal((await ofAccount(user, 'device.verified'))[0]!.subject!.id, trusted!.subject!.id, 'the same device, verified');
    });

    it('records security-center changes with the person as actor, their IP and the change: a PIN set, auto-logout, a trusted IP', async () => {
      const user = await createUser(t);
      const agent = await signedIn(user);
      const done = await agent.submit(await open(agent, '/pin'), /\/security\/pin$/, { pin: '4729', repeat: '4729', password: user.password });
      assert.equal(done.status, 200);
      const days = await agent.submit(await open(agent, '/sessions'), /\/sessions\/auto-logout$/, { days: '7', password: user.password });
      assert.equal(days.status, 200);
      const ips = await agent.submit(await open(agent, '/ips'), /\/security\/ips$/, { range: '203.0.113.0/24', skips: 'all', password: user.password });
      assert.equal(ips.status, 200);
      const codes = await agent.submit(await open(agent, ''), /\/security\/recovery-codes$/, { password: user.password });
      assert.equal(codes.status, 200);
      const phone = await agent.submit(await open(agent, '/phones'), /\/phones$/, { number: '+41 79 123 45 67', password: user.password });
      assert.equal(phone.status, 200);

      const [pin, ...more] = await ofAccount(user, 'pin.changed');
      assert.equal(more.length, 0);
      assert.equal(pin!.outcome, 'success');
      assert.deepEqual(pin!.actor, { type: 'user', id: user.id, label: user.email });
      assert.deepEqual(pin!.subject, { type: 'account', id: user.id, label: user.email });
      assert.equal(pin!.ip, '127.0.0.1');
      assert.deepEqual(pin!.details, { change: 'A PIN was set for your account.' });
      assert.deepEqual((await ofAccount(user, 'session.changed')).map((e) => e.details.change), ['Auto-logout changed: sessions end 7 days after sign-in.']);
      assert.deepEqual((await ofAccount(user, 'trusted_ip.changed')).map((e) => e.details.change), ['203.0.113.0/24 was added (skips: all second factors and the pin).']);
      assert.deepEqual((await ofAccount(user, 'mfa.changed')).map((e) => e.details.change), ['New recovery codes were created; the old ones no longer work.']);
      const phones = await ofAccount(user, 'phone.changed');
      assert.equal(phones.length, 1);
      assert.match(String(phones[0]!.details.change), /\+41/);
      assert.doesNotMatch(String(phones[0]!.details.change), /123 45 67|1234567/, 'the number masked, as in the email');
    });

    it('records a session ended from the sessions page once, a password change that signs others out, and auto-logout by the system', async () => {
      const user = await createUser(t);
      const here = await signedIn(user, CHROME);
      await signedIn(user, FIREFOX);
      await signedIn(user, FIREFOX);
      const page = await open(here, '/sessions');
      const theirs = [...page.body.matchAll(/<li data-session="([^"]+)">/g)].map((m) => m[1]!);
      assert.equal(theirs.length, 3);
      const other = theirs[1]!;
      const ended = await here.submit(page, /\/sessions\/end$/, { session: other, password: user.password });
      assert.equal(ended.status, 200);
      const [one, ...dup] = await ofAccount(user, 'session.ended');
      assert.equal(dup.length, 0, 'one event for one session ended');
      assert.deepEqual(one!.actor, { type: 'user', id: user.id, label: user.email });
      assert.equal(one!.ip, '127.0.0.1');
      assert.match(String(one!.details.change), /^A session \(Firefox 121 on Ubuntu\) was signed out\.$/);

      // a password change that signs the other session out: password.changed, and session.ended with the count
      const changed = await here.submit(await open(here, '/password'), /\/security\/password$/, { current: user.password, password: 'Another#Horse2', confirm: 'Another#Horse2', endOthers: 'on' });
      assert.equal(changed.status, 200);
      assert.deepEqual((await ofAccount(user, 'password.changed')).map((e) => e.details.change), ['Your password was changed and 1 other session was signed out.']);
      const [withPassword] = await ofAccount(user, 'session.ended');
      assert.deepEqual(withPassword!.details, { why: 'signed out with the password change', sessions: 1 });
      assert.deepEqual(withPassword!.actor, { type: 'user', id: user.id, label: user.email });

      // auto-logout: Tessera ends the session itself
      await t.services.accounts.setSessionSettings(user.id, { autoLogoutDays: 1 });
      offset = 2 * DAY;
      await here.visit(`${t.issuer}/account/security`);
      const [auto] = await ofAccount(user, 'session.ended');
      assert.deepEqual(auto!.actor, { type: 'system' });
      assert.deepEqual(auto!.details, { why: 'auto-logout after 1 day', sessions: 1 });
      assert.equal((await ofAccount(user, 'session.ended')).length, 3);

      // too many wrong PINs end the session
      offset = 0;
      const pinned = await createUser(t);
      await t.services.accounts.setPin(pinned.id, '4826');
      await signedIn(pinned);
      const [session] = await t.services.storage.sessionsOf(pinned.id);
      const account = (await t.services.accounts.findById(pinned.id))!;
      let result: { outcome: string } = { outcome: 'wrong' };
      for (let i = 0; i < t.config.pin.maxFailures; i++) result = await t.services.sessions.unlock(session!.uid as string, account, '0000');
      assert.equal(result.outcome, 'ended');
      const [pins, ...more] = await ofAccount(pinned, 'session.ended');
      assert.equal(more.length, 0);
      assert.deepEqual(pins!.actor, { type: 'system' });
      assert.deepEqual(pins!.details, { why: `${t.config.pin.maxFailures} wrong PINs`, sessions: 1 });
    });
  });

  describe('query', () => {
    const input = (accountId: string, over: Partial<AuditInput> = {}): AuditInput => ({
      type: 'admin.user.locked', outcome: 'success', actor: { type: 'admin', id: ADMIN.id, label: ADMIN.label },
      subject: { type: 'account', id: accountId }, accountId, ip: ADMIN.ip, details: { n: 0 }, ...over,
    });
    const acct = () => `acct_q-${randomBytes(6).toString('hex')}`;

    it('stores an IPv4 client seen on a dual-stack socket (::ffff:a.b.c.d) as a.b.c.d, and IPv6 as it is', async () => {
      const a = acct();
      const mapped = await t.services.audit.write(input(a, { ip: '::ffff:203.0.113.9' }));
      const v6 = await t.services.audit.write(input(a, { ip: '2001:db8::7' }));
      assert.deepEqual([mapped.ip, v6.ip], ['203.0.113.9', '2001:db8::7']);
      assert.deepEqual((await t.services.audit.query({ accountId: a })).events.map((e) => e.ip), ['2001:db8::7', '203.0.113.9']);
    });

    it('filters by time range (from inclusive, to exclusive), account, exact type, family and outcome', async () => {
      const a = acct();
      const b = acct();
      const base = Date.now();
      offset = -3 * HOUR;
      const e1 = await t.services.audit.write(input(a, { type: 'admin.user.locked' }));
      offset = -2 * HOUR;
      const e2 = await t.services.audit.write(input(a, { type: 'admin.client.created', outcome: 'failure' }));
      const e3 = await t.services.audit.write(input(b, { type: 'mfa.changed', actor: { type: 'user', id: b } }));
      offset = -1 * HOUR;
      const e4 = await t.services.audit.write(input(a, { type: 'device.renamed', subject: { type: 'device', id: 'dev_x' } }));
      offset = 0;
      const ids = (list: AuditEvent[]) => list.map((e) => e.id);

      assert.deepEqual(ids(await events({ accountId: a })), [e4.id, e2.id, e1.id], 'newest first');
      assert.deepEqual(ids(await events({ accountId: b })), [e3.id]);
      assert.deepEqual(ids(await events({ accountId: a, type: 'admin.user.locked' })), [e1.id]);
      assert.deepEqual(ids(await events({ accountId: a, type: 'admin.' })), [e2.id, e1.id]);
      assert.deepEqual(ids(await events({ accountId: a, type: 'admin.*' })), [e2.id, e1.id]);
      assert.deepEqual(ids(await events({ accountId: a, type: 'admin.client.' })), [e2.id]);
      assert.deepEqual(ids(await events({ accountId: a, outcome: 'failure' })), [e2.id]);
      assert.deepEqual(ids(await events({ accountId: a, outcome: 'success' })), [e4.id, e1.id]);
      // time: [from, to)
      assert.deepEqual(ids(await events({ accountId: a, from: e2.at })), [e4.id, e2.id], 'from is inclusive');
      assert.deepEqual(ids(await events({ accountId: a, to: e2.at })), [e1.id], 'to is exclusive');
      assert.deepEqual(ids(await events({ accountId: a, from: new Date(base - 2.5 * HOUR), to: new Date(base - 0.5 * HOUR) })), [e4.id, e2.id]);
      assert.deepEqual(ids(await events({ from: new Date(base - 2.5 * HOUR), to: new Date(base - 1.5 * HOUR), type: 'mfa.changed' })), [e3.id]);
      // a family's dot is a dot, not "any character"
      assert.deepEqual(ids(await events({ accountId: a, type: 'device.' })), [e4.id]);
      // stored as written
      const [stored] = await events({ accountId: b });
      assert.deepEqual(stored, e3);
      assert.deepEqual({ type: stored!.type, actor: stored!.actor, ip: stored!.ip, details: stored!.details }, { type: 'mfa.changed', actor: { type: 'user', id: b }, ip: ADMIN.ip, details: { n: 0 } });
    });

    it('pages 120 events with the cursor: 50 + 50 + 20, newest first, no duplicates, and no cursor after the last page', async () => {
      const a = acct();
      const written = await Promise.all(Array.from({ length: 120 }, (_, n) => t.services.audit.write(input(a, { details: { n } }))));
      const pages: AuditEvent[][] = [];
      let cursor: string | undefined;
      for (;;) {
        const page = await t.services.audit.query({ accountId: a, ...(cursor ? { cursor } : {}) });
        pages.push(page.events);
        if (!page.next) break;
        assert.equal(page.next, page.events.at(-1)!.id, 'the cursor is the last id of the page');
        cursor = page.next;
      }
      assert.deepEqual(pages.map((p) => p.length), [50, 50, 20]);
      const all = pages.flat();
      assert.equal(new Set(all.map((e) => e.id)).size, 120, 'no duplicates');
      assert.deepEqual(all.map((e) => e.details.n), Array.from({ length: 120 }, (_, i) => 119 - i), 'newest first: the order they were recorded in, reversed');
      assert.deepEqual(all.map((e) => e.id), written.map((e) => e.id).reverse());
      for (let i = 1; i < all.length; i++) assert.ok(all[i - 1]!.at.getTime() >= all[i]!.at.getTime(), 'time order');
      // limit bounds
      assert.equal((await t.services.audit.query({ accountId: a, limit: 1 })).events.length, 1);
      const max = await t.services.audit.query({ accountId: a, limit: 200 });
      assert.equal(max.events.length, 120);
      assert.equal(max.next, undefined);
      const exact = await t.services.audit.query({ accountId: a, limit: 120 });
      assert.equal(exact.next, undefined, 'no next page when the page ends exactly at the last event');
    });

    it('refuses a bad cursor, limit, date, type, outcome or account with a 400-type AuditError', async () => {
      const bad: [string, AuditFilter][] = [
        ['garbage cursor', { cursor: 'garbage' }],
        ['cursor with an operator', { cursor: { $gt: '' } as unknown as string }],
        ['over-long cursor', { cursor: 'x'.repeat(500) }],
        ['limit 0', { limit: 0 }],
        ['limit 201', { limit: 201 }],
        ['fractional limit', { limit: 1.5 }],
        ['limit not a number', { limit: '10' as unknown as number }],
        ['invalid date', { from: new Date('nope') }],
        ['date not a Date', { to: '2024-01-01' as unknown as Date }],
        ['from after to', { from: new Date(Date.now()), to: new Date(Date.now() - HOUR) }],
        ['unknown type', { type: 'sign_in.maybe' }],
        ['type without family dot', { type: 'admin' }],
        ['regex in a type', { type: '.*' }],
        ['unknown family', { type: 'nothing.' }],
        ['bad outcome', { outcome: 'meh' as never }],
        ['account as an object', { accountId: { $ne: '' } as unknown as string }],
      ];
      for (const [what, filter] of bad) {
        await assert.rejects(t.services.audit.query(filter), (err: unknown) => {
          assert.ok(err instanceof AuditError, `${what}: ${String(err)}`);
          assert.ok(err instanceof DomainError);
          assert.equal(statusOf(err), 400);
          assert.equal(err.code, 'invalid_request');
          return true;
        }, what);
      }
      // a well-formed cursor that points nowhere is simply the end
      assert.deepEqual((await t.services.audit.query({ cursor: `0000000000000-${'A'.repeat(8)}` })).events, []);
    });

    it('offers no way to update or delete events (but one: an account deletion pseudonymises its events)', () => {
      assert.deepEqual(Object.keys(t.services.audit).sort(), ['csv', 'flush', 'pseudonymise', 'query', 'record', 'write']);
    });

    it('record() never throws nor waits, and a failed write is logged once', async () => {
      const lines: string[] = [];
      const { createAuditLog } = await import('../../src/audit/store.ts');
      // a log over a closed database: every write fails
      const { connectDatabase } = await import('../../src/db/database.ts');
      const { databaseServerUri } = await import('../support/hooks.ts');
      const db = await connectDatabase(`${databaseServerUri()}audit_fail_${randomBytes(4).toString('hex')}`, { serverSelectionTimeoutMs: 500, connectTimeoutMs: 500 });
      const log = createAuditLog(db, { retentionDays: 1, exportMaxRows: 100, log: (line) => lines.push(line) });
      await db.close();
      assert.equal(log.record(input('acct_x')), undefined, 'nothing to wait for');
      assert.deepEqual(lines, [], 'returns before the write is tried: the failure comes later, in the background');
      await log.flush();
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0]!, /could not record the audit event admin\.user\.locked/);
    });
  });

  describe('retention and CSV export (AUDIT_RETENTION_DAYS=1, AUDIT_EXPORT_MAX_ROWS=100)', () => {
    let r: Tessera;
    let shift = 0;
    before(async () => {
      r = await startTessera({ clock: () => new Date(Date.now() + shift), env: { AUDIT_RETENTION_DAYS: '1', AUDIT_EXPORT_MAX_ROWS: '100' } });
    });
    after(() => r.close());
    afterEach(() => { shift = 0; });
    const base = (accountId: string, over: Partial<AuditInput> = {}): AuditInput => ({
      type: 'device.renamed', outcome: 'success', actor: { type: 'admin', id: ADMIN.id, label: ADMIN.label },
      subject: { type: 'device', id: 'dev_1' }, accountId, ip: ADMIN.ip, details: {}, ...over,
    });

    it('hides events past their retention at once and the purge removes them', async () => {
      const a = `acct_r-${randomBytes(6).toString('hex')}`;
      const old = await r.services.audit.write(base(a, { details: { which: 'old' } }));
      assert.equal(old.at.getTime() + DAY, (await r.services.db.connection.collection('audit_events').findOne({ _id: old.id as never }))!.expiresAt.getTime(), 'expires one day later');
      shift = 2 * DAY;
      const fresh = await r.services.audit.write(base(a, { details: { which: 'new' } }));
      assert.deepEqual((await r.services.audit.query({ accountId: a })).events.map((e) => e.id), [fresh.id], 'the expired event is not returned, even before the purge');
      assert.ok(!(await r.services.audit.csv({ accountId: a })).includes(old.id) && !(await r.services.audit.csv({ accountId: a })).includes('old'), 'nor exported');
      const raw = r.services.db.connection.collection('audit_events');
      assert.equal(await raw.countDocuments({ accountId: a }), 2, 'still stored until the purge');
      await r.services.db.purgeExpired(new Date(Date.now() + shift));
      assert.equal(await raw.countDocuments({ accountId: a }), 1, 'purged');
      assert.equal((await raw.findOne({ accountId: a }))!._id, fresh.id as never);
    });

    it('exports CSV newest first with the header, escaped cells, neutralised formulas and compact JSON details', async () => {
      const a = `acct_c-${randomBytes(6).toString('hex')}`;
      const first = await r.services.audit.write(base(a, { subject: { type: 'device', id: 'dev_2', label: '=HYPERLINK("http://evil.example","x")' }, details: { to: '=1+2', note: 'a, "quoted" line' } }));
      const second = await r.services.audit.write(base(a, { type: 'admin.user.locked', outcome: 'failure', actor: { type: 'client', id: 'ops', label: '@SUM(A1)' }, subject: { type: 'account', id: a, label: '+cmd|calc' }, ip: '-1+1', details: { error: 'x' } }));
      const csv = await r.services.audit.csv({ accountId: a });
      const lines = csv.trimEnd().split('\n');
      assert.equal(lines[0], CSV_HEADER.join(','));
      assert.equal(lines[0], 'time,type,outcome,actor_type,actor,subject_type,subject,account,ip,details');
      assert.equal(lines.length, 3);
      assert.equal(lines[1], `${second.at.toISOString()},admin.user.locked,failure,client,'@SUM(A1),account,'+cmd|calc,${a},'-1+1,"{""error"":""x""}"`);
      assert.equal(lines[2], `${first.at.toISOString()},device.renamed,success,admin,root@example.com,device,"'=HYPERLINK(""http://evil.example"",""x"")",${a},198.51.100.7,"{""to"":""=1+2"",""note"":""a, \\""quoted\\"" line""}"`);
      // no cell starts with a formula character
      for (const line of lines.slice(1)) assert.doesNotMatch(line, /(^|,)"?[=+\-@]/, line);
    });

    it('exports at most AUDIT_EXPORT_MAX_ROWS rows, the newest', async () => {
      const a = `acct_m-${randomBytes(6).toString('hex')}`;
      const written = await Promise.all(Array.from({ length: 130 }, (_, n) => r.services.audit.write(base(a, { details: { n } }))));
      const lines = (await r.services.audit.csv({ accountId: a })).trimEnd().split('\n');
      assert.equal(lines.length, 101, 'header + 100 rows');
      assert.ok(lines[1]!.endsWith('"{""n"":129}"'), lines[1]);
      assert.ok(lines[100]!.endsWith('"{""n"":30}"'), lines[100]);
      assert.equal(written.length, 130);
      // filters apply to the export as to the query
      assert.equal((await r.services.audit.csv({ accountId: a, outcome: 'failure' })).trimEnd().split('\n').length, 1, 'only the header');
      await assert.rejects(r.services.audit.csv({ accountId: a, type: 'bogus' }), AuditError);
    });
  });
});
