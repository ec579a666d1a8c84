// Device keys (device-bound trust, README "Proof of possession"): a trusted browser holds a
// non-extractable ECDSA P-256 key pair in its IndexedDB (views/static/device-key.js); its
// registration keeps the public key (JWK). A sign-in proves the key by signing a server challenge
// bound to its interaction. Challenges are not stored: one is an HMAC over the interaction uid,
// when it was issued (the injected clock) and a nonce; single use is the registration's (the last
// nonce it accepted, registry.ts claimKeyChallenge). Signatures are WebCrypto's: ES256 over the
// challenge's UTF-8 bytes, raw r||s (IEEE P1363, 64 bytes), not DER.
import { createHmac, createPublicKey, randomBytes, timingSafeEqual, verify } from 'node:crypto';
import type { DeviceTrustFacts } from '../policy/trust.ts';

/** A device public key as stored: the JWK members of a P-256 point, nothing else. */
export interface DeviceKeyJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

/** Why a key proof does not count. */
export type KeyProofFailure = 'missing' | 'malformed' | 'wrong-interaction' | 'expired' | 'bad-signature' | 'replayed';

export type KeyProof = { ok: true; nonce: string } | { ok: false; reason: KeyProofFailure };

/** How long a challenge can be signed and sent back. */
export const KEY_CHALLENGE_SECONDS = 600;

const VERSION = 'dk1';
const B64URL_32 = /^[A-Za-z0-9_-]{43}$/;

/** The stored form of a public key sent by the page (a JSON JWK), or undefined when it is not a P-256 public key. */
export function parseDeviceKey(text: unknown): DeviceKeyJwk | undefined {
  if (typeof text !== 'string' || text.length > 400) return undefined;
  let jwk: Record<string, unknown>;
  try {
    jwk = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (!jwk || typeof jwk !== 'object' || jwk.kty !== 'EC' || jwk.crv !== 'P-256' || 'd' in jwk) return undefined;
  if (typeof jwk.x !== 'string' || typeof jwk.y !== 'string' || !B64URL_32.test(jwk.x) || !B64URL_32.test(jwk.y)) return undefined;
  const key: DeviceKeyJwk = { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
  try {
    createPublicKey({ key: { ...key }, format: 'jwk' }); // a point on the curve
  } catch {
    return undefined;
  }
  return key;
}

/** Whether `signature` (base64url, raw r||s) is the key's ES256 signature over the challenge. */
export function signatureValid(key: DeviceKeyJwk, challenge: string, signature: unknown): boolean {
  if (typeof signature !== 'string' || !/^[A-Za-z0-9_-]{86}$/.test(signature)) return false;
  const raw = Buffer.from(signature, 'base64url');
  if (raw.length !== 64) return false;
  try {
    return verify('sha256', Buffer.from(challenge, 'utf8'), { key: createPublicKey({ key: { ...key }, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, raw);
  } catch {
    return false;
  }
}

export type DeviceKeys = ReturnType<typeof createDeviceKeys>;

/** Challenges for the interaction `uid`, sealed with `key`; `clock` decides expiry. */
export function createDeviceKeys(settings: { key: Buffer; clock: () => Date; seconds?: number }) {
  const seconds = settings.seconds ?? KEY_CHALLENGE_SECONDS;
  const mac = (uid: string, at: string, nonce: string) => createHmac('sha256', settings.key).update(`${VERSION}\n${uid}\n${at}\n${nonce}`).digest('base64url');

  /** The challenge's nonce and age when it was issued by us for `uid`. */
  function open(challenge: unknown, uid: string): { ok: true; nonce: string; fresh: boolean } | { ok: false; reason: KeyProofFailure } {
    if (typeof challenge !== 'string' || challenge.length > 200) return { ok: false, reason: 'malformed' };
    const [version, at, nonce, tag, ...rest] = challenge.split('.');
    if (version !== VERSION || !at || !/^\d{1,15}$/.test(at) || !nonce || !/^[A-Za-z0-9_-]{22}$/.test(nonce) || !tag || rest.length) return { ok: false, reason: 'malformed' };
    const expected = Buffer.from(mac(uid, at, nonce));
    const given = Buffer.from(tag);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'wrong-interaction' };
    const age = settings.clock().getTime() - Number(at);
    return { ok: true, nonce, fresh: age >= 0 && age <= seconds * 1000 };
  }

  return {
    seconds,
    /** A new challenge for the page of interaction `uid` (nothing is stored). */
    issue(uid: string): string {
      const at = String(settings.clock().getTime());
      const nonce = randomBytes(16).toString('base64url');
      return `${VERSION}.${at}.${nonce}.${mac(uid, at, nonce)}`;
    },

    /**
     * Checks a proof sent with a form of interaction `uid`: the challenge is ours, for this
     * interaction, signed by `key`, fresh, and not the one the registration accepted last
     * (`lastNonce`). The caller still claims the nonce (one write) so a concurrent copy loses.
     * 'expired' and 'replayed' come only with a good signature: the key was there.
     */
    check(key: DeviceKeyJwk | undefined, uid: string, challenge: unknown, signature: unknown, lastNonce?: string): KeyProof {
      if (!key || challenge === undefined || challenge === '' || signature === undefined || signature === '') return { ok: false, reason: 'missing' };
      const opened = open(challenge, uid);
      if (!opened.ok) return opened;
      if (!signatureValid(key, challenge as string, signature)) return { ok: false, reason: 'bad-signature' };
      if (!opened.fresh) return { ok: false, reason: 'expired' };
      if (lastNonce === opened.nonce) return { ok: false, reason: 'replayed' };
      return { ok: true, nonce: opened.nonce };
    },
  };
}

/**
 * The trust facts (policy/trust.ts) of a registration: `keyProven` is what this sign-in's proof
 * showed; unset for a signed-in session, whose sign-in proved the key when the registration has one.
 */
export function trustFactsOf(device: { state: string; trustedUntil?: Date; key?: unknown } | undefined, now: number, keyProven: boolean | undefined, cookieOnly: boolean): DeviceTrustFacts {
  const keyBound = !!device?.key;
  return {
    now,
    ...(device?.trustedUntil && device.state === 'ACTIVE' ? { deviceTrustedUntil: Math.floor(device.trustedUntil.getTime() / 1000) } : {}),
    keyBound,
    keyProven: keyProven ?? keyBound,
    cookieOnly,
  };
}
