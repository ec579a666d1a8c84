// The last certification plans of issue 25's Conformance section, with a real relying party
// (openid-client) where one takes part:
// - RP-initiated logout with a post_logout_redirect_uri but neither id_token_hint nor client_id is
//   an error page saying what is missing and what to do, never a redirect and never "Sign out?"
//   (the suite's oidcc-rp-initiated-logout-no-id-token-hint);
// - response_mode=form_post delivers the code by an auto-submitting form whose one inline script
//   the page's CSP allows by its exact hash (and nothing else inline);
// - back-channel logout sends a logout token as the Back-Channel Logout 1.0 plan checks it (typ
//   logout+jwt, signature, iss, aud, sub, sid, iat, exp, jti, events, no nonce), and an RP that is
//   unreachable, failing or hanging does not stop the person's sign-out.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, backchannelListener, createUser, formOn, rawRequest, signInAndGetTokens, POST_LOGOUT_URI, REDIRECT_URI, type Page, type TestUser } from '../support/flow.ts';

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

describe('RP-initiated logout, form_post and back-channel logout (certification plans)', function () {
  this.timeout(120_000);
  let t: Tessera;
  let rp: RelyingParty;
  let user: TestUser;
  const failures: unknown[] = [];

  before(async () => {
    t = await startTessera({ log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
    rp = await RelyingParty.register(t, { skipConsent: true });
    user = await createUser(t, { name: 'Ada Lovelace' });
  });
  after(() => t?.close());
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  const endSession = (params: Record<string, string>) => `${t.issuer}/session/end?${new URLSearchParams(params)}`;
  /** Whether the agent's session still signs in without a password. */
  async function stillSignedIn(agent: UserAgent): Promise<boolean> {
    return (await agent.visit((await rp.authorize()).url)).url.startsWith(REDIRECT_URI);
  }

  describe('a post_logout_redirect_uri without id_token_hint or client_id', () => {
    it('shows an error page saying what is missing and what to do; no redirect, and the person stays signed in', async () => {
      const { agent } = await signInAndGetTokens(rp, user);
      const page = await agent.request(endSession({ post_logout_redirect_uri: POST_LOGOUT_URI, state: 'bye' }));
      assert.equal(page.status, 400);
      assert.equal(page.headers.get('location'), null, 'no redirect');
      assert.match(page.body, /<h1>This sign-out request is incomplete<\/h1>/);
      assert.match(page.body, /did not say which application it is/);
      assert.match(page.body, /What to do: go back to the application and sign out from there\./);
      assert.match(page.body, /Nothing was changed: you are still signed in to Tessera on this device\./);
      assert.match(page.body, /post_logout_redirect_uri without id_token_hint or client_id/);
      assert.doesNotMatch(page.body, /Sign out\?|logoutForm|<script>/, 'no sign-out form, no auto-submitting form');
      assert.doesNotMatch(page.body, /127\.0\.0\.1:9\/signed-out/, 'the unchecked address is not shown');
      assert.ok(await stillSignedIn(agent), 'the session was left as it was');
    });

    it('says so to a browser that is not signed in too (instead of the auto-submitted sign-out)', async () => {
      const page = await new UserAgent().request(endSession({ post_logout_redirect_uri: POST_LOGOUT_URI }));
      assert.equal(page.status, 400);
      assert.match(page.body, /<h1>This sign-out request is incomplete<\/h1>/);
      assert.match(page.body, /Nothing was changed\. You are not signed in to Tessera on this device\./);
      assert.doesNotMatch(page.body, /<script>|session\/end\/confirm/);
    });

    it('speaks the browser\'s language', async () => {
      const page = await new UserAgent({ 'accept-language': 'pl' }).request(endSession({ post_logout_redirect_uri: POST_LOGOUT_URI }));
      assert.equal(page.status, 400);
      assert.match(page.body, /<h1>To żądanie wylogowania jest niekompletne<\/h1>/);
      assert.match(page.body, /<html lang="pl"/);
    });

    it('is also what a form POST to the end-session endpoint gets (https issuer)', async () => {
      const ts = await startTessera({ httpsIssuer: true });
      try {
        const res = await rawRequest(ts.issuer.replace('https:', 'http:'), '/session/end', { 'x-forwarded-proto': 'https', 'content-type': 'application/x-www-form-urlencoded' },
          new URLSearchParams({ post_logout_redirect_uri: POST_LOGOUT_URI }).toString());
        assert.equal(res.status, 400, res.body.slice(0, 300));
        assert.match(res.body, /This sign-out request is incomplete/);
      } finally {
        await ts.close();
      }
    });

    it('leaves the other requests as they were: client_id with the address, or no address at all, ask "Sign out?"', async () => {
      const { agent } = await signInAndGetTokens(rp, user);
      const bare = await agent.request(endSession({}));
      assert.equal(bare.status, 200);
      assert.match(bare.body, /Sign out\?/);
      const withClient = await agent.request(endSession({ client_id: rp.clientId, post_logout_redirect_uri: POST_LOGOUT_URI }));
      assert.equal(withClient.status, 200);
      assert.match(withClient.body, /Sign out\?/);
      const done = await agent.submit(withClient, /session\/end\/confirm/, { logout: 'yes' }, POST_LOGOUT_URI);
      assert.ok(done.url.startsWith(POST_LOGOUT_URI), 'client_id alone is enough to return to a registered address');
    });
  });

  describe('response_mode=form_post', () => {
    /** Signs in with form_post: the last page is the auto-submitting form (no redirect to the RP). */
    async function formPostPage(agent: UserAgent, authUrl: string): Promise<Page> {
      const login = await agent.visit(authUrl);
      const page = await agent.submit(login, /\/login$/, { email: user.email, password: user.password });
      assert.equal(page.status, 200, page.body.slice(0, 300));
      return page;
    }

    it('delivers the code by an auto-submitting form to the redirect URI, which the relying party redeems', async () => {
      const agent = new UserAgent();
      const auth = await rp.authorize({ response_mode: 'form_post' });
      const page = await formPostPage(agent, auth.url);
      const form = formOn(page, /\/callback$/);
      assert.equal(form.action, REDIRECT_URI);
      assert.match(page.body, /<form method="post" action="http:\/\/127\.0\.0\.1:9\/callback">/);
      assert.deepEqual(Object.keys(form.fields).sort(), ['code', 'iss', 'state']);
      assert.equal(form.fields.iss, t.issuer);
      assert.match(page.body, /<noscript>[\s\S]*<button autofocus type="submit">Continue<\/button>[\s\S]*<\/noscript>/, 'a working button without scripts');

      const callback = new Request(REDIRECT_URI, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form.fields) });
      const tokens = await oidc.authorizationCodeGrant(rp.config, callback, { pkceCodeVerifier: auth.verifier, expectedNonce: auth.nonce, expectedState: auth.state });
      assert.equal(tokens.claims()!.sub, user.id);
    });

    it('allows exactly the page\'s inline script by its hash: no unsafe-inline, nothing else', async () => {
      const page = await formPostPage(new UserAgent(), (await rp.authorize({ response_mode: 'form_post' })).url);
      const scripts = [...page.body.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
      assert.equal(scripts.length, 1);
      const csp = page.headers.get('content-security-policy') ?? '';
      const scriptSrc = /(?:^|;)\s*script-src ([^;]*)/.exec(csp)?.[1]?.trim().split(/\s+/) ?? [];
      assert.deepEqual(scriptSrc, ["'self'", `'sha256-${createHash('sha256').update(scripts[0]!).digest('base64')}'`]);
      assert.match(csp, /default-src 'self'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.doesNotMatch(csp, /form-action/, 'the form may post to the relying party');
    });
  });

  describe('back-channel logout', () => {
    /** Signs in to a relying party with a back-channel logout URI, then signs out through RP-initiated logout. */
    async function signInAndOut(backchannelLogoutUri: string) {
      const bcRp = await RelyingParty.register(t, { backchannelLogoutUri });
      const { agent, tokens } = await signInAndGetTokens(bcRp, user);
      const confirm = await agent.visit(oidc.buildEndSessionUrl(bcRp.config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI }).href, POST_LOGOUT_URI);
      const done = await agent.submit(confirm, /session\/end\/confirm/, { logout: 'yes' }, POST_LOGOUT_URI);
      return { bcRp, agent, tokens, done };
    }

    it('sends a logout token as the certification plan checks it', async () => {
      const listener = await backchannelListener();
      try {
        const first = await signInAndOut(listener.uri);
        const second = await signInAndOut(listener.uri);
        assert.equal(listener.received.length, 2);
        const jwks = createRemoteJWKSet(new URL('/jwks', t.issuer));
        const jtis = new Set<unknown>();
        for (const [i, { bcRp, tokens }] of [first, second].entries()) {
          const logoutToken = listener.received[i]!;
          const header = decodeProtectedHeader(logoutToken);
          assert.equal(header.typ, 'logout+jwt');
          assert.equal(header.alg, 'ES256');
          assert.ok(header.kid);
          const { payload } = await jwtVerify(logoutToken, jwks, { issuer: t.issuer, audience: bcRp.clientId, typ: 'logout+jwt' });
          assert.equal(payload.sub, user.id);
          assert.equal(payload.sid, tokens.claims()!.sid);
          const now = Math.floor(Date.now() / 1000);
          assert.ok(typeof payload.iat === 'number' && Math.abs(payload.iat - now) < 300, 'iat is now');
          assert.ok(typeof payload.exp === 'number' && payload.exp > payload.iat!, 'exp after iat');
          assert.ok(typeof payload.jti === 'string' && payload.jti.length >= 16);
          jtis.add(payload.jti);
          assert.deepEqual(payload.events, { [BACKCHANNEL_EVENT]: {} });
          assert.equal(payload.nonce, undefined, 'a logout token carries no nonce');
        }
        assert.equal(jtis.size, 2, 'every logout token has its own jti');
      } finally {
        listener.close();
      }
    });

    /** An RP back-channel endpoint that answers 500, or never answers. */
    async function brokenListener(mode: 'error' | 'hang') {
      const server = http.createServer((_req, res) => { if (mode === 'error') { res.statusCode = 500; res.end('down'); } });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return { uri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/backchannel`, close: () => { server.closeAllConnections(); server.close(); } };
    }

    for (const [what, make] of [
      ['unreachable', async () => {
        const closed = await brokenListener('error');
        closed.close(); // nothing listens on that port any more
        return closed;
      }],
      ['answering 500', () => brokenListener('error')],
      ['never answering', () => brokenListener('hang')],
    ] as const) {
      it(`still signs the person out when the relying party is ${what}`, async () => {
        const broken = await make();
        try {
          const { done, agent } = await signInAndOut(broken.uri);
          assert.ok(done.url.startsWith(POST_LOGOUT_URI), `back at the relying party: ${done.url}`);
          assert.equal(await stillSignedIn(agent), false, 'the session ended');
        } finally {
          broken.close();
        }
      });
    }
  });
});
