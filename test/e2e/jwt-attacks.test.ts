// Hostile JWTs get nowhere. A genuine ID token, obtained through a real sign-in, is tampered with
// or re-signed (jose) and sent as id_token_hint to RP-initiated logout (/session/end): `alg: none`,
// HS256 keyed with Tessera's public key (as JWK JSON and as PEM), an unknown `kid`, a known `kid`
// with an attacker's key, a changed claim under the original signature, and, signed with Tessera's
// own private key, a wrong `aud` and a wrong `iss`. Each is a 400 error page, no redirect, and the
// browser stays signed in. An expired but genuine hint is what the provider accepts on purpose
// (oidc-provider validates hints with ignoreExpiration): it only leads to the confirmation page, and
// nothing ends until the person confirms. Request objects are off and no client can authenticate with
// private_key_jwt: forged `request` parameters and client assertions are refused and issue nothing.
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { SignJWT, UnsecuredJWT, base64url, decodeJwt, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { POST_LOGOUT_URI, REDIRECT_URI, RelyingParty, UserAgent, createUser, signInAndGetTokens, type TestUser } from '../support/flow.ts';

const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim();

describe('hostile JWTs are rejected', function () {
  this.timeout(60_000);
  let t: Tessera;
  let rp: RelyingParty;
  let other: RelyingParty;
  let user: TestUser;
  let agent: UserAgent;
  let idToken: string;
  let claims: Record<string, unknown>;
  let kid: string;
  let publicJwk: JWK;
  let privateJwk: JWK;
  const failures: unknown[] = [];

  before(async () => {
    t = await startTessera({ log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
    rp = await RelyingParty.register(t, { skipConsent: true });
    other = await RelyingParty.register(t, { skipConsent: true });
    user = await createUser(t);
    const signedIn = await signInAndGetTokens(rp, user);
    agent = signedIn.agent;
    idToken = signedIn.tokens.id_token!;
    claims = decodeJwt(idToken);
    kid = decodeProtectedHeader(idToken).kid!;
    const jwks = await (await fetch(`${t.issuer}/jwks`)).json() as { keys: JWK[] };
    publicJwk = jwks.keys.find((k) => k.kid === kid)!;
    assert.ok(publicJwk, 'the ID token names a published key');
    privateJwk = (await t.services.keys.jwks()).find((k) => (k as JWK).kid === kid) as JWK;
    assert.ok(privateJwk?.d, "Tessera's own private signing key");
  });
  after(() => t?.close());
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 5xx'));

  const endSession = (hint: string, extra: Record<string, string> = {}) => {
    const url = new URL('/session/end', t.issuer);
    url.searchParams.set('id_token_hint', hint);
    url.searchParams.set('post_logout_redirect_uri', POST_LOGOUT_URI);
    url.searchParams.set('state', 'bye');
    for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
    return url.href;
  };

  /** The browser still has its session: a new authorization goes straight back to the RP, no password asked. */
  async function stillSignedIn(): Promise<void> {
    const page = await agent.visit((await rp.authorize()).url);
    assert.ok(page.url.startsWith(REDIRECT_URI), `signed out? ${page.status} ${text(page.body).slice(0, 200)}`);
    assert.ok(new URL(page.url).searchParams.get('code'), 'a code: the session stands');
  }

  /** Sends the hint with the signed-in browser: a 400 error page naming the hint, no redirect, no logout. */
  async function refused(hint: string, message: RegExp, extra: Record<string, string> = {}): Promise<void> {
    const res = await agent.request(endSession(hint, extra));
    assert.equal(res.status, 400, `${res.status} ${text(res.body).slice(0, 300)}`);
    assert.equal(res.headers.get('location'), null, 'no redirect to the post-logout URI');
    assert.match(text(res.body), message);
    assert.doesNotMatch(res.body, /session\/end\/confirm/, 'no sign-out form');
    await stillSignedIn();
  }

  const [headerPart, payloadPart] = [(jwt: string) => jwt.split('.')[0]!, (jwt: string) => jwt.split('.')[1]!];
  const hs256 = (secret: string, payload = claims) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid, typ: 'JWT' }).sign(new TextEncoder().encode(secret));
  const es256With = async (key: JWK, payload: Record<string, unknown>, header: Record<string, unknown> = {}) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT', ...header }).sign(await importJWK(key, 'ES256'));
  const attackerJwk = () => ({ ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) } as JWK);

  it('shows the sign-out confirmation for the genuine hint (the control)', async () => {
    const res = await agent.visit(endSession(idToken), POST_LOGOUT_URI);
    assert.equal(res.status, 200);
    assert.match(res.body, /session\/end\/confirm/);
    await stillSignedIn();
  });

  it('refuses alg "none", with or without a trailing signature', async () => {
    const none = new UnsecuredJWT(claims).encode();
    assert.equal(decodeProtectedHeader(none).alg, 'none');
    await refused(none, /could not validate id_token_hint/);
    // the original header and payload, signature cut off; and alg none in front of the real signature
    await refused(`${headerPart(idToken)}.${payloadPart(idToken)}.`, /could not validate id_token_hint/);
    const noneHeader = base64url.encode(JSON.stringify({ alg: 'none', kid, typ: 'JWT' }));
    await refused(`${noneHeader}.${payloadPart(idToken)}.${idToken.split('.')[2]}`, /could not validate id_token_hint/);
  });

  it('refuses HS256 keyed with the public key (JWK JSON, PEM, the x coordinate)', async () => {
    const pem = createPublicKey({ key: publicJwk as import('node:crypto').JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    for (const secret of [JSON.stringify(publicJwk), pem, pem.trim(), publicJwk.x!]) {
      await refused(await hs256(secret), /could not validate id_token_hint/);
    }
  });

  it('refuses an unknown kid, and a known kid signed with an attacker key', async () => {
    await refused(await es256With(attackerJwk(), claims, { kid: 'attacker-key-1' }), /could not validate id_token_hint/);
    await refused(await es256With(attackerJwk(), claims), /could not validate id_token_hint/);
    // RS256 (allowed for ID tokens) under an unknown kid
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) as JWK;
    await refused(await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'attacker-rsa' }).sign(await importJWK(rsa, 'RS256')), /could not validate id_token_hint/);
  });

  it('refuses a changed claim under the original signature', async () => {
    const changed = base64url.encode(JSON.stringify({ ...claims, sub: 'someone-else' }));
    await refused(`${headerPart(idToken)}.${changed}.${idToken.split('.')[2]}`, /could not validate id_token_hint/);
  });

  it("refuses a wrong aud or iss even when signed with Tessera's own key", async () => {
    // an audience no client has: the provider cannot even find whose hint it is
    await refused(await es256With(privateJwk, { ...claims, aud: 'no-such-client' }), /unrecognized id_token_hint audience|invalid_client|client/i);
    // another client's audience, while the request names this client
    await refused(await es256With(privateJwk, { ...claims, aud: other.clientId }), /client_id does not match/, { client_id: rp.clientId });
    // the issuer must be Tessera's, exactly
    await refused(await es256With(privateJwk, { ...claims, iss: 'https://evil.example' }), /could not validate id_token_hint/);
    await refused(await es256With(privateJwk, { ...claims, iss: `${t.issuer}/` }), /could not validate id_token_hint/);
    // the genuine key and claims are accepted: the refusals above are about the claims, not the signing
    const resigned = await es256With(privateJwk, claims);
    const res = await agent.request(endSession(resigned));
    assert.equal(res.status, 200);
    assert.match(res.body, /session\/end\/confirm/);
  });

  it('treats an expired genuine hint as a hint only: the confirmation page, and no sign-out without it', async () => {
    const past = Math.floor(Date.now() / 1000) - 7 * 24 * 3600;
    const expired = await es256With(privateJwk, { ...claims, iat: past - 3600, exp: past, auth_time: past - 3600 });
    const res = await agent.request(endSession(expired));
    // oidc-provider validates id_token_hint with ignoreExpiration (an RP may log out long after sign-in)
    assert.equal(res.status, 200, text(res.body).slice(0, 300));
    assert.match(res.body, /session\/end\/confirm/, 'the person is asked');
    assert.equal(res.headers.get('location'), null, 'no redirect, nothing ended yet');
    await stillSignedIn();
  });

  it('refuses forged request objects (request objects are off) and issues no code', async () => {
    const auth = new URL(await rp.authorize().then((a) => a.url));
    for (const jwt of [
      new UnsecuredJWT({ client_id: rp.clientId, redirect_uri: REDIRECT_URI, response_type: 'code', scope: 'openid' }).setIssuer(rp.clientId).setAudience(t.issuer).encode(),
      await hs256(JSON.stringify(publicJwk), { client_id: rp.clientId, iss: rp.clientId, aud: t.issuer, response_type: 'code' }),
    ]) {
      const url = new URL(auth);
      url.searchParams.set('request', jwt);
      const res = await agent.request(url.href);
      const location = res.headers.get('location') ?? '';
      // the error goes back to the registered redirect URI (or is a page): never a code
      assert.ok(res.status === 400 || (res.status >= 300 && res.status < 400), `${res.status}`);
      assert.doesNotMatch(location, /[?&]code=/);
      assert.match(location ? decodeURIComponent(location) : text(res.body), /request_not_supported/);
    }
  });

  it('refuses forged private_key_jwt client assertions at the token endpoint: invalid_client, no token', async () => {
    const assertionClaims = { iss: rp.clientId, sub: rp.clientId, aud: `${t.issuer}/token`, jti: crypto.randomUUID(), exp: Math.floor(Date.now() / 1000) + 60 };
    for (const assertion of [
      new UnsecuredJWT(assertionClaims).encode(),
      await hs256(JSON.stringify(publicJwk), assertionClaims),
      await es256With(attackerJwk(), assertionClaims, { kid: 'attacker-key-2' }),
      await es256With(privateJwk, assertionClaims),
    ]) {
      const res = await fetch(`${t.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials', client_id: rp.clientId,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion,
        }),
      });
      const body = await res.json() as { error?: string; access_token?: string };
      assert.equal(res.status, 401, JSON.stringify(body));
      assert.equal(body.error, 'invalid_client');
      assert.equal(body.access_token, undefined);
    }
  });

  it('signs out with the genuine hint once confirmed (the control for stillSignedIn)', async () => {
    const confirm = await agent.visit(endSession(idToken), POST_LOGOUT_URI);
    const done = await agent.submit(confirm, /session\/end\/confirm/, { logout: 'yes' }, POST_LOGOUT_URI);
    assert.ok(done.url.startsWith(POST_LOGOUT_URI), done.url);
    await assert.rejects(stillSignedIn(), /signed out\?/);
  });
});
