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
import { currentRead, watchWrites, wroteNow } from './read-versions.ts';
import { WRITE_OPERATIONS } from './request-memo.ts';

export type ServerKind = 'mongodb' | 'ferretdb';

export class DatabaseError extends Error {
  override name = 'DatabaseError';
}

/** The one expiry field name: a Date after which a document is dead (filtered on read, removed by TTL/purge). */
export const EXPIRES_AT = 'expiresAt';

export interface ModelOptions {
  /**
   * Documents carry `expiresAt` (EXPIRES_AT): a TTL index removes them on MongoDB, the keeper in
   * tools/ferretdb on the embedded database, which knows only that one field name.
   */
  expires?: boolean;
}

/** What a write meets after the test hook's simulated crash (WriteFaults). */
export class SimulatedCrash extends Error {
  override name = 'SimulatedCrash';
}

/**
 * TEST-ONLY fault injection (ConnectOptions.faults; never set in production): counts writes and,
 * once armed, lets `n` more through and fails every later one, as a process that died after its
 * nth write would leave the database.
 */
export interface WriteFaults {
  /** Writes so far (every insert, update, delete through a registered model). */
  readonly writes: number;
  /** The next `n` writes go through; every write after them fails with SimulatedCrash. */
  crashAfter(n: number): void;
  /** Whether an armed crash has happened. */
  readonly crashed: boolean;
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
   * updateIf that resolves to the document after the update (undefined: it did not match, nothing
   * was written). The one primitive behind every guarded write: the same success rule (a document
   * came back) on both servers.
   */
  modifyIf<T>(model: Model<T>, id: string, when: Record<string, unknown>, update: UpdateQuery<T>): Promise<T | undefined>;
  /**
   * Where a guard is checked: by the server, in the update's filter (MongoDB), or in this process
   * under the key's lock before an update by _id alone (FerretDB pushes down nothing but a bare
   * _id filter, so a guarded filter would scan the collection). Tests can make the embedded
   * database take the MongoDB lines (ConnectOptions.guardsInServer).
   */
  guardsInServer: boolean;
  /** The test hook (ConnectOptions.faults), absent in production. */
  faults?: WriteFaults;
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
   * Whether `find({_id})` and `find({_id: {$in: [...]}})` on this model are served by an index
   * (explain(), either server kind). On the embedded server SQLite plans a scan while a table is
   * empty, so ask once it holds documents.
   */
  idLookupIndexed(model: Model<unknown>): Promise<boolean>;
  /** The collections whose documents expire (by EXPIRES_AT). */
  expiringCollections(): string[];
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
  /**
   * TEST-ONLY: check guards in the update's filter on the embedded database too, as on MongoDB
   * (slower there: a scan), so the suite runs the lines only MongoDB would otherwise run.
   */
  guardsInServer?: boolean;
  /** TEST-ONLY: the write-fault hook (WriteFaults). */
  faults?: boolean;
  /**
   * This process is the database's only writer (one process, no WORKERS): on the embedded database
   * a guarded write may check its guard against the request's own read of the document when
   * nothing in this process wrote it since (db/read-versions.ts), instead of reading it again.
   */
  soleWriter?: boolean;
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
  const expiring: Model<unknown>[] = [];
  const lock = createKeyedLock();
  // the in-process lock: the one thing the embedded server needs that MongoDB does not
  const locked = <R>(key: string, work: () => Promise<R>): Promise<R> => (kind === 'ferretdb' ? lock(key, work) : work());
  const guardsInServer = kind === 'mongodb' || options.guardsInServer === true;
  const reuseReads = !guardsInServer && options.soleWriter === true;
  const faults = options.faults ? writeFaults() : undefined;

  const db: Database = {
    connection,
    kind,
    guardsInServer,
    ...(faults ? { faults } : {}),
    model<T>(name: string, schema: Schema<T>, { expires }: ModelOptions = {}) {
      // FerretDB: the keeper indexes expiresAt itself (it would ignore a plain index here)
      if (expires && kind === 'mongodb') schema.index({ [EXPIRES_AT]: 1 }, { expireAfterSeconds: 0 });
      if (faults) faults.watch(schema);
      watchWrites(schema);
      const model = connection.model<T>(name, schema);
      models.push(model as unknown as Model<unknown>);
      if (expires) expiring.push(model as unknown as Model<unknown>);
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
      return (await db.modifyIf(model, id, when, update)) !== undefined;
    },
    modifyIf(model, id, when, update) {
      return locked(`${model.collection.name}/${id}`, async () => {
        if (!guardsInServer) {
          // the request's own read of it, when still current (db/read-versions.ts), else a read now
          const known = reuseReads ? currentRead(model, id) : undefined;
          const doc = known ? known.doc : await model.findById(id).lean();
          if (!doc || !sift(when)(doc)) return undefined;
        }
        const filter = guardsInServer ? { $and: [{ _id: id }, when] } : { _id: id };
        const after = (await model.findOneAndUpdate(filter as never, update, { returnDocument: 'after' }).lean()) ?? undefined;
        if (reuseReads) wroteNow(model, id, after);
        return after as never;
      });
    },
    async claim(model, id, update) {
      return locked(`${model.collection.name}/${id}`, async () => ((await model.findOneAndUpdate({ _id: id } as never, update, { returnDocument: 'before' }).lean()) ?? undefined) as never);
    },
    exclusive(key, work) {
      return locked(key, work);
    },
    async idLookupIndexed(model) {
      // SQLite's EXPLAIN does not check the schema cookie: a pooled connection idle since before
      // the keeper rebuilt the index would report its old plan. A real lookup first refreshes it
      // (the pool hands the most recently used connection out again).
      await model.findById('-probe-').lean();
      const seeks = async (filter: unknown) => {
        const plan = await model.find(filter as never).explain() as Plan | Plan[];
        return planUsesIndex(Array.isArray(plan) ? plan[0]! : plan);
      };
      return (await seeks({ _id: '-probe-' })) && (await seeks({ _id: { $in: ['-probe-', '-probe-2'] } }));
    },
    // several models may share a collection (a session's record beside the sessions): each name once
    expiringCollections: () => [...new Set(expiring.map((m) => m.collection.name))],
    async purgeExpired(now = new Date()) {
      let removed = 0;
      for (const model of expiring) {
        const res = await model.deleteMany({ [EXPIRES_AT]: { $lte: now } });
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

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any schema may be watched
function writeFaults(): WriteFaults & { watch(schema: Schema<any>): void } {
  let writes = 0;
  let allowed = Number.POSITIVE_INFINITY;
  let crashed = false;
  const check = () => {
    if (writes >= allowed) {
      crashed = true;
      throw new SimulatedCrash(`simulated crash before write ${writes + 1}`);
    }
    writes++;
  };
  return {
    get writes() { return writes; },
    get crashed() { return crashed; },
    crashAfter(n: number) { allowed = writes + n; },
    watch(schema) {
      schema.pre([...WRITE_OPERATIONS], check);
      schema.pre('save', check);
      schema.pre('insertMany', check);
      schema.pre('bulkWrite', check);
    },
  };
}
