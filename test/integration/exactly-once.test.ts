// Single use under parallel requests (RFC 6749 §4.1.2, §10.4): twenty token requests racing with one
// authorization code redeem it once; twenty racing with one refresh token rotate it at most once.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, signIn, REDIRECT_URI, type TestUser } from '../support/flow.ts';

const PARALLEL = 20;
const ROUNDS = 20;

describe('exactly once under parallel requests', () => {
  let t: Tessera;
  let rp: RelyingParty;
  let user: TestUser;

  before(async () => {
    t = await startTessera();
    rp = await RelyingParty.register(t, { grants: ['refresh_token'], skipConsent: true });
    user = await createUser(t);
  });
  after(() => t.close());

  const tokenRequest = (body: Record<string, string>) => fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${rp.clientId}:${rp.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(body),
  }).then(async (res) => ({ status: res.status, body: await res.json() as Record<string, string> }));

  async function freshCode(scope = 'openid') {
    const auth = await rp.authorize({ scope, ...(scope.includes('offline_access') ? { prompt: 'consent' } : {}) });
    const callback = await signIn(new UserAgent(), auth.url, user);
    return { code: new URL(callback).searchParams.get('code')!, verifier: auth.verifier };
  }

  it(`redeems one authorization code exactly once among ${PARALLEL} parallel requests, ${ROUNDS} rounds in a row`, async function () {
    this.timeout(120_000);
    for (let round = 0; round < ROUNDS; round++) {
      const { code, verifier } = await freshCode();
      const answers = await Promise.all(Array.from({ length: PARALLEL }, () =>
        tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier })));
      const ok = answers.filter((a) => a.status === 200);
      assert.equal(ok.length, 1, `round ${round}: one redemption, got ${ok.length}`);
      assert.ok(answers.every((a) => a.status === 200 || a.body.error === 'invalid_grant'), `round ${round}: the others get invalid_grant`);
    }
  });

  it(`rotates one refresh token at most once among ${PARALLEL} parallel requests, ${ROUNDS} rounds in a row`, async function () {
    this.timeout(120_000);
    let rotations = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const { code, verifier } = await freshCode('openid offline_access');
      const refreshToken = (await tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier })).body.refresh_token!;
      const answers = await Promise.all(Array.from({ length: PARALLEL }, () => tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken })));
      const ok = answers.filter((a) => a.status === 200);
      assert.ok(ok.length <= 1, `round ${round}: at most one rotation, got ${ok.length}`);
      assert.ok(answers.every((a) => a.status === 200 || a.body.error === 'invalid_grant'), `round ${round}: the others get invalid_grant`);
      rotations += ok.length;
    }
    assert.ok(rotations > 0, 'some rounds rotated');
  });
});
