// Every password typed to confirm a change — on the account pages and in the admin console —
// goes through the sign-in limits: a locked account is refused like a wrong password, each wrong
// one counts toward the account's lockout (its known-device limit: the person is signed in from
// this browser), is audited, and counts in the session; after REAUTH_MAX_FAILURES wrong passwords
// the session ends (its relying parties too) and the owner is emailed, as the PIN unlock does.
// So a stolen session cannot guess the password at leisure.
import type { Context } from 'koa';
import { UserFacingError } from '../http/errors.ts';
import { normalizeEmail, type AccountStore, type AccountView } from '../accounts/store.ts';
import type { Limits } from '../limits/service.ts';
import type { SessionService } from '../sessions/service.ts';
import type { AuditSink } from '../audit/events.ts';
import type { ChangeSaid } from '../notify/messages.ts';
import { normalizeIp } from '../policy/ip-ranges.ts';

export interface PasswordGuardDeps {
  accounts: AccountStore;
  limits: Limits;
  sessions: SessionService;
  audit: AuditSink;
  /** Emails the account about a security event. */
  notify(ctx: Context, account: AccountView, change: string, said?: ChangeSaid): void;
  /** Wrong passwords in one session before it ends. */
  maxFailures: number;
}

export type PasswordGuard = ReturnType<typeof createPasswordGuard>;

export const signedOutForGuessing = () => new UserFacingError(401, 'signed_out',
  'Too many wrong passwords were typed in this session, so it was signed out. Sign in again; if this was not you, change your password.');

export function createPasswordGuard(deps: PasswordGuardDeps) {
  return {
    /**
     * Whether `typed` is the account's password, for a change in the session `sessionUid`. The
     * hash is checked either way; a wrong one is counted (and may end the session: 401).
     */
    async check(ctx: Context, account: AccountView, sessionUid: string, typed: string): Promise<boolean> {
      // nothing typed (or not text: the field reader gives ''): no guess was made, nothing to count
      if (!typed) return false;
      const ip = normalizeIp(ctx.ip) ?? ctx.ip;
      const party = { email: normalizeEmail(account.email), browserId: (ctx.state.browserId as string | undefined) ?? `session:${sessionUid}`, ip, knownDevice: true };
      const { right, locked } = await deps.limits.passwordAttempt(party, async () => (await deps.accounts.authenticate(account.email, typed)) !== undefined);
      if (right) return true;
      const failures = await deps.sessions.reauthFailed(sessionUid);
      deps.audit.record({
        type: 'session.reauth_failed', outcome: 'failure', actor: { type: 'user', id: account.id, label: account.email },
        subject: { type: 'account', id: account.id, label: account.email }, accountId: account.id, ip, details: { failures, locked, max: deps.maxFailures },
      });
      if (failures < deps.maxFailures) return false;
      if (await deps.sessions.end(account.id, sessionUid)) {
        deps.audit.record({ type: 'session.ended', outcome: 'success', actor: { type: 'system' }, subject: { type: 'account', id: account.id }, accountId: account.id, ip, details: { why: `${failures} wrong passwords typed to confirm a change`, sessions: 1 } });
      }
      deps.notify(ctx, account, `A session of your account was signed out after ${failures} wrong passwords were typed to confirm a change. If this was not you, change your password.`,
        { key: 'email:securityChange.reauthSignedOut', vars: { count: failures } });
      throw signedOutForGuessing();
    },
  };
}
