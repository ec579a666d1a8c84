// Defects and weaknesses from the security review of the foundation (issue 6): one scenario each,
// through the real HTTP stack, database and a real relying party.
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { COMMAND_LINE } from '../../src/admin/types.ts';
import { RelyingParty, UserAgent, backchannelListener, createUser, formOn, rawRequest, signIn, signInAndGetTokens, REDIRECT_URI } from '../support/flow.ts';

describe('security review defects', () => {
  let t: Tessera;
  let rp: RelyingParty;

  before(async () => {
    t = await startTessera();
    rp = await RelyingParty.register(t, { grants: ['refresh_token'] });
  });
  after(() => t.close());

  describe('1-2. disabled accounts', () => {
    it('treats a session whose account was disabled as signed out: sign-in page, login_required, another user can sign in', async () => {
      const user = await createUser(t);
      const { agent } = await signInAndGetTokens(rp, user);
      // disabled behind the provider's back (no revocation): the session still names the account
      await t.services.db.connection.collection('accounts').updateOne({ _id: user.id as never }, { $set: { disabled: true } });
      const page = await agent.visit((await rp.authorize()).url);
      assert.equal(page.status, 200, `not an error: ${page.body.slice(0, 200)}`);
      assert.match(page.body, /action="[^"]*\/login"/, 'the sign-in form');
      const silent = await agent.visit((await rp.authorize({ prompt: 'none' })).url);
      assert.equal(new URL(silent.url).searchParams.get('error'), 'login_required');
      const other = await createUser(t);
      const auth = await rp.authorize();
      const tokens = await rp.tokens(await signIn(agent, auth.url, other), auth);
      assert.equal(tokens.claims()!.sub, other.id, 'the next person signs in from that browser');
    });

    it('ends the sessions, grants and tokens of a disabled account, with back-channel logout', async () => {
      const listener = await backchannelListener();
      try {
        const bcRp = await RelyingParty.register(t, { grants: ['refresh_token'], backchannelLogoutUri: listener.uri });
        const user = await createUser(t);
        const { tokens } = await signInAndGetTokens(bcRp, user, { scope: 'openid offline_access', prompt: 'consent' });
        assert.equal((await oidc.tokenIntrospection(bcRp.config, tokens.access_token)).active, true);
        const { ended } = await t.services.admin.users.perform(COMMAND_LINE, user.id, 'disable');
        assert.equal(ended?.sessions, 1);
        const introspected = await oidc.tokenIntrospection(bcRp.config, tokens.access_token);
        assert.deepEqual(introspected, { active: false }, 'no sub, no claims');
        await assert.rejects(oidc.refreshTokenGrant(bcRp.config, tokens.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
        assert.equal(listener.received.length, 1, 'one logout token');
        const { payload } = await jwtVerify(listener.received[0]!, createRemoteJWKSet(new URL('/jwks', t.issuer)), { issuer: t.issuer, audience: bcRp.clientId });
        assert.equal(payload.sub, user.id);
      } finally {
        listener.close();
      }
    });
  });

  describe('3. server errors', () => {
    it('logs every provider 5xx once with the request id the user is shown, and no stack trace reaches the user', async () => {
      const logged: { id: string; path: string; message: string }[] = [];
      const t3 = await startTessera({ log: (err, ctx) => logged.push({ id: ctx.state.requestId, path: ctx.path, message: (err as Error).message }) });
      try {
        const rp3 = await RelyingParty.register(t3);
        const user = await createUser(t3);
        const { agent, tokens } = await signInAndGetTokens(rp3, user);
        const findById = t3.services.accounts.findById;
        t3.services.accounts.findById = async () => { throw new Error('database unavailable (test)'); };
        try {
          const api = await fetch(`${t3.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
          assert.equal(api.status, 500);
          const apiId = api.headers.get('x-request-id');
          const page = await agent.visit((await rp3.authorize()).url);
          assert.equal(page.status, 500);
          const pageId = page.headers.get('x-request-id')!;
          assert.ok(page.body.includes(pageId), 'the error page shows the request id');
          assert.match(page.body, /Something went wrong on our side/);
          assert.doesNotMatch(page.body, /database unavailable|\bat \S+ \(/, 'no internals or stack on the page');
          assert.deepEqual(logged.map((l) => l.id), [apiId, pageId], 'each 5xx logged exactly once, under its request id');
          assert.deepEqual(logged.map((l) => l.path), ['/me', '/auth']);
        } finally {
          t3.services.accounts.findById = findById;
        }
      } finally {
        await t3.close();
      }
    });
  });

  describe('4. consent', () => {
    it('makes a new grant when the one being extended was revoked before "Allow"', async () => {
      const user = await createUser(t);
      const { agent, tokens } = await signInAndGetTokens(rp, user, { scope: 'openid offline_access', prompt: 'consent' });
      const more = await rp.authorize({ scope: 'openid offline_access email profile', prompt: 'consent' });
      const consent = await agent.visit(more.url);
      assert.match(consent.body, /action="[^"]*\/confirm"/, 'the consent page for the added scopes');
      await oidc.tokenRevocation(rp.config, tokens.refresh_token!); // revokes the grant
      const after = await agent.submit(consent, /\/confirm$/);
      assert.ok(after.url.startsWith(REDIRECT_URI), `back at the RP, not an error: ${after.status} ${after.url} ${after.body.replace(/\s+/g, " ").slice(0, 600)}`);
      const fresh = await rp.tokens(after.url, more);
      assert.equal(fresh.claims()!.sub, user.id);
      assert.ok(fresh.refresh_token, 'the new grant works');
    });
  });

  describe('5. logout', () => {
    it('says "still signed in" after "Stay signed in", and the session is indeed alive', async () => {
      const user = await createUser(t);
      const { agent, tokens } = await signInAndGetTokens(rp, user);
      const confirm = await agent.visit(oidc.buildEndSessionUrl(rp.config, { id_token_hint: tokens.id_token! }).href);
      const stay = await agent.submit(confirm, /session\/end\/confirm/, {});
      assert.equal(stay.status, 200);
      assert.match(stay.body, /You are still signed in/);
      assert.doesNotMatch(stay.body, /You are signed out/);
      // "stay" ends only that client's session (its grant is revoked); Tessera's session lives on
      const firstParty = await RelyingParty.register(t, { skipConsent: true });
      const silent = await agent.visit((await firstParty.authorize({ prompt: 'none', scope: 'openid' })).url);
      assert.ok(new URL(silent.url).searchParams.get('code'), `the session still works: ${silent.url}`);
      const confirm2 = await agent.visit(oidc.buildEndSessionUrl(rp.config, { id_token_hint: tokens.id_token! }).href);
      const out = await agent.submit(confirm2, /session\/end\/confirm/, { logout: 'yes' });
      assert.match(out.body, /You are signed out/);
    });
  });

  describe('6. double submits', () => {
    const codeOf = (page: { headers: Headers }) => {
      const location = page.headers.get('location');
      return location?.startsWith(REDIRECT_URI) ? new URL(location).searchParams.get('code') : null;
    };

    it('completes the sign-in once when the form is sent twice at the same moment; the second gets "already done"', async () => {
      const user = await createUser(t);
      const firstParty = await RelyingParty.register(t, { skipConsent: true });
      for (let round = 0; round < 5; round++) {
        const agent = new UserAgent();
        const auth = await firstParty.authorize();
        const form = formOn(await agent.visit(auth.url), /\/login$/);
        const fields = { ...form.fields, email: user.email, password: user.password };
        const posts = await Promise.all([agent.request(form.action, { form: fields }), agent.request(form.action, { form: fields })]);
        const redirected = posts.filter((p) => p.status === 303);
        assert.equal(redirected.length, 1, `round ${round}: one submission completes`);
        const other = posts.find((p) => p.status !== 303)!;
        assert.equal(other.status, 409);
        assert.match(other.body, /already completed/);
        // the browser follows the one redirect, twice at once (a doubled or replayed request)
        const resume = new URL(redirected[0]!.headers.get('location')!, form.action).href;
        const answers = await Promise.all([agent.request(resume), agent.request(resume)]);
        const codes = answers.map(codeOf).filter(Boolean);
        assert.equal(codes.length, 1, `round ${round}: one authorization code`);
      }
    });
  });

  describe('7. CSRF token', () => {
    it('is not accepted from the query string, only from the form body', async () => {
      const user = await createUser(t);
      const agent = new UserAgent();
      const auth = await rp.authorize();
      const form = formOn(await agent.visit(auth.url), /\/login$/);
      const token = form.fields._csrf!;
      assert.ok(token, 'the form carries a CSRF token');
      const url = new URL(form.action);
      url.searchParams.set('_csrf', token);
      const viaQuery = await agent.request(url.href, { form: { email: user.email, password: user.password } });
      assert.equal(viaQuery.status, 403);
      assert.match(viaQuery.body, /This form has expired/);
      const viaBody = await agent.request(form.action, { form: { _csrf: token, email: user.email, password: user.password } });
      assert.equal(viaBody.status, 303, 'the same token in the body works');
    });
  });

  describe('9. client URIs', () => {
    const create = (fields: Partial<Parameters<Tessera['services']['clients']['create']>[0]>) =>
      t.services.clients.create({ clientId: `uri-${Math.random().toString(36).slice(2, 10)}`, redirectUris: ['https://app.example.com/cb'], ...fields });

    for (const [field, uri, message] of [
      ['redirectUris', 'http://app.example.com/cb', /http is allowed only for loopback hosts/],
      ['redirectUris', 'https://*.example.com/cb', /wildcards are not allowed/],
      ['redirectUris', 'https://app.example.com/*', /wildcards are not allowed/],
      ['redirectUris', 'javascript:alert(1)', /scheme javascript: is not allowed/],
      ['redirectUris', 'https://app.example.com/cb#x', /fragment/],
      ['postLogoutRedirectUris', 'http://evil.example.com/', /http is allowed only for loopback hosts/],
      ['backchannelLogoutUri', 'http://rp.example.com/bc', /http is allowed only for loopback hosts/],
    ] as const) {
      it(`refuses ${field} ${uri}`, async () => {
        const value = field === 'backchannelLogoutUri' ? uri : [uri];
        await assert.rejects(create({ [field]: value }), (err: Error & { code?: string }) => err.code === 'invalid_client_metadata' && message.test(err.message));
      });
    }

    it('accepts https and loopback http (IPv4, IPv6, localhost)', async () => {
      const client = await create({
        redirectUris: ['https://app.example.com/cb', 'http://127.0.0.1:8080/cb', 'http://[::1]:8080/cb', 'http://localhost/cb'],
        postLogoutRedirectUris: ['https://app.example.com/'],
        public: true,
      });
      assert.equal(client.redirectUris.length, 4);
    });
  });

  describe('10. bearer values at rest', () => {
    it('stores no access token, refresh token, code or client_credentials token in clear, and they all still work', async () => {
      const user = await createUser(t);
      const auth = await rp.authorize({ scope: 'openid offline_access', prompt: 'consent' });
      const agent = new UserAgent();
      const callback = await signIn(agent, auth.url, user);
      const code = new URL(callback).searchParams.get('code')!;
      const tokens = await rp.tokens(callback, auth);
      const refreshed = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!);
      const machine = await t.services.clients.create({ clientId: `m-${Date.now()}`, redirectUris: [], grants: ['client_credentials'] });
      const cc = await (await fetch(`${t.issuer}/token`, {
        method: 'POST', body: 'grant_type=client_credentials',
        headers: { authorization: `Basic ${Buffer.from(`${machine.clientId}:${machine.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      })).json() as { access_token: string };
      const secrets = [code, tokens.access_token, tokens.refresh_token!, refreshed.access_token, refreshed.refresh_token!, cc.access_token];
      const { db } = t.services.db.connection;
      for (const { name } of await db!.listCollections().toArray()) {
        const dump = JSON.stringify(await db!.collection(name).find().toArray());
        for (const secret of secrets) assert.ok(!dump.includes(secret), `${name} holds a bearer value in clear`);
      }
      assert.equal((await oidc.fetchUserInfo(rp.config, refreshed.access_token, user.id)).sub, user.id, 'found by its hash');
      assert.equal((await oidc.tokenIntrospection(rp.config, refreshed.refresh_token!)).active, true);
    });
  });

  describe('11. Host header', () => {
    it('answers a request for another host with 421 and builds no URL from it; discovery and JWKS are cacheable', async () => {
      for (const path of ['/.well-known/openid-configuration', '/jwks', (await rp.authorize()).url.replace(t.issuer, '')]) {
        const spoofed = await rawRequest(t.issuer, path, { host: 'evil.example' });
        assert.equal(spoofed.status, 421, path);
        assert.doesNotMatch(spoofed.body + JSON.stringify(spoofed.headers), /evil\.example/, `${path}: nothing built from the spoofed host`);
      }
      // without TRUST_PROXY, forwarded headers change nothing
      const forwarded = await rawRequest(t.issuer, '/.well-known/openid-configuration', { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' });
      assert.equal(forwarded.status, 200);
      assert.equal(JSON.parse(forwarded.body).issuer, t.issuer);
      assert.doesNotMatch(forwarded.body, /evil\.example|https:/);
      assert.equal(forwarded.headers['cache-control'], 'public, max-age=300');
      assert.equal((await rawRequest(t.issuer, '/jwks', {})).headers['cache-control'], 'public, max-age=300');
    });
  });

  describe('12. cookies and headers', () => {
    it('uses __Host- (Path=/) and __Secure- (per-interaction path) cookies, all Secure, on an https issuer', async () => {
      const ts = await startTessera({ httpsIssuer: true });
      try {
        const secureRp = await ts.services.clients.create({ clientId: 'secure-rp', redirectUris: [REDIRECT_URI], skipConsent: true });
        const user = await createUser(ts);
        const jar = new Map<string, string>();
        const seen: string[] = [];
        const go = async (path: string, form?: Record<string, string>) => {
          const res = await rawRequest(ts.issuer.replace('https:', 'http:'), path, {
            'x-forwarded-proto': 'https',
            cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
            ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          }, form && new URLSearchParams(form).toString());
          for (const c of ([] as string[]).concat(res.headers['set-cookie'] ?? [])) {
            seen.push(c);
            const [pair] = c.split(';');
            const [name, value] = [pair!.slice(0, pair!.indexOf('=')), pair!.slice(pair!.indexOf('=') + 1)];
            if (value) jar.set(name, value); else jar.delete(name);
          }
          return res;
        };
        const auth = new URL('/auth', ts.issuer);
        for (const [k, v] of Object.entries({ client_id: secureRp.clientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })) auth.searchParams.set(k, v);
        const start = await go(auth.pathname + auth.search);
        const interaction = new URL(start.headers.location!, ts.issuer).pathname;
        const page = await go(interaction);
        const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
        const login = await go(`${interaction}/login`, { _csrf: csrf, email: user.email, password: user.password });
        const done = await go(new URL(login.headers.location!, ts.issuer).pathname);
        assert.ok(done.headers.location?.startsWith(REDIRECT_URI), 'signed in');
        const named = (prefix: string) => seen.filter((c) => c.startsWith(prefix) && !/^[^=]+=;/.test(c));
        assert.ok(named('__Host-session=').length, 'session cookie is __Host-');
        assert.ok(named('__Host-session=').every((c) => /samesite=none/i.test(c)), 'SameSite=None (with Secure): a cross-site POST to /auth carries it (OIDC Core §3.1.2.1)');
        assert.ok(named('__Host-tessera.form=').length, `form session cookie is __Host-: ${seen.join(' | ')}`);
        assert.ok(named('__Secure-interaction=').length, 'interaction cookie is __Secure-');
        for (const c of seen) {
          assert.match(c, /;\s*secure/i, `${c} is Secure`);
          assert.doesNotMatch(c, /;\s*domain=/i, `${c} is host-only`);
          if (c.startsWith('__Host-')) assert.match(c, /;\s*path=\/(;|$)/i, `${c} has Path=/`);
        }
        assert.ok(seen.some((c) => c.startsWith('__Secure-interaction=') && /path=\/interaction\//i.test(c)), 'the interaction cookie is scoped to its interaction');
      } finally {
        await ts.close();
      }
    });

    it('sends CSP base-uri \'none\' and X-Frame-Options: DENY on the hosted pages', async () => {
      const page = await new UserAgent().visit((await rp.authorize()).url);
      assert.match(page.headers.get('content-security-policy')!, /base-uri 'none'/);
      assert.match(page.headers.get('content-security-policy')!, /frame-ancestors 'none'/);
      assert.equal(page.headers.get('x-frame-options'), 'DENY');
    });
  });

  describe('13. two sign-ins in one browser', () => {
    it('lets an older tab finish its sign-in after a newer tab started another one', async () => {
      const user = await createUser(t);
      const rpB = await RelyingParty.register(t);
      const agent = new UserAgent();
      const authA = await rp.authorize();
      const authB = await rpB.authorize();
      const pageA = await agent.visit(authA.url);
      const pageB = await agent.visit(authB.url);
      const doneA = await agent.submit(await agent.submit(pageA, /\/login$/, { email: user.email, password: user.password }), /\/confirm$/);
      assert.ok(doneA.url.startsWith(REDIRECT_URI), `tab A finished: ${doneA.status} ${doneA.body.slice(0, 200)}`);
      assert.equal((await rp.tokens(doneA.url, authA)).claims()!.sub, user.id);
      const formB = formOn(pageB, /\/login$/);
      const afterB = await agent.request(formB.action, { form: { ...formB.fields, email: user.email, password: user.password } });
      assert.equal(afterB.status, 303, 'tab B continues too');
    });
  });
});
