// The keys a private_key_jwt client publishes at its jwks_uri pass the rules a registered JWKS
// passes (src/oidc/client-jwks.ts) before the provider uses them: a real HTTP server on a loopback
// host serves the set, hand-signed client assertions go to the real token endpoint, and a refusal
// is an invalid_client that says why, logged once per fetch.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { REDIRECT_URI } from '../support/flow.ts';
import { MAX_SERVED_JWKS_BYTES } from '../../src/oidc/client-jwks-uri.ts';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
type TokenAnswer = { status: number; body: { access_token?: string; error?: string; error_description?: string } };

/** A client's jwks_uri: a loopback server answering every GET with `jwks`, counting the fetches. */
async function publish(jwks: unknown) {
  const served = { fetches: 0, url: '', close: () => {} };
  const server = http.createServer((_req, res) => {
    served.fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  served.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  served.close = () => server.close();
  return served;
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** RS256 by hand (node:crypto): jose refuses to sign with an RSA key under 2048 bits. */
function rs256Assertion(clientId: string, aud: string, key: KeyObject, kid: string) {
  const now = Math.floor(Date.now() / 1000);
  const input = `${base64url({ alg: 'RS256', kid })}.${base64url({ iss: clientId, sub: clientId, aud, jti: randomUUID(), iat: now, exp: now + 60 })}`;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

function es256Assertion(clientId: string, aud: string, key: PrivateKey, kid: string) {
  return new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid }).setIssuer(clientId).setSubject(clientId).setAudience(aud)
    .setJti(randomUUID()).setIssuedAt().setExpirationTime('60s').sign(key);
}

describe('private_key_jwt with a jwks_uri: the published keys pass the rules of a registered JWKS', function () {
  this.timeout(60_000);
  let t: Tessera;
  let tokenEndpoint: string;
  const lines: string[] = [];

  /** A client_credentials client whose keys are at `jwksUri`. */
  const register = (jwksUri: string) => t.services.clients.create({
    clientId: `rp-${randomBytes(4).toString('hex')}`, redirectUris: [REDIRECT_URI], grants: ['client_credentials'], authMethod: 'private_key_jwt', jwksUri,
  });

  /** A client_credentials token request authenticated by `assertion`. */
  async function token(clientId: string, assertion: string): Promise<TokenAnswer> {
    const res = await fetch(tokenEndpoint, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'client_credentials', client_id: clientId,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion,
      }),
    });
    return { status: res.status, body: await res.json() as TokenAnswer['body'] };
  }

  /** The refusal: invalid_client saying the published keys are not acceptable and why; one log line per fetch. */
  function assertRefused(answer: TokenAnswer, clientId: string, fetches: number, why: RegExp) {
    assert.equal(answer.status, 401, JSON.stringify(answer.body));
    assert.equal(answer.body.error, 'invalid_client');
    assert.match(answer.body.error_description ?? '', /the keys this client publishes at its jwks_uri are not acceptable/);
    assert.match(answer.body.error_description ?? '', why);
    assert.doesNotMatch(answer.body.error_description ?? '', /\n\s+at /, 'no stack trace');
    assert.equal(answer.body.access_token, undefined);
    const logged = lines.filter((line) => line.includes(clientId));
    assert.ok(fetches >= 1, 'the keys were fetched');
    assert.equal(logged.length, fetches, `one line per fetch: ${logged.join(' | ')}`);
    for (const line of logged) assert.match(line, why);
    return logged;
  }

  before(async () => {
    t = await startTessera({ serviceLog: (line) => lines.push(line) });
    tokenEndpoint = (await (await fetch(new URL('/.well-known/openid-configuration', t.issuer))).json() as { token_endpoint: string }).token_endpoint;
  });
  after(() => t?.close());

  it('refuses an assertion signed with a 1024-bit RSA key it publishes: invalid_client, saying the key is too short', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'weak', use: 'sig' };
    const served = await publish({ keys: [jwk] });
    try {
      const client = await register(served.url);
      const answer = await token(client.clientId, rs256Assertion(client.clientId, t.issuer, privateKey, 'weak'));
      const logged = assertRefused(answer, client.clientId, served.fetches, /key "weak" of the JWKS is an RSA key of 1024 bits: use at least 2048/);
      for (const line of logged) assert.ok(!line.includes(String(jwk.n)), 'no key material in the log');
    } finally {
      served.close();
    }
  });

  it('refuses a published JWKS holding a private key (d), even for an assertion that key signed', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const leaked = { ...(await exportJWK(privateKey)), kid: 'leaked', use: 'sig' };
    const served = await publish({ keys: [leaked] });
    try {
      const client = await register(served.url);
      const answer = await token(client.clientId, await es256Assertion(client.clientId, t.issuer, privateKey, 'leaked'));
      const logged = assertRefused(answer, client.clientId, served.fetches, /key "leaked" of the JWKS holds the private member "d"/);
      for (const line of logged) assert.ok(!line.includes(String(leaked.d)), 'no key material in the log');
    } finally {
      served.close();
    }
  });

  it('refuses a published JWKS holding a symmetric (oct) key beside a good one', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const good = { ...(await exportJWK(publicKey)), kid: 'good', use: 'sig' };
    const secret = randomBytes(32).toString('base64url');
    const served = await publish({ keys: [good, { kty: 'oct', k: secret, kid: 'shared' }] });
    try {
      const client = await register(served.url);
      const answer = await token(client.clientId, await es256Assertion(client.clientId, t.issuer, privateKey, 'good'));
      const logged = assertRefused(answer, client.clientId, served.fetches, /key "shared" of the JWKS holds the private member "k"/);
      for (const line of logged) assert.ok(!line.includes(secret), 'no key material in the log');
    } finally {
      served.close();
    }
  });

  it('refuses what the provider alone would pass over (a P-521 key, 11 keys, a set larger than the cap) even beside the signing key', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const good = { ...(await exportJWK(publicKey)), kid: 'good', use: 'sig' };
    const p521 = { ...(await exportJWK((await generateKeyPair('ES512', { extractable: true })).publicKey)), kid: 'p521' };
    const more = Array.from({ length: 10 }, (_, i) => ({ ...good, kid: `copy-${i}` }));
    const cases: [string, unknown, RegExp][] = [
      ['a P-521 key', { keys: [good, p521] }, /key "p521" of the JWKS has the curve "P-521": use P-256 or P-384/],
      ['11 keys', { keys: [good, ...more] }, /the JWKS has 11 keys: at most 10/],
      ['a set larger than the cap', { keys: [good], padding: 'x'.repeat(MAX_SERVED_JWKS_BYTES) }, new RegExp(`the JWKS is larger than ${MAX_SERVED_JWKS_BYTES} bytes`)],
    ];
    for (const [name, jwks, why] of cases) {
      const served = await publish(jwks);
      try {
        const client = await register(served.url);
        const answer = await token(client.clientId, await es256Assertion(client.clientId, t.issuer, privateKey, 'good'));
        assert.equal(answer.status, 401, `${name}: ${JSON.stringify(answer.body)}`);
        assertRefused(answer, client.clientId, served.fetches, why);
      } finally {
        served.close();
      }
    }
  });

  it('takes an assertion signed with a good P-256 key it publishes: a token is issued, nothing is logged', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const served = await publish({ keys: [{ ...(await exportJWK(publicKey)), kid: 'p256', use: 'sig' }] });
    try {
      const client = await register(served.url);
      const answer = await token(client.clientId, await es256Assertion(client.clientId, t.issuer, privateKey, 'p256'));
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.ok(answer.body.access_token);
      assert.ok(served.fetches >= 1, 'the keys were fetched from the jwks_uri');
      assert.deepEqual(lines.filter((line) => line.includes(client.clientId)), []);
    } finally {
      served.close();
    }
  });
});
