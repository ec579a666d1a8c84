// DPoP (RFC 9449) with a real relying party (openid-client's getDPoPHandle) over real HTTP: access
// tokens bound to the RP's key, server nonces, public clients' refresh tokens bound to the key,
// clients registered to require DPoP, introspection's cnf.jkt, replayed proofs, and our own admin
// API refusing a bound token as a plain bearer token.
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { freshDatabaseName, startTessera, type Tessera } from '../support/tessera.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, signIn, type TestUser } from '../support/flow.ts';

type Handle = ReturnType<typeof oidc.getDPoPHandle>;

/** One request the RP sent and what came back. */
interface Exchange {
  url: string;
  headers: Record<string, string>;
  status: number;
  body: string;
  response: Headers;
}

/** Records every request of an RP (the DPoP proofs it sends, the nonces it is given). */
function recordRequests(rp: RelyingParty): Exchange[] {
  const log: Exchange[] = [];
  rp.config[oidc.customFetch] = async (url, options) => {
    const res = await fetch(url, options as RequestInit);
    const body = await res.clone().text();
    log.push({ url, headers: { ...(options.headers as Record<string, string>) }, status: res.status, body, response: res.headers });
    return res;
  };
  return log;
}

/** An RP's key: a fresh key pair, its handle (a fresh nonce cache) and its RFC 7638 thumbprint. */
async function dpopKey() {
  const pair = await oidc.randomDPoPKeyPair('ES256');
  return { pair, jkt: await calculateJwkThumbprint(await exportJWK(pair.publicKey)), handle: (rp: RelyingParty): Handle => oidc.getDPoPHandle(rp.config, pair) };
}

/** Signs in and exchanges the code; with a handle the token request carries a DPoP proof. */
async function tokensFor(rp: RelyingParty, user: TestUser, handle?: Handle, params: Record<string, string> = {}) {
  const auth = await rp.authorize(params);
  const callback = await signIn(new UserAgent(), auth.url, user);
  return oidc.authorizationCodeGrant(rp.config, new URL(callback), { pkceCodeVerifier: auth.verifier, expectedNonce: auth.nonce, expectedState: auth.state },
    undefined, handle ? { DPoP: handle } : undefined);
}

/** The error code of a refused userinfo call (WWW-Authenticate) or token request (JSON body). */
function oauthError(err: unknown): string | undefined {
  if (err instanceof oidc.WWWAuthenticateChallengeError) return err.cause[0]?.parameters.error;
  if (err instanceof oidc.ResponseBodyError) return err.error;
  return undefined;
}

/**
 * Why the provider refused the last request at an endpoint: it answers only "invalid token
 * provided" / "grant request is invalid" and keeps the reason (error_detail) for its own events.
 */
function refusals(t: Tessera) {
  const details: string[] = [];
  const record = (_ctx: unknown, err: { error_detail?: string }) => { details.push(err.error_detail ?? ''); };
  t.services.provider.on('userinfo.error', record);
  t.services.provider.on('grant.error', record);
  return { last: () => details.at(-1) ?? '' };
}

/** Where userinfo is, as discovery says. */
const userinfoUrl = (rp: RelyingParty) => rp.config.serverMetadata().userinfo_endpoint!;

describe('DPoP-bound tokens with a real relying party', function () {
  this.timeout(60_000);
  let t: Tessera;
  let user: TestUser;
  let rp: RelyingParty;
  let refused: ReturnType<typeof refusals>;

  before(async () => {
    t = await startTessera();
    refused = refusals(t);
    user = await createUser(t);
    rp = await RelyingParty.register(t, { grants: ['refresh_token'] });
  });
  after(() => t.close());

  it('binds the access token to the relying party\'s key, and userinfo answers a request with a proof', async () => {
    const key = await dpopKey();
    const tokens = await tokensFor(rp, user, key.handle(rp));
    assert.equal(tokens.token_type, 'dpop');
    const info = await oidc.fetchUserInfo(rp.config, tokens.access_token, user.id, { DPoP: key.handle(rp) });
    assert.equal(info.sub, user.id);
  });

  it('refuses the bound token at userinfo without its proof: as Bearer, as DPoP with no proof, or with another key\'s proof', async () => {
    const key = await dpopKey();
    const tokens = await tokensFor(rp, user, key.handle(rp));

    await assert.rejects(oidc.fetchUserInfo(rp.config, tokens.access_token, user.id), (err) => oauthError(err) === 'invalid_token');
    const asBearer = await fetch(userinfoUrl(rp), { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(asBearer.status, 401);
    assert.match(asBearer.headers.get('www-authenticate') ?? '', /^DPoP .*error="invalid_token"/);
    assert.equal(refused.last(), 'failed jkt verification');

    const noProof = await fetch(userinfoUrl(rp), { headers: { authorization: `DPoP ${tokens.access_token}` } });
    assert.equal(noProof.status, 400);
    assert.equal(((await noProof.json()) as { error: string }).error, 'invalid_request');

    const other = await dpopKey();
    await assert.rejects(oidc.fetchUserInfo(rp.config, tokens.access_token, user.id, { DPoP: other.handle(rp) }), (err) => {
      assert.equal(oauthError(err), 'invalid_token');
      assert.equal(refused.last(), 'failed jkt verification');
      return true;
    });
    // the right key still works afterwards
    assert.equal((await oidc.fetchUserInfo(rp.config, tokens.access_token, user.id, { DPoP: key.handle(rp) })).sub, user.id);
  });

  it('demands a server nonce on every endpoint, and openid-client retries with it', async () => {
    const nonceRp = await RelyingParty.discover(t.issuer, rp.clientId, rp.clientSecret);
    const log = recordRequests(nonceRp);
    const key = await dpopKey();
    const tokens = await tokensFor(nonceRp, user, key.handle(nonceRp));

    const tokenCalls = log.filter((x) => x.url.endsWith('/token'));
    assert.equal(tokenCalls.length, 2, 'one refused attempt, one retry');
    assert.equal(tokenCalls[0]!.status, 400);
    assert.equal((JSON.parse(tokenCalls[0]!.body) as { error: string }).error, 'use_dpop_nonce');
    const nonce = tokenCalls[0]!.response.get('dpop-nonce');
    assert.ok(nonce, 'the refusal carries a DPoP-Nonce');
    const proofNonce = (proof: string) => (JSON.parse(Buffer.from(proof.split('.')[1]!, 'base64url').toString()) as { nonce?: string }).nonce;
    assert.equal(proofNonce(tokenCalls[0]!.headers.dpop!), undefined);
    assert.equal(proofNonce(tokenCalls[1]!.headers.dpop!), nonce, 'the retry\'s proof carries the server\'s nonce');
    assert.equal(tokenCalls[1]!.status, 200);

    // a resource request with a fresh handle (no nonce yet) is refused with the DPoP challenge first
    await oidc.fetchUserInfo(nonceRp.config, tokens.access_token, user.id, { DPoP: key.handle(nonceRp) });
    const userinfoCalls = log.filter((x) => x.url === userinfoUrl(rp));
    assert.deepEqual(userinfoCalls.map((x) => x.status), [401, 200]);
    assert.match(userinfoCalls[0]!.response.get('www-authenticate') ?? '', /^DPoP .*error="use_dpop_nonce"/);
    assert.ok(userinfoCalls[0]!.response.get('dpop-nonce'));
  });

  it('refuses a proof sent twice (same jti), even with its nonce still fresh', async () => {
    const recordingRp = await RelyingParty.discover(t.issuer, rp.clientId, rp.clientSecret);
    const log = recordRequests(recordingRp);
    const key = await dpopKey();
    const tokens = await tokensFor(recordingRp, user, key.handle(recordingRp));
    await oidc.fetchUserInfo(recordingRp.config, tokens.access_token, user.id, { DPoP: key.handle(recordingRp) });
    const accepted = log.filter((x) => x.url === userinfoUrl(rp) && x.status === 200).at(-1)!;

    const replay = await fetch(userinfoUrl(rp), { headers: { authorization: accepted.headers.authorization!, dpop: accepted.headers.dpop! } });
    assert.equal(replay.status, 401);
    assert.match(replay.headers.get('www-authenticate') ?? '', /^DPoP .*error="invalid_token"/);
    assert.equal(refused.last(), 'DPoP proof JWT Replay detected');
  });

  it('shows the key\'s thumbprint (cnf.jkt) when the bound token is introspected', async () => {
    const key = await dpopKey();
    const tokens = await tokensFor(rp, user, key.handle(rp));
    const intro = await oidc.tokenIntrospection(rp.config, tokens.access_token);
    assert.equal(intro.active, true);
    assert.deepEqual(intro.cnf, { jkt: key.jkt });
    assert.equal(intro.token_type, 'DPoP');
    // a bearer token has no confirmation
    const bearer = await tokensFor(rp, user);
    assert.equal(bearer.token_type, 'bearer');
    assert.equal((await oidc.tokenIntrospection(rp.config, bearer.access_token)).cnf, undefined);
  });

  it('binds a public client\'s refresh token to the key: another key or no proof is refused, the right key refreshes', async () => {
    const spa = await RelyingParty.register(t, { public: true, grants: ['refresh_token'] });
    const key = await dpopKey();
    const tokens = await tokensFor(spa, user, key.handle(spa), { scope: 'openid offline_access', prompt: 'consent' });
    assert.ok(tokens.refresh_token, 'offline_access with consent yields a refresh token');

    const other = await dpopKey();
    await assert.rejects(oidc.refreshTokenGrant(spa.config, tokens.refresh_token!, undefined, { DPoP: other.handle(spa) }), (err) => {
      assert.equal(oauthError(err), 'invalid_grant');
      assert.equal(refused.last(), 'failed jkt verification');
      return true;
    });
    await assert.rejects(oidc.refreshTokenGrant(spa.config, tokens.refresh_token!), (err) => oauthError(err) === 'invalid_grant');
    assert.equal(refused.last(), 'failed jkt verification');

    const refreshed = await oidc.refreshTokenGrant(spa.config, tokens.refresh_token!, undefined, { DPoP: key.handle(spa) });
    assert.equal(refreshed.token_type, 'dpop');
    assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token);
    assert.equal((await oidc.fetchUserInfo(spa.config, refreshed.access_token, user.id, { DPoP: key.handle(spa) })).sub, user.id);
    // the rotated refresh token stays bound to the same key
    await assert.rejects(oidc.refreshTokenGrant(spa.config, refreshed.refresh_token!, undefined, { DPoP: other.handle(spa) }), (err) => oauthError(err) === 'invalid_grant');
  });

  it('gives a client registered with dpop_bound_access_tokens no token without a proof', async () => {
    const strict = await RelyingParty.register(t, { grants: ['refresh_token'], dpopBoundAccessTokens: true });
    const auth = await strict.authorize();
    const callback = await signIn(new UserAgent(), auth.url, user);
    await assert.rejects(
      oidc.authorizationCodeGrant(strict.config, new URL(callback), { pkceCodeVerifier: auth.verifier, expectedNonce: auth.nonce, expectedState: auth.state }),
      (err) => {
        assert.equal(oauthError(err), 'invalid_grant');
        assert.equal(refused.last(), 'DPoP proof JWT not provided');
        return true;
      },
    );
    const key = await dpopKey();
    const tokens = await tokensFor(strict, user, key.handle(strict), { scope: 'openid offline_access', prompt: 'consent' });
    assert.equal(tokens.token_type, 'dpop');
    // nor a refresh without one (a confidential client's refresh token is not key-bound, the client is)
    await assert.rejects(oidc.refreshTokenGrant(strict.config, tokens.refresh_token!), (err) => oauthError(err) === 'invalid_grant');
    assert.equal(refused.last(), 'DPoP proof JWT not provided');
    assert.equal((await oidc.refreshTokenGrant(strict.config, tokens.refresh_token!, undefined, { DPoP: key.handle(strict) })).token_type, 'dpop');
  });

  it('lets a browser application send DPoP to the token endpoint and read the nonce (CORS)', async () => {
    const spa = await RelyingParty.register(t, { public: true, grants: ['refresh_token'] });
    const origin = new URL(REDIRECT_URI).origin;
    for (const url of [spa.config.serverMetadata().token_endpoint!, userinfoUrl(spa)]) {
      const preflight = await fetch(url, {
        method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,dpop,content-type' },
      });
      assert.equal(preflight.status, 204, url);
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /\bdpop\b/i, url);
    }
    const refused = await fetch(new URL('/token', t.issuer), {
      method: 'POST', headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'unknown', client_id: spa.clientId }),
    });
    assert.equal(refused.headers.get('access-control-allow-origin'), origin);
    assert.match(refused.headers.get('access-control-expose-headers') ?? '', /DPoP-Nonce/);
    const me = await fetch(userinfoUrl(spa), { headers: { origin, authorization: 'Bearer unknown' } });
    assert.match(me.headers.get('access-control-expose-headers') ?? '', /DPoP-Nonce/);
  });

  it('refuses a DPoP-bound token at the admin API, which takes plain bearer tokens only, and says so', async () => {
    const machine = await RelyingParty.register(t, { redirectUris: [], postLogoutRedirectUris: [], grants: ['client_credentials'] });
    await t.services.clients.grantAdminApi(machine.clientId);
    const key = await dpopKey();
    const bound = await oidc.clientCredentialsGrant(machine.config, { scope: 'admin' }, { DPoP: key.handle(machine) });
    assert.equal(bound.token_type, 'dpop');
    const clients = new URL('/admin/api/v1/clients', t.issuer);

    const asBearer = await fetch(clients, { headers: { authorization: `Bearer ${bound.access_token}` } });
    assert.equal(asBearer.status, 401);
    const body = (await asBearer.json()) as { error: string; error_description: string };
    assert.equal(body.error, 'invalid_token');
    assert.match(body.error_description, /bound to a DPoP key/);
    const asDpop = await fetch(clients, { headers: { authorization: `DPoP ${bound.access_token}` } });
    assert.equal(asDpop.status, 401);
    assert.match(((await asDpop.json()) as { error_description: string }).error_description, /bearer tokens only/i);

    // the same client's plain bearer token works
    const plain = await oidc.clientCredentialsGrant(machine.config, { scope: 'admin' });
    assert.equal((await fetch(clients, { headers: { authorization: `Bearer ${plain.access_token}` } })).status, 200);
  });
});

describe('DPoP server nonces across instances', function () {
  this.timeout(60_000);
  const database = freshDatabaseName();
  const secrets = { cookieKeys: [randomBytes(32).toString('base64url')], encryptionKey: randomBytes(32).toString('base64') };
  let a: Tessera;
  let b: Tessera;
  let other: Tessera;
  after(async () => { await Promise.all([a, b, other].filter(Boolean).map((x) => x.close())); });

  /** A client_credentials request to `t` with a proof carrying `nonce` (built by hand: the nonce comes from elsewhere). */
  async function tokenWithNonce(t: Tessera, client: { clientId: string; clientSecret?: string | undefined }, nonce: string) {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const url = new URL('/token', t.issuer).href;
    const proof = await new SignJWT({ htm: 'POST', htu: url, jti: randomUUID(), nonce })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) }).setIssuedAt().sign(privateKey);
    const res = await fetch(url, {
      method: 'POST',
      headers: { dpop: proof, authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret!}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    return { status: res.status, nonce: res.headers.get('dpop-nonce'), body: (await res.json()) as { error?: string; token_type?: string } };
  }

  it('accepts a nonce one instance gave out at another with the same ENCRYPTION_KEY, and nowhere else', async () => {
    [a, b, other] = await Promise.all([startTessera({ database, secrets }), startTessera({ database, secrets }), startTessera()]);
    const machine = { redirectUris: [], postLogoutRedirectUris: [], grants: ['client_credentials' as const] };
    const shared = await a.services.clients.create({ clientId: `machine-${randomBytes(4).toString('hex')}`, ...machine });
    const elsewhere = await other.services.clients.create({ clientId: shared.clientId, ...machine });

    // a proof with a made-up nonce is refused, and the refusal carries A's nonce
    const first = await tokenWithNonce(a, shared, 'made-up');
    assert.equal(first.body.error, 'use_dpop_nonce');
    const fromA = first.nonce;
    assert.ok(fromA, 'instance A hands out a nonce');

    const atB = await tokenWithNonce(b, shared, fromA);
    assert.equal(atB.status, 200, JSON.stringify(atB.body));
    assert.equal(atB.body.token_type, 'DPoP');
    const atOther = await tokenWithNonce(other, elsewhere, fromA);
    assert.equal(atOther.status, 400);
    assert.equal(atOther.body.error, 'use_dpop_nonce');
  });
});
