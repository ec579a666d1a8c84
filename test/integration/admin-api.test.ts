// The admin JSON API (/admin/api/v1) through real HTTP on a real Tessera and database: a machine
// client granted the admin API gets a client_credentials token with scope admin and drives every
// route. Every route answers 401 without or with a bad token, 403 to a token without the right,
// 400 to bad input (malformed JSON, wrong types, over-long fields, javascript: redirect URIs,
// unknown fields and parameters), 415/413 to a wrong or too large body, 404 to unknown ids, and
// succeeds with a valid request; a rejected request changes nothing; every admin action lands in
// the audit log with the client as actor; an admin's own token (issued to the console client)
// works and a non-admin's does not; secret rotation keeps the old secret for the grace period
// (Tessera's clock in the test's hand). Nothing ever answers 500.
import assert from 'node:assert/strict';
import request from 'supertest';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, type TestUser } from '../support/flow.ts';
import { ROUTES } from '../../src/admin/api/routes.ts';
import * as s from '../../src/admin/api/schemas.ts';
import { ADMIN_CLIENT } from '../../src/oidc/clients.ts';

const PREFIX = '/admin/api/v1';
const HOUR = 3600_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Call {
  /** Bearer token; default the granted machine client's; null sends none. */
  token?: string | null;
  /** A whole Authorization header instead. */
  auth?: string;
  body?: unknown;
  /** A body sent as is, with `type` (default application/json). */
  raw?: string;
  type?: string;
}

interface RouteCase {
  /** A valid request (existing ids); the matrix never lets it through. */
  path: string;
  body?: unknown;
  /** The same request with an unknown id, one per path parameter. */
  missing?: string[];
}

describe('admin JSON API', function () {
  this.timeout(120_000);
  let now = Date.now();
  const clock = () => new Date(now);
  let t: Tessera;
  const seen: { what: string; status: number }[] = [];
  /** Tokens: the granted client's (scope admin), the same client without the scope, a client never granted. */
  let bot: string;
  let botWithoutScope: string;
  let plain: string;
  let target: TestUser;
  let deviceId: string;
  let orgId: string;

  async function tokenFor(clientId: string, secret: string, scope?: string) {
    return request(t.issuer).post('/token').auth(clientId, secret).type('form')
      .send({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) });
  }

  async function machineClient(clientId: string, grant: boolean): Promise<string> {
    const created = await t.services.clients.create({ clientId, redirectUris: [], grants: ['client_credentials'] });
    if (grant) await t.services.clients.grantAdminApi(clientId);
    return created.clientSecret!;
  }

  async function call(method: string, path: string, opts: Call = {}) {
    const m = method.toLowerCase() as 'get' | 'post' | 'put' | 'patch' | 'delete' | 'options' | 'head';
    let req = request(t.issuer)[m](PREFIX + path);
    const token = opts.token === undefined ? bot : opts.token;
    if (opts.auth !== undefined) req = req.set('Authorization', opts.auth);
    else if (token) req = req.set('Authorization', `Bearer ${token}`);
    if (opts.raw !== undefined) req = req.set('Content-Type', opts.type ?? 'application/json').send(opts.raw);
    else if (opts.body !== undefined) req = req.send(opts.body as object);
    const res = await req;
    seen.push({ what: `${method} ${path}`, status: res.status });
    return res;
  }

  function assertError(res: request.Response, status: number, error: string, context = '') {
    assert.equal(res.status, status, `${context} → ${res.status} ${JSON.stringify(res.body)}`);
    assert.match(res.headers['content-type'] ?? '', /^application\/json/, context);
    assert.equal(res.body.error, error, `${context}: ${JSON.stringify(res.body)}`);
    assert.equal(typeof res.body.error_description, 'string', context);
    assert.equal(res.headers['cache-control'], 'no-store', context);
  }

  /** What the API's data looks like now (straight from the stores). */
  async function snapshot() {
    await t.services.audit.flush(); // audit writes are fire-and-forget: wait for those started
    const [clients, users, organisations, devices, audit] = await Promise.all([
      t.services.clients.list(), t.services.accounts.search({ limit: 100 }), t.services.organisations.list(),
      t.services.devices.listFor(target.id), t.services.audit.query({ limit: 200 }),
    ]);
    const webhooks = await t.services.webhooks.endpoints.list();
    return JSON.stringify({ clients, users, organisations, devices, webhooks, audit: audit.events.map((e) => e.id) });
  }

  /** The audit events of a type, once they have been written. */
  async function auditEvents(type: string, match: (e: { subject?: { id: string } }) => boolean = () => true) {
    await t.services.audit.flush();
    return (await t.services.audit.query({ type, limit: 200 })).events.filter(match);
  }

  let cases: Record<string, RouteCase>;

  before(async () => {
    now = Date.now(); // from the start of the run, not the file's load (the expiry purge runs on real time)
    t = await startTessera({ clock });
    target = await createUser(t, { email: 'target@example.com', name: 'Tess Target' });
    deviceId = (await t.services.devices.ensure(target.id, 'browser-one', { browser: 'Chrome 120', os: 'Linux', ip: '203.0.113.7' })).id;
    orgId = (await t.services.organisations.create('Fixture Org')).id;
    const botSecret = await machineClient('ops-bot', true);
    const plainSecret = await machineClient('plain-bot', false);
    await t.services.clients.create({ clientId: 'fixture-rp', redirectUris: ['https://rp.example/cb'] });
    const hookId = (await t.services.webhooks.endpoints.create({ url: 'https://hooks.example.com/fixture', description: '', types: ['admin.action'] })).endpoint.id;

    const granted = await tokenFor('ops-bot', botSecret, 'admin');
    assert.equal(granted.status, 200, JSON.stringify(granted.body));
    assert.equal(granted.body.scope, 'admin');
    bot = granted.body.access_token;
    botWithoutScope = (await tokenFor('ops-bot', botSecret)).body.access_token;
    // a client never granted the admin API cannot even ask for the scope
    const refused = await tokenFor('plain-bot', plainSecret, 'admin');
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'invalid_scope');
    plain = (await tokenFor('plain-bot', plainSecret)).body.access_token;
    assert.ok(bot && botWithoutScope && plain);

    const org = `/organisations/${orgId}`;
    const user = `/users/${target.id}`;
    const device = `/devices/${deviceId}`;
    const noUser = '/users/no-such-account';
    const noDevice = '/devices/dev_AAAAAAAAAAAAAAAAAAAAAA';
    const noOrg = '/organisations/org_nosuchorg';
    const hook = `/webhooks/${hookId}`;
    const noHook = '/webhooks/whk_AAAAAAAAAAAAAAAA';
    cases = {
      listClients: { path: '/clients' },
      createClient: { path: '/clients', body: { clientId: 'never-made', redirectUris: ['https://rp.example/cb'] } },
      getClient: { path: '/clients/fixture-rp', missing: ['/clients/no-such-client'] },
      updateClient: { path: '/clients/fixture-rp', body: { name: 'Changed' }, missing: ['/clients/no-such-client'] },
      uploadClientLogo: { path: '/clients/fixture-rp/logo', body: { image: 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==' }, missing: ['/clients/no-such-client/logo'] },
      rotateClientSecret: { path: '/clients/fixture-rp/secret', missing: ['/clients/no-such-client/secret'] },
      deleteClient: { path: '/clients/fixture-rp', missing: ['/clients/no-such-client'] },
      searchUsers: { path: '/users' },
      createUser: { path: '/users', body: { email: 'never-made@example.com', password: 'Correct#Horse1' } },
      getUser: { path: user, missing: [noUser] },
      ...Object.fromEntries(['disable', 'enable', 'lock', 'unlock', 'reset-mfa', 'reset-password'].map((action) => [
        ROUTES.find((r) => r.path === `/users/{userId}/${action}`)!.operationId, { path: `${user}/${action}`, missing: [`${noUser}/${action}`] },
      ])),
      setUserRole: { path: `${user}/role`, body: { role: 'admin' }, missing: [`${noUser}/role`] },
      updateUser: { path: user, body: { profile: { nickname: 'Never' } }, missing: [noUser] },
      setUserPhone: { path: `${user}/phone`, body: { number: '+41 79 123 45 67' }, missing: [`${noUser}/phone`] },
      listUserDevices: { path: `${user}/devices`, missing: [`${noUser}/devices`] },
      getDevice: { path: device, missing: [noDevice] },
      renameDevice: { path: device, body: { name: 'Never' }, missing: [noDevice] },
      unblockDevice: { path: `${device}/unblock`, missing: [`${noDevice}/unblock`] },
      removeDevice: { path: `${device}/remove`, missing: [`${noDevice}/remove`] },
      flagDevice: { path: `${device}/flags`, body: { flag: 'never' }, missing: [`${noDevice}/flags`] },
      unflagDevice: { path: `${device}/flags/never`, missing: [`${noDevice}/flags/never`] },
      listOrganisations: { path: '/organisations' },
      createOrganisation: { path: '/organisations', body: { name: 'Never Org' } },
      getOrganisation: { path: org, missing: [noOrg] },
      renameOrganisation: { path: org, body: { name: 'Never' }, missing: [noOrg] },
      setOrganisationMember: { path: `${org}/members/${target.id}`, body: { admin: true }, missing: [`${noOrg}/members/${target.id}`, `${org}/members/no-such-account`] },
      removeOrganisationMember: { path: `${org}/members/${target.id}`, missing: [`${noOrg}/members/${target.id}`, `${org}/members/no-such-account`] },
      listWebhooks: { path: '/webhooks' },
      createWebhook: { path: '/webhooks', body: { url: 'https://hooks.example.com/never', types: ['admin.action'] } },
      getWebhook: { path: hook, missing: [noHook] },
      updateWebhook: { path: hook, body: { description: 'Never' }, missing: [noHook] },
      rotateWebhookSecret: { path: `${hook}/secret`, missing: [`${noHook}/secret`] },
      deleteWebhook: { path: hook, missing: [noHook] },
      listWebhookDeliveries: { path: `${hook}/deliveries`, missing: [`${noHook}/deliveries`] },
      queryAuditEvents: { path: '/audit-events' },
      exportAuditEvents: { path: '/audit-events/export' },
    };
  });
  after(() => t?.close());

  const long = (n: number) => 'a'.repeat(n);
  // RFC 8037 appendix A.1: an Ed25519 public key, and its private member
  const ED25519 = { kty: 'OKP', crv: 'Ed25519', kid: 'k1', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' };
  const ED25519_D = 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A';
  const newClient = (extra: object) => ({ clientId: 'bad-client', redirectUris: ['https://rp.example/cb'], ...extra });
  /** Per route with a body: [what is wrong, body, the field the error names]. */
  const BAD_BODIES: Record<string, [string, unknown, string?][]> = {
    createClient: [
      ['a javascript: redirect URI', newClient({ redirectUris: ['javascript:alert(1)'] }), 'redirectUris.0'],
      ['a data: redirect URI', newClient({ redirectUris: ['data:text/html,hi'] }), 'redirectUris.0'],
      ['a redirect URI with a fragment', newClient({ redirectUris: ['https://rp.example/cb#frag'] }), 'redirectUris.0'],
      ['a wildcard redirect URI', newClient({ redirectUris: ['https://*.example.com/cb'] }), 'redirectUris.0'],
      ['plain http to a public host', newClient({ redirectUris: ['http://rp.example/cb'] }), 'redirectUris.0'],
      ['a redirect URI with credentials', newClient({ redirectUris: ['https://user:pw@rp.example/cb'] }), 'redirectUris.0'],
      ['a 2001-character redirect URI', newClient({ redirectUris: [`https://rp.example/${long(1982)}`] }), 'redirectUris.0'],
      ['21 redirect URIs', newClient({ redirectUris: Array.from({ length: 21 }, (_, i) => `https://rp.example/cb${i}`) }), 'redirectUris'],
      ['a javascript: post-logout URI', newClient({ postLogoutRedirectUris: ['javascript:alert(1)'] }), 'postLogoutRedirectUris.0'],
      ['a javascript: back-channel logout URI', newClient({ backchannelLogoutUri: 'javascript:alert(1)' }), 'backchannelLogoutUri'],
      ['a 129-character client id', newClient({ clientId: long(129) }), 'clientId'],
      ['a client id with a dot', newClient({ clientId: 'a.b' }), 'clientId'],
      ['a 201-character name', newClient({ name: long(201) }), 'name'],
      ['a number as client id', newClient({ clientId: 5 }), 'clientId'],
      ['redirectUris as a string', newClient({ redirectUris: 'https://rp.example/cb' }), 'redirectUris'],
      ['an unknown grant', newClient({ grants: ['password'] }), 'grants.0'],
      ['skipConsent as a string', newClient({ skipConsent: 'yes' }), 'skipConsent'],
      ['an unknown minimum acr', newClient({ minimumAcr: 'gold' }), 'minimumAcr'],
      ['an unknown auth method', newClient({ tokenEndpointAuthMethod: 'tls_client_auth' }), 'tokenEndpointAuthMethod'],
      ['a JWKS with a private key', newClient({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [{ ...ED25519, d: ED25519_D }] } }), 'jwks'],
      ['a JWKS with two keys of one kid', newClient({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [ED25519, ED25519] } }), 'jwks'],
      ['a JWKS as a string', newClient({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: JSON.stringify({ keys: [ED25519] }) }), 'jwks'],
      ['a symmetric key as JWKS', newClient({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }), 'jwks'],
      ['a javascript: JWKS URI', newClient({ tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: 'javascript:alert(1)' }), 'jwksUri'],
      ['an http JWKS URI to a public host', newClient({ tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: 'http://rp.example/jwks' }), 'jwksUri'],
      ['an unknown security profile', newClient({ securityProfile: 'fapi1' }), 'securityProfile'],
      ['requirePushedAuthorizationRequests as a string', newClient({ requirePushedAuthorizationRequests: 'yes' }), 'requirePushedAuthorizationRequests'],
      ['dpopBoundAccessTokens as a number', newClient({ dpopBoundAccessTokens: 1 }), 'dpopBoundAccessTokens'],
      ['private_key_jwt without keys', newClient({ tokenEndpointAuthMethod: 'private_key_jwt' }), 'jwks'],
      ['keys without private_key_jwt', newClient({ jwks: { keys: [ED25519] } }), 'tokenEndpointAuthMethod'],
      ['FAPI 2.0 without PAR and DPoP', newClient({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [ED25519] }, securityProfile: 'fapi2' }), 'securityProfile'],
      ['no redirectUris', { clientId: 'bad-client' }, 'redirectUris'],
      ['a low-contrast brand colour', newClient({ brandColor: '#ffcc00' }), 'brandColor'],
      ['a brand colour that is not #rrggbb', newClient({ brandColor: 'red' }), 'brandColor'],
      ['a javascript: logo', newClient({ logoUri: 'javascript:alert(1)' }), 'logoUri'],
      ['an http privacy policy link', newClient({ policyUri: 'http://rp.example/privacy' }), 'policyUri'],
      ['a data: terms link', newClient({ tosUri: 'data:text/html,hi' }), 'tosUri'],
      ['a number as support link', newClient({ supportUri: 5 }), 'supportUri'],
    ],
    updateClient: [
      ['nothing to change', {}],
      ['a javascript: redirect URI', { redirectUris: ['javascript:alert(1)'] }, 'redirectUris.0'],
      ['a new client id (it never changes)', { clientId: 'other' }],
      ['auth method none (fixed at creation)', { tokenEndpointAuthMethod: 'none' }, 'tokenEndpointAuthMethod'],
      ['a 201-character name', { name: long(201) }, 'name'],
      ['a number as name', { name: 1 }, 'name'],
      ['grants as an object', { grants: { refresh_token: true } }, 'grants'],
      ['a low-contrast brand colour', { brandColor: '#ffcc00' }, 'brandColor'],
      ['a 3-digit brand colour', { brandColor: '#36c' }, 'brandColor'],
      ['a javascript: support link', { supportUri: 'javascript:alert(1)' }, 'supportUri'],
      ['a logo with credentials', { logoUri: 'https://u:p@cdn.example/logo.png' }, 'logoUri'],
      ['a JWKS with a private key', { jwks: { keys: [{ ...ED25519, d: ED25519_D }] } }, 'jwks'],
      ['a duplicate kid', { jwks: { keys: [ED25519, ED25519] } }, 'jwks'],
      ['an unknown security profile', { securityProfile: 'fapi1' }, 'securityProfile'],
    ],
    uploadClientLogo: [
      ['no image', {}, 'image'],
      ['an image that is not base64', { image: 'not base64!' }, 'image'],
      ['an image as a number', { image: 5 }, 'image'],
      ['an unknown field', { image: 'aGk=', name: 'logo.png' }],
    ],
    createUser: [
      ['no email', { password: 'Correct#Horse1' }, 'email'],
      ['not an email', { email: 'nope' }, 'email'],
      ['a 300-character email', { email: `${long(290)}@example.com` }, 'email'],
      ['an unknown role', { email: 'x@example.com', role: 'root' }, 'role'],
      ['a 257-character password', { email: 'x@example.com', password: long(257) }, 'password'],
      ['a name as an array', { email: 'x@example.com', name: ['a'] }, 'name'],
    ],
    updateUser: [
      ['nothing to change', {}],
      ['a javascript: website', { profile: { website: 'javascript:alert(1)' } }, 'profile.website'],
      ['an ftp profile page', { profile: { profileUrl: 'ftp://files.example.com/me' } }, 'profile.profileUrl'],
      ['an http picture', { profile: { picture: 'http://pictures.example.com/me.png' } }, 'profile.picture'],
      ['30 February as birthdate', { profile: { birthdate: '1990-02-30' } }, 'profile.birthdate'],
      ['a birthdate that is not YYYY-MM-DD', { profile: { birthdate: '12/03/1990' } }, 'profile.birthdate'],
      ['a 51-character gender', { profile: { gender: long(51) } }, 'profile.gender'],
      ['a number as nickname', { profile: { nickname: 5 } }, 'profile.nickname'],
      ['a middle name with a control character', { profile: { middleName: 'a\u0007b' } }, 'profile.middleName'],
      ['an unknown claim', { profile: { shoeSize: '42' } }],
      ['an unknown time zone', { profile: { zoneinfo: 'Mars/Olympus' } }, 'profile.zoneinfo'],
      ['deviceVerification as a string', { deviceVerification: 'on' }, 'deviceVerification'],
      ['a blank name', { name: '  ' }, 'name'],
    ],
    setUserPhone: [
      ['no number', {}, 'number'],
      ['a number as a number', { number: 41791234567 }, 'number'],
      ['a 33-character number', { number: `+41 ${'7'.repeat(29)}` }, 'number'],
      ['primary as a string', { number: '+41 79 123 45 67', primary: 'yes' }, 'primary'],
      ['an unknown field', { number: '+41 79 123 45 67', verified: true }],
    ],
    setUserRole: [
      ['an unknown role', { role: 'root' }, 'role'],
      ['the role in an array', { role: ['admin'] }, 'role'],
      ['no role', {}, 'role'],
    ],
    renameDevice: [
      ['a blank name', { name: '   ' }, 'name'],
      ['a 65-character name', { name: long(65) }, 'name'],
      ['a number as name', { name: 5 }, 'name'],
    ],
    flagDevice: [
      ['a 41-character flag', { flag: long(41) }, 'flag'],
      ['a null flag', { flag: null }, 'flag'],
      ['an empty flag', { flag: '' }, 'flag'],
    ],
    createOrganisation: [
      ['an empty name', { name: '' }, 'name'],
      ['a 201-character name', { name: long(201) }, 'name'],
      ['a number as name', { name: 7 }, 'name'],
    ],
    renameOrganisation: [
      ['a blank name', { name: ' ' }, 'name'],
      ['a 201-character name', { name: long(201) }, 'name'],
    ],
    setOrganisationMember: [
      ['admin as a string', { admin: 'yes' }, 'admin'],
      ['no admin', {}, 'admin'],
    ],
    createWebhook: [
      ['no url', { types: ['admin.action'] }, 'url'],
      ['no types', { url: 'https://hooks.example.com/x' }, 'types'],
      ['an unknown event type', { url: 'https://hooks.example.com/x', types: ['everything'] }, 'types.0'],
      ['types as a string', { url: 'https://hooks.example.com/x', types: 'admin.action' }, 'types'],
      ['a number as url', { url: 5, types: ['admin.action'] }, 'url'],
      ['enabled as a string', { url: 'https://hooks.example.com/x', types: ['admin.action'], enabled: 'yes' }, 'enabled'],
    ],
    updateWebhook: [
      ['nothing to change', {}],
      ['an unknown event type', { types: ['everything'] }, 'types.0'],
      ['a number as description', { description: 5 }, 'description'],
    ],
  };
  const BAD_QUERIES: Record<string, string[]> = {
    searchUsers: ['limit=0', 'limit=101', 'limit=abc', 'limit=1e1', 'limit=-1', 'limit=', 'limit=5&limit=6', `q=${long(201)}`, 'q=a&q=b', `cursor=${long(513)}`],
    queryAuditEvents: ['limit=0', 'limit=201', 'from=yesterday', 'from=2025-13-01', 'to=2025-02-30T00:00:00Z', 'outcome=maybe',
      `type=${long(101)}`, 'type=admin;drop', 'from=2025-02-01&to=2025-01-01', `accountId=${long(129)}`],
    exportAuditEvents: ['limit=10', 'cursor=abc', 'from=garbage', 'outcome=unknown', 'type=a%20b'],
  };

  describe('every route refuses', () => {
    let before: string;
    it('(the matrix covers every route of the table)', async () => {
      assert.deepEqual(Object.keys(cases).sort(), ROUTES.map((r) => r.operationId).sort());
      for (const r of ROUTES.filter((x) => x.body)) assert.ok(BAD_BODIES[r.operationId], `bad bodies for ${r.operationId}`);
      before = await snapshot();
    });

    it('a request without a token: 401 missing_token with a Bearer challenge', async () => {
      for (const r of ROUTES) {
        const c = cases[r.operationId]!;
        const res = await call(r.method, c.path, { token: null, body: c.body });
        assertError(res, 401, 'missing_token', r.operationId);
        assert.match(res.headers['www-authenticate'] ?? '', /^Bearer realm="[^"]+"$/, r.operationId);
      }
    });

    it('an unknown, malformed or non-bearer token: 401 invalid_token', async () => {
      for (const r of ROUTES) {
        const c = cases[r.operationId]!;
        for (const auth of ['Bearer not-a-real-token', 'Bearer ', `Bearer ${bot}x`, 'Basic b3BzLWJvdDpzZWNyZXQ=', `Bearer ${long(600)}`, 'Bearer a b']) {
          const res = await call(r.method, c.path, { auth, body: c.body });
          assertError(res, 401, 'invalid_token', `${r.operationId} with "${auth.slice(0, 20)}"`);
          assert.match(res.headers['www-authenticate'] ?? '', /error="invalid_token"/);
        }
      }
    });

    it('a token without the admin scope, or of a client never granted the admin API: 403 insufficient_scope', async () => {
      for (const r of ROUTES) {
        const c = cases[r.operationId]!;
        for (const token of [plain, botWithoutScope]) {
          const res = await call(r.method, c.path, { token, body: c.body });
          assertError(res, 403, 'insufficient_scope', r.operationId);
          assert.match(res.headers['www-authenticate'] ?? '', /error="insufficient_scope", scope="admin"/);
        }
      }
    });

    it('unknown query parameters and over-long ids: 400 invalid_request with details', async () => {
      for (const r of ROUTES) {
        const c = cases[r.operationId]!;
        const res = await call(r.method, `${c.path}?bogus=1`, { body: c.body });
        assertError(res, 400, 'invalid_request', `${r.operationId}?bogus`);
        assert.ok(res.body.details.some((d: { message: string }) => d.message.includes('bogus')), JSON.stringify(res.body));
        if (!r.params) continue;
        for (const name of Object.keys(r.params.shape)) {
          const path = r.path.replace(/\{(\w+)\}/g, (_m, p: string) => (p === name ? long(129) : encodeURIComponent(c.path.split('/')[r.path.split('/').indexOf(`{${p}}`)]!)));
          const bad = await call(r.method, path, { body: c.body });
          assertError(bad, 400, 'invalid_request', `${r.operationId} with a long ${name}`);
          assert.deepEqual(bad.body.details.map((d: { path: string }) => d.path), [name]);
        }
      }
    });

    it('bad query values: 400 invalid_request naming the parameter', async () => {
      for (const [operationId, queries] of Object.entries(BAD_QUERIES)) {
        for (const query of queries) {
          const res = await call('GET', `${cases[operationId]!.path}?${query}`);
          assertError(res, 400, 'invalid_request', `${operationId}?${query.slice(0, 40)}`);
          assert.ok(Array.isArray(res.body.details) && res.body.details.length > 0);
        }
      }
    });

    it('malformed JSON (400 invalid_json), another content type (415), a body over 64 KiB (413), a missing or non-object body (400)', async () => {
      for (const r of ROUTES.filter((x) => x.body)) {
        const c = cases[r.operationId]!;
        const id = r.operationId;
        assertError(await call(r.method, c.path, { raw: '{"name": ' }), 400, 'invalid_json', `${id} truncated JSON`);
        assertError(await call(r.method, c.path, { raw: "{'name': 'x'}" }), 400, 'invalid_json', `${id} single quotes`);
        assertError(await call(r.method, c.path, { raw: '"just a string"' }), 400, 'invalid_json', `${id} a JSON string`);
        assertError(await call(r.method, c.path, { raw: 'null' }), 400, 'invalid_json', `${id} null`);
        assertError(await call(r.method, c.path, { raw: '{"a":1}{"b":2}' }), 400, 'invalid_json', `${id} two objects`);
        assertError(await call(r.method, c.path, { raw: JSON.stringify(c.body), type: 'text/plain' }), 415, 'unsupported_media_type', `${id} text/plain`);
        assertError(await call(r.method, c.path, { raw: 'name=x', type: 'application/x-www-form-urlencoded' }), 415, 'unsupported_media_type', `${id} form`);
        assertError(await call(r.method, c.path, { raw: JSON.stringify(c.body), type: 'application/json; charset=utf-16' }), 415, 'unsupported_media_type', `${id} UTF-16`);
        // 64 KiB, or the route's own limit (an uploaded logo: 160 KB)
        const over = r.bodyLimit ? 170_000 : 70_000;
        assertError(await call(r.method, c.path, { raw: JSON.stringify({ ...(c.body as object), padding: long(over) }) }), 413, 'too_large', `${id} ${over / 1000} KB`);
        assertError(await call(r.method, c.path), 400, 'invalid_request', `${id} without a body`);
        assertError(await call(r.method, c.path, { raw: '[]' }), 400, 'invalid_request', `${id} an array`);
        const extra = await call(r.method, c.path, { body: { ...(c.body as object), unexpected: true } });
        assertError(extra, 400, 'invalid_request', `${id} with an unknown field`);
        assert.match(extra.body.error_description, /unexpected/);
        // prototype pollution: refused by the JSON parser itself (invalid_json) or as an unknown field
        const proto = await call(r.method, c.path, { raw: `{${JSON.stringify(c.body).slice(1, -1)},"__proto__":{"admin":true}}` });
        assert.equal(proto.status, 400, `${id} with __proto__`);
        assert.ok(['invalid_json', 'invalid_request'].includes(proto.body.error));
      }
    });

    it('wrong types, over-long fields and unsafe redirect URIs: 400 invalid_request naming the field', async () => {
      for (const [operationId, bodies] of Object.entries(BAD_BODIES)) {
        const r = ROUTES.find((x) => x.operationId === operationId)!;
        for (const [why, body, field] of bodies) {
          const res = await call(r.method, cases[operationId]!.path, { raw: JSON.stringify(body) });
          assertError(res, 400, 'invalid_request', `${operationId}: ${why}`);
          if (field) assert.ok(res.body.details.some((d: { path: string }) => d.path === field), `${operationId}: ${why}: ${JSON.stringify(res.body.details)}`);
        }
      }
    });

    it('a body where none is taken: 400', async () => {
      for (const r of ROUTES.filter((x) => !x.body && x.method !== 'get')) {
        const res = await call(r.method, cases[r.operationId]!.path, { body: { surprise: 1 } });
        assertError(res, 400, 'invalid_request', r.operationId);
        const text = await call(r.method, cases[r.operationId]!.path, { raw: 'hello', type: 'text/plain' });
        assertError(text, 400, 'invalid_request', r.operationId);
      }
    });

    it('…and none of it changed anything (not even the audit log)', async () => {
      assert.equal(await snapshot(), before);
    });

    it('unknown ids: 404 not_found, and nothing changed', async () => {
      const entities = async () => { await t.services.audit.flush(); return JSON.stringify([await t.services.clients.list(), await t.services.accounts.search({ limit: 100 }), await t.services.organisations.list(), await t.services.devices.listFor(target.id)]); };
      const was = await entities();
      for (const r of ROUTES.filter((x) => x.params)) {
        const c = cases[r.operationId]!;
        assert.ok(c.missing?.length, r.operationId);
        for (const path of c.missing!) assertError(await call(r.method, path, { body: c.body }), 404, 'not_found', `${r.operationId} ${path}`);
      }
      assert.equal(await entities(), was);
    });
  });

  describe('unknown routes and methods', () => {
    it('answers 404 not_found as JSON under /admin/api', async () => {
      for (const path of ['/nothing-here', '/clients/a/b/c', '/audit-events/123']) assertError(await call('GET', path), 404, 'not_found', path);
      const outside = await request(t.issuer).get('/admin/api/v2/clients');
      seen.push({ what: 'GET /admin/api/v2/clients', status: outside.status });
      assertError(outside, 404, 'not_found', 'v2');
    });

    it('refuses odd ids in paths (control characters, slashes, bad encodings) with 400 or 404, never 500', async () => {
      for (const path of ['/clients/%00', '/clients/a%2Fb', '/users/..%2F..%2Fetc', '/devices/%E0%A4%A', '/devices/%ZZ', '/organisations/%F0%9F%98%80']) {
        assertError(await call('GET', path), 400, 'invalid_request', path);
      }
      assertError(await call('DELETE', `/devices/${deviceId}/flags/%3Cscript%3E`), 400, 'invalid_request', 'a flag with <>');
    });

    it('answers 405 method_not_allowed with Allow for a wrong method, and OPTIONS with Allow', async () => {
      const res = await call('PUT', '/clients');
      assertError(res, 405, 'method_not_allowed', 'PUT /clients');
      assert.deepEqual(res.headers.allow?.split(', ').sort(), ['GET', 'HEAD', 'POST']);
      const del = await call('DELETE', '/audit-events');
      assertError(del, 405, 'method_not_allowed', 'DELETE /audit-events (events are never deleted)');
      assertError(await call('PATCH', '/audit-events/export'), 405, 'method_not_allowed', 'PATCH export');
      const options = await call('OPTIONS', '/clients/x', { token: null });
      assert.equal(options.status, 204);
      assert.deepEqual(options.headers.allow?.split(', ').sort(), ['DELETE', 'GET', 'HEAD', 'PATCH']);
    });

    it('serves the OpenAPI document without a token', async () => {
      const res = await call('GET', '/openapi.json', { token: null });
      assert.equal(res.status, 200);
      assert.equal(res.body.openapi, '3.1.0');
    });
  });

  describe('clients', () => {
    let secret: string;
    it('creates a confidential client and shows its secret once', async () => {
      const res = await call('POST', '/clients', { body: { clientId: 'api-rp', name: 'API RP', redirectUris: ['https://rp.example/cb', 'http://127.0.0.1:8080/cb'], grants: ['refresh_token'], minimumAcr: 'urn:tessera:acr:mfa' } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.headers['cache-control'], 'no-store');
      const body = s.ClientCreatedResponse.parse(res.body);
      assert.equal(body.client.clientId, 'api-rp');
      assert.deepEqual(body.client.grantTypes.sort(), ['authorization_code', 'refresh_token']);
      assert.equal(body.client.minimumAcr, 'urn:tessera:acr:mfa');
      assert.ok(body.clientSecret && body.clientSecret.length >= 32);
      secret = body.clientSecret;
      assert.equal((await t.services.clients.find('api-rp'))?.clientSecret, secret);
    });

    it('never shows the secret again: get and list', async () => {
      const got = await call('GET', '/clients/api-rp');
      assert.equal(got.status, 200);
      assert.equal(s.ClientResponse.parse(got.body).client.name, 'API RP');
      assert.doesNotMatch(JSON.stringify(got.body), new RegExp(secret));
      assert.equal(got.body.client.clientSecret, undefined);
      const list = await call('GET', '/clients');
      assert.equal(list.status, 200);
      const ids = s.ClientsResponse.parse(list.body).clients.map((c) => c.clientId);
      for (const id of ['api-rp', 'ops-bot', 'plain-bot', 'fixture-rp']) assert.ok(ids.includes(id), id);
      assert.doesNotMatch(JSON.stringify(list.body), /clientSecret|"client_secret"/);
      assert.equal(list.body.clients.find((c: { clientId: string }) => c.clientId === 'ops-bot').adminApi, true);
    });

    it('refuses to create a client with the id of a first-party client (the console\'s, the account area\'s)', async () => {
      for (const clientId of [ADMIN_CLIENT, 'tessera-account']) {
        const res = await call('POST', '/clients', { body: { clientId, redirectUris: ['https://evil.example/cb'], skipConsent: true } });
        assert.ok(res.status === 400 || res.status === 409, `${clientId}: ${res.status} ${JSON.stringify(res.body)}`);
        assert.ok(!(await t.services.clients.find(clientId))?.redirectUris.includes('https://evil.example/cb'), clientId);
      }
    });

    it('creates a public client without a secret', async () => {
      const res = await call('POST', '/clients', { body: { clientId: 'api-spa', redirectUris: ['https://spa.example/cb'], tokenEndpointAuthMethod: 'none' } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.clientSecret, undefined);
      assert.equal(res.body.client.authMethod, 'none');
    });

    it('refuses a taken client id: 409 client_exists', async () => {
      assertError(await call('POST', '/clients', { body: { clientId: 'api-rp', redirectUris: ['https://other.example/cb'] } }), 409, 'client_exists');
      assert.deepEqual((await t.services.clients.find('api-rp'))?.redirectUris, ['https://rp.example/cb', 'http://127.0.0.1:8080/cb']);
    });

    it('edits a client (and null clears an optional field); a bad edit changes nothing', async () => {
      const res = await call('PATCH', '/clients/api-rp', { body: { name: 'Renamed RP', redirectUris: ['https://rp.example/new'], minimumAcr: null, skipConsent: true } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const { client } = s.ClientResponse.parse(res.body);
      assert.equal(client.name, 'Renamed RP');
      assert.deepEqual(client.redirectUris, ['https://rp.example/new']);
      assert.equal(client.minimumAcr, undefined);
      assert.equal(client.skipConsent, true);
      assertError(await call('PATCH', '/clients/api-rp', { body: { redirectUris: ['javascript:alert(document.cookie)'] } }), 400, 'invalid_request');
      assert.deepEqual((await t.services.clients.find('api-rp'))?.redirectUris, ['https://rp.example/new']);
    });

    it('rotates the secret: the new one is shown once, the old one works for the grace period (Tessera\'s clock)', async () => {
      const created = await call('POST', '/clients', { body: { clientId: 'api-worker', redirectUris: [], grants: ['client_credentials'] } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const old = created.body.clientSecret as string;
      assert.equal((await tokenFor('api-worker', old)).status, 200);
      const rotated = await call('POST', '/clients/api-worker/secret');
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      const body = s.SecretRotatedResponse.parse(rotated.body);
      assert.notEqual(body.clientSecret, old);
      const grace = t.config.clients.secretGraceHours * HOUR;
      assert.equal(Date.parse(body.previousSecretValidUntil!), Math.floor((now + grace) / 1000) * 1000);
      assert.equal((await tokenFor('api-worker', old)).status, 200, 'the old secret during the grace period');
      assert.equal((await tokenFor('api-worker', body.clientSecret)).status, 200, 'the new secret');
      now += grace + 1000;
      assert.equal((await tokenFor('api-worker', old)).status, 401, 'the old secret after the grace period');
      assert.equal((await tokenFor('api-worker', body.clientSecret)).status, 200, 'the new secret after the grace period');
      const got = await call('GET', '/clients/api-worker');
      assert.equal(got.body.client.previousSecretValidUntil, undefined);
    });

    it('refuses to rotate a public client\'s (absent) secret: 400', async () => {
      const res = await call('POST', '/clients/api-spa/secret');
      assert.equal(res.status, 400, JSON.stringify(res.body));
    });

    it('deletes a client (204); it is gone, and its admin token stops working', async () => {
      const secret2 = await machineClient('doomed-bot', true);
      const doomed = (await tokenFor('doomed-bot', secret2, 'admin')).body.access_token as string;
      assert.equal((await call('GET', '/clients', { token: doomed })).status, 200);
      const res = await call('DELETE', '/clients/doomed-bot');
      assert.equal(res.status, 204);
      assert.equal(res.text, '');
      assertError(await call('GET', '/clients/doomed-bot'), 404, 'not_found');
      assertError(await call('DELETE', '/clients/doomed-bot'), 404, 'not_found');
      assertError(await call('GET', '/clients', { token: doomed }), 401, 'invalid_token');
    });
  });

  describe('users', () => {
    let created: string;
    it('creates a user with a password (ready) and one without (invited by email)', async () => {
      const res = await call('POST', '/users', { body: { email: 'ready@example.com', name: 'Ready Person', password: 'Correct#Horse1', role: 'user' } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const body = s.UserCreatedResponse.parse(res.body);
      assert.equal(body.invited, false);
      assert.equal(body.user.email, 'ready@example.com');
      created = body.user.id;
      const invited = await call('POST', '/users', { body: { email: 'invited@example.com' } });
      assert.equal(invited.status, 201, JSON.stringify(invited.body));
      assert.equal(invited.body.invited, true);
      for (let i = 0; i < 40 && !t.services.outbox.list().some((m) => m.to === 'invited@example.com'); i++) await sleep(50);
      assert.ok(t.services.outbox.list().some((m) => m.to === 'invited@example.com'), 'an invitation email');
    });

    it('refuses a taken email: 409 email_taken', async () => {
      assertError(await call('POST', '/users', { body: { email: 'Ready@Example.com', password: 'Correct#Horse1' } }), 409, 'email_taken');
    });

    it('searches by email or name with cursor paging', async () => {
      for (const n of ['a', 'b', 'c']) await createUser(t, { email: `pager-${n}@example.com`, name: `Pager ${n.toUpperCase()}` });
      const first = await call('GET', '/users?q=pager-&limit=2');
      assert.equal(first.status, 200);
      const page1 = s.UsersResponse.parse(first.body);
      assert.deepEqual(page1.users.map((u) => u.email), ['pager-a@example.com', 'pager-b@example.com']);
      assert.ok(page1.next);
      const second = s.UsersResponse.parse((await call('GET', `/users?q=pager-&limit=2&cursor=${encodeURIComponent(page1.next!)}`)).body);
      assert.deepEqual(second.users.map((u) => u.email), ['pager-c@example.com']);
      assert.equal(second.next, undefined);
      const byName = s.UsersResponse.parse((await call('GET', '/users?q=tess%20TARGET')).body);
      assert.deepEqual(byName.users.map((u) => u.id), [target.id]);
      assertError(await call('GET', `/users?cursor=${encodeURIComponent('not a cursor!')}`), 400, 'invalid_cursor');
    });

    it('gets a user', async () => {
      const res = await call('GET', `/users/${created}`);
      assert.equal(res.status, 200);
      const { user } = s.UserResponse.parse(res.body);
      assert.equal(user.name, 'Ready Person');
      assert.ok(!Number.isNaN(Date.parse(user.createdAt)));
    });

    it('disables, enables, locks, unlocks, resets MFA and forces a password reset', async () => {
      const act = async (action: string) => {
        const res = await call('POST', `/users/${created}/${action}`);
        assert.equal(res.status, 200, `${action}: ${JSON.stringify(res.body)}`);
        return s.UserResponse.parse(res.body).user;
      };
      assert.equal((await act('disable')).disabled, true);
      assert.equal((await t.services.accounts.findById(created))?.disabled, true);
      assert.equal((await act('enable')).disabled, false);
      assert.equal((await act('lock')).locked, true);
      assert.equal((await act('unlock')).locked, false);
      await act('reset-mfa');
      assert.equal((await act('reset-password')).passwordResetRequired, true);
    });

    it('sets the role', async () => {
      const res = await call('PUT', `/users/${created}/role`, { body: { role: 'admin' } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.user.role, 'admin');
      const back = await call('PUT', `/users/${created}/role`, { body: { role: 'user' } });
      assert.equal(back.body.user.role, 'user');
    });
  });

  describe('devices', () => {
    it('lists a user\'s devices and gets one, with its history', async () => {
      const list = await call('GET', `/users/${target.id}/devices`);
      assert.equal(list.status, 200, JSON.stringify(list.body));
      const { devices } = s.DevicesResponse.parse(list.body);
      assert.deepEqual(devices.map((d) => d.id), [deviceId]);
      const got = s.DeviceResponse.parse((await call('GET', `/devices/${deviceId}`)).body);
      assert.equal(got.device.state, 'ACTIVE');
      assert.equal(got.device.lastIp, '203.0.113.7');
      assert.equal(got.device.history[0]?.to, 'ACTIVE');
    });

    it('renames and flags a device, with the client in its history', async () => {
      const renamed = await call('PATCH', `/devices/${deviceId}`, { body: { name: 'Work laptop' } });
      assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
      assert.equal(renamed.body.device.name, 'Work laptop');
      assert.equal(renamed.body.device.history.at(-1).actor, 'ops-bot');
      const flagged = await call('POST', `/devices/${deviceId}/flags`, { body: { flag: 'lost / stolen' } });
      assert.equal(flagged.status, 200, JSON.stringify(flagged.body));
      assert.deepEqual(flagged.body.device.flags, ['lost / stolen']);
      const unflagged = await call('DELETE', `/devices/${deviceId}/flags/${encodeURIComponent('lost / stolen')}`);
      assert.equal(unflagged.status, 200, JSON.stringify(unflagged.body));
      assert.deepEqual(unflagged.body.device.flags, []);
      assert.equal((await t.services.devices.byId(deviceId))?.name, 'Work laptop');
    });

    it('unblocks only a blocked device (400 otherwise) and removes a device for good', async () => {
      assert.equal((await call('POST', `/devices/${deviceId}/unblock`)).status, 400);
      for (let i = 0; i < 20 && (await t.services.devices.byId(deviceId))?.state !== 'BLOCKED'; i++) await t.services.devices.recordFailure(deviceId, 'wrong password');
      assert.equal((await t.services.devices.byId(deviceId))?.state, 'BLOCKED');
      const unblocked = await call('POST', `/devices/${deviceId}/unblock`);
      assert.equal(unblocked.status, 200, JSON.stringify(unblocked.body));
      assert.equal(unblocked.body.device.state, 'ACTIVE');
      const removed = await call('POST', `/devices/${deviceId}/remove`);
      assert.equal(removed.status, 200, JSON.stringify(removed.body));
      assert.equal(removed.body.device.state, 'REMOVED');
      assert.equal((await call('POST', `/devices/${deviceId}/remove`)).status, 400);
    });
  });

  describe('organisations', () => {
    let id: string;
    it('creates, lists, gets and renames an organisation', async () => {
      const res = await call('POST', '/organisations', { body: { name: 'Acme' } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      id = s.OrganisationResponse.parse(res.body).organisation.id;
      const list = s.OrganisationsResponse.parse((await call('GET', '/organisations')).body);
      assert.deepEqual(list.organisations.map((o) => o.name).sort(), ['Acme', 'Fixture Org']);
      assert.equal((await call('GET', `/organisations/${id}`)).body.organisation.name, 'Acme');
      const renamed = await call('PATCH', `/organisations/${id}`, { body: { name: 'Acme Ltd' } });
      assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
      assert.equal(renamed.body.organisation.name, 'Acme Ltd');
    });

    it('adds a member as organisation admin, and removes them', async () => {
      const added = await call('PUT', `/organisations/${id}/members/${target.id}`, { body: { admin: true } });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      assert.deepEqual(added.body.organisation.members, [target.id]);
      assert.deepEqual(added.body.organisation.admins, [target.id]);
      const removed = await call('DELETE', `/organisations/${id}/members/${target.id}`);
      assert.equal(removed.status, 200, JSON.stringify(removed.body));
      assert.deepEqual(removed.body.organisation.members, []);
      assert.deepEqual(removed.body.organisation.admins, []);
    });
  });

  describe('the audit log', () => {
    const ADMIN_TYPES = [
      'admin.client.created', 'admin.client.updated', 'admin.client.secret_rotated', 'admin.client.deleted',
      'admin.user.created', 'admin.user.disabled', 'admin.user.enabled', 'admin.user.locked', 'admin.user.unlocked',
      'admin.user.mfa_reset', 'admin.user.password_reset', 'admin.user.role_set',
      'admin.organisation.created', 'admin.organisation.renamed', 'admin.organisation.member_set', 'admin.organisation.member_removed',
    ];

    it('has an entry for every admin action, with the client as actor and its IP', async () => {
      for (const type of ADMIN_TYPES) {
        const events = (await auditEvents(type)).filter((e) => e.outcome === 'success');
        assert.ok(events.length > 0, `a ${type} event`);
        for (const e of events) {
          assert.deepEqual({ type: e.actor.type, id: e.actor.id, label: e.actor.label }, { type: 'client', id: 'ops-bot', label: 'ops-bot' }, type);
          assert.ok(e.ip, `${type} has the IP`);
        }
      }
      for (const type of ['device.renamed', 'device.flagged', 'device.unblocked', 'device.removed']) {
        const events = await auditEvents(type, (e) => e.subject?.id === deviceId);
        assert.ok(events.length > 0, `a ${type} event`);
        assert.ok(events.some((e) => e.actor.type === 'client' && e.actor.id === 'ops-bot'), `${type} by the client: ${JSON.stringify(events.map((e) => e.actor))}`);
      }
      // refused actions are audited as failures
      const failed = await auditEvents('admin.client.created', (e) => (e as { outcome?: string }).outcome === 'failure');
      assert.ok(failed.length > 0, 'the refused duplicate client');
    });

    it('queries by type family, outcome and account, with cursor paging (newest first)', async () => {
      const page1 = await call('GET', '/audit-events?type=admin.*&limit=3');
      assert.equal(page1.status, 200, JSON.stringify(page1.body));
      const first = s.AuditEventsResponse.parse(page1.body);
      assert.equal(first.events.length, 3);
      assert.ok(first.events.every((e) => e.type.startsWith('admin.')));
      assert.ok(first.next);
      const second = s.AuditEventsResponse.parse((await call('GET', `/audit-events?type=admin.&limit=3&cursor=${encodeURIComponent(first.next!)}`)).body);
      assert.equal(second.events.length, 3);
      const ids = [...first.events, ...second.events].map((e) => e.id);
      assert.equal(new Set(ids).size, 6);
      assert.deepEqual(ids, [...ids].sort().reverse(), 'newest first');
      const failures = s.AuditEventsResponse.parse((await call('GET', '/audit-events?outcome=failure&limit=200')).body);
      assert.ok(failures.events.length > 0 && failures.events.every((e) => e.outcome === 'failure'));
      const mine = s.AuditEventsResponse.parse((await call('GET', `/audit-events?accountId=${target.id}&limit=200`)).body);
      assert.ok(mine.events.length > 0 && mine.events.every((e) => e.accountId === target.id));
      const future = s.AuditEventsResponse.parse((await call('GET', `/audit-events?from=${new Date(now + 48 * HOUR).toISOString()}`)).body);
      assert.deepEqual(future.events, []);
      const dated = s.AuditEventsResponse.parse((await call('GET', '/audit-events?from=2000-01-01&to=2999-12-31&limit=5')).body);
      assert.equal(dated.events.length, 5);
    });

    it('exports CSV as an attachment', async () => {
      const res = await call('GET', '/audit-events/export?type=admin.organisation.');
      assert.equal(res.status, 200);
      assert.match(res.headers['content-type'] ?? '', /^text\/csv; charset=utf-8/);
      assert.match(res.headers['content-disposition'] ?? '', /^attachment; filename="[^"]+\.csv"/);
      assert.equal(res.headers['cache-control'], 'no-store');
      const lines = res.text.trim().split('\n');
      assert.ok(lines.length >= 5, res.text);
      assert.match(lines.slice(1).join('\n'), /admin\.organisation\.created/);
      assert.doesNotMatch(lines.slice(1).join('\n'), /admin\.client\./);
    });
  });

  describe('an admin\'s own token (issued to the console client)', () => {
    let admin: TestUser;
    let someone: TestUser;

    /** A user access token as the console's sign-in would get it: a grant and a token for the client. */
    async function userToken(accountId: string, { clientId = ADMIN_CLIENT, scope = 'openid admin', expiresIn }: { clientId?: string; scope?: string; expiresIn?: number } = {}) {
      const { provider } = t.services;
      const client = (await provider.Client.find(clientId))!;
      const grant = new provider.Grant({ accountId, clientId });
      grant.addOIDCScope(scope);
      const grantId = await grant.save();
      const token = new provider.AccessToken({ client, accountId, grantId, gty: 'authorization_code', scope, ...(expiresIn ? { expiresIn } : {}) });
      return { token: await token.save(), grantId };
    }

    before(async () => {
      if (!(await t.services.clients.find(ADMIN_CLIENT))) {
        await t.services.clients.create({ clientId: ADMIN_CLIENT, name: 'Tessera admin console', redirectUris: [`${t.issuer}/admin/callback`], skipConsent: true });
      }
      admin = await createUser(t, { email: 'the-admin@example.com' });
      await t.services.accounts.setRole(admin.id, 'admin');
      someone = await createUser(t, { email: 'someone@example.com' });
    });

    it('works for an active admin, who is then the actor in the audit log', async () => {
      const { token } = await userToken(admin.id);
      assert.equal((await call('GET', '/clients', { token })).status, 200);
      const res = await call('POST', '/organisations', { token, body: { name: 'Made by a person' } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const [event] = await auditEvents('admin.organisation.created', (e) => e.subject?.id === res.body.organisation.id || (e as { details?: { id?: string } }).details?.id === res.body.organisation.id);
      assert.deepEqual(event && { type: event.actor.type, id: event.actor.id, label: event.actor.label }, { type: 'admin', id: admin.id, label: 'the-admin@example.com' });
    });

    it('403 insufficient_role for a non-admin and for a disabled admin', async () => {
      assertError(await call('GET', '/clients', { token: (await userToken(someone.id)).token }), 403, 'insufficient_role');
      const { token } = await userToken(admin.id);
      await t.services.accounts.setDisabledById(admin.id, true);
      assertError(await call('GET', '/clients', { token }), 403, 'insufficient_role');
      await t.services.accounts.setDisabledById(admin.id, false);
      assert.equal((await call('GET', '/clients', { token })).status, 200);
    });

    it('403 insufficient_scope without the admin scope, or for a token issued to another client', async () => {
      assertError(await call('GET', '/clients', { token: (await userToken(admin.id, { scope: 'openid' })).token }), 403, 'insufficient_scope');
      assertError(await call('GET', '/clients', { token: (await userToken(admin.id, { clientId: 'fixture-rp' })).token }), 403, 'insufficient_scope');
    });

    it('401 invalid_token once the token expired or its grant was revoked', async () => {
      const short = await userToken(admin.id, { expiresIn: 1 });
      await sleep(1100);
      assertError(await call('GET', '/clients', { token: short.token }), 401, 'invalid_token');
      const revoked = await userToken(admin.id);
      assert.equal((await call('GET', '/clients', { token: revoked.token })).status, 200);
      await t.services.provider.Grant.adapter.destroy(revoked.grantId);
      assertError(await call('GET', '/clients', { token: revoked.token }), 401, 'invalid_token');
    });
  });

  describe('all along', () => {
    it('never answered 500', () => {
      assert.ok(seen.length > 500, `${seen.length} requests`);
      assert.deepEqual(seen.filter((x) => x.status >= 500), []);
    });
  });
});
