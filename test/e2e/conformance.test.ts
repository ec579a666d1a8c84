// OpenID Foundation certification gaps (issue 7): PKCE per client, GET and POST at the
// authorization and end-session endpoints, profile/phone/address claims by scope and by the
// claims request parameter, and prompt=none without a session.
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, rawRequest, signIn, REDIRECT_URI, type TestUser } from '../support/flow.ts';

describe('standards conformance', () => {
  let t: Tessera;
  let user: TestUser;

  before(async () => {
    t = await startTessera();
    user = await createUser(t, { name: 'Ada Lovelace' });
    await t.services.accounts.updateProfile(user.email, {
      givenName: 'Ada', familyName: 'Lovelace', preferredUsername: 'ada', locale: 'en-GB', zoneinfo: 'Europe/London',
      picture: 'https://pictures.example.com/ada.png',
      address: { streetAddress: '12 St James Square', locality: 'London', postalCode: 'SW1Y 4JH', country: 'GB' },
    });
  });
  after(() => t.close());

  /** An authorization request built by hand, so it can leave PKCE out. */
  function authorizeUrl(clientId: string, params: Record<string, string>): string {
    const url = new URL('/auth', t.issuer);
    for (const [k, v] of Object.entries({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, state: 'st', nonce: 'n', ...params })) url.searchParams.set(k, v);
    return url.href;
  }

  describe('PKCE per client', () => {
    it('lets a confidential client registered with pkce optional complete a flow without PKCE', async () => {
      const rp = await RelyingParty.register(t, { pkce: 'optional', skipConsent: true });
      const callback = await signIn(new UserAgent(), authorizeUrl(rp.clientId, {}), user);
      const tokens = await oidc.authorizationCodeGrant(rp.config, new URL(callback), { expectedState: 'st', expectedNonce: 'n' });
      assert.equal(tokens.claims()!.sub, user.id);
    });

    it('still requires PKCE from a confidential client by default, and always from a public one', async () => {
      const confidential = await RelyingParty.register(t, { skipConsent: true });
      const publicRp = await RelyingParty.register(t, { public: true, skipConsent: true });
      for (const rp of [confidential, publicRp]) {
        const page = await new UserAgent().visit(authorizeUrl(rp.clientId, {}));
        const answer = new URL(page.url).searchParams;
        assert.equal(answer.get('error'), 'invalid_request', rp.clientId);
        assert.match(answer.get('error_description')!, /PKCE/);
      }
      await assert.rejects(t.services.clients.create({ clientId: 'public-no-pkce', redirectUris: [REDIRECT_URI], public: true, pkce: 'optional' }),
        /a public client always requires PKCE/);
    });

    it('answers prompt=none without a session with login_required', async () => {
      const rp = await RelyingParty.register(t, { pkce: 'optional' });
      const page = await new UserAgent().visit(authorizeUrl(rp.clientId, { prompt: 'none' }));
      assert.equal(new URL(page.url).searchParams.get('error'), 'login_required');
    });
  });

  describe('claims', () => {
    let rp: RelyingParty;
    before(async () => { rp = await RelyingParty.register(t, { skipConsent: true }); });

    async function signInWith(params: Record<string, string>) {
      const auth = await rp.authorize(params);
      return rp.tokens(await signIn(new UserAgent(), auth.url, user), auth);
    }

    it('advertises the scopes, claims and the claims parameter in discovery', () => {
      const meta = rp.config.serverMetadata();
      for (const scope of ['openid', 'profile', 'email', 'phone', 'address', 'offline_access']) assert.ok(meta.scopes_supported?.includes(scope), scope);
      for (const claim of ['given_name', 'family_name', 'preferred_username', 'locale', 'zoneinfo', 'picture', 'updated_at', 'address', 'phone_number', 'phone_number_verified']) {
        assert.ok(meta.claims_supported?.includes(claim), claim);
      }
      assert.equal(meta.claims_parameter_supported, true);
    });

    it('returns the profile and address claims at userinfo by scope, and nothing the scopes did not ask for', async () => {
      const full = await signInWith({ scope: 'openid profile address phone' });
      const info = await oidc.fetchUserInfo(rp.config, full.access_token, user.id);
      assert.equal(info.given_name, 'Ada');
      assert.equal(info.family_name, 'Lovelace');
      assert.equal(info.preferred_username, 'ada');
      assert.equal(info.locale, 'en-GB');
      assert.equal(info.zoneinfo, 'Europe/London');
      assert.equal(info.picture, 'https://pictures.example.com/ada.png');
      assert.equal(typeof info.updated_at, 'number');
      assert.deepEqual(info.address, { street_address: '12 St James Square', locality: 'London', postal_code: 'SW1Y 4JH', country: 'GB' });
      assert.equal(info.phone_number, undefined, 'no verified phone yet');
      const minimal = await signInWith({ scope: 'openid' });
      const bare = await oidc.fetchUserInfo(rp.config, minimal.access_token, user.id);
      assert.deepEqual(Object.keys(bare).sort(), ['sub']);
    });

    it('returns claims asked for by the claims parameter, in the ID token and at userinfo', async () => {
      const tokens = await signInWith({
        scope: 'openid',
        claims: JSON.stringify({ id_token: { given_name: { essential: true }, address: null }, userinfo: { family_name: null, email: null } }),
      });
      const id = tokens.claims()!;
      assert.equal(id.given_name, 'Ada');
      assert.deepEqual((id.address as { locality: string }).locality, 'London');
      assert.equal(id.family_name, undefined, 'asked for at userinfo only');
      const info = await oidc.fetchUserInfo(rp.config, tokens.access_token, user.id);
      assert.equal(info.family_name, 'Lovelace');
      assert.equal(info.email, user.email);
      assert.equal(info.given_name, undefined, 'asked for in the ID token only');
    });

    it('refuses invalid profile values with a clear message and keeps the old ones', async () => {
      await assert.rejects(t.services.accounts.updateProfile(user.email, { locale: 'not a locale', zoneinfo: 'Mars/Olympus', picture: 'http://x.example/p.png' }),
        (err: Error) => /locale/.test(err.message) && /zoneinfo/.test(err.message) && /picture must be an https URL/.test(err.message));
      assert.equal((await t.services.accounts.findByEmail(user.email))!.profile.locale, 'en-GB');
    });
  });

  describe('POST at the authorization and end-session endpoints (https issuer)', () => {
    let ts: Tessera;
    before(async () => { ts = await startTessera({ httpsIssuer: true }); });
    after(() => ts.close());

    it('accepts the authorization request as a form POST', async () => {
      const rp = await ts.services.clients.create({ clientId: 'post-rp', redirectUris: [REDIRECT_URI], pkce: 'optional' });
      const body = new URLSearchParams({ client_id: rp.clientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, state: 's', nonce: 'n' }).toString();
      const res = await rawRequest(ts.issuer.replace('https:', 'http:'), '/auth', { 'x-forwarded-proto': 'https', 'content-type': 'application/x-www-form-urlencoded' }, body);
      assert.equal(res.status, 303, res.body.slice(0, 200));
      assert.match(res.headers.location!, /^\/interaction\//);
    });

    it('accepts the end-session request as a form POST', async () => {
      const res = await rawRequest(ts.issuer.replace('https:', 'http:'), '/session/end', { 'x-forwarded-proto': 'https', 'content-type': 'application/x-www-form-urlencoded' }, 'client_id=post-rp');
      assert.equal(res.status, 200, res.body.slice(0, 200));
      assert.match(res.body, /name="logout"/, "the end-session page, not a 404");
    });
  });
});
