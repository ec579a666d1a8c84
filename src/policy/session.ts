// Pure rules for a signed-in browser session: re-authentication windows, the screen lock, and the
// absolute lifetime a person chose (auto-logout). Times are epoch seconds; no I/O, no clock.
import type { Proof } from './sign-in.ts';

/** Choices of the screen lock, in minutes of inactivity (0: off). */
export const SCREEN_LOCK_MINUTES = [0, 5, 10, 20, 30, 60] as const;

/** A password or second factor proven within the window (a PIN is not enough for a change). */
export function recentlyAuthenticated(proofs: Proof[], now: number, windowSeconds: number): boolean {
  return proofs.some((p) => p.factor !== 'pin' && now - p.at <= windowSeconds && p.at <= now + 60);
}

/** However busy a visit, a password or second factor is asked again this long after the last one. */
export const VISIT_MAX_SECONDS = 60 * 60;

/**
 * The account area's re-authentication covers a visit: open within the window after a password
 * or second factor, and kept open by each change confirmed within it (the window then runs from
 * that change, as GitHub's sudo mode does), but never longer than VISIT_MAX_SECONDS after the
 * last real proof. `changeConfirmedAt` is only ever recorded while the window was open.
 */
export function reauthWindowOpen(proofs: Proof[], changeConfirmedAt: number | undefined, now: number, windowSeconds: number): boolean {
  if (recentlyAuthenticated(proofs, now, windowSeconds)) return true;
  if (changeConfirmedAt === undefined || now - changeConfirmedAt > windowSeconds || changeConfirmedAt > now + 60) return false;
  const lastProof = Math.max(-Infinity, ...proofs.filter((p) => p.factor !== 'pin').map((p) => p.at));
  return now - lastProof <= VISIT_MAX_SECONDS;
}

export interface SessionFacts {
  now: number;
  signedInAt: number;
  lastActiveAt: number;
  locked: boolean;
  /** The account's screen lock (minutes; 0 off) and whether this request's IP skips the PIN. */
  screenLockMinutes: number;
  pinSkipped: boolean;
  /** The account's auto-logout in days (undefined: the server's maximum). */
  autoLogoutDays?: number;
  maxDays: number;
}

export type SessionState = 'active' | 'locked' | 'ended';

/** When the session ends regardless of activity (epoch seconds). */
export function sessionEndsAt(f: Pick<SessionFacts, 'signedInAt' | 'autoLogoutDays' | 'maxDays'>): number {
  const days = Math.min(f.autoLogoutDays ?? f.maxDays, f.maxDays);
  return f.signedInAt + days * 86_400;
}

export function sessionState(f: SessionFacts): SessionState {
  if (f.now >= sessionEndsAt(f)) return 'ended';
  if (f.pinSkipped || f.screenLockMinutes <= 0) return 'active';
  if (f.locked || f.now - f.lastActiveAt >= f.screenLockMinutes * 60) return 'locked';
  return 'active';
}
