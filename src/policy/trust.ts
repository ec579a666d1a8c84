// Trust signals and the device lifecycle, as pure rules. A trusted device (until its trust runs
// out) or a trusted IP entry naming the routine factor (or "all") skips the account's routine
// second factor; neither ever skips new-device verification or a level a relying party asks for
// (decideSignIn keeps those). A registration moves ACTIVE ⇄ BLOCKED and ends REMOVED, for good.
import type { SecondFactor } from './sign-in.ts';

/** What a trusted-IP entry skips: one routine factor, the PIN (after sign-in and the screen lock), or all of them. */
export type IpSkip = SecondFactor | 'pin' | 'all';

export interface TrustFacts {
  /** Epoch seconds. */
  now: number;
  /** Until when this browser is a trusted device of the account (epoch seconds), if it is one. */
  deviceTrustedUntil?: number;
  /** What the trusted-IP entries matching the client address skip. */
  ipSkips: IpSkip[];
}

export function deviceTrusted(facts: Pick<TrustFacts, 'now' | 'deviceTrustedUntil'>): boolean {
  return facts.deviceTrustedUntil !== undefined && facts.deviceTrustedUntil > facts.now;
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
