// Client administration in the client store (issue 11): edits re-checked like a new client and
// seen at once by real authorization and token requests, secret rotation with a grace period on
// Tessera's own clock, first-party clients protected, and the admin API grant made with the real
// `tessera client grant-admin-api` command and used at the real token endpoint.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { tesseraCli } from '../support/cli.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { REDIRECT_URI, RelyingParty, UserAgent, createUser, signIn } from '../support/flow.ts';
import { ADMIN_CLIENT, ClientError, PREVIOUS_SECRET, type ClientPatch, type NewClient } from '../../src/oidc/clients.ts';

const OTHER_REDIRECT = 'https://rp.example.com/callback';
const HOUR = 3600_000;

const newId = (prefix = 'c') => `${prefix}-${randomBytes(4).toString('hex')}`;

/** A token request with the client's secret (client_secret_basic unless `post`); status and JSON body. */
async function tokenRequest(t: Tessera, clientId: string, secret: string, params: Record<string, string>, how: 'basic' | 'post' = 'basic') {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  const body = new URLSearchParams(params);
  if (how === 'basic') headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  else { body.set('client_id', clientId); body.set('client_secret', secret); }
  const res = await fetch(`${t.issuer}/token`, { method: 'POST', headers, body });
  return { status: res.status, body: await res.json() as Record<string, string> };
}

const machineToken = (t: Tessera, clientId: string, secret: string, scope?: string, how: 'basic' | 'post' = 'basic') =>
  tokenRequest(t, clientId, secret, { grant_type: 'client_credentials', ...(scope ? { scope } : {}) }, how);

/** Where the authorization endpoint sends a browser for this request (no redirects followed). */
async function authorize(t: Tessera, clientId: string, params: Record<string, string> = {}) {
  const url = authUrl(t, clientId, params);
  const res = await fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
  return { status: res.status, location: res.headers.get('location') ?? '', body: await res.text() };
}

function authUrl(t: Tessera, clientId: string, params: Record<string, string> = {}): string {
  const url = new URL(`${t.issuer}/auth`);
  const query = { client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, state: 's1', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...params };
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return url.href;
}

async function rejects(work: Promise<unknown>, code: ClientError['code'], message?: RegExp) {
  await assert.rejects(work, (err: unknown) => {
    assert.ok(err instanceof ClientError, `a ClientError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('client administration: edit, rotate, protect, admin API grant', function () {
  this.timeout(120_000);
  let t: Tessera;
  let now: Date;
  let dataDir: string;
  const serverErrors: unknown[] = [];

  before(async () => {
    now = new Date();
    // the command line is another process: a server keeps a client it read for
    // CLIENT_CACHE_SECONDS (test/integration/client-cache.test.ts); here its changes show at once
    t = await startTessera({ clock: () => now, log: (err) => serverErrors.push(err), env: { CLIENT_CACHE_SECONDS: '0' } });
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-cli-'));
  });
  after(async () => {
    await t?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  afterEach(() => assert.deepEqual(serverErrors, [], 'no 500s'));

  const cli = (...args: string[]) => tesseraCli(t, dataDir, ...args);
  const stored = async (clientId: string) => (await t.services.db.connection.collection('oidc_client').findOne({ _id: clientId as never }))?.payload as Record<string, unknown> | undefined;
  const create = (input: Partial<NewClient> = {}) => t.services.clients.create({ clientId: newId(), redirectUris: [REDIRECT_URI], ...input });

  describe('update', () => {
    it('changes the name and redirect URIs, and the authorization endpoint sees them at once', async () => {
      const client = await create({ name: 'Old name' });
      const before = await authorize(t, client.clientId);
      assert.equal(before.status, 303, 'the registered redirect URI is accepted');
      assert.match((await new UserAgent().visit(authUrl(t, client.clientId))).body, /to continue to <strong>Old name<\/strong>/);

      const updated = await t.services.clients.update(client.clientId, { name: 'New name', redirectUris: [OTHER_REDIRECT, REDIRECT_URI.replace('/callback', '/cb2')] });
      assert.equal(updated.name, 'New name');
      assert.deepEqual(updated.redirectUris, [OTHER_REDIRECT, 'http://127.0.0.1:9/cb2']);
      assert.equal(updated.clientSecret, client.clientSecret, 'the secret stays');

      const old = await authorize(t, client.clientId);
      assert.equal(old.status, 400, 'the removed redirect URI is refused now');
      assert.match(old.body, /redirect_uri/);
      const moved = await authorize(t, client.clientId, { redirect_uri: 'http://127.0.0.1:9/cb2' });
      assert.equal(moved.status, 303);
      const page = await new UserAgent().visit(authUrl(t, client.clientId, { redirect_uri: 'http://127.0.0.1:9/cb2' }));
      assert.match(page.body, /to continue to <strong>New name<\/strong>/, 'the sign-in page names the client by its new name');

      const cleared = await t.services.clients.update(client.clientId, { name: null });
      assert.equal(cleared.name, undefined);
      assert.equal((await stored(client.clientId))!.client_name, undefined);
    });

    it('changes the authentication method and grants; the token endpoint follows, the secret and other fields stay', async () => {
      // oidc-provider 9 takes a secret by either client_secret_basic or client_secret_post whichever
      // of the two is registered: the method is what the client is told to use (and metadata shows)
      const client = await create({ grants: ['client_credentials'], minimumAcr: 'urn:tessera:acr:mfa', backchannelLogoutUri: 'https://rp.example.com/bc' });
      const secret = client.clientSecret!;
      assert.equal((await machineToken(t, client.clientId, secret)).status, 200);

      const updated = await t.services.clients.update(client.clientId, { authMethod: 'client_secret_post' });
      assert.equal(updated.authMethod, 'client_secret_post');
      assert.equal(updated.minimumAcr, 'urn:tessera:acr:mfa');
      assert.equal(updated.backchannelLogoutUri, 'https://rp.example.com/bc');
      assert.deepEqual(updated.grantTypes, ['authorization_code', 'client_credentials']);
      assert.equal((await stored(client.clientId))!.token_endpoint_auth_method, 'client_secret_post');
      assert.equal((await machineToken(t, client.clientId, secret, undefined, 'post')).status, 200, 'the same secret works with client_secret_post');

      const fewer = await t.services.clients.update(client.clientId, { grants: [], minimumAcr: null, backchannelLogoutUri: null, skipConsent: true, pkce: 'optional' });
      assert.deepEqual(fewer.grantTypes, ['authorization_code']);
      assert.equal(fewer.minimumAcr, undefined);
      assert.equal(fewer.backchannelLogoutUri, undefined);
      assert.equal(fewer.skipConsent, true);
      assert.equal(fewer.pkce, 'optional');
      const refused = await machineToken(t, client.clientId, secret, undefined, 'post');
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error, 'invalid_request', 'client_credentials is gone');
      assert.match(refused.body.error_description!, /grant type is not allowed for this client/);
      const raw = (await stored(client.clientId))!;
      assert.equal(raw.backchannel_logout_uri, undefined);
      assert.equal(raw.backchannel_logout_session_required, undefined);
      assert.notEqual(raw.client_secret, secret, 'the secret is still sealed at rest');
    });

    it('refuses invalid patches and changes nothing', async () => {
      const client = await create({ name: 'Stays', postLogoutRedirectUris: ['https://rp.example.com/bye'] });
      const publicClient = await create({ public: true });
      const before = await stored(client.clientId);
      const cases: [string, ClientPatch, RegExp][] = [
        ['javascript: redirect', { redirectUris: ['javascript:alert(1)'] }, /scheme javascript: is not allowed/],
        ['data: post-logout', { postLogoutRedirectUris: ['data:text/html,hi'] }, /scheme data: is not allowed/],
        ['http on a public host', { redirectUris: ['http://rp.example.com/callback'] }, /http is allowed only for loopback/],
        ['fragment', { redirectUris: ['https://rp.example.com/callback#x'] }, /fragment/],
        ['wildcard', { redirectUris: ['https://*.example.com/callback'] }, /wildcards/],
        ['back-channel over http', { backchannelLogoutUri: 'http://rp.example.com/bc' }, /back-channel logout URI/],
        ['bad minimum acr', { minimumAcr: 'urn:tessera:acr:gold' }, /minimum acr must be one of/],
        ['bad pkce', { pkce: 'sometimes' as 'optional' }, /pkce must be required or optional/],
        ['bad auth method', { authMethod: 'tls_client_auth' as 'client_secret_post' }, /client_secret_basic, client_secret_post or private_key_jwt/],
        ['private_key_jwt without keys', { authMethod: 'private_key_jwt' }, /private_key_jwt needs the client's public keys/],
        ['a JWKS for a secret client', { jwks: { keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }] } }, /used only with private_key_jwt/],
        ['unknown grant', { grants: ['password' as 'refresh_token'] }, /grants may be refresh_token or client_credentials/],
        ['nothing left to sign in with', { redirectUris: [] }, /at least one redirect URI, or the client_credentials grant/],
        ['redirect URIs not a list', { redirectUris: 'https://rp.example.com/cb' as unknown as string[] }, /list of strings/],
        ['an unknown field', { clientId: 'other' } as ClientPatch, /"clientId" cannot be changed/],
        ['one bad URI among good ones (nothing applied)', { name: 'Changed', redirectUris: [OTHER_REDIRECT, 'javascript:void(0)'] }, /javascript/],
      ];
      for (const [what, patch, message] of cases) {
        await rejects(t.services.clients.update(client.clientId, patch), 'invalid_client_metadata', message).catch((err: Error) => { throw new Error(`${what}: ${err.message}`); });
      }
      assert.deepEqual(await stored(client.clientId), before, 'nothing was written');
      assert.equal((await t.services.clients.find(client.clientId))!.name, 'Stays');

      const publicBefore = await stored(publicClient.clientId);
      await rejects(t.services.clients.update(publicClient.clientId, { authMethod: 'client_secret_basic' }), 'invalid_client_metadata', /public.*cannot be changed/);
      await rejects(t.services.clients.update(publicClient.clientId, { pkce: 'optional' }), 'invalid_client_metadata', /public client always requires PKCE/);
      await rejects(t.services.clients.update(publicClient.clientId, { grants: ['client_credentials'] }), 'invalid_client_metadata', /public client cannot use client_credentials/);
      assert.deepEqual(await stored(publicClient.clientId), publicBefore);
      assert.equal((await t.services.clients.update(publicClient.clientId, { name: 'Still public' })).authMethod, 'none', 'a public client stays public');
    });

    it('says not_found for an unknown client, everywhere', async () => {
      await rejects(t.services.clients.update('no-such-client', { name: 'x' }), 'not_found');
      await rejects(t.services.clients.rotateSecret('no-such-client', { now, graceSeconds: 60 }), 'not_found');
      await rejects(t.services.clients.grantAdminApi('no-such-client'), 'not_found');
      await rejects(t.services.clients.remove('no-such-client'), 'not_found');
    });

    it('protects first-party clients (their areas still create them)', async () => {
      for (const clientId of ['tessera-account', ADMIN_CLIENT]) {
        if (!(await t.services.clients.find(clientId))) await t.services.clients.create({ clientId, redirectUris: [REDIRECT_URI], skipConsent: true });
        const before = await stored(clientId);
        await rejects(t.services.clients.update(clientId, { name: 'Hijacked' }), 'protected', new RegExp(`${clientId} is a first-party client`));
        await rejects(t.services.clients.rotateSecret(clientId, { now, graceSeconds: 0 }), 'protected');
        await rejects(t.services.clients.grantAdminApi(clientId), 'protected');
        await rejects(t.services.clients.remove(clientId), 'protected');
        assert.deepEqual(await stored(clientId), before, `${clientId} is unchanged`);
      }
    });
  });

  describe('secret rotation', () => {
    it('keeps the old secret working until the grace period ends on Tessera\'s clock', async () => {
      now = new Date();
      const client = await create({ grants: ['client_credentials'] });
      const old = client.clientSecret!;
      const grace = t.config.clients.secretGraceHours * 3600;
      assert.equal(grace, 24 * 3600, 'the default CLIENT_SECRET_GRACE_HOURS');
      const rotated = await t.services.clients.rotateSecret(client.clientId, { now, graceSeconds: grace });
      assert.notEqual(rotated.clientSecret, old);
      assert.equal(rotated.client.clientSecret, rotated.clientSecret);
      assert.equal(rotated.previousValidUntil?.getTime(), Math.floor(now.getTime() / 1000 + grace) * 1000);
      assert.deepEqual(rotated.client.previousSecretValidUntil, rotated.previousValidUntil);

      const raw = (await stored(client.clientId))!;
      assert.equal(typeof raw[PREVIOUS_SECRET], 'string');
      assert.ok(!JSON.stringify(raw).includes(old) && !JSON.stringify(raw).includes(rotated.clientSecret), 'neither secret is stored in clear');

      assert.equal((await machineToken(t, client.clientId, old)).status, 200, 'the old secret works during the grace period');
      assert.equal((await machineToken(t, client.clientId, rotated.clientSecret)).status, 200, 'the new secret works');
      assert.equal((await machineToken(t, client.clientId, `${old}x`)).status, 401, 'anything else does not');

      now = new Date(now.getTime() + 23 * HOUR);
      assert.equal((await machineToken(t, client.clientId, old)).status, 200, 'still inside the grace period');
      now = new Date(now.getTime() + HOUR + 1000);
      const late = await machineToken(t, client.clientId, old);
      assert.equal(late.status, 401, 'the old secret stops when the grace period ends');
      assert.equal(late.body.error, 'invalid_client');
      assert.equal((await machineToken(t, client.clientId, rotated.clientSecret)).status, 200);
    });

    it('keeps only one previous secret: a second rotation ends the first one at once', async () => {
      now = new Date();
      const client = await create({ grants: ['client_credentials'] });
      const first = await t.services.clients.rotateSecret(client.clientId, { now, graceSeconds: 3600 });
      const second = await t.services.clients.rotateSecret(client.clientId, { now, graceSeconds: 3600 });
      assert.equal((await machineToken(t, client.clientId, client.clientSecret!)).status, 401, 'the original secret is gone');
      assert.equal((await machineToken(t, client.clientId, first.clientSecret)).status, 200, 'the one just rotated out is in its grace period');
      assert.equal((await machineToken(t, client.clientId, second.clientSecret)).status, 200);
      // an edit keeps the secrets and the grace period
      await t.services.clients.update(client.clientId, { name: 'Edited' });
      assert.equal((await machineToken(t, client.clientId, first.clientSecret)).status, 200);
      assert.equal((await machineToken(t, client.clientId, second.clientSecret)).status, 200);
    });

    it('loses no change when an edit, a rotation and a grant run at the same time', async () => {
      now = new Date();
      for (let round = 0; round < 5; round++) {
        const client = await create({ grants: ['client_credentials'] });
        const [, rotated] = await Promise.all([
          t.services.clients.update(client.clientId, { name: `Round ${round}` }),
          t.services.clients.rotateSecret(client.clientId, { now, graceSeconds: 0 }),
          t.services.clients.grantAdminApi(client.clientId),
        ]);
        const view = (await t.services.clients.find(client.clientId))!;
        assert.equal(view.name, `Round ${round}`);
        assert.equal(view.adminApi, true);
        assert.equal(view.clientSecret, rotated.clientSecret, 'the secret shown to the admin is the one stored');
        assert.equal((await machineToken(t, client.clientId, rotated.clientSecret, 'admin')).status, 200);
      }
    });

    it('refuses to rotate a public client\'s secret', async () => {
      const client = await create({ public: true });
      await rejects(t.services.clients.rotateSecret(client.clientId, { now, graceSeconds: 60 }), 'invalid_client_metadata', /public client has no secret/);
    });

    it('with CLIENT_SECRET_GRACE_HOURS=0 the old secret stops at once', async () => {
      const t0 = await startTessera({ env: { CLIENT_SECRET_GRACE_HOURS: '0' }, log: (err) => serverErrors.push(err) });
      try {
        const client = await t0.services.clients.create({ clientId: newId(), redirectUris: [], grants: ['client_credentials'] });
        const rotated = await t0.services.clients.rotateSecret(client.clientId, { now: new Date(), graceSeconds: t0.config.clients.secretGraceHours * 3600 });
        assert.equal(rotated.previousValidUntil, undefined);
        assert.equal(rotated.client.previousSecretValidUntil, undefined);
        const old = await machineToken(t0, client.clientId, client.clientSecret!);
        assert.equal(old.status, 401);
        assert.equal(old.body.error, 'invalid_client');
        assert.equal((await machineToken(t0, client.clientId, rotated.clientSecret)).status, 200);
      } finally {
        await t0.close();
      }
    });
  });

  describe('the admin API grant and the admin scope', () => {
    it('tessera client grant-admin-api lets a confidential client get client_credentials tokens with scope admin', async () => {
      now = new Date();
      const client = await create({ name: 'Reporting job' });
      const before = await machineToken(t, client.clientId, client.clientSecret!, 'admin');
      assert.equal(before.body.error, 'invalid_request', 'no client_credentials grant yet');

      const json = await cli('client', 'grant-admin-api', '--client-id', client.clientId, '--json');
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout), { client_id: client.clientId, admin_api: true, grant_types: ['authorization_code', 'client_credentials'], scope: 'admin' });
      const text = await cli('client', 'grant-admin-api', '--client-id', client.clientId);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, new RegExp(`client ${client.clientId} may use the admin API: client_credentials token requests with scope=admin`));
      const view = (await t.services.clients.find(client.clientId))!;
      assert.equal(view.adminApi, true);
      // the command line's admin actions are in the audit log too (the server reads what the CLI wrote)
      const granted2 = (await t.services.audit.query({ type: 'admin.client.api_granted' })).events.filter((e) => e.subject?.id === client.clientId);
      assert.equal(granted2.length, 2, 'one event per grant-admin-api run');
      assert.deepEqual(granted2[0]!.actor, { type: 'admin', id: 'cli', label: 'command line' });
      assert.deepEqual(view.grantTypes, ['authorization_code', 'client_credentials'], 'idempotent: the grant is added once');

      const granted = await machineToken(t, client.clientId, client.clientSecret!, 'admin');
      assert.equal(granted.status, 200, JSON.stringify(granted.body));
      assert.equal(granted.body.scope, 'admin');
      const token = await t.services.provider.ClientCredentials.find(granted.body.access_token!);
      assert.equal(token?.clientId, client.clientId);
      assert.equal(token?.scope, 'admin');
      // its interactive flow still works with the standard scopes, and an edit keeps the grant
      assert.equal((await authorize(t, client.clientId, { scope: 'openid email profile' })).status, 303);
      const edited = await t.services.clients.update(client.clientId, { grants: [], name: 'Renamed job' });
      assert.equal(edited.adminApi, true);
      assert.deepEqual(edited.grantTypes, ['authorization_code', 'client_credentials']);
      assert.equal((await machineToken(t, client.clientId, client.clientSecret!, 'admin')).body.scope, 'admin');
    });

    it('a client without the grant is refused the admin scope (invalid_scope), its other requests keep working', async () => {
      const client = await create({ grants: ['client_credentials'] });
      // clients without a scope list get the provider's default list (the standard scopes), and
      // the provider refuses a known scope that a client's list lacks
      const refused = await machineToken(t, client.clientId, client.clientSecret!, 'admin');
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error, 'invalid_scope');
      const plain = await machineToken(t, client.clientId, client.clientSecret!);
      assert.equal(plain.status, 200);
      assert.equal(plain.body.scope, undefined);
      const auth = await authorize(t, client.clientId, { scope: 'openid admin' });
      assert.equal(auth.status, 303);
      assert.equal(new URL(auth.location).searchParams.get('error'), 'invalid_scope', 'sent back to the client, no sign-in');
    });

    it('refuses the grant to public clients, by the command and the store', async () => {
      const client = await create({ public: true });
      const res = await cli('client', 'grant-admin-api', '--client-id', client.clientId);
      assert.equal(res.code, 1);
      assert.match(res.stderr, /public client: only a confidential client \(with a secret\) can use the admin API/);
      await rejects(t.services.clients.grantAdminApi(client.clientId), 'invalid_client_metadata');
      assert.equal((await t.services.clients.find(client.clientId))!.adminApi, false);
      const missing = await cli('client', 'grant-admin-api');
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /--client-id is required/);
    });

    it('user tokens carry admin only for the admin console client', async function () {
      const user = await createUser(t);
      // the console refuses a non-admin right after the password (issue 20): an administrator signs in
      await t.services.accounts.setRole(user.id, 'admin');
      // an admin-API client's users cannot get admin: machine clients use client_credentials
      const machine = await create({ grants: ['client_credentials'], skipConsent: true });
      await t.services.clients.grantAdminApi(machine.clientId);
      const auth = await authorize(t, machine.clientId, { scope: 'openid admin' });
      assert.ok(auth.location.startsWith(REDIRECT_URI), `sent back to the client with an error, not to a sign-in: ${auth.location}`);
      assert.equal(new URL(auth.location).searchParams.get('error'), 'invalid_scope');
      assert.match(new URL(auth.location).searchParams.get('error_description') ?? '', /admin console/);

      // the console's client (made by the console on first use; made here if not yet)
      if (!(await t.services.clients.find(ADMIN_CLIENT))) {
        await t.services.clients.create({ clientId: ADMIN_CLIENT, redirectUris: [REDIRECT_URI], skipConsent: true });
      }
      const consoleClient = (await t.services.clients.find(ADMIN_CLIENT))!;
      if (!consoleClient.redirectUris.includes(REDIRECT_URI) || consoleClient.minimumAcr) return this.skip();
      const rp = await RelyingParty.discover(t.issuer, ADMIN_CLIENT, consoleClient.clientSecret);
      const authorization = await rp.authorize({ scope: 'openid admin' });
      const tokens = await rp.tokens(await signIn(new UserAgent(), authorization.url, user), authorization);
      assert.deepEqual(tokens.scope?.split(' ').sort(), ['admin', 'openid']);
    });
  });
});
