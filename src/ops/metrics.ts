// Prometheus metrics (prom-client), one registry per Tessera instance (tests run several in one
// process). Each source feeds them through one hook: the audit log's recorded events (sign-ins,
// codes, new devices, device blocks), the limits (lockouts and refusals), the transports
// (messages and delivery failures), the database driver's command events, the provider's events
// (step-ups unmet, back-channel logout deliveries), one HTTP middleware
// (metrics-http.ts), and a few calls from the sign-in steps (second factors, step-ups) and the
// webhook worker. Every label value comes from a fixed list: never an email, id, IP or raw path.
import client from 'prom-client';
import type { AuditInput, AuditSink } from '../audit/events.ts';
import type { Transports } from '../notify/transports.ts';
import type { Limits } from '../limits/service.ts';
import { ACR_LEVELS } from '../policy/assurance.ts';

/** A value from `allowed`, or "other": a label never carries free text. */
function bounded<T extends string>(value: unknown, allowed: readonly T[]): T | 'other' {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value) ? (value as T) : 'other';
}

const SIGN_IN_FAILURES = ['wrong_password', 'wrong_code', 'blocked_device'] as const;
const CHANNELS = ['email', 'sms', 'voice'] as const;
export const FACTOR_METHODS = ['webauthn', 'totp', 'sms', 'voice', 'email', 'recovery'] as const;
export const WEBHOOK_OUTCOMES = ['delivered', 'failed', 'abandoned', 'refused'] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];
const DB_OPERATIONS = ['find', 'insert', 'update', 'delete', 'findAndModify', 'aggregate', 'count', 'distinct', 'getMore', 'killCursors',
  'createIndexes', 'listIndexes', 'dropIndexes', 'listCollections', 'create', 'drop', 'ping', 'hello', 'isMaster', 'buildInfo', 'endSessions'] as const;

/** The driver's command monitoring events (MongoClient with monitorCommands). */
export interface CommandEvents {
  on(event: 'commandSucceeded' | 'commandFailed', listener: (e: { commandName: string; duration: number }) => void): unknown;
}

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics(options: { defaultMetrics?: boolean } = {}) {
  const registry = new client.Registry();
  // process memory, CPU, event-loop lag, GC, handles: prom-client's own collectors, on this registry
  if (options.defaultMetrics) client.collectDefaultMetrics({ register: registry, prefix: 'tessera_' });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new client.Counter<L>({ name: `tessera_${name}`, help, labelNames, registers: [registry] });

  const signIns = counter('sign_ins_total', 'Sign-in attempts by outcome (success, wrong_password, wrong_code, blocked_device, risk_refused) and the acr a success reached.', ['outcome', 'acr']);
  const prompts = counter('second_factor_prompts_total', 'Second-factor steps shown to a person, by the method shown.', ['method']);
  const verifications = counter('second_factor_verifications_total', 'Second-factor answers checked during sign-in, by method and outcome (success, failure).', ['method', 'outcome']);
  const stepUps = counter('step_ups_total', 'Step-ups of a signed-in session to a level it had not reached: asked, then met or unmet.', ['result']);
  const lockouts = counter('lockouts_total', 'Lockouts begun: an account\'s sign-in (the limits) or a device blocked after failed attempts.', ['kind']);
  const refusals = counter('limit_refusals_total', 'Requests refused by a limit, by kind.', ['kind']);
  const newDevices = counter('new_devices_total', 'Browsers that proved themselves for an account for the first time.', []);
  const codes = counter('codes_issued_total', 'One-time codes made to be sent, by channel.', ['channel']);
  const sent = counter('messages_sent_total', 'Messages handed to their transport (codes, notices), by channel.', ['channel']);
  const deliveryFailures = counter('message_delivery_failures_total', 'Messages their transport could not deliver, by channel.', ['channel']);
  const webhooks = counter('webhook_deliveries_total', 'Webhook delivery attempts by outcome (delivered, failed, abandoned, refused).', ['outcome']);
  const backchannel = counter('backchannel_logouts_total', 'Back-channel logout deliveries to relying parties by outcome (sent, failed).', ['outcome']);
  const http = new client.Histogram<'method' | 'route' | 'status_class'>({
    name: 'tessera_http_request_duration_seconds', help: 'HTTP request duration by method, route template and status class.',
    labelNames: ['method', 'route', 'status_class'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
  });
  const db = new client.Histogram<'operation' | 'outcome'>({
    name: 'tessera_db_command_duration_seconds', help: 'Database command duration by operation and outcome (success, failure), as the driver saw it.',
    labelNames: ['operation', 'outcome'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry],
  });

  /** What one recorded audit event counts. */
  function audited(event: AuditInput): void {
    const details = event.details ?? {};
    switch (event.type) {
      case 'sign_in.success':
        signIns.inc({ outcome: 'success', acr: bounded(details.acr, ACR_LEVELS) });
        if (details.stepUp === true) stepUps.inc({ result: 'met' });
        break;
      case 'sign_in.failure':
        signIns.inc({ outcome: bounded(details.result, SIGN_IN_FAILURES), acr: 'none' });
        break;
      case 'sign_in.risk':
        if (details.applied === 'refuse') signIns.inc({ outcome: 'risk_refused', acr: 'none' });
        break;
      case 'challenge.issued':
        codes.inc({ channel: bounded(details.channel, CHANNELS) });
        break;
      case 'device.verified':
        newDevices.inc();
        break;
      case 'device.blocked':
        // blocked by Tessera after failed attempts (an admin's or the person's own block is no lockout)
        if (event.actor.type === 'system') lockouts.inc({ kind: 'device' });
        break;
      default:
    }
  }

  return {
    registry,
    /** Wraps the audit log: every event recorded is also counted (after it is handed to the log). */
    auditSink<A extends AuditSink & { write?(input: AuditInput): Promise<unknown> }>(audit: A): A {
      return {
        ...audit,
        record(input: AuditInput) { audit.record(input); audited(input); },
        ...(audit.write ? { write(input: AuditInput) { const done = audit.write!(input); audited(input); return done; } } : {}),
      };
    },
    /** Wraps the transports: each message sent or failed, by channel. */
    transports(inner: Transports): Transports {
      const counted = (channel: (typeof CHANNELS)[number], send: () => Promise<void>) => send().then(
        () => { sent.inc({ channel }); },
        (err: unknown) => { deliveryFailures.inc({ channel }); throw err; },
      );
      return {
        email: (message) => counted('email', () => inner.email(message)),
        sms: (to, text) => counted('sms', () => inner.sms(to, text)),
        voice: (to, spoken) => counted('voice', () => inner.voice(to, spoken)),
      };
    },
    /** Wraps the limits: an account lockout begun, and every refusal, by kind. */
    limits(inner: Limits): Limits {
      const refused = (kind: string) => refusals.inc({ kind });
      return {
        ...inner,
        async signInFailed(p) { const began = await inner.signInFailed(p); if (began) lockouts.inc({ kind: 'sign_in' }); return began; },
        async signInRefused(p) { await inner.signInRefused(p); refused('sign_in_locked'); },
        async passwordAttempt(p, verify) {
          const result = await inner.passwordAttempt(p, verify);
          if (result.locked) refused('sign_in_locked');
          if (result.lockout) lockouts.inc({ kind: 'sign_in' });
          return result;
        },
        async passkeyState(p) { const state = await inner.passkeyState(p); if (state.locked) refused('passkey_locked'); return state; },
        async codesLockedFor(p) { const ms = await inner.codesLockedFor(p); if (ms > 0) refused('codes_locked'); return ms; },
        async resetAsked(email, ip) { const ok = await inner.resetAsked(email, ip); if (!ok) refused('password_reset'); return ok; },
        async resend(accountId) { const ok = await inner.resend(accountId); if (!ok) refused('resend'); return ok; },
        async phoneSend(send) { const cap = await inner.phoneSend(send); if (cap) refused(`phone_${cap}`); return cap; },
      };
    },
    /** Times every database command (the client must have been made with monitorCommands). */
    watchDatabase(events: CommandEvents): void {
      events.on('commandSucceeded', (e) => db.observe({ operation: bounded(e.commandName, DB_OPERATIONS), outcome: 'success' }, e.duration / 1000));
      events.on('commandFailed', (e) => db.observe({ operation: bounded(e.commandName, DB_OPERATIONS), outcome: 'failure' }, e.duration / 1000));
    },
    /** The second-factor step of a sign-in: shown for a method, or an answer checked. */
    secondFactor(method: string, event: 'prompted' | 'success' | 'failure'): void {
      const m = bounded(method, FACTOR_METHODS);
      if (event === 'prompted') prompts.inc({ method: m });
      else verifications.inc({ method: m, outcome: event });
    },
    /** A signed-in session's account asked for more in a sign-in (met is counted from sign_in.success, unmet from the provider). */
    stepUp(result: 'asked'): void {
      stepUps.inc({ result });
    },
    /**
     * The provider's answer unmet_authentication_requirements to a signed-in session: a step-up
     * unmet. Straight from the session check (no sign-in ran: `ctx.oidc.result` is unset) it was
     * also asked then; after a sign-in, that sign-in counted the ask. And every back-channel logout
     * delivery, sent or failed (the provider's end-session endpoint and oidc/account-sessions.ts
     * both report them as the provider's backchannel.success and backchannel.error).
     */
    watchProvider(provider: { on(event: 'authorization.error' | 'backchannel.success' | 'backchannel.error', listener: (ctx: never, err: unknown) => void): unknown }): void {
      provider.on('backchannel.success', () => backchannel.inc({ outcome: 'sent' }));
      provider.on('backchannel.error', () => backchannel.inc({ outcome: 'failed' }));
      provider.on('authorization.error', (ctx: { oidc?: { session?: { accountId?: string }; result?: unknown } }, err: unknown) => {
        if ((err as { error?: unknown }).error !== 'unmet_authentication_requirements' || !ctx.oidc?.session?.accountId) return;
        if (!ctx.oidc.result) stepUps.inc({ result: 'asked' });
        stepUps.inc({ result: 'unmet' });
      });
    },
    /** One webhook delivery attempt's outcome (the webhook worker calls it). */
    webhookDelivery(outcome: WebhookOutcome): void {
      webhooks.inc({ outcome: bounded(outcome, WEBHOOK_OUTCOMES) });
    },
    /** One HTTP request, labelled by the route template (never the raw path). */
    httpRequest(method: string, route: string, status: number, seconds: number): void {
      http.observe({ method: bounded(method, ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']), route, status_class: `${Math.min(5, Math.max(1, Math.floor(status / 100)))}xx` }, seconds);
    },
  };
}
