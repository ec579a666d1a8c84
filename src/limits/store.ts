// rate-limiter-flexible's store interface on Tessera's own database handle, so the limits keep
// the project's rules: every lookup is by `_id` (RateLimiterMongo filters on a `key` field, which
// the embedded FerretDB cannot index), time comes from the one injected clock (RateLimiterMongo
// and RateLimiterMemory read Date.now()), and counting is exact — a conditional single-document
// update on MongoDB, an in-process per-key lock on FerretDB (exact in one process; several
// processes need MongoDB, README). Counters expire with the database's own expiry (`expire`).
import { createRequire } from 'node:module';
import type { Model } from 'mongoose';
import { Schema } from 'mongoose';
import type { RateLimiterStoreAbstract as StoreAbstractType, RateLimiterRes as ResType } from 'rate-limiter-flexible';
import type { Database } from '../db/database.ts';

// the package is CommonJS; its index does not export the store base class, and its typings do
// not declare the hooks a store implements
const load = createRequire(import.meta.url);
const rlf = {
  RateLimiterStoreAbstract: load('rate-limiter-flexible/lib/RateLimiterStoreAbstract') as new (opts: object) => StoreAbstractType,
  RateLimiterRes: load('rate-limiter-flexible/lib/RateLimiterRes') as new (remaining?: number, msBeforeNext?: number, consumed?: number, first?: boolean) => ResType,
};

export interface LimitDoc {
  _id: string;
  points: number;
  expire: Date | null;
}

export type LimitModel = Model<LimitDoc>;

export function limitModel(db: Database): LimitModel {
  return db.model<LimitDoc>('Limit', new Schema<LimitDoc>({
    _id: String,
    points: { type: Number, required: true },
    expire: { type: Date, default: null },
  }, { collection: 'limits', versionKey: false }), { expiresField: 'expire' });
}

export interface StoreOptions {
  keyPrefix: string;
  points: number;
  /** Seconds a count lives from its first point. */
  duration: number;
}

/** A rate-limiter-flexible limiter (consume, get, block, delete) kept in `limits`. */
export function createDbLimiter(db: Database, model: LimitModel, clock: () => Date, options: StoreOptions): StoreAbstractType {
  const live = (doc: LimitDoc | null, now: Date): doc is LimitDoc => !!doc && (doc.expire === null || doc.expire > now);

  class DbLimiter extends rlf.RateLimiterStoreAbstract {
    constructor() {
      super({ ...options, storeClient: model, inMemoryBlockOnConsumed: 0 });
    }

    _getRateLimiterRes(_key: string, changedPoints: number, doc: LimitDoc): ResType {
      const msBeforeNext = doc.expire ? Math.max(doc.expire.getTime() - clock().getTime(), 0) : -1;
      return new rlf.RateLimiterRes(Math.max(this.points - doc.points, 0), msBeforeNext, doc.points, doc.points === changedPoints);
    }

    async _get(key: string): Promise<LimitDoc | null> {
      const doc = await model.findById(key).lean<LimitDoc>();
      return live(doc, clock()) ? doc : null;
    }

    async _delete(key: string): Promise<boolean> {
      return (await model.deleteOne({ _id: key })).deletedCount === 1;
    }

    async _upsert(key: string, points: number, msDuration: number, forceExpire = false): Promise<LimitDoc> {
      const now = clock();
      const expire = msDuration > 0 ? new Date(now.getTime() + msDuration) : null;
      if (forceExpire) {
        // two requests setting one key at once (a block) race on the upsert's insert: on FerretDB
        // the key's lock orders them; on MongoDB the loser's duplicate-key error means the key now
        // exists, so its update goes through the second time
        const set = () => model.updateOne({ _id: key }, { $set: { points, expire } }, { upsert: true });
        await db.exclusive(`limits/${key}`, () => set().catch((err: { code?: number }) => {
          if (err.code === 11000) return set();
          throw err;
        }));
        return { _id: key, points, expire };
      }
      if (db.kind === 'mongodb') return upsertAtomic(key, points, expire);
      // FerretDB: read-check-write under the key's lock
      return db.exclusive(`limits/${key}`, async () => {
        const doc = await model.findById(key).lean<LimitDoc>();
        if (live(doc, clock())) {
          await model.updateOne({ _id: key }, { $inc: { points } });
          return { ...doc, points: doc.points + points };
        }
        await model.updateOne({ _id: key }, { $set: { points, expire } }, { upsert: true });
        return { _id: key, points, expire };
      });
    }
  }

  /** MongoDB: add to a live count, or replace an expired one, or create it — each step one conditional update. */
  async function upsertAtomic(key: string, points: number, expire: Date | null): Promise<LimitDoc> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const now = clock();
      const added = await model.findOneAndUpdate({ $and: [{ _id: key }, { $or: [{ expire: { $gt: now } }, { expire: null }] }] } as never, { $inc: { points } }, { new: true }).lean<LimitDoc>();
      if (added) return added;
      const replaced = await model.findOneAndUpdate({ $and: [{ _id: key }, { expire: { $lte: now } }] } as never, { $set: { points, expire } }, { new: true }).lean<LimitDoc>();
      if (replaced) return replaced;
      const created = await model.create({ _id: key, points, expire }).then(() => true, (err: { code?: number }) => {
        if (err.code === 11000) return false;
        throw err;
      });
      if (created) return { _id: key, points, expire };
    }
    throw new Error(`limit counter ${key} is contended`);
  }

  return new DbLimiter();
}
