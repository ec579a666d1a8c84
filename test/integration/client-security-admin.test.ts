// Setting a client's security (private_key_jwt keys, PAR, DPoP, the FAPI 2.0 profile) from the
// admin API, the console and the CLI: bad keys (a private key, a repeated kid, not JSON) are refused
// with a sentence beside the field and nothing changes; a private_key_jwt client has no secret.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'otplib';
import request from 'supertest';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { UserAgent, createUser, type TestUser } from '../support/flow.ts';
import { tesseraCli } from '../support/cli.ts';

// RFC 8037 appendix A: an Ed25519 key pair (the public JWK, and the private member d)
const PUBLIC = { kty: 'OKP', crv: 'Ed25519', kid: 'rp-1', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' };
const PRIVATE = { ...PUBLIC, d: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A' };
const OTHER = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }), kid: 'rp-2' };
const FAPI = { requirePushedAuthorizationRequests: true, dpopBoundAccessTokens: true, securityProfile: 'fapi2' };

describe('client security settings in the admin API, the console and the CLI', function () {
  this.timeout(120_000);
  let t: Tessera;
  let offset = 0;
  const now = () => new Date(Date.now() + offset);
  const failures: unknown[] = [];
  const url = (p: string) => `${t.issuer}${p}`;

  before(async () => {
    t = await startTessera({ clock: now, log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
  });
  after(() => t?.close());
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  describe('the admin API', () => {
    let bot: string;
    before(async () => {
      const created = await t.services.clients.create({ clientId: 'sec-bot', redirectUris: [], grants: ['client_credentials'] });
      await t.services.clients.grantAdminApi('sec-bot');
      bot = (await request(t.issuer).post('/token').auth('sec-bot', created.clientSecret!).type('form').send({ grant_type: 'client_credentials', scope: 'admin' })).body.access_token;
    });
    const api = (method: 'get' | 'post' | 'patch', p: string, body?: object) => {
      const req = request(t.issuer)[method](`/admin/api/v1${p}`).set('Authorization', `Bearer ${bot}`);
      return body ? req.send(body) : req;
    };

    it('creates a FAPI 2.0 client with its JWKS (no secret), edits its keys, and refuses to rotate a secret it does not have', async () => {
      const made = await api('post', '/clients', { clientId: 'api-fapi', redirectUris: ['https://rp.example/cb'], tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [PUBLIC] }, ...FAPI });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.clientSecret, undefined);
      assert.deepEqual(made.body.client.jwks, { keys: [PUBLIC] });
      assert.equal(made.body.client.securityProfile, 'fapi2');
      assert.equal(made.body.client.dpopBoundAccessTokens, true);
      assert.equal(made.body.client.requirePushedAuthorizationRequests, true);

      const edited = await api('patch', '/clients/api-fapi', { jwks: { keys: [PUBLIC, OTHER] } });
      assert.equal(edited.status, 200, JSON.stringify(edited.body));
      assert.equal(edited.body.client.jwks.keys.length, 2);

      const rotate = await api('post', '/clients/api-fapi/secret');
      assert.equal(rotate.status, 400);
      assert.match(rotate.body.error_description, /private_key_jwt: it has no secret to rotate; change its keys/);
    });

    it('refuses a private key, a repeated kid and a JWKS that is not JSON, naming the field, and changes nothing', async () => {
      const before = (await api('get', '/clients/api-fapi')).body.client;
      for (const [jwks, words] of [
        [{ keys: [PRIVATE] }, /private member "d": paste only the public key/],
        [{ keys: [PUBLIC, { ...OTHER, kid: 'rp-1' }] }, /two keys of the JWKS have the kid "rp-1"/],
        [{ keys: [{ ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }), kid: 'small' }] }, /is an RSA key of 1024 bits: use at least 2048/],
        ['{"keys": [', /Expected object|object/],
      ] as const) {
        const res = await api('patch', '/clients/api-fapi', { jwks });
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.ok(res.body.details.some((d: { path: string; message: string }) => d.path === 'jwks' && (words as RegExp).test(d.message)), JSON.stringify(res.body.details));
      }
      const notJson = await request(t.issuer).patch('/admin/api/v1/clients/api-fapi').set('Authorization', `Bearer ${bot}`).type('json').send('{"jwks": {"keys": [');
      assert.equal(notJson.status, 400);
      assert.equal(notJson.body.error, 'invalid_json');
      assert.deepEqual((await api('get', '/clients/api-fapi')).body.client, before, 'nothing changed');
    });

    it('refuses a FAPI 2.0 profile without PAR and DPoP, and leaving private_key_jwt while the profile stays, saying what is missing', async () => {
      const res = await api('post', '/clients', { clientId: 'api-half', redirectUris: ['https://rp.example/cb'], tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [PUBLIC] }, securityProfile: 'fapi2' });
      assert.equal(res.status, 400);
      assert.ok(res.body.details.some((d: { path: string; message: string }) => d.path === 'securityProfile' && /needs required pushed authorization requests, DPoP-bound access tokens/.test(d.message)), JSON.stringify(res.body));
      const leave = await api('patch', '/clients/api-fapi', { tokenEndpointAuthMethod: 'client_secret_basic' });
      assert.equal(leave.status, 400);
      assert.match(leave.body.error_description, /FAPI 2\.0 profile needs private_key_jwt authentication/);
      assert.equal((await api('get', '/clients/api-fapi')).body.client.authMethod, 'private_key_jwt');
    });

    it('moves a secret client to private_key_jwt (its secret is gone) and back (a new secret to rotate)', async () => {
      const made = await api('post', '/clients', { clientId: 'api-move', redirectUris: ['https://rp.example/cb'] });
      const secret = made.body.clientSecret as string;
      const moved = await api('patch', '/clients/api-move', { tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: 'https://rp.example/jwks.json', dpopBoundAccessTokens: true });
      assert.equal(moved.status, 200, JSON.stringify(moved.body));
      assert.equal(moved.body.client.jwksUri, 'https://rp.example/jwks.json');
      const oldSecret = await request(t.issuer).post('/token').auth('api-move', secret).type('form').send({ grant_type: 'authorization_code', code: 'x', redirect_uri: 'https://rp.example/cb' });
      assert.equal(oldSecret.body.error, 'invalid_client', 'the old secret no longer works');
      const back = await api('patch', '/clients/api-move', { tokenEndpointAuthMethod: 'client_secret_basic' });
      assert.equal(back.status, 200, JSON.stringify(back.body));
      assert.equal(back.body.client.jwksUri, undefined, 'the keys went with private_key_jwt');
      assert.equal((await api('post', '/clients/api-move/secret')).status, 200);
    });
  });

  describe('the console', () => {
    let admin: TestUser & { secret: string };
    before(async () => {
      const user = await createUser(t, { name: 'Security Admin' });
      await t.services.accounts.setRole(user.id, 'admin');
      const { secret } = await t.services.totp.begin(user.id, user.email);
      assert.ok(await t.services.totp.confirm(user.id, await generate({ secret, epoch: Math.floor(now().getTime() / 30_000) * 30 })));
      admin = { ...user, secret };
    });
    async function signedIn(): Promise<UserAgent> {
      const agent = new UserAgent();
      let page = await agent.visit(url('/admin'));
      page = await agent.submit(page, /\/login$/, { email: admin.email, password: admin.password });
      offset += 30_000;
      page = await agent.submit(page, /\/factor$/, { code: await generate({ secret: admin.secret, epoch: Math.floor(now().getTime() / 30_000) * 30 }) });
      assert.equal(page.status, 200, page.body.slice(0, 300));
      return agent;
    }
    const fields = { redirectUris: 'https://rp.example/cb', pkce: 'required', name: 'Bank app' };

    it('shows a bad JWKS beside its field (not JSON, a private key, a repeated kid), keeps what was typed, and saves nothing', async () => {
      const agent = await signedIn();
      await t.services.clients.create({ clientId: 'console-keys', redirectUris: ['https://rp.example/cb'] });
      const before = await t.services.clients.find('console-keys');
      for (const [jwks, words] of [
        ['{"keys": [', /The JWKS is not valid JSON: paste the whole \{&#34;keys&#34;: \[\.\.\.\]\} object\. Nothing was saved\./],
        [JSON.stringify({ keys: [PRIVATE] }), /holds the private member &#34;d&#34;: paste only the public key \(never the private one\)\. Nothing was saved\./],
        [JSON.stringify({ keys: [PUBLIC, PUBLIC] }), /Two keys of the JWKS have the kid &#34;rp-1&#34;: each key needs its own kid\. Nothing was saved\./],
      ] as const) {
        const page = await agent.visit(url('/admin/clients/console-keys'));
        const res = await agent.submit(page, /\/admin\/clients\/console-keys$/, { ...fields, authMethod: 'private_key_jwt', jwks, requirePushedAuthorizationRequests: 'on' });
        assert.equal(res.status, 400);
        const error = /<p class="error" id="jwks-error">([^<]*)<\/p>/.exec(res.body);
        assert.ok(error, 'the message is beside the JWKS field');
        assert.match(error[1]!, words);
        assert.match(res.body, /<textarea id="jwks" name="jwks"[^>]*aria-describedby="jwks-hint jwks-error" aria-invalid="true"/);
        assert.match(res.body, /<a href="#jwks">Public keys \(JWKS\)<\/a>/, 'the summary links to the field');
        assert.ok(res.body.includes('{&#34;keys&#34;'), 'the typed JWKS is shown again');
      }
      assert.deepEqual(await t.services.clients.find('console-keys'), before, 'nothing saved');
    });

    it('saves private_key_jwt with a pasted JWKS, PAR, DPoP and the FAPI 2.0 profile; the secret is gone and cannot be rotated', async () => {
      const agent = await signedIn();
      let page = await agent.visit(url('/admin/clients/console-keys'));
      const half = await agent.submit(page, /\/admin\/clients\/console-keys$/, { ...fields, authMethod: 'private_key_jwt', jwks: JSON.stringify({ keys: [PUBLIC] }), securityProfile: 'fapi2' });
      assert.equal(half.status, 400);
      assert.match(half.body, /<p class="error" id="securityProfile-error">The FAPI 2\.0 profile needs required pushed authorization requests, DPoP-bound access tokens: turn them on, or choose no security profile\. Nothing was saved\.<\/p>/);

      page = await agent.visit(url('/admin/clients/console-keys'));
      const saved = await agent.submit(page, /\/admin\/clients\/console-keys$/, {
        ...fields, authMethod: 'private_key_jwt', jwks: JSON.stringify({ keys: [PUBLIC] }), requirePushedAuthorizationRequests: 'on', dpopBoundAccessTokens: 'on', securityProfile: 'fapi2',
      }, url('/never'));
      assert.equal(saved.status, 200, saved.body.slice(0, 400));
      const stored = await t.services.clients.find('console-keys');
      assert.equal(stored?.authMethod, 'private_key_jwt');
      assert.equal(stored?.clientSecret, undefined);
      assert.deepEqual(stored?.jwks, { keys: [PUBLIC] });
      assert.equal(stored?.securityProfile, 'fapi2');

      page = await agent.visit(url('/admin/clients/console-keys'));
      assert.match(page.body, /it has no secret\. To rotate, change its JWKS above\./);
      assert.match(page.body, /<option value="fapi2" selected>/);
      assert.doesNotMatch(page.body, /\/rotate"/, 'no rotate link');
      const rotate = await agent.visit(url('/admin/clients/console-keys/rotate'));
      assert.equal(rotate.status, 400);
      assert.match(rotate.body, /no secret to rotate\. Change its JWKS or JWKS URI instead\./);
      const list = await agent.visit(url('/admin/clients'));
      assert.match(list.body, /private_key_jwt, FAPI 2\.0, PAR, DPoP/);
    });

    it('creates a private_key_jwt client with a jwks_uri and says it has no secret', async () => {
      const agent = await signedIn();
      const page = await agent.visit(url('/admin/clients/new'));
      const bad = await agent.submit(page, /\/admin\/clients$/, { ...fields, clientId: 'console-uri', authMethod: 'private_key_jwt', jwksUri: 'http://rp.example/jwks' });
      assert.equal(bad.status, 400);
      assert.match(bad.body, /<p class="error" id="jwksUri-error">JWKS URI http:\/\/rp\.example\/jwks: http is allowed only for loopback hosts/);
      assert.equal(await t.services.clients.find('console-uri'), undefined);
      const made = await agent.submit(page, /\/admin\/clients$/, { ...fields, clientId: 'console-uri', authMethod: 'private_key_jwt', jwksUri: 'https://rp.example/jwks' }, url('/never'));
      assert.equal(made.status, 200, made.body.slice(0, 300));
      assert.match(made.body, /It authenticates with its own keys \(private_key_jwt\): it has no secret\./);
      assert.equal((await t.services.clients.find('console-uri'))?.jwksUri, 'https://rp.example/jwks');
    });
  });

  describe('the CLI', () => {
    let dataDir: string;
    before(() => { dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-cli-sec-')); });
    after(() => rmSync(dataDir, { recursive: true, force: true }));

    it('creates a private_key_jwt client from a JWKS file, then turns on PAR, DPoP and FAPI 2.0; refuses a private key', async () => {
      const file = path.join(dataDir, 'jwks.json');
      writeFileSync(file, JSON.stringify({ keys: [PUBLIC] }));
      const made = await tesseraCli(t, dataDir, 'client', 'create', '--client-id', 'cli-keys', '--redirect-uri', 'https://rp.example/cb', '--auth-method', 'private_key_jwt', '--jwks-file', file, '--json');
      assert.equal(made.code, 0, made.stderr);
      assert.deepEqual(JSON.parse(made.stdout), { client_id: 'cli-keys' }, 'no secret');

      const refused = await tesseraCli(t, dataDir, 'client', 'update', '--client-id', 'cli-keys', '--jwks', JSON.stringify({ keys: [PRIVATE] }));
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /private member "d": paste only the public key/);

      const updated = await tesseraCli(t, dataDir, 'client', 'update', '--client-id', 'cli-keys', '--require-par', 'on', '--dpop', 'on', '--security-profile', 'fapi2');
      assert.equal(updated.code, 0, updated.stderr);
      assert.match(updated.stdout, /updated client cli-keys \(private_key_jwt, FAPI 2\.0, PAR required, DPoP-bound tokens\)/);
      const stored = await t.services.clients.find('cli-keys');
      assert.deepEqual(stored?.jwks, { keys: [PUBLIC] });
      assert.equal(stored?.securityProfile, 'fapi2');
      assert.equal(stored?.requirePushedAuthorizationRequests, true);
      assert.equal(stored?.dpopBoundAccessTokens, true);
    });
  });
});
