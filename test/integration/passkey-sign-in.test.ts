// Passkeys first (issue 21), over HTTP against a real Tessera, its database and the real OIDC
// client, with a passkey in software (ES256, as a browser answers): a discoverable passkey signs in
// with no email typed at the phishing-resistant level; a passkey that did not verify its user, a
// replayed or double-sent assertion, an unknown credential or another account's user handle does
// not; the new-device rule still applies; failures count per browser; a disabled account stays
// out and a scheduled deletion is cancelled. After a password sign-in a browser that can make a
// passkey is offered one once ("Not now" remembered for 30 days on Tessera's clock), and an
// AAGUID allow-list refuses other authenticators.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import type { AddressInfo } from 'node:net';
import { freshDatabaseName, startTessera, type Tessera } from '../support/tessera.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, formOn, type Page, type TestUser } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';
import { ACR } from '../../src/policy/assurance.ts';

const b64 = (bytes: Uint8Array | Buffer) => Buffer.from(bytes).toString('base64url');
const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&#39;/g, "'").replace(/&#34;|&quot;/g, '"').replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim();
const NOT_SIGNED_IN = 'That passkey did not sign you in. Try it again, or sign in with your email and password.';
const YUBIKEY = 'cb69481e-8ff7-4039-93ec-0a2729a154a8';
const OTHER_MODEL = 'ee882879-721c-4913-9775-3dfcce97072a';

/** A passkey in software: registers with a chosen model (AAGUID) and answers assertions with its account's user handle. */
class SoftPasskey {
  id = randomBytes(16);
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly issuer: string;
  readonly aaguid: string;
  readonly synced: boolean;
  counter = 0;
  constructor(issuer: string, aaguid = '00000000-0000-0000-0000-000000000000', synced = false) {
    this.issuer = issuer;
    this.aaguid = aaguid;
    this.synced = synced;
    ({ privateKey: this.privateKey, publicKey: this.publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  }
  private get rpIdHash() { return createHash('sha256').update(new URL(this.issuer).hostname).digest(); }

  /** The registration answer a browser sends for these creation options. */
  registration(options: { challenge: string }): string {
    const jwk = this.publicKey.export({ format: 'jwk' });
    const coseKey = isoCBOR.encode(new Map<number, number | Uint8Array>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]));
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.id.length);
    // UP | UV | AT, and BE | BS for a synced one
    const flags = 0x45 | (this.synced ? 0x18 : 0);
    const authData = Buffer.concat([this.rpIdHash, Buffer.from([flags]), Buffer.alloc(4), Buffer.from(this.aaguid.replaceAll('-', ''), 'hex'), idLength, this.id, Buffer.from(coseKey)]);
    const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', new Uint8Array(authData)]]) as never);
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin: new URL(this.issuer).origin }));
    return JSON.stringify({
      id: b64(this.id), rawId: b64(this.id), type: 'public-key', clientExtensionResults: {},
      response: { clientDataJSON: b64(clientDataJSON), attestationObject: b64(attestationObject), transports: ['internal'] },
    });
  }

  /** An assertion for `challenge`; `userHandle`: the account id the authenticator stored. */
  assertion(challenge: string, userHandle: string, { verified = true, counter = ++this.counter } = {}): string {
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge, origin: new URL(this.issuer).origin, crossOrigin: false }));
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    const authData = Buffer.concat([this.rpIdHash, Buffer.from([(verified ? 0x05 : 0x01) | (this.synced ? 0x18 : 0)]), count]);
    const signature = sign('sha256', Buffer.concat([authData, createHash('sha256').update(clientDataJSON).digest()]), this.privateKey);
    return JSON.stringify({ id: b64(this.id), rawId: b64(this.id), type: 'public-key', clientExtensionResults: {},
      response: { clientDataJSON: b64(clientDataJSON), authenticatorData: b64(authData), signature: b64(signature), userHandle: b64(Buffer.from(userHandle)) } });
  }
}

/** What a page's script does: POST to the form's options URL with the CSRF header; the JSON answer. */
async function scriptOptions(agent: UserAgent, page: Page, form: RegExp): Promise<{ status: number; json: Record<string, unknown> }> {
  const tag = [...page.body.matchAll(/<form[^>]*>/g)].map((m) => m[0]).find((f) => form.test(/action="([^"]+)"/.exec(f)?.[1] ?? ''));
  const url = new URL(/data-options-url="([^"]+)"/.exec(tag ?? '')![1]!, page.url).href;
  const res = await fetch(url, { method: 'POST', headers: { accept: 'application/json', 'csrf-token': formOn(page, form).fields._csrf!, cookie: await agent.jar.getCookieString(url) } });
  return { status: res.status, json: await res.json() as Record<string, unknown> };
}

async function registerPasskey(t: Tessera, user: TestUser, key: SoftPasskey) {
  const scope = `test-${randomBytes(4).toString('hex')}`;
  const options = await t.services.webauthn.registrationOptions({ id: user.id, email: user.email }, scope, 'passkey');
  return t.services.webauthn.register({ id: user.id, email: user.email }, scope, key.registration(options), 'Soft passkey');
}

describe('passkeys first', function () {
  this.timeout(60_000);
  let t: Tessera;
  let rp: RelyingParty;
  let now = new Date();
  before(async () => {
    // the clock starts now, not when the file was loaded: the database's expiry purge runs on the
    // real time, and a clock minutes behind it would see its fresh challenges purged
    now = new Date();
    t = await startTessera({ clock: () => now, env: { LOCKOUT_AFTER: '5' } });
    rp = await RelyingParty.register(t, { skipConsent: true, name: 'Bank' });
  });
  after(() => t.close());

  /** The sign-in page of a new authorization in `agent`. */
  async function signInPage(agent: UserAgent, params: Record<string, string> = {}) {
    const auth = await rp.authorize(params);
    return { auth, page: await agent.visit(auth.url) };
  }

  /** A passkey sign-in as the page's script runs it: options, the authenticator's answer, the form. */
  async function passkeySignIn(agent: UserAgent, key: SoftPasskey, userHandle: string, answer: { verified?: boolean; counter?: number } = {}) {
    const { auth, page } = await signInPage(agent);
    const options = await scriptOptions(agent, page, /\/passkey$/);
    assert.equal(options.status, 200);
    const response = key.assertion(String(options.json.challenge), userHandle, answer);
    return { auth, page, response, after: await agent.submit(page, /\/passkey$/, { response }) };
  }

  describe('signing in with a passkey', () => {
    it('offers passkeys in the email field\'s autofill and behind a button, from a static script', async () => {
      const { page } = await signInPage(new UserAgent());
      assert.match(page.body, /<input id="email" name="email" type="email" required autocomplete="username webauthn"/);
      assert.match(page.body, /<form method="post" action="\/interaction\/[^"]+\/passkey" id="passkey-form"[^>]*hidden>/, 'hidden until the script finds WebAuthn');
      assert.match(page.body, /<button type="button" id="passkey-start"[^>]*>Sign in with a passkey<\/button>/);
      assert.match(page.body, /<script src="\/static\/passkeys\.js"><\/script>/);
      assert.ok(!/<script>/.test(page.body), 'no inline script');
      const script = await fetch(`${t.issuer}/static/passkeys.js`);
      assert.equal(script.status, 200);
      assert.match(await script.text(), /useBrowserAutofill: true/);
    });

    it('asks for any discoverable passkey with user verification, no email typed', async () => {
      const agent = new UserAgent();
      const { page } = await signInPage(agent);
      const { status, json } = await scriptOptions(agent, page, /\/passkey$/);
      assert.equal(status, 200);
      assert.deepEqual(json.allowCredentials, []);
      assert.equal(json.userVerification, 'required');
      assert.equal(json.rpId, new URL(t.issuer).hostname);
      const url = new URL(/data-options-url="([^"]+)"/.exec(page.body)![1]!, page.url).href;
      const noCsrf = await fetch(url, { method: 'POST', headers: { accept: 'application/json', cookie: await agent.jar.getCookieString(url) } });
      assert.equal(noCsrf.status, 403, 'the options need the CSRF token');
    });

    it('signs in with a user-verified passkey: ID token acr phr, amr hwk and user, through the real OIDC client', async () => {
      const user = await createUser(t);
      const key = new SoftPasskey(t.issuer, YUBIKEY);
      assert.deepEqual(await registerPasskey(t, user, key), { ok: true });
      const agent = new UserAgent();
      const { auth, after } = await passkeySignIn(agent, key, user.id);
      assert.ok(after.url.startsWith(REDIRECT_URI), `reached the application: ${after.status} ${text(after.body).slice(0, 300)}`);
      const claims = (await rp.tokens(after.url, auth)).claims()!;
      assert.equal(claims.sub, user.id);
      assert.equal(claims.acr, ACR.phr);
      assert.deepEqual([...(claims.amr as string[])].sort(), ['hwk', 'user']);
      const [stored] = await t.services.webauthn.list(user.id);
      assert.equal(stored!.aaguid, YUBIKEY, 'the authenticator\'s model is stored');
      assert.equal(stored!.backupEligible, false);
      assert.ok(stored!.lastUsedAt);
    });

    it('says swk for a synced passkey', async () => {
      const user = await createUser(t);
      const key = new SoftPasskey(t.issuer, undefined, true);
      await registerPasskey(t, user, key);
      const [stored] = await t.services.webauthn.list(user.id);
      assert.equal(stored!.synced, true);
      assert.equal(stored!.backupEligible, true);
      const { auth, after } = await passkeySignIn(new UserAgent(), key, user.id);
      const claims = (await rp.tokens(after.url, auth)).claims()!;
      assert.equal(claims.acr, ACR.phr);
      assert.deepEqual([...(claims.amr as string[])].sort(), ['swk', 'user']);
    });

    it('refuses a passkey that did not verify its user, with a plain message beside the button', async () => {
      const user = await createUser(t);
      const key = new SoftPasskey(t.issuer);
      await registerPasskey(t, user, key);
      const { after } = await passkeySignIn(new UserAgent(), key, user.id, { verified: false });
      assert.equal(after.status, 400);
      assert.match(after.body, /<p class="error" role="alert" id="passkey-error">Your passkey did not check that it is you/);
      assert.match(after.body, /aria-describedby="passkey-error"/);
      assert.ok(!after.url.startsWith(REDIRECT_URI));
    });

    it('refuses a replayed assertion, and of ten copies sent at once exactly one signs in', async () => {
      const user = await createUser(t);
      const key = new SoftPasskey(t.issuer);
      await registerPasskey(t, user, key);
      const agent = new UserAgent();
      const { page } = await signInPage(agent);
      const options = await scriptOptions(agent, page, /\/passkey$/);
      const response = key.assertion(String(options.json.challenge), user.id);
      const form = formOn(page, /\/passkey$/);
      const results = await Promise.all(Array.from({ length: 10 }, () => agent.request(form.action, { form: { ...form.fields, response } })));
      const signedIn = results.filter((r) => r.status === 303);
      assert.equal(signedIn.length, 1, `one sign-in: ${results.map((r) => r.status).join(',')}`);
      assert.ok(results.filter((r) => r.status !== 303).every((r) => r.status === 400 && text(r.body).includes(NOT_SIGNED_IN)));
      // the same answer in a later sign-in (its own challenge) does not sign in
      const other = new UserAgent();
      const later = await signInPage(other);
      await scriptOptions(other, later.page, /\/passkey$/);
      const replay = await other.submit(later.page, /\/passkey$/, { response });
      assert.equal(replay.status, 400);
      assert.ok(text(replay.body).includes(NOT_SIGNED_IN));
    });

    it('binds the challenge to its sign-in and to its five minutes on Tessera\'s clock', async () => {
      const user = await createUser(t);
      const key = new SoftPasskey(t.issuer);
      await registerPasskey(t, user, key);
      const agent = new UserAgent();
      const first = await signInPage(agent);
      const second = await signInPage(agent);
      const options = await scriptOptions(agent, first.page, /\/passkey$/);
      const elsewhere = await agent.submit(second.page, /\/passkey$/, { response: key.assertion(String(options.json.challenge), user.id) });
      assert.equal(elsewhere.status, 400, 'another sign-in\'s challenge');
      const fresh = await scriptOptions(agent, second.page, /\/passkey$/);
      now = new Date(now.getTime() + 301_000);
      const late = await agent.submit(second.page, /\/passkey$/, { response: key.assertion(String(fresh.json.challenge), user.id) });
      assert.equal(late.status, 400, 'an expired challenge');
      assert.ok(text(late.body).includes(NOT_SIGNED_IN));
    });

    it('refuses a signature counter that did not move forward (a cloned key)', async () => {
      const user = await createUser(t);
      const key = new SoftPasskey(t.issuer);
      await registerPasskey(t, user, key);
      assert.ok((await passkeySignIn(new UserAgent(), key, user.id, { counter: 7 })).after.url.startsWith(REDIRECT_URI));
      const clone = await passkeySignIn(new UserAgent(), key, user.id, { counter: 7 });
      assert.equal(clone.after.status, 400);
      assert.ok(text(clone.after.body).includes(NOT_SIGNED_IN));
    });

    it('answers an unknown passkey, and another account\'s user handle, exactly as a wrong signature', async () => {
      const user = await createUser(t);
      const other = await createUser(t);
      const key = new SoftPasskey(t.issuer);
      await registerPasskey(t, user, key);
      const unknown = await passkeySignIn(new UserAgent(), new SoftPasskey(t.issuer), user.id);
      const handle = await passkeySignIn(new UserAgent(), key, other.id);
      // a known credential, signed by another key
      const forged = new SoftPasskey(t.issuer);
      forged.id = key.id;
      const wrong = await passkeySignIn(new UserAgent(), forged, user.id);
      const shape = (p: Page) => [p.status, text(p.body).replace(/\/interaction\/[\w-]+/g, '')];
      assert.deepEqual(shape(unknown.after), [400, shape(wrong.after)[1]]);
      assert.deepEqual(shape(handle.after), shape(wrong.after));
      assert.ok(text(wrong.after.body).includes(NOT_SIGNED_IN));
      assert.ok(!text(unknown.after.body).includes(user.email));
    });

    it('still asks a new browser for its emailed code (the new-device rule), then signs in at phr', async () => {
      const user = await createUser(t, { deviceVerification: true });
      const key = new SoftPasskey(t.issuer);
      await registerPasskey(t, user, key);
      const agent = new UserAgent();
      const { auth, after } = await passkeySignIn(agent, key, user.id);
      assert.match(after.body, /<h1>New device<\/h1>/);
      const mail = await eventually(() => t.services.outbox.list().find((m) => m.to === user.email && /sign-in code$/.test(m.subject ?? '')), 'the new-device code');
      const done = await agent.submit(after, /\/device$/, { code: mail.subject!.slice(0, 6) });
      assert.ok(done.url.startsWith(REDIRECT_URI), text(done.body).slice(0, 300));
      const claims = (await rp.tokens(done.url, auth)).claims()!;
      assert.equal(claims.acr, ACR.phr);
      assert.ok((claims.amr as string[]).includes('user'));
    });

    it('keeps a disabled account out, and cancels a scheduled deletion as the password does', async () => {
      const user = await createUser(t);
      const key = new SoftPasskey(t.issuer);
      await registerPasskey(t, user, key);
      await t.services.deletion.schedule((await t.services.accounts.findById(user.id))!);
      const signedIn = await passkeySignIn(new UserAgent(), key, user.id);
      assert.ok(signedIn.after.url.startsWith(REDIRECT_URI));
      assert.equal((await t.services.accounts.findById(user.id))!.deletionScheduledFor, undefined, 'the deletion was cancelled');
      await t.services.accounts.setDisabledById(user.id, true);
      const refused = await passkeySignIn(new UserAgent(), key, user.id);
      assert.equal(refused.after.status, 400);
      assert.ok(text(refused.after.body).includes(NOT_SIGNED_IN));
    });

    it('counts failed passkeys per browser: at LOCKOUT_AFTER even a right one waits, another browser does not', async () => {
      const user = await createUser(t);
      const key = new SoftPasskey(t.issuer);
      await registerPasskey(t, user, key);
      const agent = new UserAgent();
      for (let i = 0; i < 5; i++) {
        const { page } = await signInPage(agent);
        const wrong = await agent.submit(page, /\/passkey$/, { response: '{"id":"nothing"}' });
        assert.equal(wrong.status, 400);
      }
      const locked = await passkeySignIn(agent, key, user.id);
      assert.equal(locked.after.status, 429);
      assert.match(text(locked.after.body), /Too many passkey sign-ins failed from this browser or network/);
      assert.ok((await passkeySignIn(new UserAgent(), key, user.id)).after.url.startsWith(REDIRECT_URI), 'another browser signs in');
      // the lock ends on Tessera's clock
      now = new Date(now.getTime() + 10 * 60_000);
      assert.ok((await passkeySignIn(agent, key, user.id)).after.url.startsWith(REDIRECT_URI));
    });
  });

  describe('the passkey offer after a password sign-in', () => {
    /** A password sign-in in a browser whose sign-in page found it can make a passkey. */
    async function passwordSignIn(agent: UserAgent, user: TestUser, capable = true) {
      if (capable) await agent.jar.setCookie('tessera.passkey-capable=1', t.issuer);
      // a later sign-in in the same browser signs in again (its session stays)
      const { auth, page } = await signInPage(agent, { prompt: 'login' });
      return { auth, after: await agent.submit(page, /\/login$/, { email: user.email, password: user.password }) };
    }

    it('offers once to create a passkey, which then signs in; no password asked again', async () => {
      const user = await createUser(t);
      const agent = new UserAgent();
      const { auth, after } = await passwordSignIn(agent, user);
      assert.match(after.body, /<h1>Sign in faster next time<\/h1>/);
      assert.ok(!/name="password"/.test(after.body), 'no password field');
      const options = await scriptOptions(agent, after, /\/passkey-offer$/);
      assert.equal(options.status, 200);
      assert.deepEqual(options.json.authenticatorSelection, { residentKey: 'required', userVerification: 'required', authenticatorAttachment: 'platform', requireResidentKey: true });
      const key = new SoftPasskey(t.issuer);
      const created = await agent.submit(after, /\/passkey-offer$/, { response: key.registration(options.json as { challenge: string }) });
      // a first second factor: recovery codes come with it, shown once, as after any setup in a sign-in
      assert.equal(created.status, 200);
      assert.match(created.body, /<h1>Save your recovery codes<\/h1>/);
      assert.match(text(created.body), /Your passkey is set up\./);
      assert.equal([...created.body.matchAll(/<li><code>/g)].length, 10);
      assert.equal(await t.services.recovery.remaining(user.id), 10);
      const reload = await agent.visit(new URL(formOn(created, /\/enrol\/continue$/).action.replace(/\/enrol\/continue$/, '')).href);
      assert.match(reload.body, /<h1>Your recovery codes were shown once<\/h1>/, 'a reload never shows them again');
      assert.ok(!/<li><code>/.test(reload.body));
      // Continue, pressed five times at once: one carries the sign-in on
      const form = formOn(created, /\/enrol\/continue$/);
      assert.match(created.body, />Continue to Bank</);
      const presses = await Promise.all(Array.from({ length: 5 }, () => agent.request(form.action, { form: form.fields })));
      assert.equal(presses.filter((r) => r.status === 303).length, 1, presses.map((r) => r.status).join(','));
      const done = await agent.visit(new URL(presses.find((r) => r.status === 303)!.headers.get('location')!, form.action).href);
      assert.ok(done.url.startsWith(REDIRECT_URI), text(done.body).slice(0, 300));
      const claims = (await rp.tokens(done.url, auth)).claims()!;
      assert.deepEqual(claims.amr, ['pwd']);
      assert.equal((await t.services.webauthn.list(user.id)).length, 1);
      await eventually(() => t.services.outbox.list().find((m) => m.to === user.email && m.text.includes('A passkey was added to your account.')), 'the security notice');
      await eventually(() => t.services.outbox.list().find((m) => m.to === user.email && m.text.includes('Recovery codes were created for your account.')), 'the codes notice');
      // offered once: the account has a passkey now, and it signs in
      assert.ok((await passwordSignIn(agent, user)).after.url.startsWith(REDIRECT_URI));
      assert.ok((await passkeySignIn(new UserAgent(), key, user.id)).after.url.startsWith(REDIRECT_URI));
    });

    it('shows no new codes where the account has unused ones: the passkey goes straight on to the application', async () => {
      const user = await createUser(t);
      const codes = await t.services.recovery.generate(user.id);
      await t.services.recovery.use(user.id, codes[0]!);
      const agent = new UserAgent();
      const { auth, after } = await passwordSignIn(agent, user);
      const options = await scriptOptions(agent, after, /\/passkey-offer$/);
      const done = await agent.submit(after, /\/passkey-offer$/, { response: new SoftPasskey(t.issuer).registration(options.json as { challenge: string }) });
      assert.ok(done.url.startsWith(REDIRECT_URI), text(done.body).slice(0, 300));
      assert.deepEqual((await rp.tokens(done.url, auth)).claims()!.amr, ['pwd']);
      assert.equal(await t.services.recovery.remaining(user.id), codes.length - 1, 'the codes it had, unchanged');
      assert.equal(await t.services.recovery.use(user.id, codes[1]!), true);
    });

    it('remembers "Not now" in that browser for 30 days on Tessera\'s clock; other browsers are still offered', async () => {
      const user = await createUser(t);
      const agent = new UserAgent();
      const first = await passwordSignIn(agent, user);
      const done = await agent.submit(first.after, /\/passkey-offer\/not-now$/);
      assert.ok(done.url.startsWith(REDIRECT_URI), text(done.body).slice(0, 300));
      assert.deepEqual((await rp.tokens(done.url, first.auth)).claims()!.amr, ['pwd']);
      assert.ok((await passwordSignIn(agent, user)).after.url.startsWith(REDIRECT_URI), 'not asked again');
      assert.match((await passwordSignIn(new UserAgent(), user)).after.body, /Sign in faster next time/, 'another browser is asked');
      now = new Date(now.getTime() + 31 * 86_400_000);
      assert.match((await passwordSignIn(agent, user)).after.body, /Sign in faster next time/, 'asked again after 30 days');
    });

    it('is not shown where the page found no way to make a passkey, nor answered twice', async () => {
      const user = await createUser(t);
      assert.ok((await passwordSignIn(new UserAgent(), user, false)).after.url.startsWith(REDIRECT_URI));
      const agent = new UserAgent();
      const { after } = await passwordSignIn(agent, user);
      const form = formOn(after, /\/passkey-offer\/not-now$/);
      const results = await Promise.all(Array.from({ length: 5 }, () => agent.request(form.action, { form: form.fields })));
      assert.equal(results.filter((r) => r.status === 303).length, 1, results.map((r) => r.status).join(','));
      assert.ok(results.filter((r) => r.status !== 303).every((r) => r.status === 409));
    });

    it('asks for the password again once the re-authentication window has passed', async () => {
      const user = await createUser(t);
      const agent = new UserAgent();
      const { after } = await passwordSignIn(agent, user);
      const options = await scriptOptions(agent, after, /\/passkey-offer$/);
      now = new Date(now.getTime() + 6 * 60_000);
      const late = await agent.submit(after, /\/passkey-offer$/, { response: new SoftPasskey(t.issuer).registration(options.json as { challenge: string }) });
      assert.equal(late.status, 400);
      assert.match(text(late.body), /This offer waited too long/);
      assert.equal((await t.services.webauthn.list(user.id)).length, 0);
      assert.ok((await agent.submit(late, /\/passkey-offer\/not-now$/)).url.startsWith(REDIRECT_URI), '"Not now" still works');
    });
  });
});

describe('passkey settings', function () {
  this.timeout(60_000);
  let t: Tessera;
  let rp: RelyingParty;
  before(async () => {
    t = await startTessera({ env: { WEBAUTHN_AAGUID_ALLOWLIST: `${YUBIKEY.toUpperCase()}, ${randomUUID()}`, PASSKEY_UPGRADE_OFFER: 'false' } });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(() => t.close());

  it('refuses an authenticator outside the AAGUID allow-list with a clear message, and accepts a listed one', async () => {
    const user = await createUser(t);
    const refused = await registerPasskey(t, user, new SoftPasskey(t.issuer, OTHER_MODEL));
    assert.equal(refused.ok, false);
    assert.match((refused as { message: string }).message, /not accepted here: your organisation allows only the security keys it issues/);
    assert.equal((await t.services.webauthn.list(user.id)).length, 0, 'nothing stored');
    assert.deepEqual(await registerPasskey(t, user, new SoftPasskey(t.issuer, YUBIKEY)), { ok: true });
    assert.equal((await t.services.webauthn.list(user.id))[0]!.aaguid, YUBIKEY);
  });

  it('refuses it on the security center\'s form too', async () => {
    const user = await createUser(t);
    const agent = new UserAgent();
    const login = await agent.visit(`${t.issuer}/account/security`);
    const overview = await agent.submit(login, /\/login$/, { email: user.email, password: user.password }, 'http://never/');
    assert.match(overview.body, /Security keys/i, text(overview.body).slice(0, 200));
    const options = await scriptOptions(agent, overview, /\/security\/webauthn$/);
    assert.equal(options.status, 200);
    const page = await agent.submit(overview, /\/security\/webauthn$/, { name: 'Other key', password: user.password, response: new SoftPasskey(t.issuer, OTHER_MODEL).registration(options.json as { challenge: string }) }, 'http://never/');
    assert.equal(page.status, 400);
    assert.match(text(page.body), /not accepted here/);
    assert.equal((await t.services.webauthn.list(user.id)).length, 0);
  });

  it('does not offer a passkey with PASSKEY_UPGRADE_OFFER=false', async () => {
    const user = await createUser(t);
    const agent = new UserAgent();
    await agent.jar.setCookie('tessera.passkey-capable=1', t.issuer);
    const auth = await rp.authorize();
    const after = await agent.submit(await agent.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
    assert.ok(after.url.startsWith(REDIRECT_URI));
  });
});

describe('passkey lookups and the crash rule', function () {
  this.timeout(60_000);

  it('finds credentials registered before the lookups existed (start-up backfill), and ignores a lookup whose credential is missing', async () => {
    const { freshDatabaseName } = await import('../support/tessera.ts');
    const database = freshDatabaseName();
    const secrets = { cookieKeys: [randomBytes(32).toString('base64url')], encryptionKey: randomBytes(32).toString('base64') };
    let t = await startTessera({ database, secrets });
    const user = await createUser(t);
    const stranger = await createUser(t);
    const key = new SoftPasskey(t.issuer);
    assert.deepEqual(await registerPasskey(t, user, key), { ok: true });
    // as an earlier version left it: the credential without its lookup, and no backfill marker
    const ids = t.services.db.connection.collection('webauthn_credential_ids');
    await ids.deleteMany({});
    // as a crash between the two writes of another registration leaves it: a lookup, no credential
    const orphan = new SoftPasskey(t.issuer);
    await ids.insertOne({ _id: b64(orphan.id), accountId: stranger.id } as never);
    await t.close();
    t = await startTessera({ database, secrets, port: Number(new URL(t.issuer).port) });
    try {
      const rp = await RelyingParty.register(t, { skipConsent: true });
      const agent = new UserAgent();
      const auth = await rp.authorize();
      const page = await agent.visit(auth.url);
      const options = await scriptOptions(agent, page, /\/passkey$/);
      const after = await agent.submit(page, /\/passkey$/, { response: key.assertion(String(options.json.challenge), user.id) });
      assert.ok(after.url.startsWith(REDIRECT_URI), `the backfilled lookup signs in: ${after.status} ${text(after.body).slice(0, 200)}`);
      const page2 = await agent.visit((await rp.authorize({ prompt: 'login' })).url);
      const options2 = await scriptOptions(agent, page2, /\/passkey$/);
      const refused = await agent.submit(page2, /\/passkey$/, { response: orphan.assertion(String(options2.json.challenge), stranger.id) });
      assert.equal(refused.status, 400, 'a lookup without its credential signs nobody in');
      // the next registration of that id takes the dead lookup over
      assert.deepEqual(await registerPasskey(t, user, orphan), { ok: true });
      const lookup = await t.services.db.connection.collection('webauthn_credential_ids').findOne({ _id: b64(orphan.id) } as never);
      assert.equal((lookup as unknown as { accountId: string }).accountId, user.id);
    } finally {
      await t.close();
    }
  });
});

describe('a crash while a passkey made at the offer gets its recovery codes', function () {
  this.timeout(300_000);

  it('leaves, after any of its writes, a sign-in the person finishes, codes never shown twice, and a passkey that signs in', async () => {
    let total: number | undefined;
    for (let n = 0; total === undefined || n < total; n++) {
      const database = freshDatabaseName('offer');
      const secrets = { cookieKeys: [randomBytes(32).toString('base64url')], encryptionKey: randomBytes(32).toString('base64') };
      const crashing = await startTessera({ database, secrets, testDatabase: { faults: true }, log: () => {}, serviceLog: () => {} });
      const port = (crashing.server.address() as AddressInfo).port;
      const faults = crashing.services.db.faults!;
      const user = await createUser(crashing);
      const clientId = (await crashing.services.clients.create({ clientId: `rp-${randomBytes(4).toString('hex')}`, redirectUris: [REDIRECT_URI], public: true, skipConsent: true })).clientId;
      const agent = new UserAgent();
      await agent.jar.setCookie('tessera.passkey-capable=1', crashing.issuer);
      let key = new SoftPasskey(crashing.issuer);
      let interaction: string;
      let auth: Awaited<ReturnType<RelyingParty['authorize']>>;
      try {
        auth = await (await RelyingParty.discover(crashing.issuer, clientId)).authorize();
        const offer = await agent.submit(await agent.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
        assert.match(offer.body, /<h1>Sign in faster next time<\/h1>/);
        const options = await scriptOptions(agent, offer, /\/passkey-offer$/);
        const form = formOn(offer, /\/passkey-offer$/);
        interaction = form.action.replace(/\/passkey-offer$/, '');
        const create = () => agent.request(form.action, { form: { ...form.fields, response: key.registration(options.json as { challenge: string }) } });
        if (total === undefined) {
          // the uninterrupted run: how many writes the creation makes (the passkey, the flow, the codes, the audit)
          const before = faults.writes;
          assert.match((await create()).body, /<h1>Save your recovery codes<\/h1>/);
          await crashing.services.audit.flush();
          total = faults.writes - before;
          assert.ok(total >= 4, `${total} writes`);
          n = -1;
          continue;
        }
        faults.crashAfter(n);
        await create();
        await crashing.services.audit.flush().catch(() => {});
        assert.ok(faults.crashed, `the creation reached its write ${n + 1}`);
      } finally {
        crashing.server.closeAllConnections();
        await new Promise<void>((resolve) => crashing.server.close(() => resolve()));
        await crashing.services.close().catch(() => {});
      }

      const t = await startTessera({ database, secrets, port });
      try {
        const rp = await RelyingParty.discover(t.issuer, clientId);
        // the person reloads: the offer again (nothing was answered), or Continue without the codes
        let page = await agent.visit(interaction);
        if (/<h1>Sign in faster next time<\/h1>/.test(page.body)) {
          key = new SoftPasskey(t.issuer); // the browser makes a new credential
          const options = await scriptOptions(agent, page, /\/passkey-offer$/);
          page = await agent.submit(page, /\/passkey-offer$/, { response: key.registration(options.json as { challenge: string }) });
          assert.match(page.body, /<h1>Save your recovery codes<\/h1>/, `the codes, after a crash after write ${n}`);
        } else {
          assert.match(page.body, /<h1>Your recovery codes were shown once<\/h1>/, `never the codes again, after a crash after write ${n}: ${text(page.body).slice(0, 300)}`);
        }
        page = await agent.submit(page, /\/enrol\/continue$/);
        assert.ok(page.url.startsWith(REDIRECT_URI), `after a crash after write ${n}: ${page.status} ${text(page.body).slice(0, 300)}`);
        assert.deepEqual((await rp.tokens(page.url, auth)).claims()!.amr, ['pwd']);
        assert.ok([0, 10].includes(await t.services.recovery.remaining(user.id)));
        // the passkey made signs in
        const next = await rp.authorize();
        const browser = new UserAgent();
        const login = await browser.visit(next.url);
        const options = await scriptOptions(browser, login, /\/passkey$/);
        const done = await browser.submit(login, /\/passkey$/, { response: key.assertion(String(options.json.challenge), user.id) });
        assert.ok(done.url.startsWith(REDIRECT_URI), `the passkey after a crash after write ${n}: ${text(done.body).slice(0, 300)}`);
      } finally {
        await t.close();
      }
    }
  });
});
