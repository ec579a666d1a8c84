// rate-limiter-flexible's store interface on Tessera's own database handle, so the limits keep
// the project's rules: every lookup is by `_id` (RateLimiterMongo filters on a `key` field, which
// the embedded FerretDB cannot index), time comes from the one injected clock (RateLimiterMongo
// and RateLimiterMemory read Date.now()), and counting is exact — a conditional single-document
// update on MongoDB, an in-process per-key lock on FerretDB (exact in one process; several
// processes need MongoDB, README). Counters expire with the database's own expiry (`expiresAt`;
// counters written before it was the one expiry field carry `expire`, honoured until they die).
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
  expiresAt: Date | null;
  /** The expiry of a counter written by an earlier version (read, never written). */
  expire?: Date | null;
  /** A backoff document's count lapses then (limits/backoff-store.ts); expiresAt is the later of it and lockedUntil. */
  countUntil?: Date;
  /** A backoff document's lock ends then. */
  lockedUntil?: Date;
}

/** When the counter dies (null: never). */
export const until = (doc: LimitDoc): Date | null => (doc.expiresAt !== undefined && doc.expiresAt !== null ? doc.expiresAt : doc.expire ?? null);
/** Filters for a counter that is alive, and one that has died, at `now` (earlier versions' field too). */
const LIVE = (now: Date) => ({ $or: [{ expiresAt: { $gt: now } }, { expire: { $gt: now } }, { expiresAt: null, expire: null }] });
const DEAD = (now: Date) => ({ $or: [{ expiresAt: { $lte: now } }, { expire: { $lte: now } }] });

export type LimitModel = Model<LimitDoc>;

export function limitModel(db: Database): LimitModel {
  return db.model<LimitDoc>('Limit', new Schema<LimitDoc>({
    _id: String,
    points: { type: Number, required: true },
    expiresAt: { type: Date, default: null },
    expire: { type: Date },
    countUntil: { type: Date },
    lockedUntil: { type: Date },
  }, { collection: 'limits', versionKey: false }), { expires: true });
}

/**
 * Moves counters written before `expiresAt` was the one expiry field onto it (the embedded
 * database's keeper purges by expiresAt only). Once per start, a scan of `limits`; each counter is
 * one update by _id. Resolves to the ids it could not move (reported; the next start tries again).
 */
export async function migrateLegacyExpiry(model: LimitModel): Promise<{ moved: number; failed: string[] }> {
  let moved = 0;
  const failed: string[] = [];
  for (const doc of await model.find({ expire: { $exists: true } }).lean<LimitDoc[]>()) {
    try {
      await model.updateOne({ _id: doc._id }, { $set: { expiresAt: until(doc) }, $unset: { expire: '' } });
      moved++;
    } catch (err) {
      failed.push(`${doc._id}: ${(err as Error).message}`);
    }
  }
  return { moved, failed };
}

export interface StoreOptions {
  keyPrefix: string;
  points: number;
  /** Seconds a count lives from its first point. */
  duration: number;
}

/** A rate-limiter-flexible limiter (consume, get, block, delete) kept in `limits`. */
export function createDbLimiter(db: Database, model: LimitModel, clock: () => Date, options: StoreOptions): StoreAbstractType {
  const live = (doc: LimitDoc | null, now: Date): doc is LimitDoc => {
    const end = doc ? until(doc) : undefined;
    return !!doc && (end === null || end! > now);
  };

  class DbLimiter extends rlf.RateLimiterStoreAbstract {
    constructor() {
      super({ ...options, storeClient: model, inMemoryBlockOnConsumed: 0 });
    }

    _getRateLimiterRes(_key: string, changedPoints: number, doc: LimitDoc): ResType {
      const end = until(doc);
      const msBeforeNext = end ? Math.max(end.getTime() - clock().getTime(), 0) : -1;
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
      const expiresAt = msDuration > 0 ? new Date(now.getTime() + msDuration) : null;
      const fresh = { _id: key, points, expiresAt };
      if (forceExpire) {
        // two requests setting one key at once (a block) race on the upsert's insert: the key's
        // lock orders them on the embedded server; on MongoDB the loser's duplicate-key error
        // means the key now exists, so its update goes through the second time
        const set = () => model.updateOne({ _id: key }, { $set: { points, expiresAt }, $unset: { expire: '' } }, { upsert: true });
        await db.exclusive(`limits/${key}`, () => set().catch((err: { code?: number }) => {
          if (err.code === 11000) return set();
          throw err;
        }));
        return fresh;
      }
      // add to a live count, or create it, or replace a dead one: each step one guarded write
      // (db.modifyIf), the same lines on both servers; a lost race goes round again
      for (let attempt = 0; attempt < 10; attempt++) {
        const added = await db.modifyIf(model, key, LIVE(now), { $inc: { points } });
        if (added) return added;
        const created = await model.create(fresh).then(() => true, (err: { code?: number }) => {
          if (err.code === 11000) return false;
          throw err;
        });
        if (created) return fresh;
        const replaced = await db.modifyIf(model, key, DEAD(now), { $set: { points, expiresAt }, $unset: { expire: '' } });
        if (replaced) return replaced;
      }
      throw new Error(`limit counter ${key} is contended`);
    }
  }

  return new DbLimiter();
}
