// The audit log's store (collection `audit_events`): events are written once and never updated or
// deleted here; they expire AUDIT_RETENTION_DAYS after they happened (a TTL index on MongoDB, the
// keeper on the embedded FerretDB). Modules report through `record` (events.ts, AuditSink), which
// never throws and never delays them; administration reads with `query` (cursor pages, newest
// first) and `csv` (an export of at most AUDIT_EXPORT_MAX_ROWS rows).
//
// Ids are time-ordered (zero-padded base-36 milliseconds, a per-process sequence, then random), so
// `_id` order is time order: pages, the time range and the cursor are all conditions on `_id`.
import { randomBytes } from 'node:crypto';
import { Schema } from 'mongoose';
import { stringify } from 'csv-stringify/sync';
import type { Database } from '../db/database.ts';
import { DomainError } from '../domain-error.ts';
import { AUDIT_TYPES, type AuditDetails, type AuditEvent, type AuditFilter, type AuditInput, type AuditSink } from './events.ts';

/** A query the audit log cannot answer as asked (bad cursor, limit, date, type or outcome): invalid. */
export class AuditError extends DomainError {
  override name = 'AuditError';
  constructor(message: string) {
    super('invalid', 'invalid_request', message);
  }
}

export interface AuditLog extends AuditSink {
  /** One page of matching events, newest first; `next` is the cursor of the following page. */
  query(filter: AuditFilter): Promise<{ events: AuditEvent[]; next?: string }>;
  /** Matching events as CSV (header first), newest first, at most `exportMaxRows` rows. */
  csv(filter: Omit<AuditFilter, 'cursor' | 'limit'>): Promise<string>;
  /** `record`, awaitable: resolves to the stored event, rejects when the write failed. */
  write(input: AuditInput): Promise<AuditEvent>;
  /** Resolves once every write started so far has finished (tests; before closing the database). */
  flush(): Promise<void>;
  /**
   * Account deletion: every event about the account keeps what happened but names it only by
   * `pseudonym` (its id and email replaced wherever they appear). Resolves to how many changed.
   */
  pseudonymise(accountId: string, emails: string[], pseudonym: string): Promise<number>;
}

export interface AuditSettings {
  retentionDays: number;
  exportMaxRows: number;
  clock?: () => Date;
  log?: (line: string) => void;
  /**
   * Called with each batch just before it is written (the webhook outbox, webhooks/index.ts): its
   * writes land first, so a crash between the two never leaves an audited event undelivered. A
   * failure is logged and the audit events are written all the same.
   */
  beforeWrite?: (events: AuditEvent[]) => Promise<void>;
}

interface AuditDoc {
  _id: string;
  at: Date;
  type: string;
  outcome: string;
  actor: AuditInput['actor'];
  subject?: AuditInput['subject'];
  accountId?: string;
  ip?: string;
  details?: AuditDetails;
  expiresAt: Date;
}

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;
export const CSV_HEADER = ['time', 'type', 'outcome', 'actor_type', 'actor', 'subject_type', 'subject', 'account', 'ip', 'details'] as const;

const DAY = 24 * 3600 * 1000;
const TIME_DIGITS = 9;
const SEQ_DIGITS = 4;
const ID = /^[0-9a-z]{13}-[\w-]{8}$/;
const MAX_TEXT = 1000;
const MAX_ACCOUNT_ID = 128;

/** The id prefix of a moment: every event at or after it has an id >= this string. */
const timeKey = (ms: number) => Math.max(0, Math.min(ms, 36 ** TIME_DIGITS - 1)).toString(36).padStart(TIME_DIGITS, '0');

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const clip = (s: string) => (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT - 1)}…` : s);

/** Details as stored: strings clipped, only the value kinds the vocabulary allows. */
function cleanDetails(details: AuditDetails | undefined): AuditDetails {
  const out: AuditDetails = {};
  for (const [key, value] of Object.entries(details ?? {})) {
    if (typeof value === 'string') out[key] = clip(value);
    else if (Array.isArray(value)) out[key] = value.slice(0, 50).map((v) => clip(String(v)));
    else if (value === null || typeof value === 'number' || typeof value === 'boolean') out[key] = value;
  }
  return out;
}

function view(doc: AuditDoc): AuditEvent {
  return {
    id: doc._id, at: doc.at, type: doc.type as AuditEvent['type'], outcome: doc.outcome as AuditEvent['outcome'], actor: doc.actor,
    ...(doc.subject ? { subject: doc.subject } : {}), ...(doc.accountId ? { accountId: doc.accountId } : {}), ...(doc.ip ? { ip: doc.ip } : {}),
    details: doc.details ?? {},
  };
}

/** The event type condition: an exact type, or a family ('admin.' / 'admin.*'); unknown → AuditError. */
function typeCondition(type: string): string | RegExp {
  if (typeof type !== 'string' || type.length > 64) throw new AuditError('The event type is not one Tessera writes.');
  if ((AUDIT_TYPES as readonly string[]).includes(type)) return type;
  const family = type.endsWith('.*') ? type.slice(0, -1) : type;
  if (family.endsWith('.') && AUDIT_TYPES.some((t) => t.startsWith(family))) return new RegExp(`^${escapeRegex(family)}`);
  throw new AuditError(`"${type}" is not an event type Tessera writes, nor a family of them such as "admin." or "device.*".`);
}

function dateOf(value: unknown, name: string): Date | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new AuditError(`"${name}" must be a date and time (ISO 8601).`);
  return value;
}

export function createAuditLog(db: Database, settings: AuditSettings): AuditLog {
  const clock = settings.clock ?? (() => new Date());
  const log = settings.log ?? (() => {});
  const schema = new Schema<AuditDoc>({
    _id: String,
    at: { type: Date, required: true },
    type: { type: String, required: true },
    outcome: { type: String, required: true },
    actor: { type: Schema.Types.Mixed, required: true },
    subject: Schema.Types.Mixed,
    accountId: String,
    ip: String,
    details: Schema.Types.Mixed,
    expiresAt: { type: Date, required: true },
  }, { collection: 'audit_events', versionKey: false, minimize: false });
  // administration filters by account or by type, newest first (MongoDB; the embedded server scans)
  schema.index({ accountId: 1, _id: -1 });
  schema.index({ type: 1, _id: -1 });
  const Events = db.model<AuditDoc>('AuditEvent', schema, { expires: true });

  let seq = 0;
  const pending = new Set<Promise<unknown>>();

  function newId(at: Date): string {
    seq = (seq + 1) % 36 ** SEQ_DIGITS;
    return `${timeKey(at.getTime())}${seq.toString(36).padStart(SEQ_DIGITS, '0')}-${randomBytes(6).toString('base64url')}`;
  }

  function write(input: AuditInput): Promise<AuditEvent> {
    // id and time are taken now, synchronously: the order of record() calls is the order of the log
    const at = clock();
    const doc: AuditDoc = {
      _id: newId(at), at, type: input.type, outcome: input.outcome,
      actor: { type: input.actor.type, ...(input.actor.id ? { id: clip(input.actor.id) } : {}), ...(input.actor.label ? { label: clip(input.actor.label) } : {}) },
      ...(input.subject ? { subject: { type: input.subject.type, id: clip(input.subject.id), ...(input.subject.label ? { label: clip(input.subject.label) } : {}) } } : {}),
      ...(input.accountId ? { accountId: input.accountId } : {}),
      // one form per address: an IPv4 client seen on a dual-stack socket (::ffff:a.b.c.d) is a.b.c.d
      ...(input.ip ? { ip: clip(input.ip.replace(/^::ffff:(\d{1,3}(\.\d{1,3}){3})$/i, '$1')) } : {}),
      details: cleanDetails(input.details),
      expiresAt: new Date(at.getTime() + settings.retentionDays * DAY),
    };
    const done = queued(doc).then(() => view(doc));
    pending.add(done);
    const forget = () => { pending.delete(done); };
    done.then(forget, forget);
    return done;
  }

  // events recorded in the same turn of the event loop (one request's, or concurrent requests')
  // are written together: one insert of many documents, in the order they were recorded
  let batch: { docs: AuditDoc[]; written: Promise<void> } | undefined;
  function queued(doc: AuditDoc): Promise<void> {
    if (!batch) {
      const current: { docs: AuditDoc[]; written: Promise<void> } = { docs: [], written: Promise.resolve() };
      current.written = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        batch = undefined;
        if (settings.beforeWrite) {
          await settings.beforeWrite(current.docs.map(view)).catch((err: unknown) => log(`[tessera] could not write webhook deliveries for ${current.docs.length} audit events: ${(err as Error).message}`));
        }
        await Events.insertMany(current.docs, { ordered: true });
      });
      batch = current;
    }
    batch.docs.push(doc);
    return batch.written;
  }

  /** The database filter of an audit query (validated: a bad value is an AuditError, never a 500). */
  function conditions(filter: Omit<AuditFilter, 'limit'>): Record<string, unknown> {
    const from = dateOf(filter.from, 'from');
    const to = dateOf(filter.to, 'to');
    if (from && to && from.getTime() > to.getTime()) throw new AuditError('"from" must not be after "to".');
    const id: Record<string, string> = {};
    if (from) id.$gte = timeKey(from.getTime());
    if (to) id.$lt = timeKey(to.getTime());
    if (filter.cursor !== undefined) {
      if (typeof filter.cursor !== 'string' || !ID.test(filter.cursor)) throw new AuditError('The cursor is not one this audit log gave out: start again from the first page.');
      // the cursor is the last id of the previous page: older ones follow
      id.$lt = id.$lt !== undefined && id.$lt < filter.cursor ? id.$lt : filter.cursor;
    }
    const where: Record<string, unknown> = { expiresAt: { $gt: clock() } };
    if (Object.keys(id).length) where._id = id;
    if (filter.accountId !== undefined) {
      if (typeof filter.accountId !== 'string' || !filter.accountId || filter.accountId.length > MAX_ACCOUNT_ID) throw new AuditError('The account id is not valid.');
      where.accountId = filter.accountId;
    }
    if (filter.type !== undefined) where.type = typeCondition(filter.type);
    if (filter.outcome !== undefined) {
      if (filter.outcome !== 'success' && filter.outcome !== 'failure') throw new AuditError('The outcome is "success" or "failure".');
      where.outcome = filter.outcome;
    }
    return where;
  }

  async function query(filter: AuditFilter): Promise<{ events: AuditEvent[]; next?: string }> {
    const limit = filter.limit ?? DEFAULT_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new AuditError(`The limit is a whole number from 1 to ${MAX_LIMIT}.`);
    // ADMIN-ONLY read: it filters on fields other than _id. MongoDB answers it from the indexes
    // above; the embedded FerretDB reads the whole collection for it (data-access rule, database.ts).
    const docs = await Events.find(conditions(filter) as never).sort({ _id: -1 }).limit(limit + 1).lean<AuditDoc[]>();
    const events = docs.slice(0, limit).map(view);
    return docs.length > limit ? { events, next: events[events.length - 1]!.id } : { events };
  }

  return {
    async pseudonymise(accountId, emails, pseudonym) {
      // events still being written (recorded moments ago, e.g. the sessions the deletion ended)
      // are renamed too: wait for them before the scan
      while (pending.size) await Promise.allSettled([...pending]);
      // a background sweep's scan on the embedded database (indexed by accountId on MongoDB)
      const named = emails.filter(Boolean);
      const docs = await Events.find({ $or: [{ accountId }, { 'actor.id': accountId }, { 'subject.id': accountId }, ...named.map((e) => ({ 'subject.label': e })), ...named.map((e) => ({ 'actor.label': e }))] }).lean<AuditDoc[]>();
      const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const pattern = new RegExp([accountId, ...named].map(escape).join('|'), 'gi');
      let changed = 0;
      for (const doc of docs) {
        const { _id, at, expiresAt, ...rest } = doc;
        const text = JSON.stringify(rest);
        const replaced = text.replace(pattern, pseudonym);
        if (replaced === text) continue;
        await Events.replaceOne({ _id }, { ...(JSON.parse(replaced) as object), at, expiresAt });
        changed++;
      }
      return changed;
    },
    record(input: AuditInput): void {
      // fire and forget: a failed write is logged once and never reaches the caller
      write(input).catch((err: unknown) => log(`[tessera] could not record the audit event ${input.type}: ${(err as Error).message}`));
    },
    write,
    query,
    async csv(filter) {
      const rows: string[][] = [];
      let cursor: string | undefined;
      while (rows.length < settings.exportMaxRows) {
        const page = await query({ ...filter, ...(cursor ? { cursor } : {}), limit: Math.min(MAX_LIMIT, settings.exportMaxRows - rows.length) });
        for (const e of page.events) {
          rows.push([
            e.at.toISOString(), e.type, e.outcome, e.actor.type, e.actor.label ?? e.actor.id ?? '', e.subject?.type ?? '',
            e.subject?.label ?? e.subject?.id ?? '', e.accountId ?? '', e.ip ?? '', JSON.stringify(e.details),
          ]);
        }
        if (!page.next) break;
        cursor = page.next;
      }
      // a cell starting with = + - @ (or a tab or carriage return) is prefixed with ' (CSV injection)
      return stringify([[...CSV_HEADER], ...rows], { escape_formulas: true });
    },
    async flush() {
      while (pending.size) await Promise.allSettled([...pending]);
    },
  };
}
