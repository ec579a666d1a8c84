// Device-bound trust through real HTTP and the real database (README "Proof of possession"): a
// device trusted with "Trust this device" is bound to the browser's device key, and skips the
// routine TOTP only with a fresh signature by it; the same cookies in another browser (no key, or
// the thief's own key) are asked for the TOTP and recorded as a possible copied cookie (audit,
// device history, an email after repeated cases). Browsers without WebCrypto are never trusted by
// their cookie alone unless DEVICE_TRUST_COOKIE_ONLY is on; old key-less trust is asked again and
// becomes key-bound from the devices page; removing or blocking a device discards its key.
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, type Authorization, type Page, type TestUser } from '../support/flow.ts';
import { ACR } from '../../src/policy/assurance.ts';
import { KEY_PROOF_FAILURES_BEFORE_EMAIL } from '../../src/policy/trust.ts';

type TotpUser = TestUser & { secret: string };
const COPIED = /Someone may have copied a trusted device of your Tessera account/;

describe('device-bound trust (a trusted device is its key, not its cookie)', () => {
  let t: Tessera;
  let rp: RelyingParty;
  let offset = 0;
  const now = () => new Date(Date.now() + offset);

  before(async () => {
    t = await startTessera({ clock: now });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(() => t?.close());

  const appCode = (secret: string) => {
    offset += 30_000;
    return generate({ secret, epoch: Math.floor(now().getTime() / 1000) });
  };

  async function totpUser(within: Tessera = t): Promise<TotpUser> {
    const user = await createUser(within, { deviceVerification: true });
    const { secret } = await within.services.totp.begin(user.id, user.email);
    assert.ok(await within.services.totp.confirm(user.id, await appCode(secret)));
    await within.services.accounts.setSecondFactor(user.id, 'totp');
    return { ...user, secret };
  }

  // the outbox lists the newest first
  const codeFor = (within: Tessera, user: TestUser) => /(\d{6})/.exec(within.services.outbox.list().find((m) => m.to === user.email && /sign-in code/.test(m.subject ?? ''))!.subject!)![1]!;

  async function password(agent: UserAgent, user: TestUser, within = t, party = rp): Promise<{ auth: Authorization; page: Page }> {
    const auth = await party.authorize({ prompt: 'login' });
    const page = await agent.submit(await agent.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
    return { auth, page };
  }

  /**
   * A new browser: password, the emailed new-device code with "Trust this device" ticked (or not:
   * `trust`), and the TOTP when it is asked next.
   */
  async function trustNewBrowser(agent: UserAgent, user: TotpUser, within = t, party = rp, trust = true): Promise<string[]> {
    const { auth, page } = await password(agent, user, within, party);
    assert.match(page.body, /<h1>New device<\/h1>/);
    let done = await agent.submit(page, /\/device$/, { code: codeFor(within, user), ...(trust ? { trust: 'yes' } : {}) });
    if (/<h1>Verify it is you<\/h1>/.test(done.body)) done = await agent.submit(done, /\/factor$/, { code: await appCode(user.secret) });
    return (await claims(done, auth, party)).amr;
  }

  async function claims(page: Page, auth: Authorization, party = rp) {
    assert.ok(page.url.startsWith(REDIRECT_URI), `not back at the RP: ${page.status} ${page.body.slice(0, 400)}`);
    const c = (await party.tokens(page.url, auth)).claims()!;
    return { acr: c.acr, amr: c.amr as string[] };
  }

  async function skips(agent: UserAgent, user: TestUser, why: string, within = t, party = rp) {
    const { auth, page } = await password(agent, user, within, party);
    assert.deepEqual(await claims(page, auth, party), { acr: ACR.password, amr: ['pwd'] }, why);
  }

  async function asksTotp(agent: UserAgent, user: TestUser, why: string, within = t, party = rp) {
    const { page } = await password(agent, user, within, party);
    assert.match(page.body, /<h1>Verify it is you<\/h1>/, `${why}: ${page.body.slice(0, 300)}`);
    assert.match(page.body, /Your account asks for a second step/, why);
  }

  /** Another browser holding copies of `from`'s cookies (what infostealer malware takes), without its IndexedDB. */
  async function copyCookies(from: UserAgent, to = new UserAgent()): Promise<UserAgent> {
    for (const cookie of await from.jar.getCookies(t.issuer)) await to.jar.setCookie(cookie, t.issuer);
    return to;
  }

  async function keyEvents(accountId: string) {
    await t.services.audit.flush();
    return (await t.services.audit.query({ accountId, type: 'device.key_proof_failed', limit: 50 })).events;
  }

  it('binds "Trust this device" to the browser\'s key: the TOTP is skipped at once and on the next sign-ins, which sign a challenge', async () => {
    const user = await totpUser();
    const browser = new UserAgent();
    assert.deepEqual(await trustNewBrowser(browser, user), ['pwd', 'email']);
    const keyed = await t.services.devices.registrationFor(user.id, browserIdOf(browser));
    assert.ok(keyed?.trustedUntil && keyed.key, 'the trusted registration holds the public key');
    const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', browser.deviceKey!.publicKey);
    assert.deepEqual(keyed.key.publicKey, { kty, crv, x, y });
    await skips(browser, user, 'the key signs: the TOTP is skipped');
    await skips(browser, user, 'and again with a new challenge');
    assert.equal((await keyEvents(user.id)).length, 0, 'nothing suspicious');
  });

  it('asks a browser with the copied cookies but no key for the TOTP, audits it, keeps it in the device history, and emails after repeated cases', async () => {
    const user = await totpUser();
    const browser = new UserAgent();
    await trustNewBrowser(browser, user);
    for (let i = 1; i <= KEY_PROOF_FAILURES_BEFORE_EMAIL; i++) {
      await asksTotp(await copyCookies(browser), user, `copied cookies, case ${i}`);
      if (i < KEY_PROOF_FAILURES_BEFORE_EMAIL) {
        await t.services.notices.settled();
        assert.equal(t.services.outbox.list().filter((m) => m.to === user.email && COPIED.test(m.subject ?? '')).length, 0, `no email after ${i}`);
      }
    }
    const events = await keyEvents(user.id);
    assert.equal(events.length, KEY_PROOF_FAILURES_BEFORE_EMAIL);
    assert.equal(events[0]!.outcome, 'failure');
    assert.equal(events[0]!.details?.reason, 'missing');
    const device = (await t.services.devices.listFor(user.id)).find((d) => d.trustedUntil)!;
    assert.equal(events[0]!.subject?.id, device.id);
    assert.equal(device.history.filter((h) => /without its device key \(missing\): possibly a copied cookie/.test(h.why)).length, KEY_PROOF_FAILURES_BEFORE_EMAIL);
    await t.services.notices.settled();
    const mails = t.services.outbox.list().filter((m) => m.to === user.email && COPIED.test(m.subject ?? ''));
    assert.equal(mails.length, 1, 'one email at the repeated case');
    assert.match(mails[0]!.text ?? '', /was used 3 times in a row/);
    assert.match(mails[0]!.text ?? '', /remove the device under Security > Devices/);
    // the person's own browser still signs with its key, and that starts the count again
    await skips(browser, user, 'the owner\'s browser is not affected');
    assert.equal((await t.services.devices.registrationFor(user.id, browserIdOf(browser)))!.key!.failures, 0);
  });

  it('asks a browser with the copied cookies and its own key (a signature by the wrong key) for the TOTP', async () => {
    const user = await totpUser();
    const browser = new UserAgent();
    await trustNewBrowser(browser, user);
    const thief = await copyCookies(browser);
    thief.deviceKey = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
    await asksTotp(thief, user, 'signed by another key');
    assert.deepEqual((await keyEvents(user.id)).map((e) => e.details?.reason), ['bad-signature']);
  });

  it('spends a challenge once: a replayed or concurrent copy of the same proof is refused', async () => {
    const user = await totpUser();
    const browser = new UserAgent();
    await trustNewBrowser(browser, user);
    const device = (await t.services.devices.registrationFor(user.id, browserIdOf(browser)))!;
    const challenge = t.services.deviceKeys.issue('some-interaction');
    const nonce = challenge.split('.')[2]!;
    const spent = await Promise.all([1, 2, 3].map(() => t.services.devices.claimKeyChallenge(device.id, device.key!.publicKey, nonce)));
    assert.deepEqual(spent.filter(Boolean).length, 1, 'one of three concurrent copies');
    assert.equal(await t.services.devices.claimKeyChallenge(device.id, device.key!.publicKey, nonce), false, 'a later replay');
  });

  it('never trusts a browser without WebCrypto by its cookie: "Trust this device" leaves it known, and its next sign-in is asked for the TOTP', async () => {
    const user = await totpUser();
    const old = new UserAgent({}, { webCrypto: false });
    const amr = await trustNewBrowser(old, user);
    assert.ok(amr.includes('otp'), `no key bound: the routine TOTP is asked now (amr ${amr})`);
    const device = (await t.services.devices.registrationFor(user.id, browserIdOf(old)))!;
    assert.ok(device.verifiedAt, 'a known device (no new-device code next time)');
    assert.equal(device.trustedUntil, undefined, 'not trusted');
    assert.equal(device.key, undefined);
    await asksTotp(old, user, 'asked, never trusted by its cookie');
  });

  it('asks a device trusted before keys (no key) for the TOTP, and the devices page binds it to a key again', async () => {
    const user = await totpUser();
    const browser = new UserAgent();
    await trustNewBrowser(browser, user, t, rp, false);
    // as a device trusted before this change: trusted by its cookie, no key
    const device = (await t.services.devices.registrationFor(user.id, browserIdOf(browser)))!;
    await t.services.devices.trust(device.id, 'Old laptop', new Date(now().getTime() + 86_400_000));
    assert.equal((await t.services.devices.registrationFor(user.id, browserIdOf(browser)))!.key, undefined);
    const asked = await password(browser, user);
    assert.match(asked.page.body, /<h1>Verify it is you<\/h1>/, 'trusted without a key: asked');
    await claims(await browser.submit(asked.page, /\/factor$/, { code: await appCode(user.secret) }), asked.auth);
    assert.equal((await keyEvents(user.id)).length, 0, 'no key: nothing to call a copy');

    const devices = await browser.visit(`${t.issuer}/account/security/devices`);
    assert.match(devices.body, /its trust is not yet bound to a device key of its own/);
    const verify = await browser.submit(devices, /\/devices\/trust$/, { name: 'Old laptop' });
    const code = /^(\d{6}) /.exec(t.services.outbox.list().find((m) => m.to === user.email && /^\d{6} is your Tessera .*code/.test(m.subject ?? ''))!.subject!)![1]!;
    assert.match((await browser.submit(verify, /\/devices\/verify$/, { code })).body, /This browser is now a trusted device/);
    assert.ok((await t.services.devices.registrationFor(user.id, browserIdOf(browser)))!.key, 'bound to the browser\'s key');
    await skips(browser, user, 'key-bound again: skipped');
  });

  describe('"Keep trusting this device" on the routine second-factor page (a device trusted before keys)', () => {
    /** A browser trusted by its cookie alone, as before device keys: known, trusted until tomorrow, no key. */
    async function legacyDevice(user: TotpUser, browser = new UserAgent()) {
      await trustNewBrowser(browser, user, t, rp, false);
      const device = (await t.services.devices.registrationFor(user.id, browserIdOf(browser)))!;
      const until = new Date(now().getTime() + 86_400_000);
      await t.services.devices.trust(device.id, 'Old laptop', until);
      return { browser, device, until: (await t.services.devices.registrationFor(user.id, browserIdOf(browser)))!.trustedUntil! };
    }
    const KEEP = /name="trust" value="yes"/;

    it('binds the browser\'s key once the factor passes: the next sign-in skips the TOTP with it; the trust period stays; audited and in the device history', async () => {
      const user = await totpUser();
      const { browser, device, until } = await legacyDevice(user);
      const asked = await password(browser, user);
      assert.match(asked.page.body, /<h1>Verify it is you<\/h1>/);
      assert.match(asked.page.body, KEEP, 'the box is offered');
      assert.match(asked.page.body, /Keep trusting this device/);
      assert.match(asked.page.body, /name="device_challenge" value="dk1\./);
      await claims(await browser.submit(asked.page, /\/factor$/, { code: await appCode(user.secret), trust: 'yes' }), asked.auth);
      const bound = (await t.services.devices.registrationFor(user.id, browserIdOf(browser)))!;
      const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', browser.deviceKey!.publicKey);
      assert.deepEqual(bound.key?.publicKey, { kty, crv, x, y }, 'bound to the key that signed');
      assert.equal(bound.trustedUntil!.getTime(), until.getTime(), 'the trust period is not extended');
      assert.ok(bound.history.some((h) => /Keep trusting this device/.test(h.why)), 'a device history entry');
      await t.services.audit.flush();
      const events = (await t.services.audit.query({ accountId: user.id, type: 'device.trusted', limit: 50 })).events;
      assert.ok(events.some((e) => e.subject?.id === device.id && e.details?.keyBound === true && /second-factor step/.test(String(e.details?.why))), 'audited');
      await skips(browser, user, 'key-bound now: skipped with its signature');
      const copy = await copyCookies(browser);
      await asksTotp(copy, user, 'the copied cookies without the key');
    });

    it('binds nothing when the box is not ticked: the next sign-in is asked again', async () => {
      const user = await totpUser();
      const { browser } = await legacyDevice(user);
      const asked = await password(browser, user);
      assert.match(asked.page.body, KEEP);
      await claims(await browser.submit(asked.page, /\/factor$/, { code: await appCode(user.secret) }), asked.auth);
      assert.equal((await t.services.devices.registrationFor(user.id, browserIdOf(browser)))!.key, undefined);
      await asksTotp(browser, user, 'still no key');
    });

    it('binds nothing with a wrong code, even ticked: copied cookies with the thief\'s key cannot bind it without the factor', async () => {
      const user = await totpUser();
      const { browser } = await legacyDevice(user);
      const thief = await copyCookies(browser);
      const asked = await password(thief, user);
      assert.match(asked.page.body, KEEP, 'the copy looks like the device: offered too');
      const wrong = await thief.submit(asked.page, /\/factor$/, { code: '000000', trust: 'yes' });
      assert.equal(wrong.status, 400);
      assert.match(wrong.body, /<h1>Verify it is you<\/h1>/);
      assert.ok(thief.deviceKey, 'the thief\'s page sent a key and a signature');
      assert.equal((await t.services.devices.registrationFor(user.id, browserIdOf(browser)))!.key, undefined, 'nothing bound');
      // the owner can still bind their own key afterwards
      const own = await password(browser, user);
      await claims(await browser.submit(own.page, /\/factor$/, { code: await appCode(user.secret), trust: 'yes' }), own.auth);
      await skips(browser, user, 'the owner\'s key');
      await asksTotp(thief, user, 'the thief\'s key is not the bound one');
    });

    it('leaves a browser without WebCrypto as it was (trusted by its cookie, no key) when ticked, and offers nothing to a known, untrusted device', async () => {
      const user = await totpUser();
      const { browser, until } = await legacyDevice(user, new UserAgent({}, { webCrypto: false }));
      const asked = await password(browser, user);
      await claims(await browser.submit(asked.page, /\/factor$/, { code: await appCode(user.secret), trust: 'yes' }), asked.auth);
      const after = (await t.services.devices.registrationFor(user.id, browserIdOf(browser)))!;
      assert.equal(after.key, undefined);
      assert.equal(after.trustedUntil!.getTime(), until.getTime());

      const known = new UserAgent();
      await trustNewBrowser(known, user, t, rp, false);
      const notTrusted = await password(known, user);
      assert.match(notTrusted.page.body, /<h1>Verify it is you<\/h1>/);
      assert.doesNotMatch(notTrusted.page.body, KEEP, 'known but not trusted: no box');
      assert.doesNotMatch(notTrusted.page.body, /device-key\.js/);
    });
  });

  it('refuses to trust a browser from the devices page when it sent no device key (and changes nothing)', async () => {
    const user = await totpUser();
    const old = new UserAgent({}, { webCrypto: false });
    await trustNewBrowser(old, user, t, rp, false);
    const devices = await old.visit(`${t.issuer}/account/security/devices`);
    const refused = await old.submit(devices, /\/devices\/trust$/, { name: 'Kiosk' });
    assert.equal(refused.status, 400);
    assert.match(refused.body, /could not make a device key/);
    assert.equal((await t.services.devices.listFor(user.id)).filter((d) => d.trustedUntil || d.pending).length, 0);
  });

  it('discards the key when the device is removed or blocked: the skip ends, and unblocking does not bring it back', async () => {
    const user = await totpUser();
    const browser = new UserAgent();
    await trustNewBrowser(browser, user);
    const device = (await t.services.devices.registrationFor(user.id, browserIdOf(browser)))!;
    assert.ok(await t.services.devices.block(device.id, 'admin', 'test'));
    await t.services.devices.unblock(device.id, 'admin', 'test');
    assert.equal((await t.services.devices.registrationFor(user.id, browserIdOf(browser)))!.key, undefined, 'blocking discarded the key');
    await asksTotp(browser, user, 'blocked and unblocked: asked');

    const other = new UserAgent();
    await trustNewBrowser(other, user);
    const second = (await t.services.devices.registrationFor(user.id, browserIdOf(other)))!;
    await skips(other, user, 'trusted');
    await t.services.devices.remove(second.id, 'user', 'test');
    const raw = await t.services.db.connection.collection('devices').findOne({ _id: second.id as never });
    assert.equal(raw?.publicKey, undefined, 'removing discarded the key');
    const again = await password(other, user);
    assert.match(again.page.body, /<h1>New device<\/h1>/, 'removed: a new device again');
  });

  describe('with DEVICE_TRUST_COOKIE_ONLY=true', () => {
    let cookieOnly: Tessera;
    let party: RelyingParty;
    before(async () => {
      cookieOnly = await startTessera({ clock: now, env: { DEVICE_TRUST_COOKIE_ONLY: 'true' } });
      party = await RelyingParty.register(cookieOnly, { skipConsent: true });
    });
    after(() => cookieOnly?.close());

    it('trusts a browser without WebCrypto by its cookie, but a key-bound device still needs its key', async () => {
      const user = await totpUser(cookieOnly);
      const old = new UserAgent({}, { webCrypto: false });
      assert.deepEqual(await trustNewBrowser(old, user, cookieOnly, party), ['pwd', 'email']);
      await skips(old, user, 'cookie-only trust', cookieOnly, party);

      const keyed = new UserAgent();
      await trustNewBrowser(keyed, user, cookieOnly, party);
      const copy = new UserAgent();
      for (const cookie of await keyed.jar.getCookies(cookieOnly.issuer)) await copy.jar.setCookie(cookie, cookieOnly.issuer);
      await asksTotp(copy, user, 'a key-bound device\'s copied cookie', cookieOnly, party);
    });
  });
});

/** The browser id in the agent's device cookie (the registry finds the registration by it). */
function browserIdOf(agent: UserAgent): string {
  const cookie = agent.jar.toJSON()!.cookies.find((c) => /tessera\.device$/.test(String(c.key)));
  assert.ok(cookie, 'the agent has a device cookie');
  return String(cookie.value);
}
