// What Tessera knows about each signed-in browser session beyond the provider's own record: where
// it was signed in (device, IP, location, browser/OS), when, when it was last used, whether the
// screen lock closed it, wrong PINs since, and what it proved and when, per factor (the step-up
// decision needs each factor's own time for max_age; the provider's session keeps one loginTs).
// Keyed by the session's uid (stable for the session's life, across its identifier changes), kept
// beside the provider's sessions (`oidc_session`, `_id` `rec:<uid>`), so a new session's record goes
// in the command that writes the session (db/ride-along.ts, oidc/adapter.ts); read once per request;
// the account's live sessions come from the provider storage (oidc_account_refs).
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import { countUp } from '../db/edit.ts';
import { forget, keep, memoized, WRITE_OPERATIONS } from '../db/request-memo.ts';
import { readById } from '../db/read-versions.ts';
import { rideWith } from '../db/ride-along.ts';
import { collectionFor, sessionRiders } from '../oidc/adapter.ts';
import type { ClientInfo } from '../devices/client-info.ts';
import type { Proof } from '../policy/sign-in.ts';

export interface SessionRecord {
  uid: string;
  accountId: string;
  deviceId?: string;
  ip?: string;
  location?: ClientInfo['location'];
  browser: string;
  os: string;
  signedInAt: Date;
  lastActiveAt: Date;
  locked: boolean;
  pinFailures: number;
  /** Wrong passwords typed to confirm a change in this session. */
  reauthFailures?: number;
  /** The latest proof of each factor in this session. */
  proofs: Proof[];
  /** The last account change confirmed in this session by a recent re-authentication (the window slides from it). */
  changeConfirmedAt?: Date;
  /** The country this session was last seen to have moved to (a session that moves is recorded once per country). */
  movedTo?: string;
}

/** The latest proof of each factor, oldest first. */
function latestPerFactor(proofs: Proof[]): Proof[] {
  const latest = new Map<string, Proof>();
  for (const p of [...proofs].sort((a, b) => a.at - b.at)) latest.set(p.factor, p);
  return [...latest.values()];
}

interface SessionDoc extends Omit<SessionRecord, 'uid'> {
  _id: string;
  expiresAt: Date;
}

/** Activity is written at most this often (a page view every second costs no write). */
const TOUCH_EVERY_MS = 30_000;

export type SessionRecords = ReturnType<typeof createSessionRecords>;

export function createSessionRecords(db: Database, options: { maxDays: number; clock: () => Date }) {
  const { clock } = options;
  const schemaIn = (collection: string) => new Schema<SessionDoc>({
    _id: String, accountId: { type: String, required: true }, deviceId: String, ip: String, location: Schema.Types.Mixed,
    browser: String, os: String, signedInAt: { type: Date, required: true }, lastActiveAt: { type: Date, required: true }, proofs: { type: Schema.Types.Mixed, default: [] },
    locked: { type: Boolean, default: false }, pinFailures: { type: Number, default: 0 }, reauthFailures: Number, changeConfirmedAt: Date, movedTo: String, expiresAt: { type: Date, required: true },
  }, { collection, versionKey: false });
  const forgetRecords = () => forget('session-record:');
  const schema = schemaIn(collectionFor('Session'));
  schema.pre([...WRITE_OPERATIONS], forgetRecords);
  schema.post([...WRITE_OPERATIONS], forgetRecords);
  const Sessions = db.model<SessionDoc>('SessionRecord', schema, { expires: true });
  // where an earlier version kept them, keyed by the bare uid: a record found only there moves on its first read
  const Earlier = db.model<SessionDoc>('EarlierSessionRecord', schemaIn('session_records'), { expires: true });
  const recId = (uid: string) => `rec:${uid}`;
  // the key every guarded write of a record takes (db.updateIf and countUp take the same one)
  const lockOf = (uid: string) => `${Sessions.collection.name}/${recId(uid)}`;
  const read = (uid: string) => memoized(`session-record:${uid}`, async () => (await readById(Sessions, recId(uid))) ?? moveEarlier(uid));
  /** An earlier version's record: copied beside the sessions (never over one there), then deleted there; a crash between leaves a copy that expires. */
  async function moveEarlier(uid: string): Promise<SessionDoc | undefined> {
    const old = await Earlier.findById(uid).lean<SessionDoc>();
    if (!old) return undefined;
    const { _id: _old, ...fields } = old;
    await db.exclusive(lockOf(uid), () => Sessions.updateOne({ _id: recId(uid) }, { $setOnInsert: fields }, { upsert: true }));
    await Earlier.deleteOne({ _id: uid });
    return { _id: recId(uid), ...fields };
  }

  const toRecord = (uid: string, { _id: _i, expiresAt: _e, ...rest }: SessionDoc): SessionRecord => ({ uid, ...rest, proofs: rest.proofs ?? [] });
  const lifetime = (from: Date) => new Date(from.getTime() + options.maxDays * 86_400_000);

  return {
    async of(uid: string): Promise<SessionRecord | undefined> {
      const doc = await read(uid);
      return doc && doc.expiresAt > clock() ? toRecord(uid, doc) : undefined;
    },

    /** What this session proved for the account (undefined: no record of it). */
    async proofsOf(uid: string, accountId: string): Promise<Proof[] | undefined> {
      const record = await this.of(uid);
      return record?.accountId === accountId ? record.proofs : undefined;
    },

    /**
     * A sign-in finished in this session, with what it proved: a new record, or (a step-up in the
     * same session, same account) the old one, unlocked, with its sign-in time and earlier proofs
     * kept. Another account starts over.
     */
    async signedIn(uid: string, accountId: string, where: { client: ClientInfo; deviceId?: string; proofs?: Proof[] }, fresh = false): Promise<void> {
      const now = clock();
      const { client } = where;
      const record = (signedInAt: Date, earlierProofs: Proof[]) => ({
        accountId, ...(where.deviceId ? { deviceId: where.deviceId } : {}),
        ...(client.ip ? { ip: client.ip } : {}), ...(client.location ? { location: client.location } : {}),
        browser: client.browser, os: client.os, signedInAt, lastActiveAt: now, locked: false, pinFailures: 0,
        proofs: latestPerFactor([...earlierProofs, ...(where.proofs ?? [])]), expiresAt: lifetime(signedInAt),
      });
      if (fresh) {
        // a session never stored (its uid was made in this request) has no record to keep from: its
        // record goes in the command that writes the session, ahead of it (or alone at the request's end)
        const fields = record(now, []);
        const write = { filter: { _id: recId(uid) }, update: { $set: fields }, upsert: true };
        const queued = rideWith(sessionRiders(uid), {
          statement: { updateOne: write },
          alone: () => db.exclusive(lockOf(uid), () => Sessions.updateOne(write.filter, write.update, { upsert: true })),
        });
        if (queued) {
          // this request reads it as it will be (nothing reads it before the session's write but this request)
          keep(`session-record:${uid}`, Promise.resolve({ _id: recId(uid), ...fields }));
          return;
        }
      }
      await db.exclusive(lockOf(uid), async () => {
        // most sign-ins open a new session: one insert; a session that has a record reads it first
        try {
          await Sessions.create({ _id: recId(uid), ...record(now, []) });
          forgetRecords();
          return;
        } catch (err) {
          if ((err as { code?: number }).code !== 11000) throw err;
        }
        const earlier = await Sessions.findById(recId(uid)).lean<SessionDoc>();
        const same = !!earlier && earlier.accountId === accountId && earlier.expiresAt > now;
        await Sessions.replaceOne({ _id: recId(uid) }, same ? record(earlier.signedInAt, earlier.proofs ?? []) : record(now, []), { upsert: true });
      });
    },

    /** When this session (of `accountId`) last confirmed a change through a recent re-authentication. */
    async changeConfirmedAt(uid: string, accountId: string): Promise<Date | undefined> {
      const record = await this.of(uid);
      return record?.accountId === accountId ? record.changeConfirmedAt : undefined;
    },

    /** A change was confirmed in this session now (one field: no lock needed). */
    async changeConfirmed(uid: string, accountId: string): Promise<void> {
      await db.updateIf(Sessions, recId(uid), { accountId }, { $set: { changeConfirmedAt: clock() } });
    },

    /** This session (of `accountId`) was seen used from `country`, another than its sign-in's (one field: no lock needed). */
    async moved(uid: string, accountId: string, country: string): Promise<void> {
      await db.updateIf(Sessions, recId(uid), { accountId }, { $set: { movedTo: country } });
    },

    /** More proofs of this session's account (a re-authentication); a session of another account, or none, is left alone. */
    async addProofs(uid: string, accountId: string, proofs: Proof[]): Promise<void> {
      await db.exclusive(lockOf(uid), async () => {
        const doc = await Sessions.findById(recId(uid)).lean<SessionDoc>();
        if (!doc || doc.accountId !== accountId) return;
        await Sessions.updateOne({ _id: recId(uid) }, { $set: { proofs: latestPerFactor([...(doc.proofs ?? []), ...proofs]) } });
      });
    },

    /** Marks the session used now (at most every 30 s) and, if it moved, its latest IP. */
    async touch(record: SessionRecord, ip?: string): Promise<void> {
      const now = clock();
      if (now.getTime() - record.lastActiveAt.getTime() < TOUCH_EVERY_MS && (!ip || ip === record.ip)) return;
      // never over a lock that happened meanwhile
      await db.updateIf(Sessions, recId(record.uid), { locked: false }, { $set: { lastActiveAt: now, ...(ip ? { ip } : {}) } });
    },

    async lock(uid: string): Promise<void> {
      await Sessions.updateOne({ _id: recId(uid) }, { $set: { locked: true } });
    },

    /** The PIN was right: open again, failures forgotten. */
    async unlock(uid: string): Promise<void> {
      await Sessions.updateOne({ _id: recId(uid) }, { $set: { locked: false, pinFailures: 0, lastActiveAt: clock() } });
    },

    /** One more wrong PIN; resolves to the count (no lost increments). */
    pinFailed: (uid: string): Promise<number> => countUp(db, Sessions, recId(uid), 'pinFailures'),

    /** One more wrong password typed to confirm a change in this session; resolves to the count. */
    reauthFailed: (uid: string): Promise<number> => countUp(db, Sessions, recId(uid), 'reauthFailures'),

    async remove(uid: string): Promise<void> {
      await Sessions.deleteOne({ _id: recId(uid) });
    },

    /** Account deletion only (a background sweep): every record of the account (a scan on the embedded database). */
    async forgetAccount(accountId: string): Promise<void> {
      await Sessions.deleteMany({ accountId });
      await Earlier.deleteMany({ accountId });
    },
  };
}
