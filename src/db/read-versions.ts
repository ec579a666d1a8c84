// Reads a request may reuse as a guarded write's check (db.modifyIf on the embedded database).
//
// MongoDB checks a guard in the update's filter: one command. The embedded database cannot (a
// guarded filter is a scan there), so db.modifyIf reads the document under the key's lock and then
// updates it by `_id`: two commands. Often the same request read that document a moment before
// (the device registration a sign-in looked at, the account's device list, the flow record). That
// read is still the document when nothing in this process began or finished a write of it since:
// then the guard is checked against it and the second read is skipped, so both servers spend the
// same commands on the same step.
//
// Every write through a registered model moves its document's version when it begins and when it
// ends (schema hooks: updates and deletes by `_id`, saves, inserts); a write by any other filter
// moves every document's (a generation). A reused read is only as current as this process knows, so
// it is used only where this process is the database's sole writer (the embedded database with one
// process; README "Several processes"). Outside a request nothing is reused.
import type { Model, Schema } from 'mongoose';
import { keep, peek, WRITE_OPERATIONS } from './request-memo.ts';

/** A read as this request made it: the document (undefined: there was none) and the versions before it began. */
interface Seen {
  doc: unknown;
  version: number;
  generation: number;
}

const MAX_KEYS = 100_000;
const versions = new Map<string, number>();
let generation = 0;

/** A model as far as its documents' keys go: the database and the collection. */
interface Collection { db: { name: string }; collection: { name: string } }

const modelKey = (model: Collection, id: unknown) => `${model.db.name}\0${model.collection.name}\0${String(id)}`;

function move(key: string | undefined): void {
  if (key === undefined) {
    generation++;
    return;
  }
  if (versions.size >= MAX_KEYS) {
    versions.clear();
    generation++;
  }
  versions.set(key, (versions.get(key) ?? 0) + 1);
}

/** The one document a write's filter names by `_id` alone (a guard beside it, `$and`, still names one); undefined: any. */
function targetOf(filter: Record<string, unknown> | undefined): unknown {
  if (!filter) return undefined;
  const id = filter._id;
  if (typeof id === 'string' || (id && typeof id === 'object' && !Object.keys(id).some((k) => k.startsWith('$')))) return id;
  const and = filter.$and;
  if (Array.isArray(and)) for (const part of and) {
    const inner = targetOf(part as Record<string, unknown>);
    if (inner !== undefined) return inner;
  }
  return undefined;
}

interface QueryThis { model: Collection; getFilter(): Record<string, unknown>; op?: string }

/** Schema hooks that move a document's version whenever a write of it begins or ends (call before the model is made). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any schema may be watched
export function watchWrites(schema: Schema<any>): void {
  const queryKey = function (this: QueryThis): string | undefined {
    const multi = this.op === 'updateMany' || this.op === 'deleteMany';
    const id = multi ? undefined : targetOf(this.getFilter());
    return id === undefined ? undefined : modelKey(this.model, id);
  };
  const onQuery = function (this: QueryThis) { move(queryKey.call(this)); };
  schema.pre([...WRITE_OPERATIONS], onQuery as never);
  schema.post([...WRITE_OPERATIONS], onQuery as never);
  schema.post([...WRITE_OPERATIONS], { errorHandler: true }, function (this: QueryThis, err: unknown) { onQuery.call(this); throw err; } as never);

  type DocThis = { _id: unknown; constructor: Collection };
  const onSave = function (this: DocThis) { move(modelKey(this.constructor, this._id)); };
  schema.pre('save', onSave as never);
  schema.post('save', onSave as never);
  schema.post('save', { errorHandler: true }, function (this: DocThis, err: unknown) { onSave.call(this); throw err; } as never);

  const onInsert = function (this: Collection, docs: unknown) {
    for (const doc of Array.isArray(docs) ? docs : [docs]) {
      const id = (doc as { _id?: unknown } | null)?._id;
      // a document without an _id gets a new one: nobody can have read it before
      if (id !== undefined) move(modelKey(this, id));
    }
  };
  schema.pre('insertMany', onInsert as never);
  schema.post('insertMany', onInsert as never);
  schema.post('insertMany', { errorHandler: true }, function (this: Collection, err: unknown, docs: unknown) { onInsert.call(this, docs); throw err; } as never);
  const onBulk = () => move(undefined);
  schema.pre('bulkWrite', onBulk as never);
  schema.post('bulkWrite', onBulk as never);
  schema.post('bulkWrite', { errorHandler: true }, ((err: unknown) => { onBulk(); throw err; }) as never);
}

/** Reads the document with this `_id` (lean) and keeps the read for this request's guarded writes of it. */
export async function readById<T>(model: Model<T>, id: string): Promise<T | undefined> {
  const key = modelKey(model, id);
  const before = { version: versions.get(key) ?? 0, generation };
  const doc = (await model.findById(id).lean<T>()) ?? undefined;
  // the request's callers get the document itself; the check keeps its own copy
  keep(`read:${key}`, { doc: structuredClone(doc), ...before } satisfies Seen);
  return doc as T | undefined;
}

/**
 * Reads the documents with these `_id`s in one command (`{ _id: { $in } }`: one index seek on both
 * servers, README "The data-access rule") and keeps each read, an absent one too, as readById does.
 */
export async function readByIds<T extends { _id: unknown }>(model: Model<T>, ids: string[]): Promise<Map<string, T>> {
  const before = ids.map((id) => ({ key: modelKey(model, id), version: versions.get(modelKey(model, id)) ?? 0, generation }));
  const found = new Map<string, T>();
  for (const doc of await model.find({ _id: { $in: ids } } as never).lean<T[]>()) found.set(String(doc._id), doc);
  ids.forEach((id, i) => keep(`read:${before[i]!.key}`, { doc: structuredClone(found.get(id)), version: before[i]!.version, generation: before[i]!.generation } satisfies Seen));
  return found;
}

/** The document as a write just left it (a guarded write's result): current for this request's next check. */
export function wroteNow(model: Collection, id: string, doc: unknown): void {
  const key = modelKey(model, id);
  keep(`read:${key}`, { doc: structuredClone(doc), version: versions.get(key) ?? 0, generation } satisfies Seen);
}

/**
 * This request's read of the document, when nothing in this process has begun or finished a write
 * of it since that read began: `{ doc }` (doc undefined: there was none). Undefined: read it again.
 */
export function currentRead(model: Collection, id: string): { doc: unknown } | undefined {
  const key = modelKey(model, id);
  const seen = peek(`read:${key}`) as Seen | undefined;
  if (!seen || seen.generation !== generation || seen.version !== (versions.get(key) ?? 0)) return undefined;
  return { doc: seen.doc };
}
