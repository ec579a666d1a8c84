// Assisted recovery, decided in one pure place: whether a person may ask for one now (one open
// request per account, at most one new request a day), and where an account's request stands on
// the clock (waiting for an administrator, in its waiting period, due for the reset, closed).
// No I/O, no clock: the time comes in as `now`.
import { ACR, type Acr } from './assurance.ts';
import type { Decision } from './sign-in.ts';

export type RecoveryState = 'requested' | 'approved' | 'resetting' | 'completed' | 'rejected' | 'cancelled';

/** What the decision needs of an account's latest request. */
export interface RecoveryFacts {
  state: RecoveryState;
  requestedAt: Date;
  /** Approved: when the waiting period ends (the reset may happen from then on). */
  resetAfter?: Date;
}

/** The states an account's request is open in: a new one cannot be asked for. */
export const OPEN_STATES: readonly RecoveryState[] = ['requested', 'approved', 'resetting'];
/** A new request, at most one a day per account (so nobody can flood the queue with one account). */
export const REQUEST_INTERVAL_MS = 24 * 3600_000;

export type MayRequest = { ok: true } | { ok: false; why: 'open'; } | { ok: false; why: 'too_soon'; after: Date };

export function mayRequest(latest: RecoveryFacts | undefined, now: Date): MayRequest {
  if (!latest) return { ok: true };
  if (OPEN_STATES.includes(latest.state)) return { ok: false, why: 'open' };
  const after = new Date(latest.requestedAt.getTime() + REQUEST_INTERVAL_MS);
  return after > now ? { ok: false, why: 'too_soon', after } : { ok: true };
}

/**
 * Where a request stands now: 'waiting' for an administrator, 'cooling' in its waiting period
 * (the factors still apply; the person can cancel), 'due' (the reset happens at the next chance:
 * an approved request whose waiting period is over, or a reset cut short), or 'closed'.
 */
export type RecoveryStage = 'waiting' | 'cooling' | 'due' | 'closed';

export function stageOf(request: RecoveryFacts | undefined, now: Date): RecoveryStage {
  if (!request) return 'closed';
  if (request.state === 'requested') return 'waiting';
  if (request.state === 'resetting') return 'due';
  if (request.state === 'approved') return request.resetAfter && request.resetAfter <= now ? 'due' : 'cooling';
  return 'closed';
}

/**
 * After the reset, the sign-in that found it due sets up a new factor at once (the enrolment step)
 * at the level it was asking for, at least the multi-factor one: a recovery ends with a second
 * factor again, never with an account left on its password alone.
 */
export function enrolmentAfterReset(target: Acr): Extract<Decision, { outcome: 'enrol' }> {
  return target === ACR.phr ? { outcome: 'enrol', target, options: ['webauthn'] } : { outcome: 'enrol', target: ACR.mfa, options: ['totp', 'webauthn'] };
}
