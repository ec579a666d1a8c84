// The webhook vocabulary: the fixed list of event types an endpoint may choose, which audit events
// become which of them, and the JSON body a receiver gets (Standard Webhooks: type, timestamp,
// data). Pure: no I/O, so the mapping is tested with tables of audit events.
import type { AuditEvent } from '../audit/events.ts';

/** Every webhook event type, in the order the console lists them. Stable: receivers filter on these strings. */
export const WEBHOOK_EVENT_TYPES = [
  'sign_in.new_device', 'sign_in.new_country', 'sign_in.impossible_travel', 'sign_in.locked_out',
  'device.blocked', 'device.unblocked', 'device.removed',
  'second_factor.added', 'second_factor.removed', 'second_factor.reset',
  'password.changed', 'password.reset', 'recovery_code.used',
  'admin.action',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What each type means, for the console and the README. */
export const WEBHOOK_EVENT_LABELS: Record<WebhookEventType, string> = {
  'sign_in.new_device': 'Sign-in from a new device (the browser proved itself)',
  'sign_in.new_country': 'Sign-in from a country the account has not signed in from',
  'sign_in.impossible_travel': 'Impossible travel (too far from the previous sign-in, too soon)',
  'sign_in.locked_out': 'Sign-ins paused after too many wrong passwords (lockout)',
  'device.blocked': 'Device blocked',
  'device.unblocked': 'Device unblocked',
  'device.removed': 'Device removed',
  'second_factor.added': 'Second factor added or turned on',
  'second_factor.removed': 'Second factor removed or turned off',
  'second_factor.reset': 'Second factors reset (by an admin or an assisted recovery)',
  'password.changed': 'Password changed by the person',
  'password.reset': 'Password reset (forgot password, or by an admin)',
  'recovery_code.used': 'Recovery code used',
  'admin.action': 'Any administrator action (console, API or command line)',
};

export const isWebhookEventType = (value: unknown): value is WebhookEventType =>
  typeof value === 'string' && (WEBHOOK_EVENT_TYPES as readonly string[]).includes(value);

const DIRECT: Partial<Record<AuditEvent['type'], WebhookEventType>> = {
  'device.verified': 'sign_in.new_device',
  'sign_in.locked_out': 'sign_in.locked_out',
  'device.blocked': 'device.blocked',
  'device.unblocked': 'device.unblocked',
  'device.removed': 'device.removed',
  'admin.user.mfa_reset': 'second_factor.reset',
  'recovery.completed': 'second_factor.reset',
  'password.changed': 'password.changed',
  'account.password_reset_self': 'password.reset',
  'admin.user.password_reset': 'password.reset',
  'mfa.recovery_code_used': 'recovery_code.used',
};

/** The risk reasons (policy/risk.ts codes) that are webhook types of their own. */
const RISK_REASONS: [string, WebhookEventType][] = [['new-country', 'sign_in.new_country'], ['impossible-travel', 'sign_in.impossible_travel']];

/** mfa.changed says what changed in words (account/routes.ts, enrolment): taking a method away, or adding one. */
const REMOVED = /\b(removed|turned off)\b/i;

/**
 * The webhook event types an audit event is (none for most). Only successful changes count, except
 * a lockout and a refused risky sign-in, which are failures by nature.
 */
export function webhookTypesOf(event: Pick<AuditEvent, 'type' | 'outcome' | 'details'>): WebhookEventType[] {
  const out: WebhookEventType[] = [];
  if (event.type === 'sign_in.risk') {
    const reasons = Array.isArray(event.details.reasons) ? event.details.reasons : [];
    for (const [code, type] of RISK_REASONS) if (reasons.includes(code)) out.push(type);
    return out;
  }
  if (event.outcome !== 'success' && event.type !== 'sign_in.locked_out') return out;
  if (event.type.startsWith('admin.')) return ['admin.action'];
  if (event.type === 'mfa.changed') return [REMOVED.test(String(event.details.change ?? '')) ? 'second_factor.removed' : 'second_factor.added'];
  const direct = DIRECT[event.type];
  return direct ? [direct] : out;
}

/** The message id (the `webhook-id` header): one per audit event and type, the same on every retry and for every endpoint. */
export const messageId = (auditId: string, type: WebhookEventType) => `msg_${auditId}_${type}`;

/**
 * The request body (Standard Webhooks' suggested shape): the webhook type, when it happened, and
 * the audit event as the audit API shows it (its id finds it in the audit log).
 */
export function payloadOf(event: AuditEvent, type: WebhookEventType): string {
  return JSON.stringify({
    type,
    timestamp: event.at.toISOString(),
    data: {
      auditEventId: event.id,
      auditType: event.type,
      outcome: event.outcome,
      actor: event.actor,
      ...(event.subject ? { subject: event.subject } : {}),
      ...(event.accountId ? { accountId: event.accountId } : {}),
      ...(event.ip ? { ip: event.ip } : {}),
      details: event.details,
    },
  });
}
