// Authenticator apps end to end: a signed-in user sets one up at /account/security (QR + key,
// confirmed with a code and the password), then a relying party asking for urn:tessera:acr:mfa
// gets the password and the app's code, and an ID token with acr mfa and amr pwd, otp, mfa.
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, signIn, type Page, type TestUser, giveVerifiedPhone } from '../support/flow.ts';
import { ACR } from '../../src/policy/assurance.ts';

/** The code an authenticator app shows `steps` periods from now. */
const appCode = (secret: string, steps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });

describe('authenticator app (TOTP)', () => {
  let t: Tessera;
  let rp: RelyingParty;
  let user: TestUser;
  let agent: UserAgent;
  let secret: string;
  /** The app code the step-up test spent. */
  let spent: string;

  before(async () => {
    t = await startTessera();
    rp = await RelyingParty.register(t, { skipConsent: true });
    user = await createUser(t);
    // an authenticator app needs a verified primary mobile number first (SPEC §5)
    await giveVerifiedPhone(t, user);
    agent = new UserAgent();
  });
  after(() => t.close());

  /** The account page sends a visitor through Tessera's own sign-in and back. */
  async function openAccountPage(path: string): Promise<Page> {
    const page = await agent.visit(`${t.issuer}${path}`);
    if (!/action="[^"]*\/login"/.test(page.body)) return page;
    const after = await agent.submit(page, /\/login$/, { email: user.email, password: user.password }, `${t.issuer}/account/`);
    return agent.visit(after.url);
  }

  it('sets up an app from the account page: QR code and key, confirmed with a code and the password', async () => {
    const overview = await openAccountPage('/account/security');
    assert.match(overview.body, /Signed in as <strong>user-/);
    assert.match(overview.body, /Not set up/);
    const setup = await agent.visit(`${t.issuer}/account/security/totp`);
    assert.match(setup.body, /<svg[^>]*>/, 'a QR code');
    secret = /<code class="key"[^>]*>([A-Z2-7 ]+)<\/code>/.exec(setup.body)![1]!.replaceAll(' ', '');
    const reload = await agent.visit(`${t.issuer}/account/security/totp`);
    assert.ok(reload.body.includes(secret), 'a reload shows the same key');

    const wrongPassword = await agent.submit(setup, /\/account\/security\/totp$/, { code: await appCode(secret), password: 'Not#The1Password' });
    assert.equal(wrongPassword.status, 400);
    assert.match(wrongPassword.body, /current password is not right/);
    assert.equal(await t.services.totp.enrolled(user.id), false, 'nothing changed');
    const wrongCode = await agent.submit(setup, /\/account\/security\/totp$/, { code: 'abcdef', password: user.password });
    assert.match(wrongCode.body, /That code is not right/);

    const done = await agent.submit(setup, /\/account\/security\/totp$/, { code: await appCode(secret), password: user.password });
    assert.equal(done.status, 200);
    assert.match(done.body, /authenticator app is set up/);
    assert.equal(await t.services.totp.enrolled(user.id), true);
  });

  it('steps up to mfa with the password and the app code: acr mfa, amr pwd otp mfa', async () => {
    const browser = new UserAgent();
    const auth = await rp.authorize({ acr_values: ACR.mfa });
    const factor = await browser.submit(await browser.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
    assert.match(factor.body, /authenticator app shows/, 'the app is preselected');
    spent = await appCode(secret, 1);
    const done = await browser.submit(factor, /\/factor$/, { code: spent });
    const claims = (await rp.tokens(done.url, auth)).claims()!;
    assert.equal(claims.acr, ACR.mfa);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
  });

  it('accepts each code once: the same code a second time is refused', async () => {
    const code = await appCode(secret, -1);
    // a code of an earlier step than one already used is refused too
    assert.equal(await t.services.totp.check(user.id, code), false);
    const browser = new UserAgent();
    const auth = await rp.authorize({ acr_values: ACR.mfa });
    const factor = await browser.submit(await browser.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
    // the very code the step-up above spent (computed again it could belong to the next period)
    const replay = await browser.submit(factor, /\/factor$/, { code: spent });
    assert.equal(replay.status, 400);
    assert.match(replay.body, /already used/);
  });

  it('removes the app only with the current password', async () => {
    const overview = await openAccountPage('/account/security');
    const refused = await agent.submit(overview, /\/totp\/remove$/, { password: 'Wrong#Password9' });
    assert.match(refused.body, /nothing was changed/);
    assert.equal(await t.services.totp.enrolled(user.id), true);
    const removed = await agent.submit(overview, /\/totp\/remove$/, { password: user.password });
    assert.match(removed.body, /was removed/);
    assert.equal(await t.services.totp.enrolled(user.id), false);
    // without the app the sign-in offers what is left: the verified mobile number's codes
    const browser = new UserAgent();
    const auth = await rp.authorize({ acr_values: ACR.mfa });
    const factor = await browser.submit(await browser.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
    assert.match(factor.body, /We texted a 6-digit code/);
    assert.doesNotMatch(factor.body, /authenticator app shows/);
  });

  it('refuses a forged account form without CSRF and answers account pages of nobody with the sign-in', async () => {
    await openAccountPage('/account/security');
    const forged = await agent.request(`${t.issuer}/account/security/totp/remove`, { form: { password: user.password } });
    assert.equal(forged.status, 403);
    const stranger = await new UserAgent().request(`${t.issuer}/account/security`);
    assert.equal(stranger.status, 302);
    assert.match(stranger.headers.get('location')!, /\/auth\?client_id=tessera-account/);
  });

  it('with max_age repeats only the factor proven too long ago (here the password, not the app)', async () => {
    // its own account, so its app codes do not collide with the other tests' (each code works once)
    const own = await createUser(t);
    const enrolment = await t.services.totp.begin(own.id, own.email);
    assert.ok(await t.services.totp.confirm(own.id, await appCode(enrolment.secret)));
    const browser = new UserAgent();
    const first = await rp.authorize();
    await rp.tokens(await signIn(browser, first.url, own), first);
    await new Promise((r) => setTimeout(r, 5100));
    const stepUp = await rp.authorize({ acr_values: ACR.mfa });
    const factor = await browser.visit(stepUp.url);
    assert.match(factor.body, /authenticator app shows/, 'only the app code for the step-up');
    const stepped = await browser.submit(factor, /\/factor$/, { code: await appCode(enrolment.secret, 1) });
    const authTimeAfterStepUp = (await rp.tokens(stepped.url, stepUp)).claims()!.auth_time!;
    // the password is now over 5 s old, the app code fresh: max_age=3 asks for the password only (3 s leave a busy
    // machine time for the requests between the app code and the password; max_age counts in whole seconds)
    const fresh = await rp.authorize({ acr_values: ACR.mfa, max_age: '3' });
    const page = await browser.visit(fresh.url);
    assert.match(page.body, /name="password"/, 'the password again');
    const done = await browser.submit(page, /\/login$/, { email: own.email, password: own.password });
    assert.ok(done.url.startsWith('http://127.0.0.1:9/callback'), `no app code asked again: ${done.url}`);
    const claims = (await rp.tokens(done.url, fresh)).claims()!;
    assert.equal(claims.acr, ACR.mfa);
    assert.ok(claims.auth_time! >= authTimeAfterStepUp, 'auth_time is the oldest factor that still counts');
  });

  it('turns the app into the routine second factor: every sign-in then asks for it', async () => {
    const own = await createUser(t);
    await giveVerifiedPhone(t, own);
    const enrolment = await t.services.totp.begin(own.id, own.email);
    assert.ok(await t.services.totp.confirm(own.id, await appCode(enrolment.secret)));
    const settings = new UserAgent();
    const login = await settings.visit(`${t.issuer}/account/security`);
    const overview = await settings.visit((await settings.submit(login, /\/login$/, { email: own.email, password: own.password }, `${t.issuer}/account/`)).url);
    const refused = await settings.submit(overview, /\/second-factor$/, { factor: 'webauthn', password: own.password });
    assert.equal(refused.status, 400);
    assert.match(refused.body, /Choose a method you have set up/);
    const saved = await settings.submit(overview, /\/second-factor$/, { factor: 'totp', password: own.password });
    assert.match(saved.body, /Every sign-in now asks for a second factor/);

    const browser = new UserAgent();
    const auth = await rp.authorize(); // the RP asks for nothing special
    const factor = await browser.submit(await browser.visit(auth.url), /\/login$/, { email: own.email, password: own.password });
    assert.match(factor.body, /Your account asks for a second step/);
    const done = await browser.submit(factor, /\/factor$/, { code: await appCode(enrolment.secret, 1) });
    const claims = (await rp.tokens(done.url, auth)).claims()!;
    assert.equal(claims.acr, ACR.mfa, 'the routine factor is a real second factor');
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
  });
});
