// Read–change–write of one small document (a per-account list) that never loses a concurrent
// change: the write is conditional on the revision it read (db.updateIf: atomic on MongoDB, under a
// per-document lock on the embedded database); a lost race reads again and reapplies the change.
import type { Model } from 'mongoose';
import type { Database } from './database.ts';
import { DomainError } from '../domain-error.ts';
import { readById } from './read-versions.ts';

const conflict = () => new DomainError('conflict', 'edit_conflict', 'The change could not be saved because of changes made at the same time. Reload the page and try again.');

interface Revisioned {
  _id: string;
  rev?: number;
}

/**
 * Applies `change` to the document `id` (`undefined` when it does not exist yet). The change
 * returns the new fields and a result, or `undefined` to leave the document as it is.
 */
export async function editDocument<T extends Revisioned, R>(
  db: Database,
  model: Model<T>,
  id: string,
  change: (current: T | undefined) => { set: Partial<Omit<T, '_id' | 'rev'>>; result: R } | { result: R; set?: undefined },
  /** The document as this request just read it (null: it did not exist): the first try starts from it. */
  readNow?: T | null,
): Promise<R> {
  for (let attempt = 0; attempt < 8; attempt++) {
    const current = (attempt === 0 && readNow !== undefined ? readNow : await readById(model, id)) ?? undefined;
    const outcome = change(current);
    if (!outcome.set) return outcome.result;
    if (!current) {
      const created = await model.create({ _id: id, ...outcome.set, rev: 1 } as never).then(() => true, (err: { code?: number }) => {
        if (err.code === 11000) return false;
        throw err;
      });
      if (created) return outcome.result;
      continue;
    }
    const rev = current.rev ?? 0;
    if (await db.updateIf(model, id, { rev: current.rev === undefined ? { $exists: false } : rev }, { $set: { ...outcome.set, rev: rev + 1 } } as never)) return outcome.result;
  }
  throw conflict();
}

/**
 * Adds one to a counter field of the document `id` and resolves to the new count (Infinity when
 * the document is gone, so a caller's limit holds). No lost increments: atomic on MongoDB, under
 * the document's in-process lock on the embedded database.
 */
export async function countUp<T extends { _id: string }>(db: Database, model: Model<T>, id: string, field: keyof T & string): Promise<number> {
  return db.exclusive(`${model.collection.name}/${id}`, async () => {
    const doc = await model.findOneAndUpdate({ _id: id } as never, { $inc: { [field]: 1 } } as never, { returnDocument: 'after' }).lean<T>();
    const count = doc?.[field];
    return typeof count === 'number' ? count : Number.POSITIVE_INFINITY;
  });
}
