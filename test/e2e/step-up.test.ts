// Relying parties asking for more assurance (acr_values, an essential acr claim, a client minimum,
// max_age): they get exactly that or unmet_authentication_requirements, never a weaker token.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { generate } from 'otplib';
import { RelyingParty, UserAgent, createUser, formOn, signIn, signInAndGetTokens, type TestUser } from '../support/flow.ts';
import { ACR } from '../../src/policy/assurance.ts';

describe('step-up: levels a relying party asks for', () => {
  let t: Tessera;
  let rp: RelyingParty;
  let user: TestUser;

  before(async () => {
    // accounts here have no second factor and are not offered to set one up (MFA_OFFER_ENROLMENT=false)
    t = await startTessera({ env: { MFA_OFFER_ENROLMENT: 'false' } });
    rp = await RelyingParty.register(t, { skipConsent: true });
    user = await createUser(t);
  });
  after(() => t.close());

  const errorAt = (url: string) => new URL(url).searchParams.get('error');

  it('issues acr pwd when the RP asks for pwd, and ignores acr values it does not know', async () => {
    for (const acr_values of [ACR.password, 'urn:example:gold']) {
      const { tokens } = await signInAndGetTokens(rp, user, { acr_values });
      assert.equal(tokens.claims()!.acr, ACR.password, acr_values);
    }
  });

  it('sends unmet_authentication_requirements, not a weaker token, when the level cannot be reached', async () => {
    const cases: Record<string, string>[] = [
      { acr_values: ACR.mfa },
      { acr_values: `${ACR.phr} ${ACR.mfa}` },
      { claims: JSON.stringify({ id_token: { acr: { essential: true, values: [ACR.mfa] } } }) },
    ];
    for (const params of cases) {
      const auth = await rp.authorize(params);
      const callback = await signIn(new UserAgent(), auth.url, user);
      assert.equal(errorAt(callback), 'unmet_authentication_requirements', JSON.stringify(params));
    }
  });

  it('enforces a client minimum acr on every sign-in', async () => {
    const strict = await RelyingParty.register(t, { skipConsent: true, minimumAcr: ACR.mfa });
    const auth = await strict.authorize();
    assert.equal(errorAt(await signIn(new UserAgent(), auth.url, user)), 'unmet_authentication_requirements');
    await assert.rejects(t.services.clients.create({ clientId: 'bad-min', redirectUris: ['https://a.example/cb'], minimumAcr: 'gold' }), /minimum acr must be one of/);
  });

  it('answers an essential acr it cannot meet for a signed-in session without showing any page (prompt=none)', async () => {
    const { agent } = await signInAndGetTokens(rp, user);
    const auth = await rp.authorize({ prompt: 'none', acr_values: ACR.mfa });
    const page = await agent.visit(auth.url);
    assert.ok(['login_required', 'unmet_authentication_requirements'].includes(errorAt(page.url)!), page.url);
  });

  it('asks for the password again when max_age has passed, and reports the new auth_time', async () => {
    const { agent, tokens } = await signInAndGetTokens(rp, user);
    const first = tokens.claims()!.auth_time!;
    await new Promise((r) => setTimeout(r, 1100));
    const auth = await rp.authorize({ max_age: '0' });
    const page = await agent.visit(auth.url);
    assert.match(page.body, /action="[^"]*\/login"/, 'the password form again');
    const again = await rp.tokens(await signIn(agent, auth.url, user), auth);
    assert.ok(again.claims()!.auth_time! > first);
  });
});

describe('step-up: setting up a factor during the sign-in (MFA_OFFER_ENROLMENT, default on)', () => {
  let t: Tessera;
  let rp: RelyingParty;
  before(async () => {
    t = await startTessera();
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(() => t.close());

  const emailedCode = (to: string) => /(\d{6}) is your Tessera sign-in code/.exec(t.services.outbox.list().find((m) => m.to === to && /sign-in code/.test(m.subject ?? ''))!.subject!)![1]!;

  it('offers an app after an emailed code proves the account, and continues at mfa', async () => {
    const user = await createUser(t);
    const agent = new UserAgent();
    const auth = await rp.authorize({ acr_values: ACR.mfa });
    const offer = await agent.submit(await agent.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
    assert.match(offer.body, /your account has none yet/);
    const choose = await agent.submit(offer, /\/enrol\/email$/, { code: emailedCode(user.email) });
    const secret = /<code class="key"[^>]*>([A-Z2-7 ]+)<\/code>/.exec(choose.body)![1]!.replaceAll(' ', '');
    const codes = await agent.submit(choose, /\/enrol\/totp$/, { code: await generate({ secret }) });
    assert.match(codes.body, /Save your recovery codes/, 'a first second factor comes with recovery codes');
    const done = await agent.submit(codes, /\/enrol\/continue$/);
    const claims = (await rp.tokens(done.url, auth)).claims()!;
    assert.equal(claims.acr, ACR.mfa);
    assert.ok((claims.amr as string[]).includes('otp') && (claims.amr as string[]).includes('mfa'));
    assert.equal(await t.services.totp.enrolled(user.id), true, 'the app stays set up');
  });

  it('sends unmet_authentication_requirements when the person declines, and refuses setup before the email code', async () => {
    const user = await createUser(t);
    const agent = new UserAgent();
    const auth = await rp.authorize({ acr_values: ACR.mfa });
    const offer = await agent.submit(await agent.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
    const early = formOn(offer, /\/enrol\/email$/);
    const skipped = await agent.request(early.action.replace(/email$/, 'totp'), { form: { ...early.fields, code: '123456' } });
    assert.equal(skipped.status, 400, 'no setup before the account is proven');
    const declined = await agent.submit(offer, /\/enrol\/decline$/);
    assert.equal(new URL(declined.url).searchParams.get('error'), 'unmet_authentication_requirements');
    assert.equal(await t.services.totp.enrolled(user.id), false);
  });
});
