// Per-client security settings with a real relying party (openid-client 6): a client that must use
// pushed authorization requests, private_key_jwt with a registered JWKS or a jwks_uri, and a FAPI 2.0
// client (PAR + private_key_jwt + DPoP) whose profile the provider applies to it alone.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { REDIRECT_URI, UserAgent, createUser, signIn, type TestUser } from '../support/flow.ts';
import type { NewClient } from '../../src/oidc/clients.ts';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
type Auth = { url: URL; verifier: string; nonce: string; state: string };

/** A signing key of the RP: the private half for openid-client, the public JWK to register. */
async function rpKey(kid: string, alg: 'ES256' | 'PS256' | 'EdDSA' = 'ES256') {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, use: 'sig' }, kid };
}

/** The RP's view of Tessera, authenticating with `auth` (a secret, or a private key for private_key_jwt). */
function discover(t: Tessera, clientId: string, auth: { secret: string } | { key: PrivateKey; kid: string }) {
  return 'secret' in auth
    ? oidc.discovery(new URL(t.issuer), clientId, auth.secret, oidc.ClientSecretBasic(auth.secret), { execute: [oidc.allowInsecureRequests] })
    : oidc.discovery(new URL(t.issuer), clientId, { token_endpoint_auth_method: 'private_key_jwt' }, oidc.PrivateKeyJwt({ key: auth.key, kid: auth.kid }), { execute: [oidc.allowInsecureRequests] });
}

/** An authorization request, plain (query) or pushed first (PAR, optionally with a DPoP proof). */
async function authorize(config: oidc.Configuration, how: { par?: boolean; dpop?: oidc.DPoPHandle; omit?: string[] } = {}): Promise<Auth> {
  const verifier = oidc.randomPKCECodeVerifier();
  const nonce = oidc.randomNonce();
  const state = oidc.randomState();
  const params: Record<string, string> = {
    redirect_uri: REDIRECT_URI, scope: 'openid email', nonce, state, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  };
  for (const key of how.omit ?? []) delete params[key];
  const url = how.par ? await oidc.buildAuthorizationUrlWithPAR(config, params, how.dpop ? { DPoP: how.dpop } : undefined) : oidc.buildAuthorizationUrl(config, params);
  return { url, verifier, nonce, state };
}

function exchange(config: oidc.Configuration, callback: string, auth: Auth, dpop?: oidc.DPoPHandle) {
  return oidc.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: auth.verifier, expectedNonce: auth.nonce, expectedState: auth.state }, undefined, dpop ? { DPoP: dpop } : undefined);
}

const oauthError = (code: string) => (err: unknown) => {
  assert.ok(err instanceof oidc.ResponseBodyError, String(err));
  assert.equal(err.error, code, err.error_description);
  return true;
};

describe('per-client security: PAR, private_key_jwt and FAPI 2.0 with a real relying party', function () {
  this.timeout(60_000);
  let t: Tessera;
  let user: TestUser;
  const register = (client: Partial<NewClient>) => t.services.clients.create({ clientId: `rp-${randomBytes(4).toString('hex')}`, redirectUris: [REDIRECT_URI], ...client });

  before(async () => {
    t = await startTessera();
    user = await createUser(t);
  });
  after(() => t?.close());

  it('publishes PAR, private_key_jwt and DPoP in discovery', async () => {
    const meta = (await discover(t, 'anyone', { secret: 'x' })).serverMetadata();
    assert.ok(meta.pushed_authorization_request_endpoint?.startsWith(t.issuer));
    assert.ok(meta.token_endpoint_auth_methods_supported?.includes('private_key_jwt'));
    assert.ok((meta.dpop_signing_alg_values_supported ?? []).length > 0);
  });

  it('refuses a plain authorization request from a client that must push it, and signs it in through PAR', async () => {
    const client = await register({ requirePushedAuthorizationRequests: true });
    assert.equal(client.requirePushedAuthorizationRequests, true);
    const config = await discover(t, client.clientId, { secret: client.clientSecret! });

    // the error goes back to the client's registered redirect URI, without a code
    const plain = await new UserAgent().visit((await authorize(config)).url.href);
    const back = new URL(plain.headers.get('location') ?? '', t.issuer);
    assert.equal(`${back.origin}${back.pathname}`, REDIRECT_URI, `${plain.status} ${plain.body.slice(0, 200)}`);
    assert.equal(back.searchParams.get('error'), 'invalid_request');
    assert.match(back.searchParams.get('error_description') ?? '', /Pushed Authorization Request must be used/);
    assert.equal(back.searchParams.get('code'), null);

    const auth = await authorize(config, { par: true });
    assert.ok(auth.url.searchParams.get('request_uri')?.startsWith('urn:ietf:params:oauth:request_uri:'));
    const tokens = await exchange(config, await signIn(new UserAgent(), auth.url.href, user), auth);
    assert.equal(tokens.claims()?.sub, user.id);
  });

  it('a client without the setting may still use a plain request', async () => {
    const client = await register({});
    const config = await discover(t, client.clientId, { secret: client.clientSecret! });
    const auth = await authorize(config);
    assert.ok((await exchange(config, await signIn(new UserAgent(), auth.url.href, user), auth)).access_token);
  });

  it('private_key_jwt: signs in with a key of its registered JWKS; an assertion signed with another key is refused (invalid_client)', async () => {
    const [key, other] = [await rpKey('rp-key-1'), await rpKey('rp-key-1')];
    const ed = await rpKey('rp-key-2', 'EdDSA');
    const client = await register({ authMethod: 'private_key_jwt', jwks: { keys: [key.jwk, ed.jwk] } });
    assert.equal(client.clientSecret, undefined, 'a private_key_jwt client has no secret');
    assert.equal(client.authMethod, 'private_key_jwt');

    const config = await discover(t, client.clientId, { key: key.privateKey, kid: key.kid });
    const auth = await authorize(config);
    const callback = await signIn(new UserAgent(), auth.url.href, user);
    // the same kid, another key: the signature does not verify
    const impostor = await discover(t, client.clientId, { key: other.privateKey, kid: other.kid });
    await assert.rejects(exchange(impostor, callback, auth), oauthError('invalid_client'));
    const tokens = await exchange(config, callback, auth);
    assert.equal(tokens.claims()?.sub, user.id);

    // the second key of the set works too (an Ed25519 key)
    const withEd = await discover(t, client.clientId, { key: ed.privateKey, kid: ed.kid });
    const again = await authorize(withEd);
    assert.ok((await exchange(withEd, await signIn(new UserAgent(), again.url.href, user), again)).access_token);
  });

  it('private_key_jwt with a jwks_uri: Tessera fetches the keys from where the client publishes them', async () => {
    const key = await rpKey('published');
    let fetched = 0;
    const server = http.createServer((_req, res) => {
      fetched++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [key.jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const client = await register({ authMethod: 'private_key_jwt', jwksUri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json` });
      const config = await discover(t, client.clientId, { key: key.privateKey, kid: key.kid });
      const auth = await authorize(config);
      const tokens = await exchange(config, await signIn(new UserAgent(), auth.url.href, user), auth);
      assert.equal(tokens.claims()?.sub, user.id);
      assert.ok(fetched >= 1, 'the keys were fetched from the jwks_uri');
      const stranger = await rpKey('published');
      const refused = await authorize(config);
      const callback = await signIn(new UserAgent(), refused.url.href, user);
      await assert.rejects(exchange(await discover(t, client.clientId, { key: stranger.privateKey, kid: stranger.kid }), callback, refused), oauthError('invalid_client'));
    } finally {
      server.close();
    }
  });

  describe('a FAPI 2.0 client', () => {
    let key: Awaited<ReturnType<typeof rpKey>>;
    let config: oidc.Configuration;

    before(async () => {
      key = await rpKey('fapi', 'PS256');
      const client = await register({
        authMethod: 'private_key_jwt', jwks: { keys: [key.jwk] }, requirePushedAuthorizationRequests: true, dpopBoundAccessTokens: true, securityProfile: 'fapi2',
      });
      assert.equal(client.securityProfile, 'fapi2');
      config = await discover(t, client.clientId, { key: key.privateKey, kid: key.kid });
    });

    it('signs in with PAR, private_key_jwt and DPoP, and gets a DPoP-bound access token', async () => {
      const dpop = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
      const auth = await authorize(config, { par: true, dpop });
      const tokens = await exchange(config, await signIn(new UserAgent(), auth.url.href, user), auth, dpop);
      assert.equal(tokens.token_type.toLowerCase(), 'dpop');
      assert.equal(tokens.claims()?.sub, user.id);
      const info = await oidc.tokenIntrospection(config, tokens.access_token);
      assert.equal(info.active, true);
      assert.equal(typeof (info.cnf as { jkt?: string } | undefined)?.jkt, 'string', 'the token is bound to the RP\'s DPoP key');
    });

    it('is refused a token without DPoP', async () => {
      const details: string[] = [];
      const record = (_ctx: unknown, err: { error_detail?: string }) => { details.push(err.error_detail ?? ''); };
      t.services.provider.on('grant.error', record);
      try {
        const auth = await authorize(config, { par: true });
        const callback = await signIn(new UserAgent(), auth.url.href, user);
        await assert.rejects(exchange(config, callback, auth), oauthError('invalid_grant'));
        assert.match(details.at(-1) ?? '', /DPoP/);
      } finally {
        t.services.provider.off('grant.error', record);
      }
    });

    it('gets the FAPI 2.0 profile, and only it: a pushed request without redirect_uri is refused, while another PAR client may omit it', async () => {
      const dpop = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
      await assert.rejects(authorize(config, { par: true, dpop, omit: ['redirect_uri'] }), oauthError('invalid_request'));

      const plainKey = await rpKey('not-fapi');
      const other = await register({ authMethod: 'private_key_jwt', jwks: { keys: [plainKey.jwk] }, requirePushedAuthorizationRequests: true });
      const otherConfig = await discover(t, other.clientId, { key: plainKey.privateKey, kid: plainKey.kid });
      const auth = await authorize(otherConfig, { par: true, omit: ['redirect_uri'] });
      assert.ok(auth.url.searchParams.get('request_uri'));
    });
  });

  it('never exposes the client assertion\'s key material: the registered JWKS has public members only', async () => {
    const key = await rpKey('pub-only');
    const client = await register({ authMethod: 'private_key_jwt', jwks: { keys: [key.jwk] } });
    const stored = await t.services.clients.find(client.clientId);
    assert.deepEqual(Object.keys(stored!.jwks!.keys[0]!).sort(), ['crv', 'kid', 'kty', 'use', 'x', 'y']);
  });
});
