// The FAPI 2.0 Security Profile's authorization-server requirements (§5.3.2.1, §5.3.2.2, §5.4), checked
// for a client registered with `securityProfile: 'fapi2'` the way the OpenID Foundation's FAPI 2.0
// plan (private_key_jwt, DPoP, PAR) checks them, with a real relying party (openid-client 6) and
// hand-built JWTs (jose) where a test needs a wrong one. client-security.test.ts walks the sign-in
// itself, refuses a token without DPoP and a pushed request without redirect_uri.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, signIn, type TestUser } from '../support/flow.ts';
import { PKCE } from '../../src/oidc/clients.ts';
import type { NewClient } from '../../src/oidc/clients.ts';

type Alg = 'PS256' | 'ES256' | 'EdDSA' | 'RS256';
type Key = Awaited<ReturnType<typeof rpKey>>;
type Auth = { url: URL; verifier: string; nonce: string; state: string };

/** A signing key of the RP: the private half to sign with, the public JWK to register. */
async function rpKey(kid: string, alg: Alg) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, use: 'sig' }, kid, alg };
}

/** The RP's view of Tessera, authenticating with private_key_jwt (openid-client picks the alg from the key). */
function discover(t: Tessera, clientId: string, key: Key) {
  return oidc.discovery(new URL(t.issuer), clientId, { token_endpoint_auth_method: 'private_key_jwt' }, oidc.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }), { execute: [oidc.allowInsecureRequests] });
}

/** A pushed authorization request (PAR) through openid-client; `params` replace or (undefined) drop the usual ones. */
async function push(config: oidc.Configuration, how: { dpop?: oidc.DPoPHandle; params?: Record<string, string | undefined> } = {}): Promise<Auth> {
  const verifier = oidc.randomPKCECodeVerifier();
  const nonce = oidc.randomNonce();
  const state = oidc.randomState();
  const params: Record<string, string | undefined> = {
    redirect_uri: REDIRECT_URI, scope: 'openid email', nonce, state, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...how.params,
  };
  const sent = Object.fromEntries(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined));
  const url = await oidc.buildAuthorizationUrlWithPAR(config, sent, how.dpop ? { DPoP: how.dpop } : undefined);
  return { url, verifier, nonce, state };
}

function exchange(config: oidc.Configuration, callback: string, auth: Auth, dpop?: oidc.DPoPHandle) {
  return oidc.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: auth.verifier, expectedNonce: auth.nonce, expectedState: auth.state }, undefined, dpop ? { DPoP: dpop } : undefined);
}

/** A client assertion (RFC 7523) built by hand, so a test can get its audience or algorithm wrong. */
function clientAssertion(clientId: string, key: Key, aud: string | string[]) {
  return new SignJWT({}).setProtectedHeader({ alg: key.alg, kid: key.kid }).setIssuer(clientId).setSubject(clientId).setAudience(aud)
    .setJti(randomUUID()).setIssuedAt().setExpirationTime('60s').sign(key.privateKey);
}

/** A PAR request sent by hand with a client assertion: the status and the JSON answer. */
async function pushByHand(t: Tessera, clientId: string, assertion: string) {
  const endpoint = new URL('/request', t.issuer);
  const verifier = oidc.randomPKCECodeVerifier();
  const res = await fetch(endpoint, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: clientId, response_type: 'code', redirect_uri: REDIRECT_URI, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion,
    }),
  });
  return { status: res.status, body: (await res.json()) as { error?: string; error_description?: string; request_uri?: string; expires_in?: number } };
}

/** A DPoP proof (RFC 9449) built by hand, so a test can get its method, URL or algorithm wrong. */
async function dpopProof(key: { privateKey: oidc.CryptoKey; publicKey: oidc.CryptoKey }, alg: string, htm: string, htu: string, extra: { nonce?: string | null; ath?: string }) {
  return new SignJWT({ htm, htu, jti: randomUUID(), ...(extra.nonce ? { nonce: extra.nonce } : {}), ...(extra.ath ? { ath: extra.ath } : {}) })
    .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk: await exportJWK(key.publicKey) }).setIssuedAt().sign(key.privateKey);
}

const oauthError = (code: string, description?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof oidc.ResponseBodyError, String(err));
  assert.equal(err.error, code, err.error_description);
  if (description) assert.match(err.error_description ?? '', description);
  return true;
};

describe('FAPI 2.0 Security Profile: the authorization server\'s requirements for a fapi2 client', function () {
  this.timeout(90_000);
  let t: Tessera;
  let user: TestUser;
  const details: string[] = [];
  const record = (_ctx: unknown, err: { error_detail?: string }) => { details.push(err.error_detail ?? ''); };
  const register = (client: Partial<NewClient>) => t.services.clients.create({ clientId: `rp-${randomBytes(4).toString('hex')}`, redirectUris: [REDIRECT_URI], ...client });
  const registerFapi = (keys: Key[], client: Partial<NewClient> = {}) => register({
    authMethod: 'private_key_jwt', jwks: { keys: keys.map((k) => k.jwk) }, requirePushedAuthorizationRequests: true, dpopBoundAccessTokens: true, securityProfile: 'fapi2', ...client,
  });
  /** A FAPI 2.0 client with one PS256 key, its openid-client configuration and a DPoP handle. */
  async function fapiClient(client: Partial<NewClient> = {}) {
    const key = await rpKey('fapi', 'PS256');
    const registered = await registerFapi([key], client);
    const config = await discover(t, registered.clientId, key);
    return { clientId: registered.clientId, key, config, dpop: oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256')) };
  }

  before(async () => {
    // codes are set to live 300 s here, to show that a FAPI 2.0 client's live 60 s all the same
    t = await startTessera({ settings: (config) => { config.ttl.authorizationCodeSeconds = 300; } });
    user = await createUser(t);
    t.services.provider.on('grant.error', record).on('userinfo.error', record).on('pushed_authorization_request.error', record);
  });
  after(() => t?.close());

  it('says in discovery what FAPI 2.0 relies on, and returns iss in the authorization response (RFC 9207)', async () => {
    const fapi = await fapiClient();
    const meta = fapi.config.serverMetadata();
    assert.equal(meta.authorization_response_iss_parameter_supported, true);
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    assert.ok(meta.pushed_authorization_request_endpoint);
    for (const alg of ['PS256', 'ES256', 'EdDSA']) assert.ok(meta.token_endpoint_auth_signing_alg_values_supported?.includes(alg), alg);
    assert.ok(!(meta.dpop_signing_alg_values_supported ?? []).includes('RS256'));

    const auth = await push(fapi.config, { dpop: fapi.dpop });
    const callback = new URL(await signIn(new UserAgent(), auth.url.href, user));
    assert.equal(callback.searchParams.get('iss'), t.issuer);
    assert.ok(callback.searchParams.get('code'));
  });

  it('takes client assertions signed with PS256, ES256 or EdDSA only: RS256 is refused, saying why; other clients keep RS256', async () => {
    const keys = await Promise.all([rpKey('ps', 'PS256'), rpKey('es', 'ES256'), rpKey('ed', 'EdDSA'), rpKey('rs', 'RS256')]);
    const fapi = await registerFapi(keys);
    for (const key of keys.slice(0, 3)) {
      const auth = await push(await discover(t, fapi.clientId, key));
      assert.ok(auth.url.searchParams.get('request_uri'), key.alg);
    }
    const rs = keys[3]!;
    await assert.rejects(push(await discover(t, fapi.clientId, rs)), (err) => {
      oauthError('invalid_client', /FAPI 2\.0 profile: sign the client assertion with PS256, ES256 or EdDSA \(Ed25519\), not RS256/)(err);
      assert.equal((err as oidc.ResponseBodyError).status, 401);
      return true;
    });

    // the same RS256 key authenticates a private_key_jwt client without the profile
    const plain = await register({ authMethod: 'private_key_jwt', jwks: { keys: [rs.jwk] } });
    assert.ok((await push(await discover(t, plain.clientId, rs))).url.searchParams.get('request_uri'));
  });

  it('refuses a client assertion whose audience is not the issuer alone (the token endpoint, or a list)', async () => {
    const key = await rpKey('aud', 'ES256');
    const fapi = await registerFapi([key]);
    const tokenEndpoint = new URL('/token', t.issuer).href;
    for (const aud of [tokenEndpoint, [t.issuer]]) {
      const refused = await pushByHand(t, fapi.clientId, await clientAssertion(fapi.clientId, key, aud));
      assert.equal(refused.status, 401, JSON.stringify(aud));
      assert.equal(refused.body.error, 'invalid_client');
      assert.equal(details.at(-1), 'audience (aud) must equal the issuer identifier url');
    }
    const accepted = await pushByHand(t, fapi.clientId, await clientAssertion(fapi.clientId, key, t.issuer));
    assert.equal(accepted.status, 201, JSON.stringify(accepted.body));

    // a client without the profile may name the token endpoint (RFC 7523)
    const plain = await register({ authMethod: 'private_key_jwt', jwks: { keys: [key.jwk] } });
    assert.equal((await pushByHand(t, plain.clientId, await clientAssertion(plain.clientId, key, tokenEndpoint))).status, 201);
  });

  it('refuses a pushed request without PKCE or with plain PKCE, even if the stored client says PKCE is optional', async () => {
    const fapi = await fapiClient();
    await assert.rejects(push(fapi.config, { params: { code_challenge: undefined, code_challenge_method: undefined } }), oauthError('invalid_request', /PKCE/));
    const verifier = oidc.randomPKCECodeVerifier();
    await assert.rejects(push(fapi.config, { params: { code_challenge: verifier, code_challenge_method: 'plain' } }), oauthError('invalid_request', /code_challenge_method/));

    // metadata written by something other than the client store (an old record, a hand edit):
    // a FAPI 2.0 client needs PKCE all the same
    const clients = t.services.storage.adapter('Client');
    const stored = (await clients.find(fapi.clientId))!;
    await clients.upsert(fapi.clientId, { ...stored, [PKCE]: 'optional' }, 0);
    await assert.rejects(push(fapi.config, { params: { code_challenge: undefined, code_challenge_method: undefined } }), oauthError('invalid_request', /PKCE/));
    // while a confidential client registered with PKCE optional may leave it out
    const key = await rpKey('optional', 'ES256');
    const optional = await register({ authMethod: 'private_key_jwt', jwks: { keys: [key.jwk] }, pkce: 'optional' });
    assert.ok((await push(await discover(t, optional.clientId, key), { params: { code_challenge: undefined, code_challenge_method: undefined } })).url.searchParams.get('request_uri'));
  });

  it('gives a request_uri good for under 600 s (60 s), once, and refuses it when it expired', async () => {
    const fapi = await fapiClient();
    const pushed = await pushByHand(t, fapi.clientId, await clientAssertion(fapi.clientId, fapi.key, t.issuer));
    assert.equal(pushed.status, 201);
    assert.ok(pushed.body.expires_in! > 0 && pushed.body.expires_in! <= 60, String(pushed.body.expires_in));

    // used once: a second visit with it after the sign-in is refused
    const auth = await push(fapi.config, { dpop: fapi.dpop });
    const tokens = await exchange(fapi.config, await signIn(new UserAgent(), auth.url.href, user), auth, fapi.dpop);
    assert.ok(tokens.access_token);
    const again = await new UserAgent().visit(auth.url.href);
    assert.equal(again.status, 400);
    assert.match(again.body, /invalid_request_uri/);

    // expired: its time is up (written into the stored request, as 61 s would; the provider's
    // lifetimes keep real time, so the test clock cannot move them)
    const late = await push(fapi.config, { dpop: fapi.dpop });
    const requests = t.services.storage.adapter('PushedAuthorizationRequest');
    const id = late.url.searchParams.get('request_uri')!.split(':').at(-1)!;
    const stored = (await requests.find(id))!;
    await requests.upsert(id, { ...stored, exp: Math.floor(Date.now() / 1000) - 1 }, 60);
    const expired = await new UserAgent().visit(late.url.href);
    assert.equal(expired.status, 400);
    assert.match(expired.body, /invalid_request_uri/);
  });

  it('lets a FAPI 2.0 client\'s authorization code live 60 s at most, while another client\'s lives as set (300 s)', async () => {
    const lifetimes = new Map<string, number>();
    const saved = (code: { clientId?: string | undefined; expiration: number }) => { lifetimes.set(code.clientId!, code.expiration); };
    t.services.provider.on('authorization_code.saved', saved);
    try {
      const fapi = await fapiClient();
      const auth = await push(fapi.config, { dpop: fapi.dpop });
      assert.ok((await exchange(fapi.config, await signIn(new UserAgent(), auth.url.href, user), auth, fapi.dpop)).access_token);
      const other = await RelyingParty.register(t);
      const otherAuth = await other.authorize();
      assert.ok((await other.tokens(await signIn(new UserAgent(), otherAuth.url, user), otherAuth)).access_token);

      assert.equal(lifetimes.get(fapi.clientId), 60);
      assert.equal(lifetimes.get(other.clientId), 300);
    } finally {
      t.services.provider.off('authorization_code.saved', saved);
    }
  });

  it('takes an authorization code once: a second exchange is refused and ends the tokens of the first', async () => {
    const fapi = await fapiClient();
    const auth = await push(fapi.config, { dpop: fapi.dpop });
    const callback = await signIn(new UserAgent(), auth.url.href, user);
    const tokens = await exchange(fapi.config, callback, auth, fapi.dpop);
    assert.equal((await oidc.tokenIntrospection(fapi.config, tokens.access_token)).active, true);

    await assert.rejects(exchange(fapi.config, callback, auth, fapi.dpop), oauthError('invalid_grant'));
    assert.equal((await oidc.tokenIntrospection(fapi.config, tokens.access_token)).active, false);
  });

  it('binds the code to the DPoP key of the pushed request: the token request must prove the same key', async () => {
    const fapi = await fapiClient();
    const auth = await push(fapi.config, { dpop: fapi.dpop });
    const callback = await signIn(new UserAgent(), auth.url.href, user);
    const otherKey = oidc.getDPoPHandle(fapi.config, await oidc.randomDPoPKeyPair('ES256'));
    await assert.rejects(exchange(fapi.config, callback, auth, otherKey), oauthError('invalid_grant'));
    assert.match(details.at(-1) ?? '', /DPoP proof key thumbprint does not match dpop_jkt/);
  });

  it('does not rotate a FAPI 2.0 client\'s refresh token: the same one refreshes twice; another client\'s is rotated', async () => {
    const fapi = await fapiClient({ grants: ['refresh_token'] });
    const auth = await push(fapi.config, { dpop: fapi.dpop, params: { scope: 'openid offline_access', prompt: 'consent' } });
    const tokens = await exchange(fapi.config, await signIn(new UserAgent(), auth.url.href, user), auth, fapi.dpop);
    assert.ok(tokens.refresh_token, 'offline_access with consent yields a refresh token');
    for (const round of [1, 2]) {
      const refreshed = await oidc.refreshTokenGrant(fapi.config, tokens.refresh_token, undefined, { DPoP: fapi.dpop });
      assert.equal(refreshed.token_type, 'dpop', `refresh ${round}`);
      assert.equal(refreshed.refresh_token, tokens.refresh_token, `refresh ${round} keeps the refresh token`);
    }

    // a client without the profile: a new refresh token each time, and reusing the old one ends the grant
    const other = await RelyingParty.register(t);
    const otherAuth = await other.authorize({ scope: 'openid offline_access', prompt: 'consent' });
    const otherTokens = await other.tokens(await signIn(new UserAgent(), otherAuth.url, user), otherAuth);
    const rotated = await oidc.refreshTokenGrant(other.config, otherTokens.refresh_token!);
    assert.ok(rotated.refresh_token && rotated.refresh_token !== otherTokens.refresh_token);
    await assert.rejects(oidc.refreshTokenGrant(other.config, otherTokens.refresh_token!), oauthError('invalid_grant'));
    await assert.rejects(oidc.refreshTokenGrant(other.config, rotated.refresh_token!), oauthError('invalid_grant'));
  });

  describe('DPoP proofs at userinfo', () => {
    let key: oidc.CryptoKeyPair;
    let accessToken: string;
    let userinfo: string;
    let nonce: string;
    const ath = () => createHash('sha256').update(accessToken).digest('base64url');
    const call = async (proof: string | undefined, scheme = 'DPoP') => {
      const res = await fetch(userinfo, { headers: { authorization: `${scheme} ${accessToken}`, ...(proof ? { dpop: proof } : {}) } });
      nonce = res.headers.get('dpop-nonce') ?? nonce;
      return { status: res.status, challenge: res.headers.get('www-authenticate') ?? '' };
    };

    before(async () => {
      const fapi = await fapiClient();
      key = await oidc.randomDPoPKeyPair('ES256');
      const dpop = oidc.getDPoPHandle(fapi.config, key);
      const auth = await push(fapi.config, { dpop });
      accessToken = (await exchange(fapi.config, await signIn(new UserAgent(), auth.url.href, user), auth, dpop)).access_token;
      userinfo = fapi.config.serverMetadata().userinfo_endpoint!;
      // the first proof has no nonce: refused, with one to use
      const first = await call(await dpopProof(key, 'ES256', 'GET', userinfo, { ath: ath() }));
      assert.match(first.challenge, /use_dpop_nonce/);
      assert.ok(nonce);
    });

    it('answers a proof of the right key for this request (GET, this URL, the token\'s hash, a nonce)', async () => {
      assert.equal((await call(await dpopProof(key, 'ES256', 'GET', userinfo, { nonce, ath: ath() }))).status, 200);
    });

    it('refuses a proof for another method or another URL', async () => {
      const wrongMethod = await call(await dpopProof(key, 'ES256', 'POST', userinfo, { nonce, ath: ath() }));
      assert.equal(wrongMethod.status, 401);
      assert.match(wrongMethod.challenge, /error="invalid_dpop_proof".*DPoP proof htm mismatch/);
      const wrongUrl = await call(await dpopProof(key, 'ES256', 'GET', new URL('/token', t.issuer).href, { nonce, ath: ath() }));
      assert.equal(wrongUrl.status, 401);
      assert.match(wrongUrl.challenge, /error="invalid_dpop_proof".*DPoP proof htu mismatch/);
    });

    it('refuses a proof signed with RS256', async () => {
      const rsa = await generateKeyPair('RS256');
      const refused = await call(await dpopProof(rsa, 'RS256', 'GET', userinfo, { nonce, ath: ath() }));
      assert.equal(refused.status, 401);
      assert.match(refused.challenge, /error="invalid_dpop_proof"/);
      assert.match(details.at(-1) ?? '', /"alg" .* not allowed/);
    });

    it('refuses the access token without its proof, as Bearer or as DPoP', async () => {
      assert.equal((await call(undefined, 'Bearer')).status, 401);
      assert.equal((await call(undefined)).status, 400);
    });
  });
});
