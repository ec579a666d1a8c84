// The audit log's vocabulary: what an event records (time, actor, subject, IP, outcome, details)
// and the stable event types admins filter on. Events are written once and never changed; they
// expire after AUDIT_RETENTION_DAYS. The store is store.ts; every module reports through
// the small `AuditSink` interface so none of them touches the collection.

/** Every event type Tessera writes. Stable: admins, exports and SIEM rules filter on these strings. */
export const AUDIT_TYPES = [
  // sign-in (every attempt: success, wrong password or code, blocked device, locked account)
  'sign_in.success', 'sign_in.failure',
  // the adaptive sign-in policy (policy/risk.ts) found something: what it asked for and why (in observe mode: would have)
  'sign_in.risk',
  // too many wrong passwords: new sign-ins of the account are paused for a while (the lockout email goes out too)
  'sign_in.locked_out',
  // one-time codes (email, SMS, voice): sent, and a wrong or expired entry
  'challenge.issued', 'challenge.failed',
  // device lifecycle (by the user, an admin or the system); verified: a new browser proved itself for the account
  'device.verified', 'device.trusted', 'device.blocked', 'device.unblocked', 'device.removed', 'device.renamed', 'device.flagged',
  // a sign-in with a trusted device's cookie but without a valid signature by its device key (a possible copied cookie)
  'device.key_proof_failed',
  // the account's own security changes (security center), and sessions ending
  'mfa.changed', 'mfa.recovery_code_used', 'password.changed', 'pin.changed', 'phone.changed', 'trusted_ip.changed', 'session.changed', 'session.ended', 'session.reauth_failed',
  // an application's access removed by the person (its grant and tokens revoked)
  'grant.revoked',
  // the person downloaded a copy of their data (security center, "Your data")
  'account.data_exported',
  // the person's own account deletion: asked for, cancelled (a sign-in, or the person), done
  'account.deletion_scheduled', 'account.deletion_cancelled', 'account.deleted',
  // the person's own profile (name and standard claims), email address (changed with a code sent to the new one; verified)
  'account.profile_changed', 'account.email_changed', 'account.email_verified',
  // "Forgot password?": the person set a new password with an emailed code (and a second factor when the account has one)
  'account.password_reset_self',
  // "This wasn't me" from a security email: the device blocked, every session ended, a new password required
  'account.secured',
  // self-service sign-up (signup.enabled): an account made by the person, its address proven by an emailed code
  'account.signed_up',
  // assisted recovery of a lost second factor: asked for (after the password), approved or rejected by an admin, cancelled by the person's link, completed (factors reset)
  'recovery.requested', 'recovery.approved', 'recovery.rejected', 'recovery.cancelled', 'recovery.completed',
  // administration (console, JSON API or CLI)
  'admin.client.created', 'admin.client.updated', 'admin.client.secret_rotated', 'admin.client.deleted', 'admin.client.api_granted',
  'admin.user.created', 'admin.user.disabled', 'admin.user.enabled', 'admin.user.locked', 'admin.user.unlocked',
  'admin.user.mfa_reset', 'admin.user.password_reset', 'admin.user.role_set', 'admin.user.updated',
  // an administrator set an already verified phone number (no code sent; the person is emailed)
  'admin.user.phone_set',
  'admin.organisation.created', 'admin.organisation.renamed', 'admin.organisation.member_set', 'admin.organisation.member_removed',
  'admin.webhook.created', 'admin.webhook.updated', 'admin.webhook.secret_rotated', 'admin.webhook.deleted',
  // a webhook endpoint that failed every delivery attempt for 24 hours was turned off by Tessera (its admins are emailed)
  'webhook.disabled',
] as const;

export type AuditType = (typeof AUDIT_TYPES)[number];

export type AuditOutcome = 'success' | 'failure';

/** Who did it: the person themself, an admin, a machine client (admin API), or Tessera. */
export interface AuditActor {
  type: 'user' | 'admin' | 'client' | 'system';
  id?: string;
  /** An email or client id, for reading. */
  label?: string;
}

/** What it was done to. */
export interface AuditSubject {
  type: 'account' | 'client' | 'device' | 'organisation' | 'session' | 'webhook';
  id: string;
  label?: string;
}

export type AuditDetails = Record<string, string | number | boolean | null | string[]>;

export interface AuditInput {
  type: AuditType;
  outcome: AuditOutcome;
  actor: AuditActor;
  subject?: AuditSubject;
  /** The account the event concerns (filtering by account finds it). */
  accountId?: string;
  ip?: string;
  details?: AuditDetails;
}

export interface AuditEvent extends AuditInput {
  /** Time-ordered: a later event has a greater id. */
  id: string;
  at: Date;
  details: AuditDetails;
}

export interface AuditFilter {
  from?: Date;
  to?: Date;
  accountId?: string;
  /** An exact type, or a family ending in '.' or '.*' ('admin.' / 'admin.*' matches every admin action). */
  type?: string;
  outcome?: AuditOutcome;
  /** The `next` of the previous page. */
  cursor?: string;
  /** 1-200, default 50. */
  limit?: number;
}

/** How modules report an event: fire and forget, a failed write is logged and never fails the caller. */
export interface AuditSink {
  record(event: AuditInput): void;
}

/** For modules used without an audit log (tests of one module, tools). */
export const NO_AUDIT: AuditSink = { record() {} };
