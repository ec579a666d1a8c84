// What a sign-in from a device tells, through real HTTP, a real SMTP server and the `tessera`
// command: new-device emails to the user and the organisation's admins (with IP, place, browser),
// sent even with verification off and never blocking the sign-in; and every attempt as an event.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tesseraCli } from '../support/cli.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, type Page, type TestUser } from '../support/flow.ts';
import { startSmtp, type Smtp } from '../support/mail.ts';

const FIREFOX_ON_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
/** A user agent that names a real browser (as device records and emails show it), with any extra headers. */
const browser = (extra: Record<string, string> = {}) => new UserAgent({ 'user-agent': FIREFOX_ON_LINUX, ...extra });
const GB_ADDRESS = '81.2.69.142'; // Newmarket, United Kingdom in geoip-lite's data



const signedIn = (page: Page) => page.url.startsWith(REDIRECT_URI) && page.url.includes('code=');
const NEW_DEVICE = 'Subject: New sign-in to your Tessera account';

describe('device notices and sign-in events', function () {
  this.timeout(120_000);
  let smtp: Smtp;
  let t: Tessera;
  let rp: RelyingParty;
  let dataDir: string;
  const serverErrors: unknown[] = [];

  before(async () => {
    smtp = await startSmtp();
    t = await startTessera({ env: { SMTP_URL: smtp.url }, log: (err) => serverErrors.push(err) });
    rp = await RelyingParty.register(t, { skipConsent: true });
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-cli-'));
  });
  after(async () => {
    await t.close();
    await smtp.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  afterEach(() => assert.deepEqual(serverErrors, [], 'no 500s'));

  const cli = (...args: string[]) => tesseraCli(t, dataDir, ...args);
  const mailsTo = (email: string) => smtp.received.filter((m) => m.to.includes(email));

  /** A fresh sign-in (prompt=login) up to the page after the password. */
  async function password(agent: UserAgent, user: TestUser, pw = user.password, on: { t: Tessera; rp: RelyingParty } = { t, rp }): Promise<Page> {
    const page = await agent.visit((await on.rp.authorize({ prompt: 'login' })).url);
    return agent.submit(page, /\/login$/, { email: user.email, password: pw });
  }

  function codeSentTo(email: string): string {
    const code = mailsTo(email).map((m) => /Subject: (\d{6}) is your Tessera sign-in code/.exec(m.raw)?.[1]).filter(Boolean).at(-1);
    assert.ok(code, `a code was emailed to ${email}`);
    return code;
  }

  it('with new-device verification turned off (`user update --device-verification off`) asks no code but still sends the new-device email; `on` brings the code back', async () => {
    const user = await createUser(t, { deviceVerification: true });
    const off = await cli('user', 'update', '--email', user.email, '--device-verification', 'off', '--json');
    assert.equal(off.code, 0, off.stderr);
    assert.equal(JSON.parse(off.stdout).deviceVerification, false);
    assert.ok(signedIn(await password(browser(), user)), 'signed in without a code');
    await t.services.notices.settled();
    assert.deepEqual(mailsTo(user.email).map((m) => m.raw.includes(NEW_DEVICE)), [true], 'one email: the new-device notice, no code');

    const on = await cli('user', 'update', '--email', user.email, '--device-verification', 'on', '--json');
    assert.equal(JSON.parse(on.stdout).deviceVerification, true, on.stderr);
    const page = await password(browser(), user);
    assert.match(page.body, /<h1>New device<\/h1>/, 'the code is asked again');
    codeSentTo(user.email);
  });

  it("emails a member's new-device sign-in to the member and the organisation's admins (naming the member), not to other members", async () => {
    const [member, admin, colleague] = [await createUser(t, { deviceVerification: true }), await createUser(t), await createUser(t)];
    const created = await cli('org', 'create', '--name', 'Acme', '--json');
    assert.equal(created.code, 0, created.stderr);
    for (const [command, who] of [['add-member', member], ['add-member', colleague], ['add-admin', admin]] as const) {
      const res = await cli('org', command, '--org', 'Acme', '--email', who.email);
      assert.equal(res.code, 0, res.stderr);
    }
    const agent = browser();
    const page = await password(agent, member);
    assert.ok(signedIn(await agent.submit(page, /\/device$/, { code: codeSentTo(member.email) })));
    await t.services.notices.settled();

    const own = mailsTo(member.email).find((m) => m.raw.includes(NEW_DEVICE));
    assert.ok(own, 'the member is told');
    assert.match(own.text, /IP:\s+127\.0\.0\.1/);
    assert.match(own.text, /Firefox 128 on Linux/);
    const toAdmin = mailsTo(admin.email);
    assert.equal(toAdmin.length, 1, 'the admin receives one email');
    assert.ok(toAdmin[0]!.raw.includes(`Subject: ${member.email} signed in from a new device`));
    assert.match(toAdmin[0]!.text, new RegExp(`A member of Acme, ${member.email.replace('.', '\\.')}, signed in to Tessera from a new device`));
    assert.match(toAdmin[0]!.text, /you are an administrator of Acme/);
    assert.deepEqual(mailsTo(colleague.email), [], 'a member who is not an admin receives nothing');
  });

  it('ignores X-Forwarded-For without TRUST_PROXY: the email shows 127.0.0.1 and an unknown location', async () => {
    const user = await createUser(t);
    assert.ok(signedIn(await password(browser({ 'x-forwarded-for': GB_ADDRESS }), user)));
    await t.services.notices.settled();
    const mail = mailsTo(user.email).find((m) => m.raw.includes(NEW_DEVICE))!;
    assert.match(mail.text, /IP:\s+127\.0\.0\.1\s/);
    assert.match(mail.text, /Where:\s+unknown location \(approximate\)/);
    const [device] = await t.services.devices.listFor(user.id);
    assert.equal(device!.lastIp, '127.0.0.1');
    assert.equal(device!.location, undefined);
  });

  it('stores every attempt as a sign-in event: wrong password, wrong code, new device, success, blocked device; with IP, browser and device', async () => {
    const user = await createUser(t, { deviceVerification: true });
    const owner = browser();
    await password(owner, user, 'Wrong#Guess1');
    let page = await password(owner, user);
    const code = codeSentTo(user.email);
    page = await owner.submit(page, /\/device$/, { code: code === '000000' ? '111111' : '000000' });
    assert.ok(signedIn(await owner.submit(page, /\/device$/, { code })));
    const intruder = browser();
    for (let i = 1; i <= 5; i++) await password(intruder, user, `Wrong#Guess${i}`);
    assert.equal((await password(intruder, user)).status, 403, 'blocked');

    // the owner's browser became a registration when it proved the password; the intruder's never did
    const devices = await t.services.devices.listFor(user.id);
    assert.equal(devices.length, 1);
    const ownerId = devices[0]!.id;
    const events = await t.services.events.of(user.id);
    const seen = events.map((e) => `${e.result} ${e.deviceId === ownerId ? 'owner' : e.deviceId ?? 'unregistered'}`).sort();
    assert.deepEqual(seen, [
      'blocked_device unregistered', 'new_device owner', 'success owner', 'wrong_code owner', ...Array(6).fill('wrong_password unregistered'),
    ]);
    for (const e of events) {
      assert.deepEqual([e.accountId, e.ip, e.browser, e.os], [user.id, '127.0.0.1', 'Firefox 128', 'Linux'], e.result);
      assert.ok(e.at instanceof Date);
    }
    assert.deepEqual(events.find((e) => e.result === 'wrong_password')!.factors, ['pwd']);
    assert.deepEqual(events.find((e) => e.result === 'wrong_code')!.factors, ['email']);
    assert.ok(events.find((e) => e.result === 'success')!.factors.includes('pwd'), 'success names what was proven');
  });

  describe('behind a trusted proxy (TRUST_PROXY=true)', () => {
    let proxied: Tessera;
    let proxiedRp: RelyingParty;
    before(async () => {
      proxied = await startTessera({ env: { SMTP_URL: smtp.url, TRUST_PROXY: 'true' }, log: (err) => serverErrors.push(err) });
      proxiedRp = await RelyingParty.register(proxied, { skipConsent: true });
    });
    after(() => proxied.close());

    it('locates the sign-in from X-Forwarded-For: the email names GB and the city, the device keeps the address', async () => {
      const user = await createUser(proxied);
      const page = await password(browser({ 'x-forwarded-for': GB_ADDRESS }), user, user.password, { t: proxied, rp: proxiedRp });
      assert.ok(signedIn(page));
      await proxied.services.notices.settled();
      const mail = mailsTo(user.email).find((m) => m.raw.includes(NEW_DEVICE))!;
      assert.match(mail.text, /IP:\s+81\.2\.69\.142\s/);
      assert.match(mail.text, /Where:\s+Newmarket, United Kingdom \(approximate\)/);
      const [device] = await proxied.services.devices.listFor(user.id);
      assert.equal(device!.lastIp, GB_ADDRESS);
      assert.deepEqual(device!.location, { country: 'GB', region: 'ENG', city: 'Newmarket' });
    });
  });

  describe('with the mail server down (SMTP_URL on a closed port)', () => {
    let down: Tessera;
    const logged: string[] = [];
    before(async () => {
      down = await startTessera({ env: { SMTP_URL: 'smtp://127.0.0.1:9' }, serviceLog: (line) => logged.push(line), noticeRetryDelayMs: () => 5000 });
    });
    after(() => down.close());

    it('completes the sign-in without waiting for the new-device email, which is retried in the background and then logged', async () => {
      const user = await createUser(down, { email: `down-${randomBytes(4).toString('hex')}@example.com` });
      const page = await password(browser(), user, user.password, { t: down, rp: await RelyingParty.register(down, { skipConsent: true }) });
      assert.ok(signedIn(page), 'signed in although the email cannot be sent');
      assert.deepEqual(logged, [], 'the sign-in did not wait for the notice to give up');
      // three attempts 5 s apart: about 10 s (the sign-in above is over long before the first retry)
      await down.services.notices.settled();
      assert.equal(logged.length, 1, logged.join('\n'));
      assert.match(logged[0]!, new RegExp(`^\\[tessera\\] new-device notice to ${user.id} could not be sent after 3 attempt\\S*: the email could not be sent \\(\\w+\\)$`));
    });
  });
});
