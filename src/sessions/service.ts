// The account's browser sessions as a person manages them: recorded at sign-in, checked on every
// use (auto-logout ends them, the screen lock closes them until the PIN), listed with where they
// come from, and ended one by one or all but this one — which ends the relying parties' sessions
// tied to them too (back-channel logout, grants and refresh tokens revoked).
//
// Audit log: the sessions Tessera ends itself (auto-logout, too many wrong PINs) are recorded
// here as 'session.ended'; those a caller ends (one, all others) when it says who did it (`by`):
// the account area leaves `by` out where its own notice already records the change.
import { createHmac } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { AccountStore, AccountView } from '../accounts/store.ts';
import type { OidcStorage } from '../oidc/adapter.ts';
import { endSession } from '../oidc/account-sessions.ts';
import type { DeviceRegistry } from '../devices/registry.ts';
import type { Proof } from '../policy/sign-in.ts';
import type { TrustedIps } from '../trusted-ips/store.ts';
import { clientInfo, UNKNOWN_BROWSER, UNKNOWN_SYSTEM, type ClientInfo } from '../devices/client-info.ts';
import { normalizeIp } from '../policy/ip-ranges.ts';
import { pinSkipped } from '../policy/trust.ts';
import { sessionEndsAt, sessionState, type SessionState } from '../policy/session.ts';
import type { SessionRecord, SessionRecords } from './store.ts';
import { NO_AUDIT, type AuditActor, type AuditSink } from '../audit/events.ts';
import { assessSessionMove, riskSummary, type RiskAssessment, type RiskSettings } from '../policy/risk.ts';

/** Who ended sessions, for the audit log: the person, an admin, a client; where from; and why. */
export interface EndedBy {
  actor: AuditActor;
  ip?: string;
  why: string;
}

/** Where a request comes from, as the session pages need it. */
export interface Requester {
  ip: string;
  userAgent?: string;
  browserId?: string;
}

export interface SessionView {
  /** An opaque handle for the forms (an HMAC of the session uid: the uid itself stays inside). */
  ref: string;
  current: boolean;
  signedInAt?: Date;
  lastActiveAt?: Date;
  endsAt?: Date;
  deviceName?: string;
  browser: string;
  os: string;
  ip?: string;
  location?: ClientInfo['location'];
  locked: boolean;
  /** The applications (client ids) this session signed in to. */
  clientIds: string[];
}

export interface SessionServiceDeps {
  provider: () => Provider;
  storage: OidcStorage;
  records: SessionRecords;
  accounts: AccountStore;
  devices: DeviceRegistry;
  trustedIps: TrustedIps;
  refKey: Buffer;
  maxDays: number;
  maxPinFailures: number;
  clock: () => Date;
  audit?: AuditSink;
}

export type SessionService = ReturnType<typeof createSessionService>;

export function createSessionService(deps: SessionServiceDeps) {
  const { records, clock } = deps;
  const seconds = (d: Date) => Math.floor(d.getTime() / 1000);
  const refOf = (uid: string) => createHmac('sha256', deps.refKey).update(uid).digest('base64url').slice(0, 22);
  const audit = deps.audit ?? NO_AUDIT;

  /** Reports `sessions` ended sessions of the account to the audit log. */
  function ended(accountId: string, sessions: number, by: EndedBy): void {
    if (sessions < 1) return;
    audit.record({
      type: 'session.ended', outcome: 'success', actor: by.actor, subject: { type: 'account', id: accountId }, accountId,
      ...(by.ip ? { ip: by.ip } : {}), details: { why: by.why, sessions },
    });
  }

  async function end(accountId: string, uid: string): Promise<boolean> {
    // a failed back-channel logout is logged where every delivery is (oidc/backchannel-logout.ts)
    const ended = await endSession(deps.provider(), uid, accountId);
    await records.remove(uid);
    return ended;
  }

  /** The state of this session now, from its record and the account's settings (pure rules). */
  async function stateOf(record: SessionRecord, account: AccountView, ip: string | undefined): Promise<SessionState> {
    const { screenLockMinutes, autoLogoutDays } = account.security;
    const facts = {
      now: seconds(clock()), signedInAt: seconds(record.signedInAt), lastActiveAt: seconds(record.lastActiveAt), locked: record.locked,
      screenLockMinutes, pinSkipped: false, ...(autoLogoutDays ? { autoLogoutDays } : {}), maxDays: deps.maxDays,
    };
    const state = sessionState(facts);
    // a trusted IP whose entry skips the PIN keeps the session open (one lookup, only when it would lock)
    if (state === 'locked' && pinSkipped(await deps.trustedIps.skipsFor(account.id, ip ? normalizeIp(ip) : undefined))) return 'active';
    return state;
  }

  return {
    /**
     * A sign-in finished in this session, with what it proved and from which registration (the
     * provider's step-up check calls this; without `deviceId` the browser's registration is looked up).
     */
    async signedIn(uid: string, accountId: string, from: Requester, done: { proofs?: Proof[]; deviceId?: string; fresh?: boolean } = {}): Promise<void> {
      const deviceId = done.deviceId ?? (from.browserId ? (await deps.devices.registrationFor(accountId, from.browserId))?.id : undefined);
      await records.signedIn(uid, accountId, { client: clientInfo(from.ip, from.userAgent), ...(deviceId ? { deviceId } : {}), ...(done.proofs ? { proofs: done.proofs } : {}) }, done.fresh);
    },

    /** What this session proved for the account, per factor (undefined: no record of it). */
    proofsOf: (uid: string, accountId: string): Promise<Proof[] | undefined> => records.proofsOf(uid, accountId),

    /** One more wrong password typed to confirm a change in this session (password-guard.ts); the count. */
    reauthFailed: (uid: string): Promise<number> => records.reauthFailed(uid),

    /** The re-authentication window's slide (the account area): when a change was last confirmed, and confirming one now. */
    changeConfirmedAt: (uid: string, accountId: string): Promise<Date | undefined> => records.changeConfirmedAt(uid, accountId),
    changeConfirmed: (uid: string, accountId: string): Promise<void> => records.changeConfirmed(uid, accountId),

    /** A re-authentication in this session (the account area and the admin console). */
    addProofs: (uid: string, accountId: string, proofs: Proof[]): Promise<void> => records.addProofs(uid, accountId, proofs),

    /**
     * Applies auto-logout and the screen lock to a signed-in session on use: 'ended' (signed out
     * now), 'locked' (the PIN opens it) or 'active' (and marked as used).
     */
    async check(uid: string, account: AccountView, from: Requester, loginTs?: number): Promise<SessionState> {
      let record = await records.of(uid);
      if (!record) {
        // a session from before records existed (or whose record expired): record it now
        await this.signedIn(uid, account.id, from);
        record = await records.of(uid);
        if (!record) return 'active';
        if (loginTs) record = { ...record, signedInAt: new Date(loginTs * 1000) };
      }
      if (record.accountId !== account.id) return 'active';
      const state = await stateOf(record, account, from.ip);
      if (state === 'ended') {
        const days = account.security.autoLogoutDays;
        const ip = normalizeIp(from.ip);
        const why = days && days < deps.maxDays ? `auto-logout after ${days} ${days === 1 ? 'day' : 'days'}` : `the longest session lifetime (${deps.maxDays} days) reached`;
        if (await end(account.id, uid)) ended(account.id, 1, { actor: { type: 'system' }, ...(ip ? { ip } : {}), why });
      }
      else if (state === 'locked') { if (!record.locked) await records.lock(uid); }
      else await records.touch(record, normalizeIp(from.ip));
      return state;
    },

    /**
     * A session that moves: this session used, by an authorization request, from another country
     * than the one it was signed in from (its record keeps the sign-in's place; a step-up moves it).
     * What the risk policy asks for, recorded in the audit log once per session and country.
     */
    async moved(uid: string, accountId: string, from: Requester, settings: Pick<RiskSettings, 'mode' | 'actions' | 'notify'>): Promise<RiskAssessment | undefined> {
      if (settings.mode === 'off' || settings.actions['session-moved'] === 'none') return undefined;
      const record = await records.of(uid);
      if (!record || record.accountId !== accountId) return undefined;
      const here = clientInfo(from.ip, undefined).location;
      const assessment = assessSessionMove({
        signedInFrom: record.location ? { country: record.location.country } : {},
        here: here ? { country: here.country } : {},
        trusted: { device: false, ip: false },
      }, settings);
      if (!assessment.reasons.length) return undefined;
      if (here && record.movedTo !== here.country) {
        await records.moved(uid, accountId, here.country);
        const ip = normalizeIp(from.ip);
        audit.record({
          type: 'sign_in.risk', outcome: 'success', actor: { type: 'user', id: accountId }, subject: { type: 'account', id: accountId }, accountId,
          ...(ip ? { ip } : {}),
          details: { mode: assessment.mode, action: assessment.action, applied: assessment.applied, reasons: ['session-moved'], summary: riskSummary(assessment) ?? null },
        });
      }
      return assessment;
    },

    /** The PIN for a locked session: unlocked, wrong (tries left), or too many wrong (the session ended). */
    async unlock(uid: string, account: AccountView, pin: string): Promise<{ outcome: 'unlocked' } | { outcome: 'wrong'; left: number } | { outcome: 'ended' }> {
      if (await deps.accounts.verifyPin(account.id, pin)) {
        await records.unlock(uid);
        return { outcome: 'unlocked' };
      }
      const failures = await records.pinFailed(uid);
      if (failures >= deps.maxPinFailures) {
        if (await end(account.id, uid)) ended(account.id, 1, { actor: { type: 'system' }, why: `${failures} wrong PINs` });
        return { outcome: 'ended' };
      }
      return { outcome: 'wrong', left: deps.maxPinFailures - failures };
    },

    /** The account's live sessions, this one first, then the most recently used. */
    async list(account: AccountView, currentUid: string | undefined): Promise<SessionView[]> {
      const devices = new Map((await deps.devices.listFor(account.id)).map((d) => [d.id, d]));
      const views: SessionView[] = [];
      for (const payload of await deps.storage.sessionsOf(account.id)) {
        const uid = payload.uid as string;
        const record = await records.of(uid);
        const signedInAt = record?.signedInAt ?? (typeof payload.loginTs === 'number' ? new Date(payload.loginTs * 1000) : undefined);
        const device = record?.deviceId ? devices.get(record.deviceId) : undefined;
        views.push({
          ref: refOf(uid), current: uid === currentUid,
          ...(signedInAt ? { signedInAt, endsAt: new Date(sessionEndsAt({ signedInAt: seconds(signedInAt), ...(account.security.autoLogoutDays ? { autoLogoutDays: account.security.autoLogoutDays } : {}), maxDays: deps.maxDays }) * 1000) } : {}),
          ...(record ? { lastActiveAt: record.lastActiveAt } : {}),
          ...(device?.name ? { deviceName: device.name } : {}),
          browser: record?.browser ?? UNKNOWN_BROWSER, os: record?.os ?? UNKNOWN_SYSTEM,
          ...(record?.ip ? { ip: record.ip } : {}), ...(record?.location ? { location: record.location } : {}),
          locked: record?.locked ?? false,
          clientIds: Object.keys((payload.authorizations as Record<string, unknown> | undefined) ?? {}),
        });
      }
      return views.sort((a, b) => Number(b.current) - Number(a.current) || (b.lastActiveAt?.getTime() ?? 0) - (a.lastActiveAt?.getTime() ?? 0));
    },

    /** Ends the account's session with this handle; false when the account has none such. `by`: audit it so. */
    async endByRef(accountId: string, ref: string, by?: EndedBy): Promise<boolean> {
      for (const payload of await deps.storage.sessionsOf(accountId)) {
        if (refOf(payload.uid as string) !== ref) continue;
        const done = await end(accountId, payload.uid as string);
        if (done && by) ended(accountId, 1, by);
        return done;
      }
      return false;
    },

    /** Ends every session of the account except `keepUid`; resolves to how many ended. `by`: audit it so. */
    async endOthers(accountId: string, keepUid: string | undefined, by?: EndedBy): Promise<number> {
      let count = 0;
      for (const payload of await deps.storage.sessionsOf(accountId)) {
        if (payload.uid !== keepUid && (await end(accountId, payload.uid as string))) count++;
      }
      if (by) ended(accountId, count, by);
      return count;
    },

    /**
     * Ends every session of the account signed in from this device registration (it was removed
     * or blocked); resolves to how many ended. `by`: audit it so.
     */
    async endForDevice(accountId: string, deviceId: string, by?: EndedBy): Promise<number> {
      let count = 0;
      for (const payload of await deps.storage.sessionsOf(accountId)) {
        const uid = payload.uid as string;
        if ((await records.of(uid))?.deviceId === deviceId && (await end(accountId, uid))) count++;
      }
      if (by) ended(accountId, count, by);
      return count;
    },

    end,
  };
}
