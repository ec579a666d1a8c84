// "Your data" (GDPR Art. 15 and 20) through real HTTP and the real database: a person with a device,
// a phone, a trusted IP, an authenticator app, a security key, recovery codes, an organisation, a
// grant to a relying party and some sign-in history downloads one JSON file holding each of them,
// and none of the secrets behind them (hashes, the TOTP secret, recovery codes, cookies, tokens,
// grant and session ids). A wrong password downloads nothing; a visitor is sent to sign in. The
// page is also opened and the file downloaded once in Chromium, with screenshots for a person.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'otplib';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import { launchChromium } from '../support/browser.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, giveVerifiedPhone, signIn, type Page, type TestUser } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';

const NOTICE = 'Security change on your Tessera account';
const SHOTS = path.join(os.tmpdir(), 'shots-data');
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

/** The file as the JSON it is; typed loosely, as a reader of the download would. */
type Json = Record<string, any>;

describe('your data (download everything Tessera keeps about the account)', () => {
  let t: Tessera;
  let rp: RelyingParty;
  const url = `/account/security/data`;
  /** Tessera's clock runs with real time plus this offset (the re-authentication window). */
  let offset = 0;

  before(async () => {
    t = await startTessera({ clock: () => new Date(Date.now() + offset) });
    rp = await RelyingParty.register(t, { name: 'Example Notes', skipConsent: true });
  });
  after(() => t.close());
  afterEach(() => { offset = 0; });

  /** A browser signed in as `user` through the RP: its tokens too. */
  async function signedIn(user: TestUser) {
    const agent = new UserAgent({ 'user-agent': CHROME });
    const auth = await rp.authorize({ scope: 'openid email profile offline_access', prompt: 'consent' });
    const tokens = await rp.tokens(await signIn(agent, auth.url, user), auth);
    return { agent, tokens };
  }
  async function open(agent: UserAgent): Promise<Page> {
    const page = await agent.visit(`${t.issuer}${url}`);
    assert.equal(page.status, 200, page.body.slice(0, 400));
    return page;
  }
  const notices = (user: TestUser) => t.services.outbox.list().filter((m) => m.channel === 'email' && m.to === user.email && m.subject === NOTICE);
  const raw = (collection: string, id: string) => t.services.db.connection.collection<{ _id: string }>(collection).findOne({ _id: id }) as Promise<Json | null>;

  /** Registers a key through the store's real verification: a software authenticator (ES256, attestation none). */
  async function withKey(user: TestUser, name: string): Promise<string> {
    const scope = `reg-${randomBytes(4).toString('hex')}`;
    const options = await t.services.webauthn.registrationOptions({ id: user.id, email: user.email }, scope);
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
    const coseKey = isoCBOR.encode(new Map<number, number | Uint8Array>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]));
    const credentialId = randomBytes(16);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(credentialId.length);
    const authData = Buffer.concat([
      createHash('sha256').update(new URL(t.issuer).hostname).digest(), Buffer.from([0x41]), Buffer.alloc(4), Buffer.alloc(16), idLength, credentialId, Buffer.from(coseKey),
    ]);
    const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', new Uint8Array(authData)]]) as never);
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin: new URL(t.issuer).origin }));
    const response = {
      id: credentialId.toString('base64url'), rawId: credentialId.toString('base64url'), type: 'public-key', clientExtensionResults: {},
      response: { clientDataJSON: clientDataJSON.toString('base64url'), attestationObject: Buffer.from(attestationObject).toString('base64url'), transports: ['usb'] },
    };
    assert.deepEqual(await t.services.webauthn.register({ id: user.id, email: user.email }, scope, JSON.stringify(response), name), { ok: true });
    return credentialId.toString('base64url');
  }

  /** A person with something in every section; returns what the file must never contain. */
  async function everything(user: TestUser) {
    const org = await t.services.organisations.create(`Analytical Engines ${randomBytes(3).toString('hex')}`);
    await t.services.organisations.addMember(org.id, user.email);
    const phone = await giveVerifiedPhone(t, user);
    await t.services.trustedIps.add(user.id, '203.0.113.0/24', 'all');
    const { secret } = await t.services.totp.begin(user.id, user.email);
    assert.ok(await t.services.totp.confirm(user.id, await generate({ secret, epoch: Math.floor(Date.now() / 1000) })));
    const keyId = await withKey(user, 'Blue YubiKey');
    const codes = await t.services.recovery.generate(user.id);
    assert.ok(await t.services.recovery.use(user.id, codes[0]!));
    await t.services.accounts.setPin(user.id, '4826');
    // a wrong password from another browser, then the sign-in that holds the grant
    const intruder = new UserAgent({ 'user-agent': CHROME });
    await intruder.submit(await intruder.visit((await rp.authorize()).url), /\/login$/, { email: user.email, password: 'Wrong#Password1' });
    const { agent, tokens } = await signedIn(user);
    return { org, phone, secret, keyId, codes, agent, tokens };
  }

  /** Sends the download form with these fields: the page's answer, unparsed. */
  async function download(agent: UserAgent, fields: Record<string, string> = {}): Promise<Page> {
    return agent.submit(await open(agent), /\/security\/data$/, fields);
  }

  it('explains what the file holds and offers the form; the overview links to it', async () => {
    const user = await createUser(t);
    const { agent } = await signedIn(user);
    const overview = await agent.visit(`${t.issuer}/account/security`);
    assert.match(overview.body, /<h3>Your data <a href="\/account\/security\/data">/);
    const page = await open(agent);
    assert.match(page.body, /<h1>Your data<\/h1>/);
    const terms = [...page.body.matchAll(/<li><strong>([^<]+)<\/strong>:/g)].map((m) => m[1]);
    assert.deepEqual(terms, ['Profile', 'Security settings', 'Devices', 'Sessions', 'Session history', 'Contacts and trusted IPs', 'Second factors', 'Connected applications', 'Audit log']);
    assert.match(page.body, /No password or PIN/);
    assert.match(page.body, /<form method="post" action="\/account\/security\/data">[\s\S]*name="_csrf"[\s\S]*name="password"[\s\S]*Download my data/);
    assert.equal(page.headers.get('cache-control'), 'no-store');
  });

  it('downloads one JSON file with every section, and emails and audits the download', async () => {
    const user = await createUser(t, { name: 'Ada Lovelace' });
    const { org, phone, agent } = await everything(user);
    // an application that asks for consent: what the person allows it is kept for later sign-ins
    const photos = await RelyingParty.register(t, { name: 'Example Photos' });
    const asked = await agent.visit((await photos.authorize({ scope: 'openid email' })).url);
    assert.match(asked.body, /Allow access\?/, 'the browser is signed in: only the consent page');
    await agent.submit(asked, /\/confirm$/);
    const before = notices(user).length;
    const res = await download(agent, { password: user.password });
    assert.equal(res.status, 200, res.body.slice(0, 400));
    assert.match(res.headers.get('content-type')!, /^application\/json/);
    assert.equal(res.headers.get('content-disposition'), `attachment; filename="tessera-data-${new Date().toISOString().slice(0, 10)}.json"`);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const file = JSON.parse(res.body) as Json;

    assert.deepEqual(Object.keys(file), ['about', 'profile', 'security', 'devices', 'sessions', 'signInHistory', 'phoneNumbers', 'trustedIps', 'secondFactors', 'connectedApplications', 'consents', 'auditLog']);
    const account = (await t.services.accounts.findById(user.id))!;
    assert.deepEqual(file.profile, {
      id: user.id, email: user.email, emailVerified: account.emailVerified, name: 'Ada Lovelace', profile: {}, role: 'user', organisation: org.name,
      createdAt: account.createdAt.toISOString(), updatedAt: account.updatedAt.toISOString(),
    });
    assert.deepEqual(file.security, {
      pinSet: true, pinAfterSignIn: false, screenLockMinutes: 0, autoLogoutDays: t.config.account.sessionMaxDays, routineSecondFactor: null, newDeviceVerification: false,
    });

    // the browser that signed in, with its history (a wrong password from a browser never verified registers none)
    assert.equal(file.devices.length, 1);
    const [device] = file.devices as Json[];
    assert.deepEqual([device!.label, device!.state, device!.lastIp, device!.failedAttempts], ['Chrome 120 on Windows 10', 'ACTIVE', '127.0.0.1', 0]);
    assert.deepEqual(device!.history.map((h: Json) => [h.from, h.to, h.by]), [[null, 'ACTIVE', 'system']]);
    assert.equal(device!.id, (await t.services.devices.listFor(user.id))[0]!.id);

    // this session, with its place and times and the application it signed in to
    assert.equal(file.sessions.length, 1);
    const [session] = file.sessions as Json[];
    assert.deepEqual([session!.thisSession, session!.ip, session!.browser, session!.os, session!.locked], [true, '127.0.0.1', 'Chrome 120', 'Windows 10', false]);
    assert.ok(session!.signedInAt && session!.lastActiveAt && session!.endsAt);
    assert.deepEqual(session!.applications, [{ clientId: rp.clientId, name: 'Example Notes' }, { clientId: photos.clientId, name: 'Example Photos' }]);

    // every kept attempt, newest first
    assert.deepEqual(file.signInHistory.map((e: Json) => [e.result, e.ip, e.device, e.factors]), [
      ['success', '127.0.0.1', 'Chrome 120 on Windows 10', ['pwd']],
      ['new_device', '127.0.0.1', 'Chrome 120 on Windows 10', []],
      ['wrong_password', '127.0.0.1', undefined, ['pwd']],
    ]);

    assert.equal(file.phoneNumbers.length, 1);
    assert.deepEqual({ ...file.phoneNumbers[0], addedAt: undefined, verifiedAt: undefined }, { number: phone, type: 'mobile', status: 'active', primary: true, addedAt: undefined, verifiedAt: undefined });
    assert.equal(file.trustedIps.length, 1);
    assert.deepEqual([file.trustedIps[0].range, file.trustedIps[0].skips], ['203.0.113.0/24', 'all']);

    assert.equal(file.secondFactors.authenticatorApp.setUp, true);
    assert.ok(Date.parse(file.secondFactors.authenticatorApp.since) <= Date.now());
    assert.deepEqual(file.secondFactors.securityKeys.map((k: Json) => [k.name, Object.keys(k).sort()]), [['Blue YubiKey', ['createdAt', 'name', 'synced']]]);
    assert.equal(file.secondFactors.recoveryCodesLeft, 9);

    // each application allowed to sign the person in, what it may see, and since when
    const notes = (file.connectedApplications as Json[]).find((g) => g.application.clientId === rp.clientId);
    assert.ok(notes, 'the grant to the relying party');
    assert.deepEqual(notes.application, { clientId: rp.clientId, name: 'Example Notes' });
    assert.deepEqual([...notes.scopes].sort(), ['email', 'offline_access', 'openid', 'profile']);
    assert.ok(Date.parse(notes.grantedAt) <= Date.now());
    // what the person allowed an application that asks (Example Notes is first-party: no consent), kept for later sign-ins
    assert.deepEqual((file.consents as Json[]).map((c) => ({ ...c, givenAt: undefined })), [{ application: { clientId: photos.clientId, name: 'Example Photos' }, scopes: ['openid', 'email'], givenAt: undefined }]);
    assert.ok(Date.parse(file.consents[0].givenAt) <= Date.now());

    // the audit log about the account: the sign-ins and the security changes, with actor and IP
    assert.equal(file.auditLog.complete, true);
    const types = (file.auditLog.events as Json[]).map((e) => e.type);
    assert.ok(types.includes('sign_in.success') && types.includes('sign_in.failure'), types.join(', '));
    const success = (file.auditLog.events as Json[]).find((e) => e.type === 'sign_in.success')!;
    assert.equal(success.outcome, 'success');
    assert.equal(success.ip, '127.0.0.1');
    assert.deepEqual(Object.keys(success).sort(), ['actor', 'at', 'details', 'ip', 'outcome', 'type']);
    assert.equal(success.details.deviceId, device!.id);

    // the person is told, and the log records it
    const sent = await eventually(() => notices(user).length > before && notices(user)[0], 'the download notice');
    assert.match(sent.text, /A copy of your data .* was downloaded\./);
    await t.services.audit.flush();
    const { events } = await t.services.audit.query({ accountId: user.id, type: 'account.data_exported' });
    assert.equal(events.length, 1);
    assert.deepEqual([events[0]!.outcome, events[0]!.actor.type, events[0]!.actor.label], ['success', 'user', user.email]);
  });

  it('holds no secret: no hash, TOTP secret, recovery code, key material, cookie, token, grant or session id', async () => {
    const user = await createUser(t);
    const { secret, keyId, codes, agent, tokens } = await everything(user);
    const res = await download(agent, { password: user.password });
    assert.equal(res.status, 200, res.body.slice(0, 400));
    const file = res.body;

    const accountDoc = (await raw('accounts', user.id))!;
    const totpDoc = (await raw('totp_credentials', user.id))!;
    const recoveryDoc = (await raw('recovery_codes', user.id))!;
    const keysDoc = (await raw('webauthn_credentials', user.id))!;
    const cookies = (await agent.jar.getCookies(t.issuer)).filter((c) => c.value.length >= 8);
    assert.ok(cookies.some((c) => c.key === 'tessera.device'), 'the device cookie is among them');
    const sessions = await t.services.storage.sessionsOf(user.id);
    const grants = await t.services.storage.grantsOf(user.id);
    assert.ok(sessions.length && grants.length);
    const secrets: [string, string][] = [
      ['the password hash', accountDoc.passwordHash], ['the PIN hash', accountDoc.pinHash], ['the TOTP secret', secret], ['the sealed TOTP secret', totpDoc.sealedSecret],
      ...codes.flatMap((c): [string, string][] => [['a recovery code', c], ['a recovery code', c.replaceAll('-', '')]]),
      ...Object.keys(recoveryDoc.codes as object).map((h): [string, string] => ['a recovery code hash', h]),
      ['the key id', keyId], ['the public key', (keysDoc.creds as Json)[keyId].publicKey],
      ...cookies.map((c): [string, string] => [`the cookie ${c.key}`, c.value]),
      ['the access token', tokens.access_token], ['the refresh token', tokens.refresh_token!], ['the ID token', tokens.id_token!],
      ...sessions.flatMap((s): [string, string][] => [['a session uid', s.uid as string], ['a session id', s.jti as string]]),
      ...sessions.flatMap((s) => Object.values((s.authorizations ?? {}) as Record<string, { sid: string; grantId: string }>)).flatMap((a): [string, string][] => [['a sid', a.sid], ['a grant id', a.grantId]]),
      ...grants.map((g): [string, string] => ['a grant id', g.jti as string]),
    ];
    for (const [what, value] of secrets) {
      assert.ok(typeof value === 'string' && value.length >= 8, `${what} is known to the test`);
      assert.ok(!file.includes(value), `the file contains ${what}`);
    }
    assert.doesNotMatch(file, /\$argon2/);
  });

  it('refuses a wrong password with the page again (400, the error beside the field) and downloads nothing', async () => {
    const user = await createUser(t);
    const { agent } = await signedIn(user);
    const before = notices(user).length;
    const res = await download(agent, { password: 'Not#The1Password' });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type')!, /^text\/html/);
    assert.equal(res.headers.get('content-disposition'), null);
    assert.match(res.body, /<input id="data-password"[^>]*aria-invalid="true" aria-describedby="data-password-error">\s*<p class="error" role="alert" id="data-password-error">Your current password is not right[^<]*nothing was downloaded\.<\/p>/);
    assert.doesNotMatch(res.body, /"profile"/);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(notices(user).length, before, 'no download notice');
    await t.services.audit.flush();
    assert.equal((await t.services.audit.query({ accountId: user.id, type: 'account.data_exported' })).events.length, 0);
  });

  it('asks for the current password once the sign-in is more than a few minutes old: a blank one downloads nothing', async () => {
    const user = await createUser(t);
    const { agent } = await signedIn(user);
    offset = 10 * 60_000;
    const page = await open(agent);
    assert.match(page.body, /<label for="data-password">Current password<\/label>\s*<input id="data-password"[^>]* required>/);
    const refused = await agent.submit(page, /\/security\/data$/, { password: '' });
    assert.equal(refused.status, 400);
    assert.equal(refused.headers.get('content-disposition'), null);
    assert.match(refused.body, /role="alert" id="data-password-error">Type your current password: you signed in more than a few minutes ago\. Nothing was downloaded\.<\/p>/);
    const res = await agent.submit(page, /\/security\/data$/, { password: user.password });
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as Json).profile.email, user.email);
  });

  it('sends a visitor without a session to sign in, and back to the page after', async () => {
    const visitor = new UserAgent();
    const res = await visitor.request(`${t.issuer}${url}`);
    assert.equal(res.status, 302);
    const location = new URL(res.headers.get('location')!);
    assert.equal(location.pathname, '/auth');
    assert.equal(location.searchParams.get('client_id'), 'tessera-account');
    assert.equal(location.searchParams.get('state'), url);
    // the form without a session is refused before anything is read (no form session: no CSRF token)
    const posted = await visitor.request(`${t.issuer}${url}`, { form: { password: 'x' } });
    assert.ok(posted.status === 403 || posted.status === 302, `refused: ${posted.status}`);
    assert.equal(posted.headers.get('content-disposition'), null);
  });

  it('in Chromium: the page at 390 and 1280 px, and the button downloads the file', async function () {
    this.timeout(120_000);
    const browser = await launchChromium();
    if (!browser) this.skip();
    try {
      const user = await createUser(t, { name: 'Ada Lovelace' });
      await everything(user);
      mkdirSync(SHOTS, { recursive: true });
      const context = await browser!.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      await page.goto(`${t.issuer}${url}`);
      await page.getByLabel('Email').fill(user.email);
      await page.getByLabel('Password').fill(user.password);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.waitForURL(`${t.issuer}${url}`);
      await page.screenshot({ path: path.join(SHOTS, 'data-1280.png'), fullPage: true });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: path.join(SHOTS, 'data-390.png'), fullPage: true });
      await page.getByLabel(/Current password/).fill('Not#The1Password');
      await page.getByRole('button', { name: 'Download my data' }).click();
      await page.waitForLoadState();
      assert.match((await page.locator('[role=alert]').textContent())!, /nothing was downloaded/);
      await page.screenshot({ path: path.join(SHOTS, 'data-wrong-password-390.png'), fullPage: true });
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.getByLabel(/Current password/).fill(user.password);
      const [file] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download my data' }).click()]);
      assert.match(file.suggestedFilename(), /^tessera-data-\d{4}-\d\d-\d\d\.json$/);
      const data = JSON.parse(readFileSync((await file.path())!, 'utf8')) as Json;
      assert.equal(data.profile.email, user.email);
      await context.close();
    } finally {
      await browser!.close();
    }
  });
});
