// Sign-in events: every attempt (success, wrong password, wrong code, blocked device, new device)
// with account, time, IP, location, browser/OS, device and the factors used. Each goes to the
// account's session history (sessions/history.ts, bounded, newest first) and to the audit log
// (sign_in.success or sign_in.failure; a new device that proved itself: device.verified), which
// keeps them for its own retention. Writing one never fails a sign-in.
import { createHash, randomBytes } from 'node:crypto';
import { NO_AUDIT, type AuditInput, type AuditSink } from '../audit/events.ts';
import { describeLocation, type ClientInfo } from './client-info.ts';

export type SignInResult = 'success' | 'wrong_password' | 'wrong_code' | 'blocked_device' | 'new_device'
  // the steps of an assisted recovery (recovery/service.ts), in the account's history too
  | 'recovery_requested' | 'recovery_approved' | 'recovery_rejected' | 'recovery_cancelled' | 'recovery_completed';

export interface SignInEvent {
  id: string;
  accountId?: string;
  at: Date;
  result: SignInResult;
  ip?: string;
  location?: ClientInfo['location'];
  /** [latitude, longitude] of the location (the risk policy's travel speed). */
  ll?: [number, number];
  browser?: string;
  os?: string;
  deviceId?: string;
  /** amr values of what was proven (success), or the factor that failed. */
  factors: string[];
  /** The application signed in to (its name then), on a success. */
  application?: string;
  /** What the risk policy asked for and why ("Asked for a code: first sign-in from Brazil"). */
  risk?: string;
}

export type SignInEvents = ReturnType<typeof createSignInEvents>;

/** Decoy histories: a few, each bounded like any account's (no account id has this shape). */
const DECOYS = 16;
const decoyHistory = (email: string) => `~decoy-${createHash('sha256').update(email).digest()[0]! % DECOYS}`;

/** Where an account's own attempts are also kept, newest first, for its session history. */
export interface EventHistory {
  append(accountId: string, ...entries: SignInEvent[]): Promise<void>;
  page(accountId: string, page: number): Promise<{ entries: SignInEvent[] }>;
}

/** One attempt as the sign-in pages report it. */
export interface Attempt {
  accountId?: string;
  result: SignInResult;
  client: ClientInfo;
  deviceId?: string;
  factors?: string[];
  /** The email of an attempt without an account (its decoy history). */
  decoy?: string;
  /** The application signed in to (its name), on a success. */
  application?: string;
  /** The risk policy's summary for this sign-in (policy/risk.ts riskSummary). */
  risk?: string;
  /** On a success: the acr it reached, and whether it stepped up a signed-in session (audit details; metrics). */
  acr?: string;
  stepUp?: boolean;
}

export function createSignInEvents(history: EventHistory, clock: () => Date = () => new Date(), log: (line: string) => void = () => {}, audit: AuditSink = NO_AUDIT) {
  function entryOf(event: Attempt): SignInEvent {
    const { client } = event;
    return {
      // time-ordered ids: newest last in _id order
      id: `${clock().getTime().toString(36).padStart(9, '0')}-${randomBytes(6).toString('base64url')}`,
      ...(event.accountId ? { accountId: event.accountId } : {}),
      at: clock(), result: event.result,
      ...(client.ip ? { ip: client.ip } : {}), ...(client.location ? { location: client.location } : {}), ...(client.ll ? { ll: client.ll } : {}),
      browser: client.browser, os: client.os,
      ...(event.deviceId ? { deviceId: event.deviceId } : {}),
      factors: event.factors ?? [],
      ...(event.application ? { application: event.application.slice(0, 200) } : {}),
      ...(event.risk ? { risk: event.risk.slice(0, 1000) } : {}),
    };
  }

  /** A new browser that proved itself is a device event; every other result is a sign-in attempt. */
  function auditOf(entry: SignInEvent, attempt: Attempt): AuditInput {
    const verified = entry.result === 'new_device';
    return {
      type: verified ? 'device.verified' : entry.result === 'success' ? 'sign_in.success' : 'sign_in.failure',
      outcome: verified || entry.result === 'success' ? 'success' : 'failure',
      actor: { type: 'user', ...(entry.accountId ? { id: entry.accountId } : {}) },
      ...(entry.accountId ? { subject: verified && entry.deviceId ? { type: 'device', id: entry.deviceId } : { type: 'account', id: entry.accountId }, accountId: entry.accountId } : {}),
      ...(entry.ip ? { ip: entry.ip } : {}),
      details: {
        result: entry.result, factors: entry.factors, deviceId: entry.deviceId ?? null,
        browser: entry.browser ?? null, os: entry.os ?? null, ...(entry.location ? { location: describeLocation(entry.location) } : {}),
        ...(entry.risk ? { risk: entry.risk } : {}),
        ...(attempt.acr ? { acr: attempt.acr } : {}), ...(attempt.stepUp ? { stepUp: true } : {}),
      },
    };
  }

  return {
    /**
     * Records one attempt, or several of one sign-in at once (a new device that proved itself and
     * the sign-in it completed): one history append, one audit batch. `decoy` (the email of an attempt
     * without an account): its entry goes to one of a few bounded decoy histories, so the attempt
     * writes what a known account's would (the same time).
     */
    async record(event: Attempt | Attempt[]): Promise<void> {
      const attempts = Array.isArray(event) ? event : [event];
      const entries = attempts.map(entryOf);
      entries.forEach((entry, i) => audit.record(auditOf(entry, attempts[i]!)));
      const first = attempts[0]!;
      const historyId = first.accountId ?? (first.decoy ? decoyHistory(first.decoy) : undefined);
      if (!historyId) return;
      await history.append(historyId, ...entries)
        .catch((err: unknown) => log(`[tessera] could not record a sign-in event: ${(err as Error).message}`));
    },

    /** An account's latest events, newest first (one page of its history). */
    async of(accountId: string): Promise<SignInEvent[]> {
      return (await history.page(accountId, 0)).entries;
    },
  };
}
