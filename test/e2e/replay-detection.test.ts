// One client assertion (RFC 7523) or one DPoP proof (RFC 9449) sent many times at the same moment
// is accepted once: replay detection is one insert that the database's _id index arbitrates
// (provider.ts atomicReplayDetection, adapter.ts recordOnce), on the embedded database as on MongoDB.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, signIn } from '../support/flow.ts';

const COPIES = 20;

/** How many answers had each status, e.g. { 200: 1, 401: 19 }. */
const tally = (statuses: number[]) => statuses.reduce<Record<number, number>>((n, s) => ({ ...n, [s]: (n[s] ?? 0) + 1 }), {});

/** The provider's replay check itself (ReplayDetection.unique), which every client assertion and DPoP proof goes through. */
function replayCheck(tessera: () => Tessera) {
  it(`says "first use" once when the provider's replay check runs ${COPIES} times at once for one jti, and never fails`, async () => {
    // without HTTP in between the copies reach the database together (over HTTP each request's
    // own work staggers them, so the races below are rarer there)
    for (let round = 0; round < 3; round++) {
      const jti = randomUUID();
      const exp = Math.floor(Date.now() / 1000) + 60;
      const answers = await Promise.allSettled(Array.from({ length: COPIES }, () => tessera().services.provider.ReplayDetection.unique('client-1', jti, exp)));
      assert.deepEqual(answers.map((a) => a.status === 'fulfilled' ? a.value : `failed: ${String(a.reason)}`).sort(), [...Array(COPIES - 1).fill(false), true]);
    }
  });

  it('accepts a jti again once its entry has expired, even before the purge removed it', async () => {
    const jti = randomUUID();
    const id = createHash('sha256').update(`client-1${jti}`).digest('base64url');
    await tessera().services.db.connection.collection('oidc_replay_detection').insertOne({ _id: id as never, payload: { iss: 'client-1', jti: id }, expiresAt: new Date(Date.now() - 1000) });
    const exp = Math.floor(Date.now() / 1000) + 60;
    assert.equal(await tessera().services.provider.ReplayDetection.unique('client-1', jti, exp), true);
    assert.equal(await tessera().services.provider.ReplayDetection.unique('client-1', jti, exp), false);
  });
}

describe('replay detection under concurrency: the same proof at once, accepted once', function () {
  this.timeout(60_000);
  let t: Tessera;
  before(async () => { t = await startTessera(); });
  after(() => t?.close());

  replayCheck(() => t);

  it(`accepts one client assertion sent ${COPIES} times at once exactly once; the others are invalid_client`, async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const client = await t.services.clients.create({
      clientId: `machine-${randomBytes(4).toString('hex')}`, redirectUris: [], grants: ['client_credentials'],
      authMethod: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', use: 'sig' }] },
    });
    const assertion = () => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(client.clientId).setSubject(client.clientId)
      .setAudience(t.issuer).setJti(randomUUID()).setIssuedAt().setExpirationTime('60s').sign(privateKey);
    const send = async (clientAssertion: string) => {
      const res = await fetch(new URL('/token', t.issuer), {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials', client_id: client.clientId,
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: clientAssertion,
        }),
      });
      return { status: res.status, body: (await res.json()) as { error?: string; access_token?: string } };
    };
    const one = await assertion();
    const answers = await Promise.all(Array.from({ length: COPIES }, () => send(one)));
    assert.deepEqual(tally(answers.map((a) => a.status)), { 200: 1, 401: COPIES - 1 });
    assert.ok(answers.filter((a) => a.status === 401).every((a) => a.body.error === 'invalid_client'));
  });

  it(`accepts one DPoP proof sent ${COPIES} times at once to the token endpoint exactly once`, async () => {
    const client = await t.services.clients.create({ clientId: `machine-${randomBytes(4).toString('hex')}`, redirectUris: [], grants: ['client_credentials'] });
    const url = new URL('/token', t.issuer).href;
    const key = await generateKeyPair('ES256');
    const proof = async (nonce?: string) => new SignJWT({ htm: 'POST', htu: url, jti: randomUUID(), ...(nonce ? { nonce } : {}) })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(key.publicKey) }).setIssuedAt().sign(key.privateKey);
    const send = async (dpop: string) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { dpop, authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret!}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials' }),
      });
      return { status: res.status, nonce: res.headers.get('dpop-nonce'), body: (await res.json()) as { error?: string; error_description?: string } };
    };
    const first = await send(await proof());
    assert.equal(first.body.error, 'use_dpop_nonce');

    const one = await proof(first.nonce!);
    const answers = await Promise.all(Array.from({ length: COPIES }, () => send(one)));
    assert.deepEqual(tally(answers.map((a) => a.status)), { 200: 1, 400: COPIES - 1 });
    assert.ok(answers.filter((a) => a.status === 400).every((a) => a.body.error === 'invalid_grant' || a.body.error === 'invalid_dpop_proof'), JSON.stringify(answers.map((a) => a.body)));
  });

  it(`accepts one DPoP proof sent ${COPIES} times at once to userinfo exactly once`, async () => {
    const user = await createUser(t);
    const rp = await RelyingParty.register(t);
    const pair = await oidc.randomDPoPKeyPair('ES256');
    const handle = oidc.getDPoPHandle(rp.config, pair);
    const auth = await rp.authorize();
    const callback = await signIn(new UserAgent(), auth.url, user);
    const tokens = await oidc.authorizationCodeGrant(rp.config, new URL(callback), { pkceCodeVerifier: auth.verifier, expectedNonce: auth.nonce, expectedState: auth.state }, undefined, { DPoP: handle });
    const userinfo = rp.config.serverMetadata().userinfo_endpoint!;
    const proof = async (nonce?: string) => new SignJWT({ htm: 'GET', htu: userinfo, jti: randomUUID(), ath: createHash('sha256').update(tokens.access_token).digest('base64url'), ...(nonce ? { nonce } : {}) })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(pair.publicKey) }).setIssuedAt().sign(pair.privateKey);
    const send = async (dpop: string) => {
      const res = await fetch(userinfo, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop } });
      return { status: res.status, nonce: res.headers.get('dpop-nonce'), challenge: res.headers.get('www-authenticate') ?? '' };
    };
    const first = await send(await proof());
    assert.match(first.challenge, /use_dpop_nonce/);

    const one = await proof(first.nonce!);
    const answers = await Promise.all(Array.from({ length: COPIES }, () => send(one)));
    assert.deepEqual(tally(answers.map((a) => a.status)), { 200: 1, 401: COPIES - 1 });
    assert.ok(answers.filter((a) => a.status === 401).every((a) => /error="invalid_token"/.test(a.challenge)), answers.map((a) => a.challenge).join('\n'));
  });
});

describe('replay detection on MongoDB\'s lines (the guarded replacement in the server\'s filter)', function () {
  this.timeout(60_000);
  let t: Tessera;
  before(async () => { t = await startTessera({ testDatabase: { guardsInServer: true } }); });
  after(() => t?.close());
  replayCheck(() => t);
});
