// Sign-in events: every attempt (success, wrong password, wrong code, blocked device, new device)
// with account, time, IP, location, browser/OS, device and the factors used. Written once, never
// changed; the session history reads them, and each one is also reported to the audit log
// (sign_in.success or sign_in.failure; a new device that proved itself: device.verified). Writing
// one never fails a sign-in.
import { createHash, randomBytes } from 'node:crypto';
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import { NO_AUDIT, type AuditInput, type AuditSink } from '../audit/events.ts';
import { describeLocation, type ClientInfo } from './client-info.ts';

export type SignInResult = 'success' | 'wrong_password' | 'wrong_code' | 'blocked_device' | 'new_device';

export interface SignInEvent {
  id: string;
  accountId?: string;
  at: Date;
  result: SignInResult;
  ip?: string;
  location?: ClientInfo['location'];
  browser?: string;
  os?: string;
  deviceId?: string;
  /** amr values of what was proven (success), or the factor that failed. */
  factors: string[];
}

interface EventDoc extends Omit<SignInEvent, 'id'> {
  _id: string;
}

export type SignInEvents = ReturnType<typeof createSignInEvents>;

/** Decoy histories: a few, each bounded like any account's (no account id has this shape). */
const DECOYS = 16;
const decoyHistory = (email: string) => `~decoy-${createHash('sha256').update(email).digest()[0]! % DECOYS}`;

/** Where an account's own attempts are also kept, newest first, for its session history. */
export interface EventHistory {
  append(accountId: string, ...entries: SignInEvent[]): Promise<void>;
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
}

export function createSignInEvents(db: Database, clock: () => Date = () => new Date(), log: (line: string) => void = () => {}, history?: EventHistory, audit: AuditSink = NO_AUDIT) {
  const schema = new Schema<EventDoc>({
    _id: String, accountId: String, at: { type: Date, required: true }, result: { type: String, required: true },
    ip: String, location: Schema.Types.Mixed, browser: String, os: String, deviceId: String, factors: { type: [String], default: [] },
  }, { collection: 'sign_in_events', versionKey: false });
  // the session-history page reads an account's events newest first (MongoDB; see README on FerretDB)
  schema.index({ accountId: 1, at: -1 });
  const Events = db.model<EventDoc>('SignInEvent', schema);

  function entryOf(event: Attempt): SignInEvent {
    const { client } = event;
    return {
      // time-ordered ids: newest last in _id order
      id: `${clock().getTime().toString(36).padStart(9, '0')}-${randomBytes(6).toString('base64url')}`,
      ...(event.accountId ? { accountId: event.accountId } : {}),
      at: clock(), result: event.result,
      ...(client.ip ? { ip: client.ip } : {}), ...(client.location ? { location: client.location } : {}),
      browser: client.browser, os: client.os,
      ...(event.deviceId ? { deviceId: event.deviceId } : {}),
      factors: event.factors ?? [],
    };
  }

  /** A new browser that proved itself is a device event; every other result is a sign-in attempt. */
  function auditOf(entry: SignInEvent): AuditInput {
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
      },
    };
  }

  return {
    /**
     * Records one attempt, or several of one sign-in at once (a new device that proved itself and
     * the sign-in it completed): one insert, one history append. `decoy` (the email of an attempt
     * without an account): its entry goes to one of a few bounded decoy histories, so the attempt
     * writes what a known account's would (the same time).
     */
    async record(event: Attempt | Attempt[]): Promise<void> {
      const attempts = Array.isArray(event) ? event : [event];
      const entries = attempts.map(entryOf);
      for (const entry of entries) audit.record(auditOf(entry));
      const first = attempts[0]!;
      const historyId = first.accountId ?? (first.decoy ? decoyHistory(first.decoy) : undefined);
      await Promise.all([
        Events.insertMany(entries.map(({ id, ...fields }) => ({ _id: id, ...fields }))),
        history && historyId ? history.append(historyId, ...entries) : undefined,
      ]).catch((err: unknown) => log(`[tessera] could not record a sign-in event: ${(err as Error).message}`));
    },

    /** An account's events, newest first (administration and tests; not on a request path yet). */
    async of(accountId: string, limit = 50): Promise<SignInEvent[]> {
      const docs = await Events.find({ accountId }).sort({ at: -1 }).limit(limit).lean<EventDoc[]>();
      return docs.map(({ _id, ...rest }) => ({ id: _id, ...rest }));
    },
  };
}
