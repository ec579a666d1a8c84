// The device lifecycle through real HTTP, the real database and the real `tessera` command: five
// failures from one browser block it (a clear page, a history entry, an email); the CLI unblocks,
// removes, flags, renames and lists devices; bad input (cookies, forms, ids) never makes a 500.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tesseraCli } from '../support/cli.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, formOn, type Page, type TestUser } from '../support/flow.ts';

const FIREFOX_ON_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
/** A user agent that names a real browser (as device records and emails show it), with any extra headers. */
const browser = (extra: Record<string, string> = {}) => new UserAgent({ 'user-agent': FIREFOX_ON_LINUX, ...extra });



const BLOCKED = /This device is blocked from signing in to this account after too many failed attempts\. What happens next: if this account has never signed in from this browser, the block ends by itself a day after the last failed attempt\. If it has, the block stays until an administrator unblocks this device/;
const errorOf = (page: Page) => /<p class="error" role="alert">([^<]*)<\/p>/.exec(page.body)?.[1];
const signedIn = (page: Page) => page.url.startsWith(REDIRECT_URI) && page.url.includes('code=');
const NO_STACK = /\n\s+at /;

describe('device lifecycle: blocking, the device commands and bad input', function () {
  this.timeout(120_000);
  let t: Tessera;
  let rp: RelyingParty;
  let dataDir: string;
  const serverErrors: unknown[] = [];

  before(async () => {
    t = await startTessera({ log: (err) => serverErrors.push(err) });
    rp = await RelyingParty.register(t, { skipConsent: true });
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-cli-'));
  });
  after(async () => {
    await t.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  afterEach(() => assert.deepEqual(serverErrors, [], 'no 500s'));

  const cli = (...args: string[]) => tesseraCli(t, dataDir, ...args);

  /** A fresh sign-in (prompt=login: the password even with a session) up to the page after the password. */
  async function password(agent: UserAgent, email: string, pw: string): Promise<Page> {
    const page = await agent.visit((await rp.authorize({ prompt: 'login' })).url);
    return agent.submit(page, /\/login$/, { email, password: pw });
  }

  /** The newest sign-in code emailed to `email` (the outbox: this instance has no SMTP). */
  function codeSentTo(email: string): string {
    const mail = t.services.outbox.list().find((m) => m.to === email && /is your Tessera sign-in code/.test(m.subject ?? ''));
    assert.ok(mail, `a code was emailed to ${email}`);
    return /^(\d{6})/.exec(mail.subject!)![1]!;
  }

  /** Password and new-device code: the browser is verified for the account. */
  async function signInWithCode(agent: UserAgent, user: TestUser): Promise<Page> {
    const page = await password(agent, user.email, user.password);
    assert.match(page.body, /<h1>New device<\/h1>/, 'the new-device step');
    const done = await agent.submit(page, /\/device$/, { code: codeSentTo(user.email) });
    assert.ok(signedIn(done), `signed in after the code: ${done.status} ${done.body.slice(0, 300)}`);
    return done;
  }

  /**
   * A browser that signed in to the account before (so it is one of its registrations), then five
   * wrong passwords from it; returns the pages and its (now blocked) registration.
   */
  async function block(agent: UserAgent, user: TestUser) {
    assert.ok(signedIn(await password(agent, user.email, user.password)), 'the browser signs in first');
    const pages: Page[] = [];
    for (let i = 1; i <= 5; i++) pages.push(await password(agent, user.email, `Wrong#Guess${i}`));
    const devices = await t.services.devices.listFor(user.id);
    const device = devices.find((d) => d.state === 'BLOCKED');
    assert.ok(device, 'a blocked registration');
    return { pages, device };
  }

  it('blocks a browser after 5 wrong passwords: a clear 403 page, a history entry, an email; the right password is refused from it, another browser still signs in', async () => {
    const user = await createUser(t);
    const intruder = browser();
    const { pages, device } = await block(intruder, user);
    // from the third wrong try the page says how many are left (issue 20: no block without warning)
    const said = pages.slice(0, 4).map((page) => { assert.equal(page.status, 200); return errorOf(page); });
    assert.deepEqual(said.slice(0, 2), ['Incorrect email or password.', 'Incorrect email or password.']);
    assert.match(said[2]!, /^Incorrect email or password\. 2 more wrong tries and this browser is blocked from signing in to this account\./);
    assert.match(said[3]!, /^Incorrect email or password\. One more wrong try and this browser is blocked/);
    // an email without an account gets the very same words at the same counts
    const stranger = browser();
    const ghost = [];
    for (let i = 0; i < 4; i++) ghost.push(errorOf(await password(stranger, `nobody-${user.id}@example.com`, 'Wrong#Guess9')));
    assert.deepEqual(ghost, said);
    assert.equal(pages[4]!.status, 403, 'the fifth failure shows the blocked page');
    assert.match(pages[4]!.body, BLOCKED);
    const { from, to, by, why } = device.history.at(-1)!;
    assert.deepEqual({ from, to, by }, { from: 'ACTIVE', to: 'BLOCKED', by: 'system' });
    assert.match(why, /^5 failed attempts \(wrong password\)$/);

    await t.services.notices.settled();
    const mail = t.services.outbox.list().find((m) => m.to === user.email && m.subject === 'A device was blocked from your Tessera account');
    assert.ok(mail, 'the user is told');
    assert.match(mail.text, /after 5 failed attempts/);
    assert.match(mail.text, /Browser: {2}Firefox 128 on Linux/);

    const right = await password(intruder, user.email, user.password);
    assert.equal(right.status, 403, 'even the right password is refused from the blocked browser');
    assert.match(right.body, BLOCKED);
    assert.ok(signedIn(await password(browser(), user.email, user.password)), 'another browser signs in');
    assert.equal((await t.services.devices.byId(device.id))!.state, 'BLOCKED');
  });

  it('counts wrong new-device codes with wrong passwords: 2 wrong passwords and 3 wrong codes block the browser', async () => {
    const user = await createUser(t, { deviceVerification: true });
    const agent = browser();
    for (const guess of ['Wrong#Guess1', 'Wrong#Guess2']) assert.equal(errorOf(await password(agent, user.email, guess)), 'Incorrect email or password.');
    let page = await password(agent, user.email, user.password);
    assert.match(page.body, /<h1>New device<\/h1>/);
    const wrong = codeSentTo(user.email) === '000000' ? '111111' : '000000';
    for (let i = 1; i <= 2; i++) {
      page = await agent.submit(page, /\/device$/, { code: wrong });
      assert.equal(page.status, 400, `wrong code ${i} is shown on the code page`);
      assert.match(page.body, /<h1>New device<\/h1>/);
    }
    page = await agent.submit(page, /\/device$/, { code: wrong });
    assert.equal(page.status, 403);
    assert.match(page.body, BLOCKED);
    const [device] = await t.services.devices.listFor(user.id);
    assert.equal(device!.state, 'BLOCKED');
    assert.match(device!.history.at(-1)!.why, /^5 failed attempts \(wrong code\)$/);
  });

  it('answers an email without an account exactly as an account: the same pages, and the same blocked page after 5 failures', async () => {
    const user = await createUser(t);
    const ghost = `nobody-${randomBytes(4).toString('hex')}@example.com`;
    const [real, fake] = [browser(), browser()];
    for (let i = 1; i <= 6; i++) {
      // the sixth attempt uses the account's right password: still refused
      const a = await password(real, user.email, i === 6 ? user.password : `Wrong#Guess${i}`);
      const b = await password(fake, ghost, i === 6 ? user.password : `Wrong#Guess${i}`);
      assert.deepEqual([b.status, errorOf(b)], [a.status, errorOf(a)], `attempt ${i}`);
      assert.equal(a.status, i < 5 ? 200 : 403, `attempt ${i}`);
    }
    assert.match(errorOf(await password(fake, ghost, 'Wrong#Guess7'))!, BLOCKED);
    assert.equal(errorOf(await password(browser(), ghost, 'Wrong#Guess8')), 'Incorrect email or password.', 'per browser: another one is not blocked');
  });

  it('unblocks a device with `device unblock --id`: ACTIVE with a history entry by admin, and it signs in again', async () => {
    const user = await createUser(t);
    const agent = browser();
    const { device } = await block(agent, user);
    const res = await cli('device', 'unblock', '--id', device.id);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout.trim(), `unblocked ${device.id}: ACTIVE`);
    const after = (await t.services.devices.byId(device.id))!;
    assert.equal(after.state, 'ACTIVE');
    assert.equal(after.failures, 0, 'the count starts again');
    const { from, to, by, why } = after.history.at(-1)!;
    assert.deepEqual({ from, to, by }, { from: 'BLOCKED', to: 'ACTIVE', by: 'admin' });
    assert.match(why, /command line/);
    assert.ok(signedIn(await password(agent, user.email, user.password)), 'the browser signs in again');
  });

  it('removes a device for good with `device remove --id`: unblock refuses it, and the browser is a new device again (code, new registration)', async () => {
    const user = await createUser(t, { deviceVerification: true });
    const agent = browser();
    await signInWithCode(agent, user);
    const [old] = await t.services.devices.listFor(user.id);
    const removed = await cli('device', 'remove', '--id', old!.id);
    assert.equal(removed.code, 0, removed.stderr);
    const gone = (await t.services.devices.byId(old!.id))!;
    assert.equal(gone.state, 'REMOVED');
    assert.deepEqual({ ...gone.history.at(-1)!, at: undefined }, { from: 'ACTIVE', to: 'REMOVED', by: 'admin', why: 'removed with the command line', actor: 'command line', at: undefined });

    const unblock = await cli('device', 'unblock', '--id', old!.id);
    assert.equal(unblock.code, 1);
    assert.match(unblock.stderr, /^tessera: .*removed/m, 'says the device was removed');
    assert.doesNotMatch(unblock.stderr, NO_STACK);
    assert.equal((await t.services.devices.byId(old!.id))!.state, 'REMOVED', 'REMOVED is final');

    await signInWithCode(agent, user);
    const now = await t.services.devices.listFor(user.id);
    assert.equal(now.length, 2);
    const fresh = now.find((d) => d.id !== old!.id)!;
    assert.equal(fresh.state, 'ACTIVE');
    assert.ok(fresh.verifiedAt, 'the new registration is verified');
  });

  it('flags, renames and lists devices (state, flags, name, history) with the CLI', async () => {
    const user = await createUser(t);
    assert.ok(signedIn(await password(browser(), user.email, user.password)));
    const [device] = await t.services.devices.listFor(user.id);
    const id = device!.id;
    const flagged = await cli('device', 'flag', '--id', id, '--add', 'vip', '--json');
    assert.deepEqual(JSON.parse(flagged.stdout), { id, flags: ['vip'] }, flagged.stderr);
    const renamed = await cli('device', 'rename', '--id', id, '--name', ' Front desk ', '--json');
    assert.deepEqual(JSON.parse(renamed.stdout), { id, name: 'Front desk' }, renamed.stderr);
    const listed = await cli('device', 'list', '--email', user.email, '--json');
    assert.equal(listed.code, 0, listed.stderr);
    const { account, devices } = JSON.parse(listed.stdout) as { account: string; devices: Record<string, unknown>[] };
    assert.equal(account, user.id);
    assert.equal(devices.length, 1);
    assert.deepEqual([devices[0]!.id, devices[0]!.state, devices[0]!.flags, devices[0]!.name, devices[0]!.lastIp, devices[0]!.browser, devices[0]!.os],
      [id, 'ACTIVE', ['vip'], 'Front desk', '127.0.0.1', 'Firefox 128', 'Linux']);
    // each admin change is a history entry naming who made it
    assert.deepEqual((devices[0]!.history as Record<string, unknown>[]).map(({ from, to, by, why, actor }) => ({ from, to, by, why, actor })), [
      { from: null, to: 'ACTIVE', by: 'system', why: 'first seen', actor: undefined },
      { from: 'ACTIVE', to: 'ACTIVE', by: 'admin', why: 'flag "vip" added', actor: 'command line' },
      { from: 'ACTIVE', to: 'ACTIVE', by: 'admin', why: 'renamed to "Front desk"', actor: 'command line' },
    ]);
    const unflagged = await cli('device', 'flag', '--id', id, '--remove', 'vip', '--json');
    assert.deepEqual(JSON.parse(unflagged.stdout), { id, flags: [] }, unflagged.stderr);
    assert.deepEqual((await t.services.devices.byId(id))!.flags, []);
  });

  it('refuses bad device commands (unknown or malformed id, over-long name, bad flag, missing options) clearly and changes nothing', async () => {
    const user = await createUser(t);
    assert.ok(signedIn(await password(browser(), user.email, user.password)));
    const [device] = await t.services.devices.listFor(user.id);
    const id = device!.id;
    await t.services.devices.rename(id, 'Desk');
    const before = await t.services.devices.byId(id);
    const cases: [string[], number, RegExp][] = [
      [['device', 'unblock', '--id', `dev_${randomBytes(16).toString('base64url')}`], 1, /^tessera: There is no such device/m],
      [['device', 'remove', '--id', '../../etc'], 1, /^tessera: There is no such device/m],
      [['device', 'flag', '--id', 'not a device', '--add', 'vip'], 1, /^tessera: There is no such device/m],
      [['device', 'rename', '--id', id, '--name', 'x'.repeat(65)], 1, /^tessera: A device name has 1 to 64 characters\./m],
      [['device', 'flag', '--id', id, '--add', '<script>'], 1, /^tessera: A flag has 1 to 40 /m],
      [['device', 'flag', '--id', id, '--add', 'a', '--remove', 'b'], 2, /^tessera: give exactly one of --add F or --remove F/m],
      [['device', 'rename', '--id', id], 2, /^tessera: --name is required/m],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(...args)));
    results.forEach((res, i) => {
      const [args, code, message] = cases[i]!;
      assert.equal(res.code, code, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, message, args.join(' '));
      assert.doesNotMatch(res.stderr, NO_STACK, args.join(' '));
    });
    assert.deepEqual(await t.services.devices.byId(id), before, 'nothing changed');
  });

  describe('bad input', () => {
    it('treats a tampered, unsigned or made-up device cookie as a new device (code asked), never a 500', async () => {
      const user = await createUser(t, { deviceVerification: true });
      const agent = browser();
      await signInWithCode(agent, user);
      const cookies = await agent.jar.getCookies(t.issuer);
      const value = cookies.find((c) => c.key === 'tessera.device')!.value;
      const sig = cookies.find((c) => c.key === 'tessera.device.sig')!.value;
      const setDevice = async (v: string, s: string | undefined) => {
        await agent.jar.setCookie(`tessera.device=${v}; Path=/`, t.issuer);
        await agent.jar.setCookie(s === undefined ? 'tessera.device.sig=; Path=/; Max-Age=0' : `tessera.device.sig=${s}; Path=/`, t.issuer);
      };
      const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
      for (const [what, v, s] of [
        ['signature changed', value, flip(sig)],
        ['no signature', value, undefined],
        ['value changed', flip(value), sig],
        ['not an id', 'not-a-device-id', sig],
      ] as const) {
        await setDevice(v, s);
        const page = await password(agent, user.email, user.password);
        assert.equal(page.status, 200, what);
        assert.match(page.body, /<h1>New device<\/h1>/, `${what}: a new device`);
      }
      await setDevice(value, sig);
      assert.ok(signedIn(await password(agent, user.email, user.password)), 'the untouched cookie is still the known device');
    });

    it('refuses an unavailable or malformed method on the new-device step (400, clear message), counts no failure, and the code still works', async () => {
      const user = await createUser(t, { deviceVerification: true });
      const agent = browser();
      const page = await password(agent, user.email, user.password);
      const { method: _method, ...fields } = formOn(page, /\/device$/).fields;
      const code = codeSentTo(user.email);
      for (const extra of [{ method: 'sms' }, { method: 'voice' }, { method: '' }, { 'method[]': 'email' }, { 'method[x]': 'email' }] as Record<string, string>[]) {
        const res = await agent.request(formOn(page, /\/device$/).action, { form: { ...fields, ...extra, code } });
        assert.equal(res.status, 400, JSON.stringify(extra));
        assert.equal(errorOf(res), 'Choose how to receive the code from the list.', JSON.stringify(extra));
      }
      const [device] = await t.services.devices.listFor(user.id);
      assert.equal(device!.failures, 0);
      assert.equal(device!.verifiedAt, undefined);
      assert.ok(signedIn(await agent.submit(page, /\/device$/, { code })));
    });

    it("refuses another account's device id, or a made-up one, on the rename page (400) and changes nothing", async () => {
      const [me, other] = [await createUser(t), await createUser(t)];
      const agent = browser();
      assert.ok(signedIn(await password(agent, me.email, me.password)));
      assert.ok(signedIn(await password(browser(), other.email, other.password)));
      const [theirs] = await t.services.devices.listFor(other.id);
      await t.services.devices.rename(theirs!.id, 'Theirs');
      const [mine] = await t.services.devices.listFor(me.id);
      const page = await agent.visit(`${t.issuer}/account/security/devices`);
      assert.equal(page.status, 200);
      const form = formOn(page, new RegExp(`/devices/${mine!.id}/rename$`));
      for (const id of [theirs!.id, `dev_${randomBytes(16).toString('base64url')}`, 'x'.repeat(300), encodeURIComponent('../x')]) {
        const res = await agent.request(`${t.issuer}/account/security/devices/${id}/rename`, { form: { ...form.fields, name: 'Mine now' } });
        assert.equal(res.status, 400, id);
        assert.equal(errorOf(res), 'There is no such device on your account.', id);
      }
      assert.equal((await t.services.devices.byId(theirs!.id))!.name, 'Theirs');
      assert.equal((await t.services.devices.byId(mine!.id))!.name, undefined);
    });
  });
});
