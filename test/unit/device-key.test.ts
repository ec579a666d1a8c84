// Device-bound trust, the pure parts: when a trusted device counts (policy/trust.ts), and the key
// proof (devices/device-key.ts): a WebCrypto ES256 signature (raw r||s) over a challenge bound to
// one interaction, fresh by the injected clock, not the one the registration spent last.
import assert from 'node:assert/strict';
import { randomBytes, webcrypto } from 'node:crypto';
import { deviceTrusted, keyBindOffered, keyProofEmailDue, possibleCopiedCookie, routineSkipped, KEY_PROOF_FAILURES_BEFORE_EMAIL, type DeviceTrustFacts } from '../../src/policy/trust.ts';
import { createDeviceKeys, KEY_CHALLENGE_SECONDS, parseDeviceKey, signatureValid, type DeviceKeyJwk } from '../../src/devices/device-key.ts';

const NOW = 1_800_000_000;

describe('device-bound trust: when a trusted device counts (policy/trust.ts)', () => {
  const trusted = { now: NOW, deviceTrustedUntil: NOW + 3600 };
  const cases: [string, DeviceTrustFacts, boolean][] = [
    ['a key-bound device with a fresh signature', { ...trusted, keyBound: true, keyProven: true }, true],
    ['a key-bound device without one (a copied cookie)', { ...trusted, keyBound: true, keyProven: false }, false],
    ['a key-bound device without one, even where cookie-only trust is on', { ...trusted, keyBound: true, keyProven: false, cookieOnly: true }, false],
    ['a device without a key (old trust, no WebCrypto)', { ...trusted, keyBound: false }, false],
    ['a device without a key where cookie-only trust is on', { ...trusted, keyBound: false, cookieOnly: true }, true],
    ['a key-bound device whose trust ran out', { now: NOW, deviceTrustedUntil: NOW, keyBound: true, keyProven: true }, false],
    ['a browser that is no trusted device', { now: NOW, keyBound: false, cookieOnly: true }, false],
  ];
  for (const [what, facts, expected] of cases) {
    it(`${expected ? 'trusts' : 'does not trust'} ${what}`, () => {
      assert.equal(deviceTrusted(facts), expected);
      assert.equal(routineSkipped('totp', { ...facts, ipSkips: [] }), expected);
    });
  }

  it('still lets a trusted IP skip the routine factor without any device', () => {
    assert.equal(routineSkipped('totp', { now: NOW, ipSkips: ['totp'] }), true);
  });

  it('calls it a possible copied cookie only for a trusted, key-bound device without its proof', () => {
    assert.equal(possibleCopiedCookie({ ...trusted, keyBound: true, keyProven: false }), true);
    assert.equal(possibleCopiedCookie({ ...trusted, keyBound: true, keyProven: true }), false);
    assert.equal(possibleCopiedCookie({ ...trusted, keyBound: false }), false, 'no key: nothing to copy around');
    assert.equal(possibleCopiedCookie({ now: NOW, deviceTrustedUntil: NOW - 1, keyBound: true }), false, 'trust ran out');
  });

  it('offers "Keep trusting this device" at the second factor only to a trusted device without a key', () => {
    assert.equal(keyBindOffered({ ...trusted, keyBound: false }), true, 'trusted before keys');
    assert.equal(keyBindOffered({ ...trusted, keyBound: false, cookieOnly: true }), true, 'also where cookie-only trust is on');
    assert.equal(keyBindOffered({ ...trusted, keyBound: true }), false, 'bound already');
    assert.equal(keyBindOffered({ now: NOW, keyBound: false }), false, 'known but not trusted');
    assert.equal(keyBindOffered({ now: NOW, deviceTrustedUntil: NOW, keyBound: false }), false, 'trust ran out');
  });

  it('emails the account once, at the repeated case', () => {
    const due = Array.from({ length: 8 }, (_, i) => i + 1).filter(keyProofEmailDue);
    assert.deepEqual(due, [KEY_PROOF_FAILURES_BEFORE_EMAIL]);
  });
});

describe('device-bound trust: the key proof (devices/device-key.ts)', () => {
  let clock = new Date('2026-05-01T10:00:00Z');
  const keys = createDeviceKeys({ key: randomBytes(32), clock: () => clock });
  const uid = 'interaction-one';

  async function browserKey(): Promise<{ pair: webcrypto.CryptoKeyPair; jwk: DeviceKeyJwk }> {
    // as views/static/device-key.js makes it: non-extractable private key
    const pair = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
    assert.equal(pair.privateKey.extractable, false);
    const { kty, crv, x, y } = await webcrypto.subtle.exportKey('jwk', pair.publicKey);
    return { pair, jwk: parseDeviceKey(JSON.stringify({ kty, crv, x, y }))! };
  }
  const sign = async (pair: webcrypto.CryptoKeyPair, challenge: string) =>
    Buffer.from(await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, new TextEncoder().encode(challenge))).toString('base64url');

  it('accepts a fresh signature by the registered key over this interaction\'s challenge', async () => {
    const { pair, jwk } = await browserKey();
    const challenge = keys.issue(uid);
    const proof = keys.check(jwk, uid, challenge, await sign(pair, challenge));
    assert.equal(proof.ok, true);
  });

  it('refuses a signature by another key (a copied cookie with the thief\'s own key)', async () => {
    const registered = await browserKey();
    const thief = await browserKey();
    const challenge = keys.issue(uid);
    assert.deepEqual(keys.check(registered.jwk, uid, challenge, await sign(thief.pair, challenge)), { ok: false, reason: 'bad-signature' });
  });

  it('refuses a signature over another challenge, and a challenge of another interaction', async () => {
    const { pair, jwk } = await browserKey();
    const challenge = keys.issue(uid);
    const other = keys.issue(uid);
    assert.deepEqual(keys.check(jwk, uid, challenge, await sign(pair, other)), { ok: false, reason: 'bad-signature' });
    const elsewhere = keys.issue('interaction-two');
    assert.deepEqual(keys.check(jwk, uid, elsewhere, await sign(pair, elsewhere)), { ok: false, reason: 'wrong-interaction' });
    const forged = challenge.replace(/\.[^.]+$/, '.' + 'A'.repeat(43));
    assert.deepEqual(keys.check(jwk, uid, forged, await sign(pair, forged)), { ok: false, reason: 'wrong-interaction' });
  });

  it('refuses a replayed challenge: the one the registration spent last', async () => {
    const { pair, jwk } = await browserKey();
    const challenge = keys.issue(uid);
    const signature = await sign(pair, challenge);
    const first = keys.check(jwk, uid, challenge, signature);
    assert.ok(first.ok);
    assert.deepEqual(keys.check(jwk, uid, challenge, signature, first.nonce), { ok: false, reason: 'replayed' });
  });

  it(`refuses an expired challenge (older than ${KEY_CHALLENGE_SECONDS} seconds by the injected clock)`, async () => {
    const { pair, jwk } = await browserKey();
    const challenge = keys.issue(uid);
    const signature = await sign(pair, challenge);
    const issued = clock;
    clock = new Date(issued.getTime() + KEY_CHALLENGE_SECONDS * 1000);
    assert.equal(keys.check(jwk, uid, challenge, signature).ok, true, 'the last second still counts');
    clock = new Date(issued.getTime() + KEY_CHALLENGE_SECONDS * 1000 + 1);
    assert.deepEqual(keys.check(jwk, uid, challenge, signature), { ok: false, reason: 'expired' });
    clock = new Date(issued.getTime() - 1);
    assert.deepEqual(keys.check(jwk, uid, challenge, signature), { ok: false, reason: 'expired' }, 'issued in the future');
    clock = issued;
  });

  it('refuses a missing or malformed proof, and a DER-encoded signature (WebCrypto signs raw r||s)', async () => {
    const { pair, jwk } = await browserKey();
    const challenge = keys.issue(uid);
    assert.deepEqual(keys.check(jwk, uid, challenge, ''), { ok: false, reason: 'missing' });
    assert.deepEqual(keys.check(jwk, uid, undefined, 'x'), { ok: false, reason: 'missing' });
    assert.deepEqual(keys.check(undefined, uid, challenge, await sign(pair, challenge)), { ok: false, reason: 'missing' });
    assert.deepEqual(keys.check(jwk, uid, 'dk1.not.a.challenge', 'x'), { ok: false, reason: 'malformed' });
    assert.deepEqual(keys.check(jwk, uid, ['dk1'], 'x'), { ok: false, reason: 'malformed' });
    // the same signature in DER form (as node:crypto signs by default) is not what the page sends
    const { createPrivateKey, sign: nodeSign } = await import('node:crypto');
    const exportable = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', exportable.privateKey));
    const { kty, crv, x, y } = await webcrypto.subtle.exportKey('jwk', exportable.publicKey);
    const der = nodeSign('sha256', Buffer.from(challenge), createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).toString('base64url');
    const exportableJwk = parseDeviceKey(JSON.stringify({ kty, crv, x, y }))!;
    assert.equal(signatureValid(exportableJwk, challenge, der), false);
    const raw = nodeSign('sha256', Buffer.from(challenge), { key: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }), dsaEncoding: 'ieee-p1363' }).toString('base64url');
    assert.equal(signatureValid(exportableJwk, challenge, raw), true);
  });

  it('takes only a P-256 public key as a device key', async () => {
    const { jwk } = await browserKey();
    assert.deepEqual(parseDeviceKey(JSON.stringify({ ...jwk, key_ops: ['verify'], ext: true })), jwk, 'extra members are dropped');
    for (const bad of [
      'not json', '[]', 'null', JSON.stringify({ ...jwk, crv: 'P-384' }), JSON.stringify({ ...jwk, kty: 'RSA' }),
      JSON.stringify({ ...jwk, d: jwk.x }), JSON.stringify({ ...jwk, x: 'short' }), JSON.stringify({ ...jwk, y: jwk.x }),
      'x'.repeat(500),
    ]) assert.equal(parseDeviceKey(bad), undefined, bad.slice(0, 60));
    assert.equal(parseDeviceKey(undefined), undefined);
  });
});
