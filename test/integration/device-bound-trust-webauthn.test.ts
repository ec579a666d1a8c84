// "Keep trusting this device" on the security-key (WebAuthn) second-factor form (README
// "Device-bound trust"), over real HTTP and the real database with a security key in software: a
// device trusted before device keys, whose account's routine factor is a security key, is offered
// the box; ticked, the browser's device key is bound only once the key's assertion verifies (a
// failed assertion binds nothing), with the trust period unchanged, a device-history entry and an
// audit event; the next sign-in then skips the factor with the key, and copied cookies are asked.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, type Authorization, type Page, type TestUser } from '../support/flow.ts';
import { SoftSecurityKey } from '../support/soft-security-key.ts';
import { ACR } from '../../src/policy/assurance.ts';

const KEEP = /name="trust" value="yes"/;
const FACTOR = /<h1>Verify it is you<\/h1>/;

describe('"Keep trusting this device" with a security key (a device trusted before keys)', () => {
  let t: Tessera;
  let rp: RelyingParty;

  before(async () => {
    t = await startTessera();
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(() => t?.close());

  /** An account that asks for its new devices' email code, whose routine second factor is a security key. */
  async function keyUser(): Promise<{ user: TestUser; key: SoftSecurityKey }> {
    const user = await createUser(t, { deviceVerification: true });
    const key = new SoftSecurityKey(t.issuer);
    await key.registerTo(t, user);
    return { user, key };
  }

  async function password(agent: UserAgent, user: TestUser): Promise<{ auth: Authorization; page: Page }> {
    const auth = await rp.authorize({ prompt: 'login' });
    return { auth, page: await agent.submit(await agent.visit(auth.url), /\/login$/, { email: user.email, password: user.password }) };
  }

  /** The challenge the page's script hands the authenticator. */
  const challengeOn = (page: Page) => String(JSON.parse(/<script type="application\/json" id="webauthn-options">([\s\S]*?)<\/script>/.exec(page.body)![1]!).challenge);

  async function claims(page: Page, auth: Authorization) {
    assert.ok(page.url.startsWith(REDIRECT_URI), `not back at the RP: ${page.status} ${page.body.slice(0, 400)}`);
    const c = (await rp.tokens(page.url, auth)).claims()!;
    return { acr: c.acr, amr: c.amr as string[] };
  }

  const browserIdOf = (agent: UserAgent) => String(agent.jar.toJSON()!.cookies.find((c) => /tessera\.device$/.test(String(c.key)))!.value);

  /** A browser known to the account (new-device code, then the key) and trusted by its cookie alone, as before device keys. */
  async function legacyDevice(user: TestUser, key: SoftSecurityKey, agent = new UserAgent()) {
    const { auth, page } = await password(agent, user);
    assert.match(page.body, /<h1>New device<\/h1>/);
    const code = /(\d{6})/.exec(t.services.outbox.list().find((m) => m.to === user.email && /sign-in code/.test(m.subject ?? ''))!.subject!)![1]!;
    const factor = await agent.submit(page, /\/device$/, { code });
    assert.match(factor.body, FACTOR);
    assert.doesNotMatch(factor.body, KEEP, 'known, not trusted: no box');
    await claims(await agent.submit(factor, /\/factor$/, { code: key.assertion(challengeOn(factor)) }), auth);
    const device = (await t.services.devices.registrationFor(user.id, browserIdOf(agent)))!;
    await t.services.devices.trust(device.id, 'Old laptop', new Date(Date.now() + 86_400_000));
    const trusted = (await t.services.devices.registrationFor(user.id, browserIdOf(agent)))!;
    assert.equal(trusted.key, undefined);
    return { agent, device: trusted, until: trusted.trustedUntil! };
  }

  it('binds the browser\'s key only after the security key\'s assertion verifies: a failed one binds nothing; then the factor is skipped with the key', async () => {
    const { user, key } = await keyUser();
    const { agent, device, until } = await legacyDevice(user, key);
    const asked = await password(agent, user);
    assert.match(asked.page.body, FACTOR, 'trusted without a key: asked for the security key');
    assert.match(asked.page.body, /id="webauthn-form"[^>]*data-device-key="bind"/, 'the security-key form carries the box');
    assert.match(asked.page.body, KEEP);
    assert.match(asked.page.body, /Keep trusting this device/);
    assert.match(asked.page.body, /name="device_challenge" value="dk1\./);

    // an assertion signed by another key, with the box ticked and the browser's key and signature sent
    const failed = await agent.submit(asked.page, /\/factor$/, { code: key.assertion(challengeOn(asked.page), { forged: true }), trust: 'yes' });
    assert.equal(failed.status, 400);
    assert.match(failed.body, FACTOR);
    assert.match(failed.body, /The security key was not accepted/);
    assert.ok(agent.deviceKey, 'the page sent a device key and its signature');
    assert.equal((await t.services.devices.registrationFor(user.id, browserIdOf(agent)))!.key, undefined, 'a failed assertion binds nothing');
    await t.services.audit.flush();
    assert.ok(!(await t.services.audit.query({ accountId: user.id, type: 'device.trusted', limit: 50 })).events.some((e) => e.details?.keyBound === true), 'nothing audited as bound');

    // the page shown again offers the box again; now the key's assertion verifies
    assert.match(failed.body, KEEP);
    await claims(await agent.submit(failed, /\/factor$/, { code: key.assertion(challengeOn(failed)), trust: 'yes' }), asked.auth);
    const bound = (await t.services.devices.registrationFor(user.id, browserIdOf(agent)))!;
    const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', agent.deviceKey!.publicKey);
    assert.deepEqual(bound.key?.publicKey, { kty, crv, x, y }, 'bound to the key that signed');
    assert.equal(bound.trustedUntil!.getTime(), until.getTime(), 'the trust period is not extended');
    assert.ok(bound.history.some((h) => /Keep trusting this device/.test(h.why)), 'a device history entry');
    await t.services.audit.flush();
    const events = (await t.services.audit.query({ accountId: user.id, type: 'device.trusted', limit: 50 })).events;
    assert.ok(events.some((e) => e.subject?.id === device.id && e.details?.keyBound === true), 'audited');

    const next = await password(agent, user);
    assert.deepEqual(await claims(next.page, next.auth), { acr: ACR.password, amr: ['pwd'] }, 'key-bound now: the security key is skipped');
    const copy = new UserAgent();
    for (const cookie of await agent.jar.getCookies(t.issuer)) await copy.jar.setCookie(cookie, t.issuer);
    assert.match((await password(copy, user)).page.body, FACTOR, 'the copied cookies without the key are asked');
  });

  it('leaves a browser without WebCrypto as it was when ticked: signed in with the key, trusted by its cookie, no key', async () => {
    const { user, key } = await keyUser();
    const { agent, until } = await legacyDevice(user, key, new UserAgent({}, { webCrypto: false }));
    const asked = await password(agent, user);
    assert.match(asked.page.body, KEEP);
    const done = await agent.submit(asked.page, /\/factor$/, { code: key.assertion(challengeOn(asked.page)), trust: 'yes' });
    assert.ok((await claims(done, asked.auth)).amr.includes('hwk'));
    const after = (await t.services.devices.registrationFor(user.id, browserIdOf(agent)))!;
    assert.equal(after.key, undefined);
    assert.equal(after.trustedUntil!.getTime(), until.getTime());
  });
});
