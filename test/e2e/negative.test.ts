// What must fail, fails: bad redirect URIs, missing PKCE, wrong secrets and passwords, tampered,
// expired or replayed artefacts — with a clear answer and nothing issued.
import assert from 'node:assert/strict';
import request from 'supertest';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, signIn, formOn, REDIRECT_URI, type TestUser } from '../support/flow.ts';

function authorizeUrl(t: Tessera, rp: RelyingParty, params: Record<string, string>): string {
  const url = new URL('/auth', t.issuer);
  for (const [k, v] of Object.entries({ client_id: rp.clientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, ...params })) {
    url.searchParams.set(k, v);
  }
  return url.href;
}

/** The page a person sees after a failed sign-in, minus the per-request tokens. */
function visibleAnswer(page: { status: number; body: string }): string {
  return `${page.status}\n${page.body.replace(/value="[^"]*"/g, 'value=""').replace(/\/interaction\/[^/"]+/g, '/interaction/UID')}`;
}

describe('rejections', () => {
  let t: Tessera;
  let rp: RelyingParty;
  let user: TestUser;

  before(async () => {
    t = await startTessera();
    rp = await RelyingParty.register(t);
    user = await createUser(t);
  });
  after(() => t.close());

  it('refuses an unregistered redirect_uri on its own error page, never redirecting', async () => {
    const url = new URL(authorizeUrl(t, rp, { redirect_uri: 'https://evil.example/cb', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }));
    const res = await request(t.server).get(url.pathname + url.search).set('accept', 'text/html');
    assert.equal(res.status, 400);
    assert.equal(res.headers.location, undefined);
    assert.match(res.text, /redirect_uri/);
    assert.doesNotMatch(res.text, /at .*\.(js|ts):\d+/, 'no stack trace');
  });

  it('requires PKCE for every client and accepts only S256', async () => {
    const agent = new UserAgent();
    const attempts: Record<string, string>[] = [{}, { code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }];
    for (const params of attempts) {
      const page = await agent.visit(authorizeUrl(t, rp, params));
      const back = new URL(page.url);
      assert.ok(page.url.startsWith(REDIRECT_URI), 'error returned to the RP');
      assert.equal(back.searchParams.get('error'), 'invalid_request');
      assert.equal(back.searchParams.get('code'), null);
    }
  });

  it('rejects a wrong client secret at the token endpoint', async () => {
    const auth = await rp.authorize();
    const callback = await signIn(new UserAgent(), auth.url, user);
    const impostor = await RelyingParty.discover(t.issuer, rp.clientId, 'not-the-secret');
    await assert.rejects(impostor.tokens(callback, auth), (err: oidc.WWWAuthenticateChallengeError) =>
      err.status === 401 && err.cause[0]?.parameters.error === 'invalid_client');
  });

  it('answers a wrong password, an unknown email and a disabled account identically', async () => {
    const disabled = await createUser(t);
    await t.services.accounts.setDisabled(disabled.email, true);
    const attempts = [
      { email: user.email, password: 'Wrong#Password1' },
      { email: 'nobody@example.com', password: 'Wrong#Password1' },
      { email: disabled.email, password: disabled.password },
    ];
    const answers: string[] = [];
    for (const attempt of attempts) {
      const agent = new UserAgent();
      const login = await agent.visit((await rp.authorize()).url);
      const page = await agent.submit(login, /\/login$/, attempt);
      assert.match(page.body, /Incorrect email or password\./);
      answers.push(visibleAnswer(page).replace(attempt.email, 'EMAIL'));
    }
    assert.equal(answers[1], answers[0]);
    assert.equal(answers[2], answers[0]);
  });

  it('rejects a form post without the CSRF token and signs nobody in', async () => {
    const agent = new UserAgent();
    const login = await agent.visit((await rp.authorize()).url);
    const form = formOn(login, /\/login$/);
    const res = await agent.request(form.action, { form: { email: user.email, password: user.password } });
    assert.equal(res.status, 403);
    assert.match(res.body, /form has expired/);
    const still = await agent.visit(login.url);
    assert.match(still.body, /name="password"/, 'still on the sign-in page');
  });

  it('serves the sign-in page with CSP, no framing and no caching', async () => {
    const login = await new UserAgent().visit((await rp.authorize()).url);
    const csp = login.headers.get('content-security-policy')!;
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.match(login.headers.get('cache-control')!, /no-store/);
    assert.equal(login.headers.get('x-content-type-options'), 'nosniff');
    assert.match(login.headers.get('set-cookie') ?? '', /httponly/i, 'form session cookie is HttpOnly');
    const tokenRes = await request(t.server).post('/token').type('form').send({ grant_type: 'client_credentials' });
    assert.match(tokenRes.headers['cache-control'] ?? '', /no-store/);
  });

  it('shows a restart page, not an error 500, for an unknown interaction', async () => {
    const res = await request(t.server).get('/interaction/does-not-exist').set('accept', 'text/html');
    assert.equal(res.status, 400);
    assert.match(res.text, /expired|start again/i);
  });

  it('detects a tampered ID token signature against the JWKS', async () => {
    const auth = await rp.authorize();
    const tokens = await rp.tokens(await signIn(new UserAgent(), auth.url, user), auth);
    const jwks = createRemoteJWKSet(new URL('/jwks', t.issuer));
    const verified = await jwtVerify(tokens.id_token!, jwks, { issuer: t.issuer, audience: rp.clientId });
    assert.equal(verified.payload.sub, user.id);

    const [header, payload, signature] = tokens.id_token!.split('.') as [string, string, string];
    const forgedPayload = Buffer.from(JSON.stringify({ ...verified.payload, sub: 'someone-else' })).toString('base64url');
    const sig = Buffer.from(signature, 'base64url');
    sig[0]! ^= 0xff;
    for (const forged of [`${header}.${forgedPayload}.${signature}`, `${header}.${payload}.${sig.toString('base64url')}`]) {
      await assert.rejects(jwtVerify(forged, jwks, { issuer: t.issuer, audience: rp.clientId }), /signature verification failed/);
    }
  });

  it('refuses an expired authorization code', async () => {
    const auth = await rp.authorize();
    const callback = await signIn(new UserAgent(), auth.url, user);
    const code = new URL(callback).searchParams.get('code')!;
    // move the code past its lifetime the way time would: its stored expiry is now in the past
    const codes = t.services.storage.adapter('AuthorizationCode');
    const stored = (await codes.find(code))!;
    const past = Math.floor(Date.now() / 1000) - 5;
    await codes.upsert(code, { ...stored, exp: past }, -5);
    assert.ok(stored.exp! > past);
    await assert.rejects(rp.tokens(callback, auth), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
  });

  it('refuses a replayed authorization code and revokes what the first use issued', async () => {
    const auth = await rp.authorize({ scope: 'openid offline_access', prompt: 'consent' });
    const callback = await signIn(new UserAgent(), auth.url, user);
    const first = await rp.tokens(callback, auth);
    await assert.rejects(rp.tokens(callback, auth), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
    const intro = await oidc.tokenIntrospection(rp.config, first.access_token);
    assert.equal(intro.active, false, 'tokens from the first exchange were revoked');
  });

  it('does not let one client introspect or revoke another client\'s token', async () => {
    const auth = await rp.authorize();
    const tokens = await rp.tokens(await signIn(new UserAgent(), auth.url, user), auth);
    const other = await RelyingParty.register(t);
    const seen = await oidc.tokenIntrospection(other.config, tokens.access_token);
    assert.equal(seen.active, false);
    await oidc.tokenRevocation(other.config, tokens.access_token).catch(() => {});
    assert.equal((await oidc.tokenIntrospection(rp.config, tokens.access_token)).active, true);
  });
});
