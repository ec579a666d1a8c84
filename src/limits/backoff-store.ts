// The failure count and the lock of one limit dimension (an IP, an account from new or from known
// devices, an account+browser, a passkey browser, an account's codes) in ONE document of `limits`,
// `backoff:<key>`, so a check reads one document per dimension, all of a check's in one command
// (README "Limits and lockout"). The
// count is forgotten `memorySeconds` after its first failure (`countUntil`); a lock holds to its
// end (`lockedUntil`) even when it outlasts the count; the document lives until the later of the
// two (`expiresAt`, the database's own expiry). Counting is exact as in limits/store.ts: every step
// is one guarded single-document write by `_id` (db.modifyIf; the key's lock on the embedded
// server). Versions before this one kept the two apart (`fail:<key>`, `lock:<key>`):
// foldLegacyBackoff moves them in at start-up. The backoff rule itself: policy/limits.ts.
import type { Database } from '../db/database.ts';
import { until, type LimitDoc, type LimitModel } from './store.ts';

const PREFIX = 'backoff:';
const docId = (key: string) => `${PREFIX}${key}`;

/** What one dimension holds now. */
export interface BackoffState {
  /** A live document was read: there is something to clear. */
  held: boolean;
  /** Failures counted since the count began (0: none, or forgotten). */
  failures: number;
  /** Milliseconds the lock still holds (0: not locked). */
  lockedMs: number;
}

const CLEAN: BackoffState = { held: false, failures: 0, lockedMs: 0 };
const COUNTING = (now: Date) => ({ countUntil: { $gt: now } });
const LAPSED = (now: Date) => ({ $or: [{ countUntil: { $lte: now } }, { countUntil: null }] });

/**
 * Raises fields of the document with this _id (creating it with `onInsert` as well), never
 * lowering one: the same result in any order, so a lock never shortens a longer one and a repeated
 * fold changes nothing. On MongoDB `$max` is atomic and a lost race on the upsert's insert goes
 * through the second time; on the embedded server the key's lock (the one modifyIf takes) orders it.
 */
async function raise(db: Database, model: LimitModel, id: string, max: Partial<LimitDoc>, onInsert: Partial<LimitDoc> = {}): Promise<void> {
  const update = { $max: max, ...(Object.keys(onInsert).length ? { $setOnInsert: onInsert } : {}) };
  const write = () => model.updateOne({ _id: id }, update, { upsert: true });
  await db.exclusive(`${model.collection.name}/${id}`, () => write().catch((err: { code?: number }) => {
    if (err.code === 11000) return write();
    throw err;
  }));
}

export type BackoffStore = ReturnType<typeof createBackoffStore>;

export function createBackoffStore(db: Database, model: LimitModel, clock: () => Date, memorySeconds: number) {
  return {
    /**
     * What each dimension holds now, in the order of `keys`: one read for them all, by a list of
     * _ids (`{ _id: { $in } }`, an index seek on both servers: tools/ferretdb/patches). A plain
     * read, not one a later count may reuse (db/read-versions.ts): an attempt refused while locked
     * counts on documents it has not read, so a reused read here would make a wrong password
     * cheaper than a refused attempt (the same work for both, README).
     */
    async read(keys: string[]): Promise<BackoffState[]> {
      const now = clock();
      const ids = keys.map(docId);
      const found = ids.length ? await model.find({ _id: ids.length === 1 ? ids[0] : { $in: ids } } as never).lean<LimitDoc[]>() : [];
      const byId = new Map(found.map((doc) => [doc._id, doc]));
      return ids.map((id) => {
        const doc = byId.get(id);
        if (!doc?.expiresAt || doc.expiresAt <= now) return CLEAN;
        return {
          held: true,
          failures: doc.countUntil && doc.countUntil > now ? doc.points : 0,
          lockedMs: doc.lockedUntil && doc.lockedUntil > now ? Math.max(doc.lockedUntil.getTime() - now.getTime(), 1) : 0,
        };
      });
    },

    /**
     * Counts one failure: adds to a live count, or creates the document, or starts a lapsed count
     * again (the document may live on for its lock, which it keeps) — each step one guarded write,
     * a lost race goes round again. Resolves to the failures counted now, this one included.
     */
    async count(key: string): Promise<number> {
      const id = docId(key);
      const now = clock();
      const countUntil = new Date(now.getTime() + memorySeconds * 1000);
      for (let attempt = 0; attempt < 10; attempt++) {
        const added = await db.modifyIf(model, id, COUNTING(now), { $inc: { points: 1 } });
        if (added) return added.points;
        const created = await model.create({ _id: id, points: 1, countUntil, expiresAt: countUntil }).then(() => true, (err: { code?: number }) => {
          if (err.code === 11000) return false;
          throw err;
        });
        if (created) return 1;
        const restarted = await db.modifyIf(model, id, LAPSED(now), { $set: { points: 1, countUntil }, $max: { expiresAt: countUntil } });
        if (restarted) return restarted.points;
      }
      throw new Error(`limit ${id} is contended`);
    },

    /** Locks the dimension for `seconds` from now; a longer lock already there stays. */
    async lock(key: string, seconds: number): Promise<void> {
      const now = clock();
      const end = new Date(now.getTime() + seconds * 1000);
      // created only when a success cleared the count in between: a lock with a lapsed count
      await raise(db, model, docId(key), { lockedUntil: end, expiresAt: end }, { points: 0, countUntil: now });
    },

    /** Forgets the dimension's count and lock (call it only for a held one: nothing is written on a clean slate). */
    async clear(key: string): Promise<void> {
      await model.deleteOne({ _id: docId(key) });
    },
  };
}

/**
 * Start-up: moves the live counts (`fail:<key>`) and locks (`lock:<key>`, locked when its points
 * pass 1) of an earlier version into `backoff:<key>`, so a deploy unlocks no one. Once per start, a
 * scan of `limits`; then per key the one raise (creates or raises the backoff document, never
 * lowering it) before the old documents are deleted, so a crash between them leaves the old ones to
 * fold again at the next start, to the same result. Resolves to the keys folded and the ones that
 * failed (reported; the next start tries again).
 */
export async function foldLegacyBackoff(db: Database, model: LimitModel, clock: () => Date): Promise<{ folded: number; failed: string[] }> {
  const now = clock();
  const byKey = new Map<string, { fail?: LimitDoc; lock?: LimitDoc }>();
  for (const doc of await model.find({ _id: { $regex: /^(fail|lock):/ } }).lean<LimitDoc[]>()) {
    const key = doc._id.slice('fail:'.length);
    byKey.set(key, { ...byKey.get(key), [doc._id.startsWith('fail:') ? 'fail' : 'lock']: doc });
  }
  // an earlier version wrote every count and lock with an expiry (null: never written, not folded)
  const liveUntil = (doc: LimitDoc | undefined): Date | undefined => {
    const end = doc ? until(doc) : null;
    return end && end > now ? end : undefined;
  };
  let folded = 0;
  const failed: string[] = [];
  for (const [key, old] of byKey) {
    try {
      const countUntil = liveUntil(old.fail);
      const lockedUntil = old.lock && old.lock.points > 1 ? liveUntil(old.lock) : undefined;
      if (countUntil || lockedUntil) {
        const expiresAt = new Date(Math.max(countUntil?.getTime() ?? 0, lockedUntil?.getTime() ?? 0));
        await raise(db, model, docId(key), {
          points: countUntil ? old.fail!.points : 0,
          countUntil: countUntil ?? now,
          ...(lockedUntil ? { lockedUntil } : {}),
          expiresAt,
        });
      }
      for (const doc of [old.fail, old.lock]) if (doc) await model.deleteOne({ _id: doc._id });
      folded++;
    } catch (err) {
      failed.push(`${key}: ${(err as Error).message}`);
    }
  }
  return { folded, failed };
}
