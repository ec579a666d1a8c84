// The delivery worker: finds pending deliveries that are due, claims the next attempt of each
// (store.ts: inserting the attempt is the claim, so no two workers send the same attempt), signs
// and sends it, records the outcome, and moves the delivery on: delivered, retried after the
// backoff (policy/webhook-retry.ts), or — 24 hours of failures — failed, which turns the endpoint
// off and emails the admins. `runOnce` is one pass (tests call it after moving the clock); the
// server calls it on a timer. After a restart the next pass simply finds what is still pending.
//
// A process that died during a request leaves an attempt without an outcome. Whether the receiver
// got it is unknown: once the lease (the request timeout plus a minute) is over the attempt counts
// as interrupted and the next one follows, with the same webhook-id, so the receiver can dedupe.
import { Webhook } from 'standardwebhooks';
import { nextAttemptAt } from '../policy/webhook-retry.ts';
import type { AttemptDoc, DeliveryDoc, EndpointDoc, WebhookStore } from './store.ts';
import { attemptId } from './store.ts';
import type { SendResult } from './transport.ts';

export type DeliveryOutcome = 'delivered' | 'failed' | 'abandoned' | 'refused';

export interface WorkerDeps {
  store: WebhookStore;
  clock: () => Date;
  secretOf(endpoint: EndpointDoc): string;
  send(url: string, headers: Record<string, string>, body: string): Promise<SendResult>;
  timeoutMs: number;
  /** Turns the endpoint off after a delivery failed for 24 hours (audit, emails). */
  endpointFailing(endpoint: EndpointDoc, delivery: DeliveryDoc): Promise<void>;
  /** Each attempt's outcome (metrics). */
  counted(outcome: DeliveryOutcome): void;
  log: (line: string) => void;
}

const BATCH = 50;
const RETAIN_MS = 7 * 24 * 3600_000;

export function createWebhookWorker(deps: WorkerDeps) {
  const { store, clock } = deps;
  const leaseMs = deps.timeoutMs + 60_000;
  /** Attempts this process is sending right now (never taken for interrupted). */
  const inFlight = new Set<string>();
  const running = new Set<Promise<unknown>>();

  /** Moves the delivery on from attempt `a` (idempotent: guarded by the attempt count it started from). */
  async function apply(delivery: DeliveryDoc, endpoint: EndpointDoc | undefined, a: AttemptDoc): Promise<void> {
    const from = a.attempt - 1;
    if (a.outcome === 'delivered') {
      if (await store.deliveries.advance(delivery._id, from, { state: 'delivered', attempts: a.attempt })) {
        await store.endpoints.change(delivery.endpointId, { lastSuccessAt: a.finishedAt ?? clock() });
      }
      return;
    }
    const next = nextAttemptAt(delivery.createdAt.getTime(), a.attempt, (a.finishedAt ?? clock()).getTime());
    if (next !== undefined) {
      await store.deliveries.advance(delivery._id, from, { attempts: a.attempt, nextAt: new Date(next) });
      return;
    }
    if (!(await store.deliveries.advance(delivery._id, from, { state: 'failed', attempts: a.attempt }))) return;
    deps.counted('abandoned');
    // failing for the whole window with no success since this event: the endpoint is turned off
    if (endpoint?.enabled && !(endpoint.lastSuccessAt && endpoint.lastSuccessAt > delivery.createdAt)) await deps.endpointFailing(endpoint, delivery);
  }

  /** Attempt n exists already: finish its bookkeeping, or take it for interrupted when its lease is over. */
  async function settleExisting(delivery: DeliveryDoc, endpoint: EndpointDoc | undefined, id: string): Promise<void> {
    let a = await store.attempts.get(id);
    if (!a) return;
    if (!a.outcome) {
      if (inFlight.has(id) || a.startedAt.getTime() + leaseMs > clock().getTime()) return;
      a = await store.attempts.finish(id, { outcome: 'interrupted', finishedAt: clock(), error: 'interrupted: Tessera stopped during the request' }) ?? await store.attempts.get(id);
      if (!a?.outcome) return;
    }
    await apply(delivery, endpoint, a);
  }

  async function deliver(delivery: DeliveryDoc, endpoints: Map<string, EndpointDoc>): Promise<void> {
    const endpoint = endpoints.get(delivery.endpointId);
    const n = delivery.attempts + 1;
    const id = attemptId(delivery._id, n);
    if (!endpoint || !endpoint.enabled) {
      // deleted or turned off: nothing more is sent for it
      await store.deliveries.advance(delivery._id, delivery.attempts, { state: 'cancelled' });
      return;
    }
    const startedAt = clock();
    const claimed = await store.attempts.claim({
      _id: id, deliveryId: delivery._id, endpointId: delivery.endpointId, messageId: delivery.messageId, type: delivery.type,
      attempt: n, startedAt, expiresAt: new Date(delivery.createdAt.getTime() + 24 * 3600_000 + RETAIN_MS),
    });
    if (!claimed) return settleExisting(delivery, endpoint, id);
    inFlight.add(id);
    let result: SendResult;
    try {
      const timestamp = new Date(Math.floor(startedAt.getTime() / 1000) * 1000);
      const signature = new Webhook(deps.secretOf(endpoint)).sign(delivery.messageId, timestamp, delivery.payload);
      result = await deps.send(endpoint.url, {
        'webhook-id': delivery.messageId, 'webhook-timestamp': String(timestamp.getTime() / 1000), 'webhook-signature': signature,
      }, delivery.payload);
    } catch (err) {
      result = { error: 'could not sign the request', durationMs: 0 };
      deps.log(`[tessera] webhook ${delivery.endpointId}: could not sign a delivery: ${(err as Error).name}`);
    } finally {
      inFlight.delete(id);
    }
    const ok = result.status !== undefined && result.status >= 200 && result.status < 300;
    const error = result.error ?? (ok ? undefined : result.status !== undefined && result.status >= 300 && result.status < 400 ? `HTTP ${result.status} (redirects are not followed)` : `HTTP ${result.status}`);
    deps.counted(ok ? 'delivered' : result.error?.startsWith('refused') ? 'refused' : 'failed');
    const finished = await store.attempts.finish(id, {
      outcome: ok ? 'delivered' : 'failed', finishedAt: clock(), durationMs: result.durationMs,
      ...(result.status !== undefined ? { status: result.status } : {}), ...(error ? { error } : {}),
    });
    if (finished) await apply(delivery, endpoint, finished);
  }

  async function pass(): Promise<number> {
    const due = await store.deliveries.due(clock(), BATCH);
    if (!due.length) return 0;
    const endpoints = new Map((await store.endpoints.all()).map((e) => [e._id, e]));
    // one endpoint's deliveries in order, endpoints side by side
    const byEndpoint = new Map<string, DeliveryDoc[]>();
    for (const d of due) byEndpoint.set(d.endpointId, [...(byEndpoint.get(d.endpointId) ?? []), d]);
    await Promise.all([...byEndpoint.values()].map(async (list) => {
      for (const d of list) {
        await deliver(d, endpoints).catch((err: unknown) => deps.log(`[tessera] webhook delivery ${d._id} failed in Tessera: ${(err as Error).message}`));
      }
    }));
    return due.length;
  }

  return {
    /** One pass over the due deliveries; resolves to how many were looked at. */
    runOnce(): Promise<number> {
      const run = pass();
      running.add(run);
      const done = () => { running.delete(run); };
      run.then(done, done);
      return run;
    },
    /** Resolves once every pass started so far has finished (shutdown, tests). */
    async settled(): Promise<void> {
      while (running.size) await Promise.allSettled([...running]);
    },
  };
}

export type WebhookWorker = ReturnType<typeof createWebhookWorker>;
