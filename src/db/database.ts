// The database handle every store receives: one mongoose connection, the detected server kind,
// the expiry strategy (TTL index on MongoDB; on the embedded FerretDB, which has none, the keeper in
// tools/ferretdb purges through an index) and the one exactly-once primitive, updateIf.
//
// Data-access rule (README, Architecture): every lookup on a request path is a filter of exactly
// one key, `_id`. It is the only filter FerretDB pushes down to SQLite, and the keeper makes that
// use an index; on MongoDB `_id` is always indexed. Other access paths are lookup documents keyed by
// the natural key. Expiry is checked in code after the read.
import mongoose, { type Connection, type Model, type Schema, type UpdateQuery } from 'mongoose';
import siftModule from 'sift';
import { createKeyedLock } from './keyed-lock.ts';

export type ServerKind = 'mongodb' | 'ferretdb';

export class DatabaseError extends Error {
  override name = 'DatabaseError';
}

export interface ModelOptions {
  /** Name of a Date field after which documents are dead (filtered on read, removed by TTL/purge). */
  expiresField?: string;
}

export interface Database {
  connection: Connection;
  kind: ServerKind;
  /** Registers a model on this connection; call before init(). */
  model<T>(name: string, schema: Schema<T>, options?: ModelOptions): Model<T>;
  /** Creates every registered model's collection and indexes; fails loudly on an unsupported index. */
  init(): Promise<void>;
  /**
   * Applies `update` to the document with this _id only if it matches `when`, as one atomic step:
   * a conditional update on MongoDB, a per-key in-process lock around read-check-write on FerretDB.
   * Resolves to whether the document matched and was updated.
   */
  updateIf<T>(model: Model<T>, id: string, when: Record<string, unknown>, update: UpdateQuery<T>): Promise<boolean>;
  /**
   * Applies `update` to the document with this _id and resolves to the document as it was before
   * (undefined: there is none, nothing was written): one command, atomic on MongoDB, under the
   * per-key lock on FerretDB. For claims: the update must change nothing when applied twice
   * ($addToSet, $min, $max), and the caller won when the document before lacked what it adds.
   */
  claim<T>(model: Model<T>, id: string, update: UpdateQuery<T>): Promise<T | undefined>;
  /** Runs `work` holding `key` where single-document updates are not atomic (FerretDB); no lock on MongoDB. */
  exclusive<R>(key: string, work: () => Promise<R>): Promise<R>;
  /**
   * Whether `find({_id})` on this model is served by an index (explain(), either server kind). On
   * the embedded server SQLite plans a scan while a table is empty, so ask once it holds documents.
   */
  idLookupIndexed(model: Model<unknown>): Promise<boolean>;
  /** Deletes expired documents now (tests, CLI); the server's own expiry needs no call. */
  purgeExpired(now?: Date): Promise<number>;
  close(): Promise<void>;
}

export function redactUri(uri: string): string {
  return uri.replace(/\/\/([^@/]*)@/, '//***@');
}

export interface ConnectOptions {
  serverSelectionTimeoutMs: number;
  connectTimeoutMs: number;
  /** Emit the driver's commandStarted events (tests and the benchmark count database operations). */
  monitorCommands?: boolean;
}

// sift is CommonJS: under NodeNext the default import is its module object, which carries .default
const sift = siftModule.default;

type Plan = { queryPlanner?: { Plan?: string[]; winningPlan?: unknown } };

/** True when an explain() result shows an index seek and no full scan, on FerretDB or MongoDB. */
export function planUsesIndex(plan: Plan): boolean {
  if (plan.queryPlanner?.Plan) {
    const lines = plan.queryPlanner.Plan;
    return lines.some((l) => /USING (COVERING )?INDEX/.test(l)) && !lines.some((l) => /\bSCAN\b/.test(l));
  }
  const text = JSON.stringify(plan.queryPlanner?.winningPlan ?? {});
  return /IDHACK|IXSCAN|EXPRESS_IXSCAN|EXPRESS_CLUSTERED_IXSCAN|CLUSTERED_IXSCAN/.test(text) && !text.includes('COLLSCAN');
}

export async function connectDatabase(uri: string, options: ConnectOptions): Promise<Database> {
  const connection = mongoose.createConnection(uri, {
    serverSelectionTimeoutMS: options.serverSelectionTimeoutMs,
    connectTimeoutMS: options.connectTimeoutMs,
    // while the server is gone mongoose queues commands (default: 10 s); give up as soon as the
    // driver would, so a request during an outage answers 503 within the selection timeout
    // (a connection option mongoose reads, missing from its ConnectOptions type)
    ...({ bufferTimeoutMS: options.serverSelectionTimeoutMs } as object),
    autoIndex: false,
    autoCreate: false,
    monitorCommands: options.monitorCommands ?? false,
  });
  try {
    await connection.asPromise();
  } catch (err) {
    await connection.close().catch(() => {});
    throw new DatabaseError(`Cannot connect to the database at ${redactUri(uri)} (MONGODB_URI): ${(err as Error).message}`);
  }
  const info = await connection.db!.admin().command({ buildInfo: 1 });
  const kind: ServerKind = 'ferretdbVersion' in info ? 'ferretdb' : 'mongodb';

  const models: Model<unknown>[] = [];
  const expiring: { model: Model<unknown>; field: string }[] = [];
  const lock = createKeyedLock();

  const db: Database = {
    connection,
    kind,
    model<T>(name: string, schema: Schema<T>, { expiresField }: ModelOptions = {}) {
      // FerretDB: the keeper indexes expiresAt itself (it would ignore a plain index here)
      if (expiresField && kind === 'mongodb') schema.index({ [expiresField]: 1 }, { expireAfterSeconds: 0 });
      const model = connection.model<T>(name, schema);
      models.push(model as unknown as Model<unknown>);
      if (expiresField) expiring.push({ model: model as unknown as Model<unknown>, field: expiresField });
      return model;
    },
    async init() {
      for (const model of models) {
        await model.createCollection().catch((err: { codeName?: string }) => {
          if (err.codeName !== 'NamespaceExists') throw err;
        });
        await model.init();
        await model.createIndexes();
      }
    },
    async updateIf(model, id, when, update) {
      if (kind === 'mongodb') {
        const res = await model.updateOne({ $and: [{ _id: id }, when] } as never, update);
        return res.modifiedCount === 1;
      }
      return lock(`${model.collection.name}/${id}`, async () => {
        const doc = await model.findById(id).lean();
        if (!doc || !sift(when)(doc)) return false;
        const res = await model.updateOne({ _id: id } as never, update);
        return res.matchedCount === 1;
      });
    },
    async claim(model, id, update) {
      const apply = async () => (await model.findOneAndUpdate({ _id: id } as never, update, { returnDocument: 'before' }).lean()) ?? undefined;
      return (kind === 'mongodb' ? apply() : lock(`${model.collection.name}/${id}`, apply)) as never;
    },
    exclusive(key, work) {
      return kind === 'mongodb' ? work() : lock(key, work);
    },
    async idLookupIndexed(model) {
      // SQLite's EXPLAIN does not check the schema cookie: a pooled connection idle since before
      // the keeper rebuilt the index would report its old plan. A real lookup first refreshes it
      // (the pool hands the most recently used connection out again).
      await model.findById('-probe-').lean();
      const plan = await model.find({ _id: '-probe-' } as never).explain() as Plan | Plan[];
      return planUsesIndex(Array.isArray(plan) ? plan[0]! : plan);
    },
    async purgeExpired(now = new Date()) {
      let removed = 0;
      for (const { model, field } of expiring) {
        const res = await model.deleteMany({ [field]: { $lte: now } });
        removed += res.deletedCount;
      }
      return removed;
    },
    async close() {
      await connection.close();
    },
  };
  return db;
}
