// Assisted-recovery requests: one document per account (`account_recoveries`, _id = account id:
// at most one open request per account, by construction) holding its latest request and where it
// stands, and one queue document (`account_recovery_queue`, _id "open") listing the open requests,
// so the admin console reads the queue without scanning the collection.
//
// Crash rule: a request is put in the queue before its document is written (a queue entry that
// leads to nothing is skipped, and pruned after a minute); a request is closed in its document
// before it leaves the queue (an entry leading to a closed request is skipped and pruned). Every
// state change is one conditional update of the one document, so of parallel approvals, cancels or
// resets exactly one wins, and the reset claims "resetting" before it removes a factor: a crash
// part-way leaves "resetting", which the next chance finishes (the removal is idempotent). Nothing
// is reset without an approved request whose waiting period is over.
import { randomBytes } from 'node:crypto';
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import { editDocument } from '../db/edit.ts';
import { mayRequest, OPEN_STATES, type MayRequest, type RecoveryState } from '../policy/recovery.ts';

export interface RecoveryFrom { ip?: string; where: string; browser: string; os: string }
export interface RecoveryActor { id: string; label: string }

/** An account's latest assisted-recovery request, as others see it. */
export interface Recovery {
  accountId: string;
  email: string;
  state: RecoveryState;
  requestedAt: Date;
  from: RecoveryFrom;
  /** What the person wrote with the request (optional). */
  message?: string;
  /** The cancel link's secret for this request (never shown; the link carries its MAC). */
  nonce: string;
  decidedAt?: Date;
  decidedBy?: RecoveryActor;
  /** The administrator's note: how the person's identity was confirmed, or why it was rejected. */
  note?: string;
  resetAfter?: Date;
  /** When the reset was (last) claimed: one claimed long ago was cut short, and the sweep finishes it. */
  resetClaimedAt?: Date;
  closedAt?: Date;
}

interface RecoveryDoc extends Omit<Recovery, 'accountId'> { _id: string }
interface QueueEntry { id: string; at: Date }
interface QueueDoc { _id: string; entries: QueueEntry[]; rev?: number }

const QUEUE = 'open';
/** A queue entry younger than this may lead to a request still being written: never pruned. */
const SETTLING_MS = 60_000;

export type RecoveryStore = ReturnType<typeof createRecoveryStore>;

export function createRecoveryStore(db: Database, clock: () => Date) {
  const Recoveries = db.model<RecoveryDoc>('AccountRecovery', new Schema<RecoveryDoc>({
    _id: String, email: { type: String, required: true }, state: { type: String, required: true }, requestedAt: { type: Date, required: true },
    from: Schema.Types.Mixed, message: String, nonce: { type: String, required: true }, decidedAt: Date, decidedBy: Schema.Types.Mixed, note: String,
    resetAfter: Date, resetClaimedAt: Date, closedAt: Date,
  }, { collection: 'account_recoveries', versionKey: false }));
  const Queue = db.model<QueueDoc>('AccountRecoveryQueue', new Schema<QueueDoc>(
    { _id: String, entries: { type: Schema.Types.Mixed, default: [] }, rev: Number },
    { collection: 'account_recovery_queue', versionKey: false },
  ));

  const view = ({ _id, ...doc }: RecoveryDoc): Recovery => ({ accountId: _id, ...doc });
  const same = (a: Date, b: Date) => new Date(a).getTime() === new Date(b).getTime();

  async function enqueue(id: string, at: Date): Promise<void> {
    await editDocument(db, Queue, QUEUE, (q) => ({ set: { entries: [...(q?.entries ?? []), { id, at }] }, result: undefined }));
  }
  async function dequeue(drop: (e: QueueEntry) => boolean): Promise<void> {
    await editDocument(db, Queue, QUEUE, (q) => {
      const entries = (q?.entries ?? []).filter((e) => !drop(e));
      return q && entries.length !== q.entries.length ? { set: { entries }, result: undefined } : { result: undefined };
    });
  }
  /** After a close: the request leaves the queue (its own entry only: a newer request keeps its own). */
  const leave = (r: RecoveryDoc) => dequeue((e) => e.id === r._id && same(e.at, r.requestedAt));

  async function get(accountId: string): Promise<Recovery | undefined> {
    const doc = await Recoveries.findById(accountId).lean<RecoveryDoc>();
    return doc ? view(doc) : undefined;
  }

  return {
    get,

    /**
     * A new request for the account, unless one is open or the last one was asked for less than a
     * day ago (policy/recovery.ts). Resolves to the request, or why not.
     */
    async open(accountId: string, fields: { email: string; from: RecoveryFrom; message?: string }): Promise<{ ok: true; recovery: Recovery } | Exclude<MayRequest, { ok: true }>> {
      const now = clock();
      const latest = await Recoveries.findById(accountId).lean<RecoveryDoc>();
      const may = mayRequest(latest ?? undefined, now);
      if (!may.ok) return may;
      const doc: RecoveryDoc = { _id: accountId, email: fields.email, state: 'requested', requestedAt: now, from: fields.from, nonce: randomBytes(18).toString('base64url'), ...(fields.message ? { message: fields.message } : {}) };
      await enqueue(accountId, now);
      if (!latest) {
        const made = await Recoveries.create(doc).then(() => true, (err: { code?: number }) => { if (err.code === 11000) return false; throw err; });
        return made ? { ok: true, recovery: view(doc) } : { ok: false, why: 'open' };
      }
      // replaces the closed request it read, once (a parallel request for the same account loses)
      const { _id, ...set } = doc;
      const won = await db.updateIf(Recoveries, accountId, { state: latest.state, requestedAt: latest.requestedAt },
        { $set: set, $unset: { decidedAt: '', decidedBy: '', note: '', resetAfter: '', resetClaimedAt: '', closedAt: '', ...(fields.message ? {} : { message: '' }) } });
      return won ? { ok: true, recovery: view(doc) } : { ok: false, why: 'open' };
    },

    /** An administrator approved the waiting request: the waiting period runs until `resetAfter`. */
    async approve(accountId: string, by: RecoveryActor, note: string, resetAfter: Date): Promise<Recovery | undefined> {
      const doc = await db.modifyIf(Recoveries, accountId, { state: 'requested' }, { $set: { state: 'approved', decidedAt: clock(), decidedBy: by, note, resetAfter } });
      return doc ? view(doc as RecoveryDoc) : undefined;
    },

    /** An administrator rejected the waiting request: closed. */
    async reject(accountId: string, by: RecoveryActor, note: string): Promise<Recovery | undefined> {
      const now = clock();
      const doc = await db.modifyIf(Recoveries, accountId, { state: 'requested' }, { $set: { state: 'rejected', decidedAt: now, decidedBy: by, note, closedAt: now } });
      if (doc) await leave(doc as RecoveryDoc);
      return doc ? view(doc as RecoveryDoc) : undefined;
    },

    /** The person's cancel link (its nonce): before the waiting period is over, once. */
    async cancel(accountId: string, nonce: string): Promise<Recovery | undefined> {
      const now = clock();
      const doc = await db.modifyIf(Recoveries, accountId, { nonce, $or: [{ state: 'requested' }, { state: 'approved', resetAfter: { $gt: now } }] }, { $set: { state: 'cancelled', closedAt: now } });
      if (doc) await leave(doc as RecoveryDoc);
      return doc ? view(doc as RecoveryDoc) : undefined;
    },

    /** Claims the reset of an approved request whose waiting period is over (or one cut short): the request, or undefined. */
    async beginReset(accountId: string): Promise<Recovery | undefined> {
      const doc = await db.modifyIf(Recoveries, accountId, { $or: [{ state: 'approved', resetAfter: { $lte: clock() } }, { state: 'resetting' }] }, { $set: { state: 'resetting', resetClaimedAt: clock() } });
      return doc ? view(doc as RecoveryDoc) : undefined;
    },

    /** The factors are gone: the request is completed (true once), then leaves the queue. */
    async finishReset(accountId: string): Promise<boolean> {
      const doc = await db.modifyIf(Recoveries, accountId, { state: 'resetting' }, { $set: { state: 'completed', closedAt: clock() } });
      if (doc) await leave(doc as RecoveryDoc);
      return !!doc;
    },

    /** The open requests, oldest first (one queue read, one read per entry); stale entries are pruned. */
    async queue(): Promise<Recovery[]> {
      const q = await Queue.findById(QUEUE).lean<QueueDoc>();
      const now = clock().getTime();
      const open: Recovery[] = [];
      const stale: QueueEntry[] = [];
      for (const entry of q?.entries ?? []) {
        const doc = await Recoveries.findById(entry.id).lean<RecoveryDoc>();
        const current = doc && same(doc.requestedAt, entry.at);
        if (current && OPEN_STATES.includes(doc.state)) { if (!open.some((r) => r.accountId === doc._id)) open.push(view(doc)); continue; }
        if (current || now - new Date(entry.at).getTime() > SETTLING_MS) stale.push(entry);
      }
      if (stale.length) await dequeue((e) => stale.some((s) => s.id === e.id && same(s.at, e.at)));
      return open.sort((a, b) => a.requestedAt.getTime() - b.requestedAt.getTime());
    },

    /** Account deletion: the account's request and its queue entries. */
    async forgetAccount(accountId: string): Promise<void> {
      await Recoveries.deleteOne({ _id: accountId });
      await dequeue((e) => e.id === accountId);
    },
  };
}
