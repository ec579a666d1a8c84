// Trust signals and the device lifecycle, as pure rules. A trusted device (until its trust runs
// out) or a trusted IP entry naming the routine factor (or "all") skips the account's routine
// second factor; neither ever skips new-device verification or a level a relying party asks for
// (decideSignIn keeps those). A trusted device counts only with a fresh signature by its device key
// (or, for a registration without one, where cookie-only trust is on). A registration moves
// ACTIVE ⇄ BLOCKED and ends REMOVED, for good.
import type { SecondFactor } from './sign-in.ts';

/** What a trusted-IP entry skips: one routine factor, the PIN (after sign-in and the screen lock), or all of them. */
export type IpSkip = SecondFactor | 'pin' | 'all';

/**
 * Device-bound trust: a trusted registration holds the public key of a key pair the browser made
 * (non-extractable, in its IndexedDB); the cookie alone is not the device. A sign-in proves the key
 * with a fresh signature over a challenge bound to the interaction (devices/device-key.ts).
 */
export interface DeviceTrustFacts {
  /** Epoch seconds. */
  now: number;
  /** Until when this browser is a trusted device of the account (epoch seconds), if it is one. */
  deviceTrustedUntil?: number;
  /** The registration holds a device public key. */
  keyBound?: boolean;
  /** This sign-in carried a valid, fresh, unused signature by that key. */
  keyProven?: boolean;
  /** The installation allows trust by the cookie alone for a registration without a key (DEVICE_TRUST_COOKIE_ONLY). */
  cookieOnly?: boolean;
}

export interface TrustFacts extends DeviceTrustFacts {
  /** What the trusted-IP entries matching the client address skip. */
  ipSkips: IpSkip[];
}

/**
 * Whether the browser counts as a trusted device now: trusted until later, and its key proven (a
 * key-bound registration always needs the proof; one without a key only where cookie-only trust is on).
 */
export function deviceTrusted(facts: DeviceTrustFacts): boolean {
  if (facts.deviceTrustedUntil === undefined || facts.deviceTrustedUntil <= facts.now) return false;
  return facts.keyBound ? facts.keyProven === true : facts.cookieOnly === true;
}

/**
 * Whether a sign-in's missing or wrong key proof looks like a copied cookie: the cookie names a
 * trusted, key-bound registration, yet the request could not sign with its key.
 */
export function possibleCopiedCookie(facts: DeviceTrustFacts): boolean {
  return !!facts.keyBound && facts.keyProven !== true && facts.deviceTrustedUntil !== undefined && facts.deviceTrustedUntil > facts.now;
}

/**
 * Whether the second-factor page offers "Keep trusting this device": the browser is a trusted
 * registration from before device keys (no key yet). Ticked, a passed factor binds the browser's key
 * to it (the trust period stays what it was).
 */
export function keyBindOffered(facts: DeviceTrustFacts): boolean {
  return !facts.keyBound && facts.deviceTrustedUntil !== undefined && facts.deviceTrustedUntil > facts.now;
}

/** Possible copied-cookie sign-ins of one registration (since its last good proof) after which the account is emailed. */
export const KEY_PROOF_FAILURES_BEFORE_EMAIL = 3;

/** Whether this possible copied-cookie case (the `failures`th in a row) is the one that emails the account. */
export function keyProofEmailDue(failures: number): boolean {
  return failures === KEY_PROOF_FAILURES_BEFORE_EMAIL;
}

/** Whether the trust signals skip this routine factor on this sign-in. */
export function routineSkipped(routine: SecondFactor | undefined, facts: TrustFacts): boolean {
  if (!routine) return false;
  return deviceTrusted(facts) || facts.ipSkips.some((skip) => skip === 'all' || skip === routine);
}

/** Whether the trusted-IP entries matching the client address skip the PIN. */
export function pinSkipped(ipSkips: IpSkip[]): boolean {
  return ipSkips.some((skip) => skip === 'all' || skip === 'pin');
}

export type DeviceState = 'ACTIVE' | 'BLOCKED' | 'REMOVED';

/** Whether a registration may move from one state to another (REMOVED is final). */
export function canMove(from: DeviceState, to: DeviceState): boolean {
  if (from === 'REMOVED' || from === to) return false;
  return true;
}

/** After one more failure from a device: whether it is now blocked. */
export function blocksAt(failures: number, maxFailures: number): boolean {
  return failures >= maxFailures;
}

/** From this many failed attempts on, the sign-in page says how many are left before the block. */
export const WARN_FROM_FAILURES = 3;

/** How many more failed attempts the browser has before it is blocked, once worth a warning (else undefined). */
export function triesLeft(failures: number, maxFailures: number): number | undefined {
  return failures >= Math.min(WARN_FROM_FAILURES, maxFailures - 1) && failures < maxFailures ? maxFailures - failures : undefined;
}
