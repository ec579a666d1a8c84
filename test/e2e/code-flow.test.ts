// A real relying party (openid-client) signs a user in through the hosted pages and uses every
// token endpoint Tessera offers.
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, backchannelListener, createUser, signIn, signInAndGetTokens, POST_LOGOUT_URI, REDIRECT_URI, type TestUser } from '../support/flow.ts';
import { ACR } from '../../src/policy/assurance.ts';

describe('authorization code flow with a real relying party', () => {
  let t: Tessera;
  let rp: RelyingParty;
  let user: TestUser;

  before(async () => {
    t = await startTessera();
    rp = await RelyingParty.register(t, { grants: ['refresh_token'] });
    user = await createUser(t, { name: 'Ada Lovelace' });
  });
  after(() => t.close());

  it('publishes discovery with S256-only PKCE, acr levels and every endpoint', async () => {
    const meta = rp.config.serverMetadata();
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(meta.acr_values_supported, [ACR.password, ACR.mfa, ACR.phr]);
    assert.deepEqual(meta.response_types_supported, ['code']);
    for (const key of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'introspection_endpoint', 'revocation_endpoint', 'end_session_endpoint'] as const) {
      assert.ok(meta[key]?.startsWith(t.issuer), `${key} advertised`);
    }
    assert.equal(meta.backchannel_logout_supported, true);
    assert.ok(!meta.grant_types_supported?.includes('implicit'));
    assert.ok(!meta.grant_types_supported?.includes('password'));
  });

  it('signs in through the hosted page and consent, and issues verified tokens with acr/amr', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { tokens, auth } = await signInAndGetTokens(rp, user);
    const claims = tokens.claims()!;
    assert.equal(claims.iss, t.issuer);
    assert.equal(claims.aud, rp.clientId);
    assert.equal(claims.sub, user.id);
    assert.equal(claims.nonce, auth.nonce);
    assert.equal(claims.acr, ACR.password);
    assert.deepEqual(claims.amr, ['pwd']);
    assert.ok(typeof claims.auth_time === 'number' && claims.auth_time >= before - 1, 'auth_time is the sign-in time');
    const header = JSON.parse(Buffer.from(tokens.id_token!.split('.')[0]!, 'base64url').toString());
    assert.equal(header.alg, 'ES256');
  });

  it('answers userinfo with the standard claims the scopes allow', async () => {
    const { tokens } = await signInAndGetTokens(rp, user);
    const info = await oidc.fetchUserInfo(rp.config, tokens.access_token, user.id);
    assert.equal(info.sub, user.id);
    assert.equal(info.email, user.email);
    assert.equal(info.email_verified, false);
    assert.equal(info.name, 'Ada Lovelace');
  });

  it('rotates refresh tokens and revokes the whole grant when an old one is reused', async () => {
    const { tokens } = await signInAndGetTokens(rp, user, { scope: 'openid offline_access', prompt: 'consent' });
    assert.ok(tokens.refresh_token, 'offline_access with consent yields a refresh token');
    const first = tokens.refresh_token!;
    const rotated = await oidc.refreshTokenGrant(rp.config, first);
    assert.ok(rotated.refresh_token && rotated.refresh_token !== first, 'a new refresh token replaces the old one');
    assert.equal(rotated.claims()?.acr, ACR.password);

    await assert.rejects(oidc.refreshTokenGrant(rp.config, first), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
    // the reuse revoked the grant: the rotated token and its access token are dead too
    await assert.rejects(oidc.refreshTokenGrant(rp.config, rotated.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
    const intro = await oidc.tokenIntrospection(rp.config, rotated.access_token);
    assert.equal(intro.active, false);
  });

  it('introspects an active access token and revokes it', async () => {
    const { tokens } = await signInAndGetTokens(rp, user);
    const active = await oidc.tokenIntrospection(rp.config, tokens.access_token);
    assert.equal(active.active, true);
    assert.equal(active.sub, user.id);
    assert.equal(active.client_id, rp.clientId);
    await oidc.tokenRevocation(rp.config, tokens.access_token);
    const after = await oidc.tokenIntrospection(rp.config, tokens.access_token);
    assert.equal(after.active, false);
    await assert.rejects(oidc.fetchUserInfo(rp.config, tokens.access_token, user.id));
  });

  it('issues client_credentials tokens to a confidential machine client', async () => {
    const machine = await RelyingParty.register(t, { redirectUris: [], postLogoutRedirectUris: [], grants: ['client_credentials'] });
    const tokens = await oidc.clientCredentialsGrant(machine.config, { scope: '' });
    assert.ok(tokens.access_token);
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    const intro = await oidc.tokenIntrospection(machine.config, tokens.access_token);
    assert.equal(intro.active, true);
    assert.equal(intro.client_id, machine.clientId);
    assert.equal(intro.sub, undefined);
  });

  it('signs the user out through RP-initiated logout and back to the registered URI', async () => {
    const { agent, tokens } = await signInAndGetTokens(rp, user);
    const endSession = oidc.buildEndSessionUrl(rp.config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI, state: 'bye' });
    const confirm = await agent.visit(endSession.href, POST_LOGOUT_URI);
    assert.equal(confirm.status, 200);
    assert.match(confirm.body, /Sign out\?/);
    const done = await agent.submit(confirm, /session\/end\/confirm/, { logout: 'yes' }, POST_LOGOUT_URI);
    assert.ok(done.url.startsWith(POST_LOGOUT_URI), `redirected to ${done.url}`);
    assert.equal(new URL(done.url).searchParams.get('state'), 'bye');

    // the session is gone: a new authorization asks for the password again
    const again = await agent.visit((await rp.authorize()).url);
    assert.match(again.body, /name="password"/);
  });

  it('tells a relying party with a back-channel logout URI that the session ended', async () => {
    const listener = await backchannelListener();
    const { received } = listener;
    try {
      const bcUri = listener.uri;
      const bcRp = await RelyingParty.register(t, { backchannelLogoutUri: bcUri });
      const { agent, tokens } = await signInAndGetTokens(bcRp, user);
      const sid = tokens.claims()!.sid;
      assert.ok(sid, 'ID token carries sid for back-channel logout');
      const endSession = oidc.buildEndSessionUrl(bcRp.config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI });
      const confirm = await agent.visit(endSession.href, POST_LOGOUT_URI);
      await agent.submit(confirm, /session\/end\/confirm/, { logout: 'yes' }, POST_LOGOUT_URI);

      assert.equal(received.length, 1, 'one logout token delivered');
      const { payload } = await jwtVerify(received[0]!, createRemoteJWKSet(new URL('/jwks', t.issuer)), { issuer: t.issuer, audience: bcRp.clientId });
      assert.equal(payload.sub, user.id);
      assert.equal(payload.sid, sid);
      assert.ok('http://schemas.openid.net/event/backchannel-logout' in (payload.events as object));
      assert.equal(payload.nonce, undefined, 'logout tokens carry no nonce');
    } finally {
      listener.close();
    }
  });

  it('keeps client secrets sealed in the database', async () => {
    const raw = await t.services.db.connection.collection('oidc_client').findOne({ _id: rp.clientId as never });
    assert.ok(raw, 'client stored in MongoDB');
    assert.ok(!JSON.stringify(raw).includes(rp.clientSecret!), 'the secret is not stored in clear');
    assert.equal((await t.services.clients.find(rp.clientId))?.clientSecret, rp.clientSecret, 'the store opens it');
  });

  it('skips the consent page for a first-party client', async () => {
    const firstParty = await RelyingParty.register(t, { skipConsent: true });
    const agent = new UserAgent();
    const auth = await firstParty.authorize();
    const login = await agent.visit(auth.url);
    const after = await agent.submit(login, /\/login$/, { email: user.email, password: user.password });
    assert.ok(after.url.startsWith(REDIRECT_URI), 'no consent page between sign-in and the RP');
    const tokens = await firstParty.tokens(after.url, auth);
    assert.equal(tokens.claims()?.sub, user.id);
  });

  it('reuses the session for a second authorization without asking for the password', async () => {
    const { agent } = await signInAndGetTokens(rp, user);
    const auth = await rp.authorize();
    const callback = await signIn(agent, auth.url, { email: 'unused', password: 'unused' });
    const tokens = await rp.tokens(callback, auth);
    assert.equal(tokens.claims()?.sub, user.id);
  });
});
