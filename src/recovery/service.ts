// Assisted recovery (README "Lost second factor"): a person who can use none of their second
// factors asks, after proving the password in a sign-in; an administrator approves (after
// confirming the person's identity out of band, with a note) or rejects; an approval starts a
// waiting period (account.recoveryWaitHours, Tessera's clock) in which every channel of the account
// is told, with a one-click cancel link; then the second factors are reset through the admin MFA
// reset, and the next sign-in sets up a new one. Every step is audited and written to the account's
// session history. The cancel link is an HMAC over the account and the request's secret (nothing
// else stored): it works for that request only, until it is closed or the waiting period is over.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AccountView } from '../accounts/store.ts';
import type { AuditSink, AuditType } from '../audit/events.ts';
import { describeLocation, type ClientInfo } from '../devices/client-info.ts';
import type { SignInEvent, SignInResult } from '../devices/events.ts';
import type { Transports } from '../notify/transports.ts';
import type { CodeMessages, RecoveryStep, Whereabouts } from '../notify/messages.ts';
import type { AdminActor, AdminService } from '../admin/types.ts';
import { stageOf } from '../policy/recovery.ts';
import type { Recovery, RecoveryActor, RecoveryStore } from './store.ts';

export const CANCEL_PATH = '/account/recovery/cancel';
const TOKEN = /^([\w-]{1,64})\.([\w-]{43})$/;

export interface RecoveryServiceDeps {
  store: RecoveryStore;
  accounts: { findById(id: string): Promise<AccountView | undefined> };
  history: { append(accountId: string, ...entries: SignInEvent[]): Promise<void> };
  audit: AuditSink;
  transports: Transports;
  /** The notices, written in the account's language (its profile's locale and zone). */
  messages: CodeMessages;
  verifiedPhone(account: { id: string; email: string }): Promise<string | undefined>;
  /** The admin service: the reset is its MFA reset (factors, routine method, sessions, email, audit). */
  admin: () => AdminService;
  waitHours: number;
  issuer: string;
  key: Buffer;
  clock: () => Date;
  log: (line: string) => void;
}

/** A usable link also says the account's time zone (its profile's `zoneinfo`), for the times its page shows. */
export type LinkCheck = { ok: true; recovery: Recovery; zoneinfo?: string } | { ok: false; why: 'invalid' | 'closed' | 'too_late' };

export type AssistedRecovery = ReturnType<typeof createAssistedRecovery>;

/** A reset claimed this long ago without completing was cut short (a live one takes a second or two). */
const CUT_SHORT_MS = 60_000;
const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
/** Steps an administrator takes: the history names the console, not a browser of the person. */
const CONSOLE: ClientInfo = { browser: 'Tessera', os: 'the admin console' };

export function createAssistedRecovery(deps: RecoveryServiceDeps) {
  const { store, clock } = deps;
  const mac = (accountId: string, nonce: string) => createHmac('sha256', deps.key).update(['recovery-cancel', accountId, nonce].join('\n')).digest('base64url');
  const cancelLink = (r: Recovery) => `${deps.issuer}${CANCEL_PATH}?token=${r.accountId}.${mac(r.accountId, r.nonce)}`;

  /** One step: the audit log, the account's session history, and (optionally) every channel. */
  async function record(r: Pick<Recovery, 'accountId' | 'email'>, type: AuditType, result: SignInResult, actor: { type: 'user' | 'admin' | 'system'; id?: string; label?: string }, seen: ClientInfo, details: Record<string, string | null>, outcome: 'success' | 'failure' = 'success'): Promise<void> {
    deps.audit.record({
      type, outcome, actor, subject: { type: 'account', id: r.accountId, label: r.email }, accountId: r.accountId, ...(seen.ip ? { ip: seen.ip } : {}), details,
    });
    if (outcome === 'failure') return;
    const entry: SignInEvent = {
      id: `${clock().getTime().toString(36).padStart(9, '0')}-${randomBytes(6).toString('base64url')}`, accountId: r.accountId, at: clock(), result,
      ...(seen.ip ? { ip: seen.ip } : {}), ...(seen.location ? { location: seen.location } : {}), browser: seen.browser, os: seen.os, factors: [],
    };
    await deps.history.append(r.accountId, entry).catch((err: Error) => deps.log(`[tessera] could not record a recovery step in the history: ${err.message}`));
  }

  /**
   * Emails the account about `step` in its own language (and, for an approval, texts its verified
   * primary mobile), in the background.
   */
  function tell(r: Pick<Recovery, 'accountId' | 'email'>, step: RecoveryStep, facts: { seen?: Whereabouts; until?: Date; cancel?: string } = {}): void {
    void (async () => {
      const messages = deps.messages.in((await deps.accounts.findById(r.accountId))?.profile);
      await deps.transports.email(await messages.assistedRecovery(r.email, step, facts));
      const phone = step === 'approved' && facts.until && facts.cancel ? await deps.verifiedPhone({ id: r.accountId, email: r.email }) : undefined;
      if (phone) await deps.transports.sms(phone, messages.assistedRecoverySms(facts.until!, facts.cancel!));
    })().catch((err: Error) => deps.log(`[tessera] could not tell an account about a recovery step: ${err.message}`));
  }

  /** Completes a due request (waiting period over, or a reset cut short): true when the factors are gone now. */
  async function completeIfDue(accountId: string): Promise<boolean> {
    const current = await store.get(accountId);
    if (stageOf(current, clock()) !== 'due') return false;
    const claimed = await store.beginReset(accountId);
    if (!claimed?.decidedBy) return false;
    try {
      // the admin MFA reset, in the approving administrator's name: factors, routine method, sessions, email, audit
      const actor: AdminActor = { type: 'admin', id: claimed.decidedBy.id, label: claimed.decidedBy.label };
      await deps.admin().users.perform(actor, accountId, 'reset-mfa');
    } catch (err) {
      // left "resetting": the next sign-in at its second-factor step, or the sweep, finishes it
      deps.log(`[tessera] assisted recovery reset of ${accountId} failed (retried): ${(err as Error).message}`);
      return false;
    }
    if (await store.finishReset(accountId)) {
      await record(claimed, 'recovery.completed', 'recovery_completed', { type: 'system' }, { browser: 'Tessera', os: 'the waiting period ended' }, { approvedBy: claimed.decidedBy.label });
    }
    return true;
  }

  return {
    waitHours: deps.waitHours,
    /** Tessera's clock, for pages that say where a request stands. */
    now: clock,
    get: (accountId: string) => store.get(accountId),
    queue: () => store.queue(),
    completeIfDue,

    /**
     * Finishes the resets a crash cut short (claimed over a minute ago, still "resetting"): the
     * next sign-in finishes one only at its second-factor step, which an account whose routine
     * method the reset already cleared skips. The server runs this every minute; resolves to the
     * accounts finished.
     */
    async sweep(): Promise<string[]> {
      const before = clock().getTime() - CUT_SHORT_MS;
      const finished: string[] = [];
      for (const r of await store.queue()) {
        if (r.state !== 'resetting' || (r.resetClaimedAt && new Date(r.resetClaimedAt).getTime() > before)) continue;
        if (await completeIfDue(r.accountId)) finished.push(r.accountId);
      }
      return finished;
    },

    /** The person asks (their password proven in this sign-in): the request, or why not. */
    async request(account: AccountView, seen: ClientInfo, message: string) {
      const from = { ...(seen.ip ? { ip: seen.ip } : {}), where: describeLocation(seen.location), browser: seen.browser, os: seen.os };
      const opened = await store.open(account.id, { email: account.email, from, ...(message ? { message } : {}) });
      const who = { type: 'user' as const, id: account.id, label: account.email };
      const target = { accountId: account.id, email: account.email };
      if (!opened.ok) {
        await record(target, 'recovery.requested', 'recovery_requested', who, seen, { refused: opened.why }, 'failure');
        return opened;
      }
      await record(target, 'recovery.requested', 'recovery_requested', who, seen, { message: message || null });
      tell(target, 'requested', { seen: { at: opened.recovery.requestedAt, ...from }, cancel: cancelLink(opened.recovery) });
      return opened;
    },

    /** An administrator approved (identity confirmed out of band, `note` says how): the waiting period starts. */
    async approve(actor: RecoveryActor & { ip?: string }, accountId: string, note: string): Promise<Recovery | undefined> {
      const resetAfter = new Date(clock().getTime() + deps.waitHours * 3600_000);
      const approved = await store.approve(accountId, { id: actor.id, label: actor.label }, note, resetAfter);
      if (!approved) return undefined;
      await record(approved, 'recovery.approved', 'recovery_approved', { type: 'admin', id: actor.id, label: actor.label }, { ...CONSOLE, ...(actor.ip ? { ip: actor.ip } : {}) }, { note, resetAfter: resetAfter.toISOString() });
      tell(approved, 'approved', { until: resetAfter, cancel: cancelLink(approved) });
      return approved;
    },

    /** An administrator rejected the request (`note`: why); the person is told. */
    async reject(actor: RecoveryActor & { ip?: string }, accountId: string, note: string): Promise<Recovery | undefined> {
      const rejected = await store.reject(accountId, { id: actor.id, label: actor.label }, note);
      if (!rejected) return undefined;
      await record(rejected, 'recovery.rejected', 'recovery_rejected', { type: 'admin', id: actor.id, label: actor.label }, { ...CONSOLE, ...(actor.ip ? { ip: actor.ip } : {}) }, { note });
      tell(rejected, 'rejected');
      return rejected;
    },

    /** Whether a cancel link works now, and for which request. */
    async check(token: string): Promise<LinkCheck> {
      const m = typeof token === 'string' ? TOKEN.exec(token) : null;
      if (!m) return { ok: false, why: 'invalid' };
      const recovery = await store.get(m[1]!);
      if (!recovery || !same(m[2]!, mac(recovery.accountId, recovery.nonce))) return { ok: false, why: 'invalid' };
      const stage = stageOf(recovery, clock());
      if (stage === 'due') return { ok: false, why: 'too_late' };
      if (stage === 'closed') return { ok: false, why: recovery.state === 'completed' ? 'too_late' : 'closed' };
      const zoneinfo = (await deps.accounts.findById(recovery.accountId))?.profile?.zoneinfo;
      return { ok: true, recovery, ...(zoneinfo ? { zoneinfo } : {}) };
    },

    /** The cancel link's button: once; the account is told. */
    async cancel(token: string, seen: ClientInfo): Promise<LinkCheck> {
      const link = await this.check(token);
      if (!link.ok) return link;
      const cancelled = await store.cancel(link.recovery.accountId, link.recovery.nonce);
      if (!cancelled) return this.check(token).then((again) => (again.ok ? { ok: false, why: 'closed' } : again));
      await record(cancelled, 'recovery.cancelled', 'recovery_cancelled', { type: 'user', id: cancelled.accountId, label: cancelled.email }, seen, { stage: link.recovery.state });
      tell(cancelled, 'cancelled');
      return { ok: true, recovery: cancelled, ...(link.zoneinfo ? { zoneinfo: link.zoneinfo } : {}) };
    },
  };
}
