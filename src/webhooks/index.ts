// Security events delivered to webhooks (README "Webhooks"): the endpoints administration
// manages, the outbox writer the audit log calls, and the delivery worker, put together.
//
// Nothing lost: the audit log writes each batch of events in one insert after the request's turn
// of the event loop (audit/store.ts); just before that insert it hands the batch to `enqueue`,
// which writes the deliveries (one per event type and matching endpoint) to the outbox. Outbox
// first, audit event second: a crash between the two leaves a delivery whose event is missing from
// the audit log (the receiver still hears of it), never an audited event that no endpoint hears
// of. What was never written (a crash before either) is lost from both alike, as the audit log's
// own fire-and-forget contract says. Which endpoints match comes from this process's copy of the
// endpoint list, refreshed on every change here and on every worker pass (another process's new
// endpoint is seen within WEBHOOK_INTERVAL_SECONDS); no request ever waits for it.
import { readFileSync } from 'node:fs';
import type { AuditEvent, AuditSink } from '../audit/events.ts';
import type { Sealer } from '../crypto/seal.ts';
import type { Database } from '../db/database.ts';
import type { Transports } from '../notify/transports.ts';
import type { CodeMessages, Reader } from '../notify/messages.ts';
import { RETRY_WINDOW_MS } from '../policy/webhook-retry.ts';
import { messageId, payloadOf, webhookTypesOf } from './events.ts';
import { createWebhookEndpoints, type WebhookEndpoints } from './endpoints.ts';
import { createWebhookStore, type DeliveryDoc, type EndpointDoc } from './store.ts';
import { send } from './transport.ts';
import { createWebhookWorker, type DeliveryOutcome } from './worker.ts';

export interface WebhookSettings {
  allowPrivate: boolean;
  allowHttp: boolean;
  caFile: string;
  timeoutMs: number;
  intervalSeconds: number;
}

export interface WebhookDeps {
  db: Database;
  sealer: Sealer;
  settings: WebhookSettings;
  issuer: string;
  clock: () => Date;
  log: (line: string) => void;
  audit: AuditSink;
  transports: Transports;
  /** The turned-off notice, in each administrator's own language. */
  messages: CodeMessages;
  /** The organisation the account belongs to (membership as orgs/store.ts defines it). */
  organisationOf(accountId: string): Promise<string | undefined>;
  organisationExists(id: string): Promise<boolean>;
  /** Who is told when an endpoint is turned off: Tessera's admins, and the organisation's admins for a scoped one (each with its profile: its language). */
  admins(organisationId: string | undefined): Promise<{ email: string; profile?: Reader | undefined }[]>;
  counted?: (outcome: DeliveryOutcome) => void;
}

export interface Webhooks {
  endpoints: WebhookEndpoints;
  /** The outbox writer (the audit log calls it with each batch, before writing it). */
  enqueue(events: AuditEvent[]): Promise<void>;
  /** One delivery pass (tests move the clock, then call it). */
  runOnce(): Promise<number>;
  /** Re-reads the endpoint list (start-up; after changes). */
  refresh(): Promise<void>;
  /** Starts the timer of the delivery worker (the server; tests call runOnce). */
  start(): void;
  /** Stops the timer and waits for the pass in progress. */
  stop(): Promise<void>;
}

const RETAIN_MS = 7 * 24 * 3600_000;

export function createWebhooks(deps: WebhookDeps): Webhooks {
  const { settings, clock } = deps;
  const store = createWebhookStore(deps.db);
  let known: EndpointDoc[] = [];
  const refresh = async () => { known = await store.endpoints.all(); };
  const endpoints = createWebhookEndpoints({
    store, sealer: deps.sealer, settings, clock, organisationExists: deps.organisationExists, changed: refresh,
  });
  const ca = settings.caFile ? readFileSync(settings.caFile, 'utf8') : undefined;

  async function endpointFailing(endpoint: EndpointDoc, delivery: DeliveryDoc): Promise<void> {
    const reason = `every delivery attempt failed for 24 hours (event ${delivery.messageId})`;
    if (!(await store.endpoints.disable(endpoint._id, clock(), reason))) return;
    await refresh();
    deps.audit.record({
      type: 'webhook.disabled', outcome: 'success', actor: { type: 'system' }, subject: { type: 'webhook', id: endpoint._id, label: endpoint.url },
      details: { url: endpoint.url, reason, ...(endpoint.organisationId ? { organisationId: endpoint.organisationId } : {}) },
    });
    const to = await deps.admins(endpoint.organisationId);
    await Promise.all(to.map((admin) => disabledNotice(deps.messages.in(admin.profile), admin.email, endpoint, delivery.messageId, deps.issuer).then((email) => deps.transports.email(email))
      .catch((err: unknown) => deps.log(`[tessera] could not email that a webhook endpoint was turned off: ${(err as Error).message}`))));
  }

  const worker = createWebhookWorker({
    store, clock, timeoutMs: settings.timeoutMs, secretOf: (e) => endpoints.secretOf(e), endpointFailing, log: deps.log,
    send: (url, headers, body) => send(url, headers, body, { timeoutMs: settings.timeoutMs, allowPrivate: settings.allowPrivate, ...(ca ? { ca } : {}) }),
    counted: deps.counted ?? (() => {}),
  });

  let timer: NodeJS.Timeout | undefined;
  let passing: Promise<unknown> | undefined;
  const tick = () => {
    if (passing) return;
    passing = refresh().then(() => worker.runOnce())
      .catch((err: unknown) => deps.log(`[tessera] webhook delivery pass failed: ${(err as Error).message}`))
      .finally(() => { passing = undefined; });
  };

  return {
    endpoints,
    async enqueue(events) {
      const active = known.filter((e) => e.enabled);
      if (!active.length) return;
      const orgOf = new Map<string, Promise<string | undefined>>();
      const docs: DeliveryDoc[] = [];
      for (const event of events) {
        for (const type of webhookTypesOf(event)) {
          for (const endpoint of active) {
            if (!endpoint.types.includes(type)) continue;
            if (endpoint.organisationId) {
              // an organisation's endpoint hears of its members only
              if (!event.accountId) continue;
              if (!orgOf.has(event.accountId)) orgOf.set(event.accountId, deps.organisationOf(event.accountId));
              if ((await orgOf.get(event.accountId)) !== endpoint.organisationId) continue;
            }
            const id = messageId(event.id, type);
            docs.push({
              _id: `${endpoint._id}:${id}`, endpointId: endpoint._id, messageId: id, type, payload: payloadOf(event, type),
              createdAt: event.at, nextAt: event.at, attempts: 0, state: 'pending', expiresAt: new Date(event.at.getTime() + RETRY_WINDOW_MS + RETAIN_MS),
            });
          }
        }
      }
      await store.deliveries.enqueue(docs);
      if (docs.length && timer) setImmediate(tick);
    },
    runOnce: () => worker.runOnce(),
    refresh,
    start() {
      timer ??= setInterval(tick, settings.intervalSeconds * 1000).unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await passing;
      await worker.settled();
    },
  };
}

function disabledNotice(messages: CodeMessages, to: string, endpoint: EndpointDoc, event: string, issuer: string) {
  const link = `${issuer}/admin/webhooks/${encodeURIComponent(endpoint._id)}`;
  // an organisation's admins turn it on again in their security center (account/org-webhooks.ts)
  const own = endpoint.organisationId ? `${issuer}/account/security/organisation/webhooks/${encodeURIComponent(endpoint._id)}` : undefined;
  return messages.webhookDisabled(to, endpoint, event, link, own);
}
