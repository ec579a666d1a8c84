// The webhook collections: endpoints (`webhook_endpoints`, the signing secret sealed), the outbox of
// deliveries (`webhook_deliveries`: one document per event and endpoint, written before the audit
// event it comes from) and the attempts (`webhook_attempts`: the delivery log, and the claim).
//
// Exactly once by Tessera: an attempt's _id is `<delivery>#<n>`, so inserting it is the claim on
// "the nth attempt of this delivery". An insert guarded by the unique _id is atomic on MongoDB and
// on the embedded FerretDB alike (updates are not atomic there), so of two workers — two ticks, or
// two processes — only one sends attempt n. The delivery's own fields (attempts, next time, state)
// follow from the recorded attempts and are applied with a guarded update; applying one twice
// changes nothing. Deliveries and attempts expire (EXPIRES_AT) a week after their 24-hour window.
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import type { WebhookEventType } from './events.ts';

export interface EndpointDoc {
  _id: string;
  url: string;
  description: string;
  types: WebhookEventType[];
  organisationId?: string;
  enabled: boolean;
  /** `whsec_…`, sealed (crypto/seal.ts) for this endpoint's id. */
  secret: string;
  createdAt: Date;
  updatedAt: Date;
  lastSuccessAt?: Date;
  disabledAt?: Date;
  /** Why Tessera turned it off (absent when an admin did, or while enabled). */
  disabledReason?: string;
}

export type DeliveryState = 'pending' | 'delivered' | 'failed' | 'cancelled';

export interface DeliveryDoc {
  _id: string;
  endpointId: string;
  /** The `webhook-id`: the same on every attempt. */
  messageId: string;
  type: WebhookEventType;
  /** The exact body: every attempt sends the same bytes. */
  payload: string;
  createdAt: Date;
  nextAt: Date;
  attempts: number;
  state: DeliveryState;
  expiresAt: Date;
}

export type AttemptOutcome = 'delivered' | 'failed' | 'interrupted';

export interface AttemptDoc {
  _id: string;
  deliveryId: string;
  endpointId: string;
  messageId: string;
  type: WebhookEventType;
  attempt: number;
  startedAt: Date;
  /** Absent while the request runs (or when its process died: then `interrupted` once the lease is over). */
  outcome?: AttemptOutcome;
  finishedAt?: Date;
  status?: number;
  error?: string;
  durationMs?: number;
  expiresAt: Date;
}

export const attemptId = (deliveryId: string, n: number) => `${deliveryId}#${n}`;

export function createWebhookStore(db: Database) {
  const endpointSchema = new Schema<EndpointDoc>({
    _id: String, url: { type: String, required: true }, description: { type: String, default: '' }, types: { type: [String], default: [] },
    organisationId: String, enabled: { type: Boolean, required: true }, secret: { type: String, required: true },
    createdAt: { type: Date, required: true }, updatedAt: { type: Date, required: true }, lastSuccessAt: Date, disabledAt: Date, disabledReason: String,
  }, { collection: 'webhook_endpoints', versionKey: false });
  const Endpoints = db.model<EndpointDoc>('WebhookEndpoint', endpointSchema);

  const deliverySchema = new Schema<DeliveryDoc>({
    _id: String, endpointId: { type: String, required: true }, messageId: { type: String, required: true }, type: { type: String, required: true },
    payload: { type: String, required: true }, createdAt: { type: Date, required: true }, nextAt: { type: Date, required: true },
    attempts: { type: Number, required: true }, state: { type: String, required: true }, expiresAt: { type: Date, required: true },
  }, { collection: 'webhook_deliveries', versionKey: false });
  // the worker's query (MongoDB; the embedded server scans this small, expiring collection)
  deliverySchema.index({ state: 1, nextAt: 1 });
  const Deliveries = db.model<DeliveryDoc>('WebhookDelivery', deliverySchema, { expires: true });

  const attemptSchema = new Schema<AttemptDoc>({
    _id: String, deliveryId: { type: String, required: true }, endpointId: { type: String, required: true }, messageId: { type: String, required: true },
    type: { type: String, required: true }, attempt: { type: Number, required: true }, startedAt: { type: Date, required: true },
    outcome: String, finishedAt: Date, status: Number, error: String, durationMs: Number, expiresAt: { type: Date, required: true },
  }, { collection: 'webhook_attempts', versionKey: false });
  // the console's delivery log of one endpoint (administration only)
  attemptSchema.index({ endpointId: 1, startedAt: -1 });
  const Attempts = db.model<AttemptDoc>('WebhookAttempt', attemptSchema, { expires: true });

  return {
    endpoints: {
      all: () => Endpoints.find().sort({ createdAt: 1 }).lean<EndpointDoc[]>(),
      async get(id: string): Promise<EndpointDoc | undefined> {
        return (await Endpoints.findById(id).lean<EndpointDoc>()) ?? undefined;
      },
      async insert(doc: EndpointDoc): Promise<void> {
        await Endpoints.create(doc);
      },
      /** Sets (and unsets) fields when the endpoint matches `when`; the endpoint after, or undefined when there is none. */
      async change(id: string, set: Partial<EndpointDoc>, unset: (keyof EndpointDoc)[] = [], when: Partial<Pick<EndpointDoc, 'organisationId'>> = {}): Promise<EndpointDoc | undefined> {
        return db.modifyIf(Endpoints, id, when, { $set: set, ...(unset.length ? { $unset: Object.fromEntries(unset.map((k) => [k, 1])) } : {}) });
      },
      /** Turns an enabled endpoint off; true only for the call that did (one email, one audit event per process). */
      disable: (id: string, at: Date, reason: string) => db.updateIf(Endpoints, id, { enabled: true }, { $set: { enabled: false, disabledAt: at, disabledReason: reason } }),
      async remove(id: string): Promise<boolean> {
        return (await Endpoints.deleteOne({ _id: id })).deletedCount > 0;
      },
    },
    deliveries: {
      async enqueue(docs: DeliveryDoc[]): Promise<void> {
        if (docs.length) await Deliveries.insertMany(docs, { ordered: false });
      },
      /** Pending deliveries due by `now`, oldest first (the worker's scan). */
      due: (now: Date, limit: number) => Deliveries.find({ state: 'pending', nextAt: { $lte: now } }).sort({ nextAt: 1 }).limit(limit).lean<DeliveryDoc[]>(),
      /** Moves the delivery on from `attempts` recorded attempts; false when another worker already did. */
      advance: (id: string, attempts: number, set: Partial<DeliveryDoc>) => db.updateIf(Deliveries, id, { state: 'pending', attempts }, { $set: set }),
    },
    attempts: {
      /** The claim: inserts attempt n; false when it exists (another worker has it, or had it). */
      async claim(doc: AttemptDoc): Promise<boolean> {
        try {
          await Attempts.create(doc);
          return true;
        } catch (err) {
          if ((err as { code?: number }).code === 11000) return false;
          throw err;
        }
      },
      async get(id: string): Promise<AttemptDoc | undefined> {
        return (await Attempts.findById(id).lean<AttemptDoc>()) ?? undefined;
      },
      /** Records how an attempt ended (only once: an attempt with an outcome keeps it). */
      finish: (id: string, result: Pick<AttemptDoc, 'outcome' | 'finishedAt'> & Partial<AttemptDoc>) =>
        db.modifyIf(Attempts, id, { outcome: { $exists: false } }, { $set: result }),
      /** The latest attempts of an endpoint, newest first (administration only: a scan on the embedded server). */
      forEndpoint: (endpointId: string, limit: number) => Attempts.find({ endpointId }).sort({ startedAt: -1 }).limit(limit).lean<AttemptDoc[]>(),
    },
  };
}

export type WebhookStore = ReturnType<typeof createWebhookStore>;
