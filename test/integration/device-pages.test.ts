// The trusted-devices pages (/account/security/devices) through real HTTP with Tessera's clock in
// the test's hand: the list, trusting this browser with a 4-minute code (Extend, expiry, Resend,
// lock), the trusted-device limit and transfer, rename, remove with a code, and bad input.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, formOn, signIn, type Page, type TestUser } from '../support/flow.ts';
import type { Device } from '../../src/devices/registry.ts';

const MINUTE = 60_000;
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';

const DAY = 24 * 60 * MINUTE;

describe('trusted-devices pages', () => {
  let t: Tessera;
  let rp: RelyingParty;
  let devicesUrl: string;
  /** Tessera's clock runs with real time plus this offset. */
  let offset = 0;
  const now = () => new Date(Date.now() + offset);

  before(async () => {
    // one trusted device per account: every test uses its own account, the limit test needs it
    t = await startTessera({ clock: now, env: { MAX_TRUSTED_DEVICES: '1' } });
    rp = await RelyingParty.register(t, { skipConsent: true });
    devicesUrl = `${t.issuer}/account/security/devices`;
  });
  after(() => t.close());

  /** A browser signed in as `user` (a new device), on the devices page. */
  async function signedIn(user: TestUser): Promise<{ agent: UserAgent; page: Page }> {
    const agent = new UserAgent({ 'user-agent': CHROME });
    await signIn(agent, (await rp.authorize()).url, user);
    const page = await agent.visit(devicesUrl);
    assert.equal(page.status, 200, page.body.slice(0, 300));
    return { agent, page };
  }

  const mails = (to: string) => t.services.outbox.list().filter((m) => m.channel === 'email' && m.to === to);
  const codeMails = (to: string) => mails(to).filter((m) => /^\d{6} is your Tessera .*code/.test(m.subject ?? ''));
  /** The newest code emailed to `to` for `purpose` (its words in the subject). */
  const lastCode = (to: string, purpose = 'code to trust a device') => /^(\d{6}) /.exec(codeMails(to).find((m) => m.subject!.endsWith(purpose))!.subject!)![1]!;
  /** The newest email to `to` about a device becoming trusted (not whatever notice arrived last). */
  const trustedMail = (to: string) => mails(to).find((m) => / is now a trusted device$/.test(m.subject ?? ''));
  const minutesShown = (page: Page) => Number(/It is valid for (\d+) minutes?\./.exec(page.body)?.[1]);
  const registrations = (user: TestUser) => t.services.devices.listFor(user.id);
  const current = async (user: TestUser) => (await registrations(user))[0]!;
  const wrongFor = (code: string) => (code === '000000' ? '111111' : '000000');

  /** Starts trusting this browser: the verify page with the code just sent. */
  async function startTrust(agent: UserAgent, page: Page, user: TestUser, fields: Record<string, string> = {}) {
    const sent = codeMails(user.email).length;
    const verify = await agent.submit(page, /\/devices\/trust$/, { name: 'Work laptop', ...fields });
    assert.equal(verify.status, 200, verify.body.slice(0, 400));
    assert.equal(codeMails(user.email).length, sent + 1, 'one code sent');
    return verify;
  }

  it('lists the current device marked "this browser", with browser/OS, last IP and last use', async () => {
    const user = await createUser(t);
    const { page } = await signedIn(user);
    const today = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', dateStyle: 'long' }).format(now());
    const item = /<li id="device-[^"]+">([\s\S]*?)<\/li>/.exec(page.body)![1]!;
    assert.match(item, /<span class="tag">this browser<\/span>/);
    assert.match(item, /<strong>Chrome 124 on Linux<\/strong>/);
    // told apart by browser, last use (to the minute, in the account's zone: UTC here), last place and first use
    assert.match(item, /<dt>Browser<\/dt><dd>Chrome 124 on Linux<\/dd>/);
    assert.match(item, new RegExp(`<dt>Last used</dt><dd>${today}, \\d\\d:\\d\\d UTC</dd>`));
    assert.match(item, /<dt>Last place<\/dt><dd>unknown location <span class="muted">\(IP 127\.0\.0\.1\)<\/span><\/dd>/);
    assert.match(item, new RegExp(`<dt>First seen</dt><dd>${today}</dd>`));
    assert.match(page.body, /<button type="submit">Send me a code to trust it<\/button>/);
    assert.match(page.body, /0 of 1 trusted devices\./);
    assert.match(page.body, /<h2>Trust this browser<\/h2>/);
  });

  it('trusts this browser with a 4-minute code: Extend up to 15 minutes, expired until Resend, then a confirmation', async () => {
    const user = await createUser(t);
    const { agent, page } = await signedIn(user);
    let verify = await startTrust(agent, page, user);
    assert.equal(minutesShown(verify), 4);
    assert.match(verify.body, /Trust this browser as &#34;Work laptop&#34;/);
    assert.match(codeMails(user.email)[0]!.text, /It expires in 4 minutes\./);
    assert.match(codeMails(user.email)[0]!.subject!, /^\d{6} is your Tessera code to trust a device$/, 'the email says what the code confirms');
    const first = lastCode(user.email);

    // Extend adds 4 minutes each time, never past 15 minutes after the code was issued
    offset += 3 * MINUTE;
    verify = await agent.submit(verify, /\/devices\/extend$/);
    assert.equal(minutesShown(verify), 5, '1 minute left + 4');
    offset += 4 * MINUTE;
    verify = await agent.submit(verify, /\/devices\/extend$/);
    assert.equal(minutesShown(verify), 5);
    offset += 4 * MINUTE;
    verify = await agent.submit(verify, /\/devices\/extend$/);
    assert.equal(minutesShown(verify), 4, 'capped at 15 minutes after issue (11 + 4)');
    verify = await agent.submit(verify, /\/devices\/extend$/);
    assert.match(verify.body, /cannot be extended any further \(at most 15 minutes in all\)/);
    assert.equal(minutesShown(verify), 4, 'the expiry did not move');
    assert.equal(codeMails(user.email).length, 1, 'Extend sends nothing');

    // past the expiry the code is refused, and only Resend brings a new one
    offset += 4 * MINUTE + 5000;
    for (let i = 0; i < 2; i++) {
      const refused = await agent.submit(verify, /\/devices\/verify$/, { code: first });
      assert.equal(refused.status, 400);
      assert.match(refused.body, /This code expired\. Use &#34;Resend&#34; to get a new one\./);
    }
    assert.equal(codeMails(user.email).length, 1, 'no new code without Resend');
    verify = await agent.submit(verify, /\/devices\/resend$/);
    assert.equal(codeMails(user.email).length, 2);
    assert.equal(minutesShown(verify), 4);
    assert.equal((await current(user)).trustedUntil, undefined, 'not trusted yet');

    const done = await agent.submit(verify, /\/devices\/verify$/, { code: lastCode(user.email) });
    assert.equal(done.status, 200);
    assert.match(done.body, /<p class="notice" role="status">This browser is now a trusted device \(&#34;Work laptop&#34;\) until \d{1,2} [A-Z][a-z]+ \d{4}\. We sent you a confirmation by email\.<\/p>/);
    assert.match(done.body, /1 of 1 trusted devices\./);
    assert.doesNotMatch(done.body, /<h2>Trust this browser<\/h2>/);
    assert.equal(trustedMail(user.email)?.subject, '"Work laptop" is now a trusted device');
    const device = await current(user);
    assert.equal(device.name, 'Work laptop');
    assert.ok(Math.abs(device.trustedUntil!.getTime() - (now().getTime() + 30 * DAY)) < 10_000, `trusted until ${device.trustedUntil?.toISOString()}`);
    assert.ok(device.activatedAt && Math.abs(device.activatedAt.getTime() - now().getTime()) < 10_000);
  });

  it('sends no new code when Extend is pressed after the code expired (only Resend does)', async () => {
    const user = await createUser(t);
    const { agent, page } = await signedIn(user);
    const verify = await startTrust(agent, page, user);
    offset += 5 * MINUTE;
    const late = await agent.submit(verify, /\/devices\/extend$/);
    assert.match(late.body, /can no longer be extended: use &#34;Resend&#34; to get a new one/);
    assert.equal(codeMails(user.email).length, 1, 'no new code without Resend');
  });

  it('locks the code after 3 wrong entries (even the right one is refused) until Resend, which waits a minute', async () => {
    const user = await createUser(t);
    const { agent, page } = await signedIn(user);
    let verify = await startTrust(agent, page, user);
    const code = lastCode(user.email);
    for (const left of ['2 tries', '1 try']) {
      const wrong = await agent.submit(verify, /\/devices\/verify$/, { code: wrongFor(code) });
      assert.equal(wrong.status, 400);
      assert.match(wrong.body, new RegExp(`That code is not right\\. ${left} left\\.`));
    }
    assert.match((await agent.submit(verify, /\/devices\/verify$/, { code: wrongFor(code) })).body, /Too many wrong codes/);
    const locked = await agent.submit(verify, /\/devices\/verify$/, { code });
    assert.equal(locked.status, 400);
    assert.match(locked.body, /Too many wrong codes\. Use &#34;Resend&#34; to get a new code\./);
    assert.equal((await current(user)).trustedUntil, undefined);

    verify = await agent.submit(verify, /\/devices\/resend$/);
    assert.match(verify.body, /You can ask for the code again in \d+ s\./);
    assert.equal(codeMails(user.email).length, 1, 'too soon: nothing sent');
    offset += 61_000;
    verify = await agent.submit(verify, /\/devices\/resend$/);
    assert.equal(codeMails(user.email).length, 2, 'a new code');
    const done = await agent.submit(verify, /\/devices\/verify$/, { code: lastCode(user.email) });
    assert.match(done.body, /is now a trusted device/);
    assert.ok((await current(user)).trustedUntil);
  });

  it('at the limit, transfers trust: the new browser names the device it replaces, inherits its name and flags, the old one is removed', async () => {
    const user = await createUser(t);
    const a = await signedIn(user);
    const verifyA = await startTrust(a.agent, a.page, user, { name: 'Old phone' });
    await a.agent.submit(verifyA, /\/devices\/verify$/, { code: lastCode(user.email) });
    const deviceA = await current(user);
    await t.services.devices.flag(deviceA.id, { add: 'corp-managed' });

    const b = await signedIn(user);
    assert.match(b.page.body, /You trust 1 device already\. This browser replaces/);
    assert.match(b.page.body, new RegExp(`<option value="${deviceA.id}">Old phone`));
    const before = await registrations(user);
    const sent = codeMails(user.email).length;
    for (const replace of [undefined, '', `dev_${randomBytes(16).toString('base64url')}`, (await current(user)).id]) {
      const res = await b.agent.submit(b.page, /\/devices\/trust$/, { name: 'New phone', ...(replace === undefined ? {} : { replace }) });
      assert.equal(res.status, 400, `replace=${replace}`);
      assert.match(res.body, /You already trust 1 device\. Choose the one this browser replaces: nothing was changed\./);
    }
    assert.deepEqual(await registrations(user), before, 'nothing changed');
    assert.equal(codeMails(user.email).length, sent, 'no code sent');

    const verify = await startTrust(b.agent, b.page, user, { name: 'New phone', replace: deviceA.id });
    assert.match(verify.body, /in place of another device/);
    const done = await b.agent.submit(verify, /\/devices\/verify$/, { code: lastCode(user.email) });
    assert.match(done.body, /This browser is now a trusted device \(&#34;Old phone&#34;\)/);
    assert.match(trustedMail(user.email)!.text, /It replaces "Old phone", which is no longer trusted\./);

    const [deviceB] = await registrations(user);
    assert.notEqual(deviceB!.id, deviceA.id);
    assert.equal(deviceB!.name, 'Old phone');
    assert.deepEqual(deviceB!.flags, ['corp-managed']);
    assert.ok(deviceB!.trustedUntil! > now());
    const old = (await t.services.devices.byId(deviceA.id))!;
    assert.equal(old.state, 'REMOVED');
    assert.equal(old.trustedUntil, undefined);
    assert.deepEqual(pick(old.history.at(-1)!), { from: 'ACTIVE', to: 'REMOVED', by: 'user' });
    assert.match(old.history.at(-1)!.why, /^trust transferred to /);
  });

  it('renames a device (1 to 64 characters) and removes another one only with the emailed code', async () => {
    const user = await createUser(t);
    await signedIn(user); // another browser of the same account
    const { agent, page } = await signedIn(user);
    const [mine, theirs] = await registrations(user);
    const renamed = await agent.submit(page, new RegExp(`/${mine!.id}/rename$`), { name: '  Desk PC  ' });
    assert.equal(renamed.status, 200);
    assert.match(renamed.body, /Renamed to &#34;Desk PC&#34;\./);
    for (const name of ['', '   ', 'x'.repeat(65)]) {
      const res = await agent.submit(page, new RegExp(`/${mine!.id}/rename$`), { name });
      assert.equal(res.status, 400, JSON.stringify(name));
      assert.match(res.body, /A device name has 1 to 64 characters: nothing was changed\./);
    }
    assert.equal((await t.services.devices.byId(mine!.id))!.name, 'Desk PC');

    const verify = await agent.submit(page, new RegExp(`/${theirs!.id}/remove$`));
    assert.match(verify.body, /Remove &#34;Chrome 124 on Linux&#34;/);
    const code = lastCode(user.email, 'code to remove a device');
    const wrong = await agent.submit(verify, /\/devices\/verify$/, { code: wrongFor(code) });
    assert.equal(wrong.status, 400);
    assert.equal((await t.services.devices.byId(theirs!.id))!.state, 'ACTIVE', 'a wrong code leaves it in place');
    const done = await agent.submit(verify, /\/devices\/verify$/, { code });
    assert.match(done.body, /was removed\. Signing in from it needs a new-device code again\./);
    const removed = (await t.services.devices.byId(theirs!.id))!;
    assert.equal(removed.state, 'REMOVED');
    assert.deepEqual(pick(removed.history.at(-1)!), { from: 'ACTIVE', to: 'REMOVED', by: 'user' });
  });

  it("refuses another account's device, random or malformed ids and array fields with a clear 400, and a missing CSRF token with 403", async () => {
    const user = await createUser(t);
    const stranger = await createUser(t);
    const { agent, page } = await signedIn(user);
    const theirs = await signedIn(stranger);
    await startTrust(theirs.agent, theirs.page, stranger);
    const strangerCode = lastCode(stranger.email);
    const strangerBefore = await registrations(stranger);
    const mine = await current(user);
    const csrf = formOn(page, /\/devices\/trust$/).fields._csrf!;
    const post = (path: string, form: Record<string, string>) => agent.request(`${devicesUrl}/${path}`, { form: { _csrf: csrf, ...form } });
    const postRaw = (path: string, body: string) => fetchWith(agent, `${devicesUrl}/${path}`, `_csrf=${encodeURIComponent(csrf)}&${body}`);

    const victim = strangerBefore[0]!.id;
    for (const id of [victim, `dev_${randomBytes(16).toString('base64url')}`, 'x', 'dev_../../x', encodeURIComponent('a b'), 'd'.repeat(300)]) {
      for (const res of [
        await post(`${encodeURIComponent(id)}/rename`, { name: 'Mine now' }),
        await post(`${encodeURIComponent(id)}/remove`, {}),
        await post('verify', { device: id, code: strangerCode }),
        await post('extend', { device: id }),
        await post('resend', { device: id }),
      ]) {
        assert.equal(res.status, 400, `${id.slice(0, 20)} → ${res.status}`);
        assert.match(res.body, /There is no such device on your account\./);
      }
    }
    for (const [path, body] of [
      ['trust', 'name[]=x'], ['trust', 'name=a&name=b'], [`${mine.id}/rename`, 'name[]=x'], [`${mine.id}/rename`, 'name[a]=x'],
      ['verify', `device[]=${victim}&code=${strangerCode}`], ['extend', `device[]=${mine.id}`], ['resend', `device[a]=${mine.id}`],
      ['verify', `device=${mine.id}&code[]=123456`],
    ]) {
      const res = await postRaw(path!, body!);
      assert.equal(res.status, 400, `${path} ${body} → ${res.status}`);
    }
    for (const path of ['trust', `${mine.id}/rename`, `${mine.id}/remove`, 'verify', 'extend', 'resend']) {
      const res = await agent.request(`${devicesUrl}/${path}`, { form: { name: 'x', device: mine.id, code: '123456' } });
      assert.equal(res.status, 403, path);
    }
    assert.deepEqual(await registrations(stranger), strangerBefore, "the other account's devices are untouched");
    assert.deepEqual((await registrations(user)).map(strip), [strip(mine)], 'and so are mine');
  });
});

const pick = (h: { from: unknown; to: unknown; by: unknown }) => ({ from: h.from, to: h.to, by: h.by });
/** A registration without what every request updates (last use, the failure count). */
const strip = (d: Device) => ({ id: d.id, state: d.state, name: d.name, trustedUntil: d.trustedUntil, pending: d.pending, flags: d.flags, history: d.history });

/** POST a hand-made form body (array fields, repeated fields) with the agent's cookies. */
async function fetchWith(agent: UserAgent, url: string, body: string): Promise<{ status: number; body: string }> {
  const cookie = await agent.jar.getCookieString(url);
  const res = await fetch(url, { method: 'POST', headers: { accept: 'text/html', cookie, 'content-type': 'application/x-www-form-urlencoded' }, body, redirect: 'manual' });
  return { status: res.status, body: await res.text() };
}
