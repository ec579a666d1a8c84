// The database handle every store receives: one mongoose connection, the detected server kind,
// and the expiry strategy (TTL index on MongoDB, a periodic purge on FerretDB which has none).
import mongoose, { type Connection, type Model, type Schema } from 'mongoose';

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
  /** Deletes expired documents in every expiring collection (FerretDB's substitute for TTL). */
  purgeExpired(now?: Date): Promise<number>;
  close(): Promise<void>;
}

export function redactUri(uri: string): string {
  return uri.replace(/\/\/([^@/]*)@/, '//***@');
}

export interface ConnectOptions {
  serverSelectionTimeoutMs: number;
  connectTimeoutMs: number;
  expiryPurgeIntervalSeconds?: number;
}

export async function connectDatabase(uri: string, options: ConnectOptions): Promise<Database> {
  const connection = mongoose.createConnection(uri, {
    serverSelectionTimeoutMS: options.serverSelectionTimeoutMs,
    connectTimeoutMS: options.connectTimeoutMs,
    autoIndex: false,
    autoCreate: false,
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
  let sweeper: NodeJS.Timeout | undefined;

  const db: Database = {
    connection,
    kind,
    model<T>(name: string, schema: Schema<T>, { expiresField }: ModelOptions = {}) {
      if (expiresField) {
        schema.index({ [expiresField]: 1 }, kind === 'mongodb' ? { expireAfterSeconds: 0 } : {});
      }
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
      if (kind === 'ferretdb' && options.expiryPurgeIntervalSeconds && !sweeper) {
        sweeper = setInterval(() => { db.purgeExpired().catch(() => {}); }, options.expiryPurgeIntervalSeconds * 1000);
        sweeper.unref();
      }
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
      if (sweeper) clearInterval(sweeper);
      await connection.close();
    },
  };
  return db;
}
