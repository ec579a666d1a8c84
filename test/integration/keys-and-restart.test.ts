// Signing keys and data survive a restart, and keys rotate without breaking tokens already issued.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { startTessera, freshDatabaseName } from '../support/tessera.ts';
import { RelyingParty, createUser, signInAndGetTokens } from '../support/flow.ts';

describe('persistence across restarts and key rotation', () => {
  const database = freshDatabaseName('restart');
  const secrets = { cookieKeys: [randomBytes(32).toString('base64url')], encryptionKey: randomBytes(32).toString('base64') };

  it('keeps a refresh token issued before a restart working after it', async () => {
    const first = await startTessera({ database, secrets });
    const user = await createUser(first);
    const rp = await RelyingParty.register(first);
    const { tokens } = await signInAndGetTokens(rp, user, { scope: 'openid offline_access', prompt: 'consent' });
    const port = Number(new URL(first.issuer).port);
    await first.close();

    const second = await startTessera({ database, secrets, port });
    try {
      const again = await RelyingParty.discover(second.issuer, rp.clientId, rp.clientSecret);
      const refreshed = await oidc.refreshTokenGrant(again.config, tokens.refresh_token!);
      assert.equal(refreshed.claims()?.sub, user.id);
      assert.equal(decodeProtectedHeader(refreshed.id_token!).kid, decodeProtectedHeader(tokens.id_token!).kid, 'same signing key after restart');
    } finally {
      await second.close();
    }
  });

  it('rotates the signing key: new tokens use the new key, old tokens still verify until the key is removed', async () => {
    const first = await startTessera({ database, secrets });
    const user = await createUser(first);
    const rp = await RelyingParty.register(first);
    const before = await signInAndGetTokens(rp, user);
    const oldKid = decodeProtectedHeader(before.tokens.id_token!).kid!;
    const jwksBefore = await (await fetch(new URL('/jwks', first.issuer))).json() as { keys: { kid: string }[] };

    const { currentKid, retiredKid } = await first.services.keys.rotate('ES256');
    assert.equal(retiredKid, oldKid);
    assert.ok(jwksBefore.keys.some((k) => k.kid === currentKid), 'the new key was published before it signed');
    const port = Number(new URL(first.issuer).port);
    await first.close();

    const second = await startTessera({ database, secrets, port });
    try {
      const jwks = createRemoteJWKSet(new URL('/jwks', second.issuer));
      const verifyOld = () => jwtVerify(before.tokens.id_token!, jwks, { issuer: second.issuer, audience: rp.clientId });
      assert.equal((await verifyOld()).payload.sub, user.id, 'a token signed by the previous key still verifies');

      const rp2 = await RelyingParty.discover(second.issuer, rp.clientId, rp.clientSecret);
      const after = await signInAndGetTokens(rp2, user);
      assert.equal(decodeProtectedHeader(after.tokens.id_token!).kid, currentKid, 'new tokens are signed by the promoted key');
      const published = await (await fetch(new URL('/jwks', second.issuer))).json() as { keys: Record<string, unknown>[] };
      assert.ok(published.keys.every((k) => k.d === undefined), 'the JWKS never exposes private key material');

      await second.services.keys.remove(oldKid);
      await assert.rejects(second.services.keys.remove(currentKid), /only previous keys can be removed/);
    } finally {
      await second.close();
    }
    const third = await startTessera({ database, secrets, port });
    try {
      const jwks = createRemoteJWKSet(new URL('/jwks', third.issuer));
      await assert.rejects(jwtVerify(before.tokens.id_token!, jwks, { issuer: third.issuer, audience: rp.clientId }), /no applicable key found/);
    } finally {
      await third.close();
    }
  });

  it('refuses to start when ENCRYPTION_KEY does not open the stored keys', async () => {
    await assert.rejects(
      startTessera({ database, secrets: { ...secrets, encryptionKey: randomBytes(32).toString('base64') } }),
      /cannot be decrypted: ENCRYPTION_KEY differs/,
    );
  });
});
