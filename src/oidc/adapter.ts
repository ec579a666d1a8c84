// oidc-provider's storage adapter on MongoDB: one collection per provider model, documents
// { _id, payload, expiresAt }. Payloads are stored verbatim (mongoose must not strip fields), and
// every read ignores expired documents because FerretDB has no TTL indexes.
import { Schema, type Model } from 'mongoose';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Database } from '../db/database.ts';

interface StoredDoc {
  _id: string;
  payload: AdapterPayload;
  expiresAt?: Date;
}

const MODEL_NAMES = [
  'Session', 'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'ClientCredentials',
  'Client', 'InitialAccessToken', 'RegistrationAccessToken', 'Interaction', 'ReplayDetection',
  'PushedAuthorizationRequest', 'Grant', 'BackchannelAuthenticationRequest',
] as const;

const GRANT_BOUND = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

export function collectionFor(name: string): string {
  return `oidc_${name.replace(/[A-Z]/g, (c, i: number) => (i ? '_' : '') + c.toLowerCase())}`;
}

export interface OidcStorage {
  /** The factory oidc-provider calls once per model name. */
  adapter: (name: string) => Adapter;
  /** Every live payload of one model, oldest first (the provider's interface has no listing). */
  list(name: string): Promise<AdapterPayload[]>;
}

/** Registers one model per provider model name; call before db.init(). */
export function createOidcStorage(db: Database, clock: () => Date = () => new Date()): OidcStorage {
  const models = new Map<string, Model<StoredDoc>>();
  for (const name of MODEL_NAMES) {
    const schema = new Schema<StoredDoc>(
      { _id: { type: String, required: true }, payload: { type: Schema.Types.Mixed, required: true }, expiresAt: Date },
      { collection: collectionFor(name), versionKey: false, minimize: false, strict: false },
    );
    if (GRANT_BOUND.has(name)) schema.index({ 'payload.grantId': 1 });
    if (name === 'Session') {
      schema.index({ 'payload.uid': 1 }, { unique: true });
      schema.index({ 'payload.accountId': 1 });
    }
    if (name === 'Grant') schema.index({ 'payload.accountId': 1 });
    if (name === 'DeviceCode') schema.index({ 'payload.userCode': 1 });
    models.set(name, db.model<StoredDoc>(`Oidc${name}`, schema, { expiresField: 'expiresAt' }));
  }

  const live = () => ({ $or: [{ expiresAt: { $exists: false } }, { expiresAt: null }, { expiresAt: { $gt: clock() } }] });
  const modelFor = (name: string) => {
    const M = models.get(name);
    if (!M) throw new Error(`no storage for oidc-provider model ${name}`);
    return M;
  };

  const adapter = (name: string): Adapter => {
    const M = modelFor(name);
    const findOne = async (filter: Record<string, unknown>) => {
      const doc = await M.findOne({ $and: [filter, live()] }).lean<StoredDoc>();
      return doc?.payload;
    };
    return {
      async upsert(id, payload, expiresIn) {
        const set: Partial<StoredDoc> = { payload };
        const update: Record<string, unknown> = { $set: set };
        if (expiresIn) set.expiresAt = new Date(clock().getTime() + expiresIn * 1000);
        else update.$unset = { expiresAt: '' };
        await M.updateOne({ _id: id }, update, { upsert: true });
      },
      find: (id) => findOne({ _id: id }),
      findByUid: (uid) => findOne({ 'payload.uid': uid }),
      findByUserCode: (userCode) => findOne({ 'payload.userCode': userCode }),
      async consume(id) {
        await M.updateOne({ _id: id }, { $set: { 'payload.consumed': Math.floor(clock().getTime() / 1000) } });
      },
      async destroy(id) {
        await M.deleteOne({ _id: id });
      },
      async revokeByGrantId(grantId) {
        await M.deleteMany({ 'payload.grantId': grantId });
      },
    };
  };

  return {
    adapter,
    async list(name) {
      const docs = await modelFor(name).find(live()).sort({ _id: 1 }).lean<StoredDoc[]>();
      return docs.map((d) => d.payload);
    },
  };
}
