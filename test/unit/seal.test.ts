import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSealer } from '../../src/crypto/seal.ts';

describe('sealing secrets at rest', () => {
  const sealer = createSealer(randomBytes(32).toString('base64'));

  it('round-trips and never stores the clear text', () => {
    const sealed = sealer.seal('123456', 'otp:abc');
    assert.ok(!sealed.includes('123456'));
    assert.notEqual(sealer.seal('123456', 'otp:abc'), sealed, 'random IV per seal');
    assert.equal(sealer.open(sealed, 'otp:abc'), '123456');
  });

  it('refuses another purpose, a tampered value or another key', () => {
    const sealed = sealer.seal('secret', 'signing-key:k1');
    assert.throws(() => sealer.open(sealed, 'signing-key:k2'));
    const parts = sealed.split('.');
    parts[2] = Buffer.from('tampered').toString('base64url');
    assert.throws(() => sealer.open(parts.join('.'), 'signing-key:k1'));
    assert.throws(() => createSealer(randomBytes(32).toString('base64')).open(sealed, 'signing-key:k1'));
  });
});
