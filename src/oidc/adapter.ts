// oidc-provider's storage adapter on MongoDB: one collection per provider model, documents
// { _id, payload, expiresAt }. Payloads are stored verbatim (mongoose must not strip fields).
// Every lookup is by exact _id (the data-access rule in db/database.ts): the provider's secondary
// lookups go through lookup documents kept beside the models —
//   oidc_session        { _id: "uid:" + session uid, jti } findByUid: beside the sessions, so a
//                       new pointer and its session are written in one command (ordered: the
//                       pointer first); earlier versions kept it in oidc_session_uid { _id: uid, jti }.
//                       Tessera's record of a session lives there too ({ _id: "rec:" + uid },
//                       sessions/store.ts): a new session's record rides in the same command
//   <token's collection> { _id: "grant:" + grantId, ids: {id: second issued} }  revokeByGrantId,
//                       lastIssued: beside the tokens of its model, so a new token's entry and the
//                       token are written in one command (ordered: the entry first); earlier
//                       versions kept them all in oidc_grant_tokens { _id: grantId, <Model>: {...} },
//                       still read by revocation and lastIssued
//   oidc_account_refs   { _id: accountId, sessions: {uid: second written}, grants: {grantId: second written} }
//                       (a grant made during a request of its account's session adds both in one write)
// Expiry is checked in code after the read; single use (consume) is a conditional update.
// Bearer values (tokens and codes) are never stored: their documents are keyed by an HMAC of the
// value and the payload keeps no `jti` (RFC 6819 §5.1.4.1.3); a lookup still hits one exact key.
import { createHmac, createSecretKey } from 'node:crypto';
import { Schema, type Model } from 'mongoose';
import Provider, { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Database } from '../db/database.ts';
import { forget, memoized } from '../db/request-memo.ts';
import { readById } from '../db/read-versions.ts';
import { ridersOf } from '../db/ride-along.ts';

interface StoredDoc {
  _id: string;
  payload: AdapterPayload;
  expiresAt?: Date;
}

interface SessionUidDoc {
  _id: string;
  jti: string;
  expiresAt: Date;
}

/** Members of a lookup set: 1 (written before refs carried a time) or the second it was written. */
type RefMap = Record<string, number>;
/** A reference whose document is missing this long after it was written is dead, not in progress. */
const REF_GRACE_SECONDS = 60;
/** A grant's entry in one token model's collection: the ids of the tokens of that model it issued. */
interface GrantIndexDoc {
  _id: string;
  ids?: RefMap;
  expiresAt?: Date;
}
/** The entry's id beside the tokens (a token's id is an HMAC and never holds a ":"). */
const grantIndexId = (grantId: string) => `grant:${grantId}`;
/** The models whose tokens show when a grant was last used (the device flow and CIBA are off). */
const ISSUED = ['AuthorizationCode', 'AccessToken', 'RefreshToken'] as const;

interface GrantTokensDoc {
  _id: string;
  expiresAt?: Date;
  [model: string]: RefMap | Date | string | undefined;
}

interface AccountRefsDoc {
  _id: string;
  sessions?: RefMap;
  grants?: RefMap;
}

const MODEL_NAMES = [
  'Session', 'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'ClientCredentials',
  'Client', 'InitialAccessToken', 'RegistrationAccessToken', 'Interaction', 'ReplayDetection',
  'PushedAuthorizationRequest', 'Grant', 'BackchannelAuthenticationRequest',
] as const;

const GRANT_BOUND = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);
/** Models whose id is a bearer credential: stored only as a keyed hash. */
const BEARER = new Set([...GRANT_BOUND, 'ClientCredentials', 'InitialAccessToken', 'RegistrationAccessToken']);

/** A session pointer outlives its session by this much, and is rewritten when less than half is left. */
const POINTER_MARGIN_MS = 86_400_000;
/** A session pointer's id in the sessions' collection (a session id never holds a ":"). */
const pointerId = (uid: string) => `uid:${uid}`;

/**
 * An interaction's whole document (the provider's payload and the sign-in's flow record,
 * interaction/flow.ts), read at most once per request whichever of the two asks first.
 */
export function interactionDocument<T>(model: Model<T>, id: string): Promise<Record<string, unknown> | undefined> {
  return memoized(`interaction:${id}|`, async () => (await readById(model, id)) as Record<string, unknown> | undefined);
}

/** After a write of an interaction's document: the request's copy is stale. */
export function interactionChanged(id: string): void {
  forget(`interaction:${id}|`);
}

/** The key under which writes wait to go with a session's next save (db/ride-along.ts): its record (sessions/store.ts). */
export const sessionRiders = (uid: string) => `session:${uid}`;

export function collectionFor(name: string): string {
  return `oidc_${name.replace(/[A-Z]/g, (c, i: number) => (i ? '_' : '') + c.toLowerCase())}`;
}

export interface OidcStorage {
  /** The factory oidc-provider calls once per model name. */
  adapter: (name: string) => Adapter;
  /** Every live payload of one model (admin listings only: this reads the whole collection). */
  list(name: string): Promise<AdapterPayload[]>;
  /** Live session payloads of one account. */
  sessionsOf(accountId: string): Promise<AdapterPayload[]>;
  /** Live grant payloads of one account. */
  grantsOf(accountId: string): Promise<AdapterPayload[]>;
  /** Account deletion, after its sessions and grants ended: its reference document. */
  forgetAccount(accountId: string): Promise<void>;
  /** When a token or code was last issued under the grant, while its lookup document lives (else undefined). */
  lastIssued(grantId: string): Promise<Date | undefined>;
  /**
   * Stores a document of one model under `id` unless a live one is there: true for the first use,
   * false for every later one while it lives (replay detection). Atomic on both servers: the
   * insert is the arbiter (the _id index takes one), and an expired document the purge has not
   * removed yet is replaced by one guarded write.
   */
  recordOnce(name: string, id: string, payload: AdapterPayload, expiresIn: number): Promise<boolean>;
}

const idKey = (id: string) => {
  // keys become field names in lookup documents: no dots, no leading "$" (the provider's ids are
  // url-safe base64, client ids are checked by the client store)
  if (id.includes('.') || id.startsWith('$')) throw new errors.InvalidRequest('malformed identifier');
  return id;
};

export interface StorageOptions {
  clock?: () => Date;
  /** HMAC key for bearer ids (derived from ENCRYPTION_KEY); changing it invalidates stored tokens. */
  tokenKey: Buffer;
  /** How long this process keeps a client it read (CLIENT_CACHE_SECONDS; 0: once per request). */
  clientCacheSeconds?: number;
}

/** Registers one model per provider model name plus the lookup documents; call before db.init(). */
export function createOidcStorage(db: Database, { clock = () => new Date(), tokenKey, clientCacheSeconds = 0 }: StorageOptions): OidcStorage {
  const models = new Map<string, Model<StoredDoc>>();
  for (const name of MODEL_NAMES) {
    const schema = new Schema<StoredDoc>(
      { _id: { type: String, required: true }, payload: { type: Schema.Types.Mixed, required: true }, expiresAt: Date },
      { collection: collectionFor(name), versionKey: false, minimize: false, strict: false },
    );
    models.set(name, db.model<StoredDoc>(`Oidc${name}`, schema, { expires: true }));
  }
  const SessionUids = db.model<SessionUidDoc>('OidcSessionUid', new Schema<SessionUidDoc>(
    { _id: String, jti: { type: String, required: true }, expiresAt: { type: Date, required: true } },
    { collection: 'oidc_session_uid', versionKey: false },
  ), { expires: true });
  const GrantTokens = db.model<GrantTokensDoc>('OidcGrantTokens', new Schema<GrantTokensDoc>(
    { _id: String, expiresAt: Date },
    { collection: 'oidc_grant_tokens', versionKey: false, minimize: false, strict: false },
  ), { expires: true });
  const AccountRefs = db.model<AccountRefsDoc>('OidcAccountRefs', new Schema<AccountRefsDoc>(
    { _id: String, sessions: Schema.Types.Mixed, grants: Schema.Types.Mixed },
    { collection: 'oidc_account_refs', versionKey: false, minimize: false },
  ));

  const interactions = models.get('Interaction')!;
  // one key object for every bearer id's HMAC (a Buffer key is made into one on every call)
  const hmacKey = createSecretKey(tokenKey);
  const alive = (doc: { expiresAt?: Date | null } | null | undefined) => !!doc && (!doc.expiresAt || doc.expiresAt > clock());
  const modelFor = (name: string) => {
    const M = models.get(name);
    if (!M) throw new Error(`no storage for oidc-provider model ${name}`);
    return M;
  };
  const findPayload = async (M: Model<StoredDoc>, id: string) => {
    const doc = (M === interactions ? await interactionDocument(M, id) : await M.findById(id).lean<StoredDoc>()) as StoredDoc | null | undefined;
    return alive(doc) ? doc!.payload : undefined;
  };

  // Clients are read on almost every request and change rarely: a process keeps each one it read
  // for clientCacheSeconds (by the storage's clock, like every expiry here). This
  // process's own writes drop it at once; another process's writes show within that time. An
  // unknown client_id is not kept (a client created elsewhere works at once). Within a request a
  // client is read at most once either way (db/request-memo.ts).
  const clientCache = new Map<string, { payload: AdapterPayload; until: number }>();
  let clientWrites = 0;
  const findClient = (M: Model<StoredDoc>, id: string) => memoized(`client:${id}`, async () => {
    const hit = clientCache.get(id);
    if (hit && hit.until > clock().getTime()) return hit.payload;
    const writes = clientWrites;
    const payload = await findPayload(M, id);
    // a read that overlapped a write of this process may hold the old client: not kept
    if (payload && clientCacheSeconds > 0 && writes === clientWrites) {
      if (clientCache.size > 10_000) clientCache.clear();
      clientCache.set(id, { payload, until: clock().getTime() + clientCacheSeconds * 1000 });
    } else clientCache.delete(id);
    return payload;
  });
  const clientChanged = (id: string) => {
    clientWrites++;
    clientCache.delete(id);
    forget('client:');
  };

  // Writes that would change nothing are skipped: a session is saved on every provider request,
  // its pointer and account reference only when they are new (or the pointer nears its expiry).
  const written = new Map<string, number>();
  const remember = (key: string, until: number) => {
    if (written.size > 50_000) written.clear();
    written.set(key, until);
  };
  // The last session id this process saw for a uid. A live session document under that id that
  // names the same uid is the current one (the provider destroys an old id before saving the new
  // one, and ids are never reused), so findByUid can skip the pointer read when this is warm.
  const lastJti = new Map<string, string>();
  const rememberJti = (uid: string, jti: string) => {
    if (lastJti.size > 50_000) lastJti.clear();
    lastJti.set(uid, jti);
  };

  /** Adds members to an account's reference sets (one write for all of them; none when each is written already). */
  async function addAccountRefs(accountId: string, members: Partial<Record<'sessions' | 'grants', string>>) {
    const set: Record<string, number> = {};
    const keys: string[] = [];
    for (const [kind, member] of Object.entries(members)) {
      const key = `${kind}|${accountId}|${member}`;
      if (written.has(key)) continue;
      set[`${kind}.${idKey(member)}`] = Math.floor(clock().getTime() / 1000);
      keys.push(key);
    }
    if (!keys.length) return;
    await db.exclusive(`account-refs/${accountId}`, () => AccountRefs.updateOne({ _id: idKey(accountId) }, { $set: set }, { upsert: true }));
    for (const key of keys) remember(key, 0);
  }
  const addAccountRef = (accountId: string, kind: 'sessions' | 'grants', member: string) => addAccountRefs(accountId, { [kind]: member });

  /**
   * A grant made while the provider answers a request of the same account's session (a sign-in's
   * return to it): the session's reference goes in the same write as the grant's (the session is
   * saved moments later and then finds it written). A reference ahead of its document is what the
   * crash rule allows.
   */
  function sessionOfRequest(accountId: string): string | undefined {
    const session = (Provider.ctx as { oidc?: { session?: { uid?: string; accountId?: string } } } | undefined)?.oidc?.session;
    return session?.uid && session.accountId === accountId ? session.uid : undefined;
  }

  /**
   * A session's lookup documents before the session is saved: its account's reference (written
   * here), and its pointer when it is new or nears its expiry — returned as the write to send with
   * the session's own, in one command.
   */
  async function indexSession(jti: string, payload: AdapterPayload, expiresAt: Date | undefined) {
    const uid = payload.uid as string | undefined;
    if (!uid) return undefined;
    rememberJti(uid, jti);
    if (typeof payload.accountId === 'string') await addAccountRef(payload.accountId, 'sessions', uid);
    const pointerUntil = (expiresAt?.getTime() ?? clock().getTime()) + POINTER_MARGIN_MS;
    const key = `uid|${uid}|${jti}`;
    const until = written.get(key);
    // written already, and it outlives the session by at least half the margin: nothing to write
    if (until !== undefined && until >= pointerUntil - POINTER_MARGIN_MS / 2) return undefined;
    return {
      write: { updateOne: { filter: { _id: pointerId(uid) }, update: { $set: { jti, expiresAt: new Date(pointerUntil) } }, upsert: true } },
      written: () => remember(key, pointerUntil),
    };
  }

  /** A session's pointer: beside the sessions, or where an earlier version wrote it. */
  async function sessionPointer(uid: string): Promise<SessionUidDoc | null> {
    return (await modelFor('Session').findById(pointerId(uid)).lean<SessionUidDoc>()) ?? SessionUids.findById(uid).lean<SessionUidDoc>();
  }

  /**
   * A token and its grant's entry beside it, in one command: the entry first (crash rule). On the
   * embedded database the entry's update rewrites the whole document, so the write holds its lock.
   */
  async function writeGrantBound(M: Model<StoredDoc>, id: string, grantId: string, token: Record<string, unknown>, expiresAt: Date | undefined) {
    const entry: Record<string, unknown> = { $set: { [`ids.${idKey(id)}`]: Math.floor(clock().getTime() / 1000) } };
    // the entry lives as long as the longest-lived token it lists
    if (expiresAt) entry.$max = { expiresAt };
    const entryId = grantIndexId(idKey(grantId));
    await db.exclusive(`${M.collection.name}/${entryId}`, () => M.bulkWrite([
      { updateOne: { filter: { _id: entryId }, update: entry, upsert: true } },
      { updateOne: { filter: { _id: id }, update: token, upsert: true } },
    ] as never, { ordered: true }));
  }

  async function findByUid(uid: string) {
    const Sessions = modelFor('Session');
    const known = lastJti.get(uid);
    if (known) {
      const payload = await findPayload(Sessions, known);
      if (payload?.uid === uid) return payload;
    }
    const pointer = await sessionPointer(uid);
    if (!alive(pointer) || pointer!.jti === known) return undefined;
    const payload = await findPayload(Sessions, pointer!.jti);
    if (payload?.uid !== uid) return undefined;
    rememberJti(uid, pointer!.jti);
    return payload;
  }

  const adapter = (name: string): Adapter => {
    const M = modelFor(name);
    const bearer = BEARER.has(name);
    const key = bearer ? (id: string) => createHmac('sha256', hmacKey).update(`${name}:${id}`).digest('base64url') : (id: string) => id;
    const stored = bearer ? (p: AdapterPayload) => { const { jti: _, ...rest } = p; return rest; } : (p: AdapterPayload) => p;
    const restored = bearer ? (id: string, p: AdapterPayload | undefined) => p && { ...p, jti: id } : (_id: string, p: AdapterPayload | undefined) => p;
    return {
      async upsert(rawId, payload, expiresIn) {
        const id = key(rawId);
        const set: Partial<StoredDoc> = { payload: stored(payload) };
        const update: Record<string, unknown> = { $set: set };
        if (expiresIn) set.expiresAt = new Date(clock().getTime() + expiresIn * 1000);
        else update.$unset = { expiresAt: '' };
        // crash rule: the lookup documents first, then the document they lead to. A crash between
        // leaves a reference to nothing, which every reader skips (and list reads prune), never a
        // token that revocation or "sign out everywhere" cannot find
        if (name === 'Session') {
          const pointer = await indexSession(id, payload, set.expiresAt);
          // what waits for this session's save (a new session's record) goes ahead of it, in its command
          const riders = typeof payload.uid === 'string' ? ridersOf(sessionRiders(payload.uid)) : [];
          if (pointer || riders.length) {
            await M.bulkWrite([...(pointer ? [pointer.write] : []), ...riders.map((r) => r.statement), { updateOne: { filter: { _id: id }, update, upsert: true } }] as never, { ordered: true });
            pointer?.written();
            return;
          }
        } else if (GRANT_BOUND.has(name) && typeof payload.grantId === 'string') {
          await writeGrantBound(M, id, payload.grantId, update, set.expiresAt);
          return;
        } else if (name === 'Grant' && typeof payload.accountId === 'string') {
          const session = sessionOfRequest(payload.accountId);
          await addAccountRefs(payload.accountId, { grants: id, ...(session ? { sessions: session } : {}) });
        }
        if (name === 'Interaction') {
          // the sign-in's flow record shares the document: its writes and these take the same lock
          // on the embedded database (an update there rewrites the whole document)
          await db.exclusive(`${M.collection.name}/${id}`, () => M.updateOne({ _id: id }, update, { upsert: true })).finally(() => interactionChanged(id));
          return;
        }
        await M.updateOne({ _id: id }, update, { upsert: true });
        if (name === 'Client') clientChanged(rawId);
      },
      // a client is read once per request (db/request-memo.ts), however many steps ask for it
      find: async (id) => restored(id, await (name === 'Client' ? findClient(M, id) : findPayload(M, key(id)))),
      // only sessions have uids; the device flow is off, so nothing is stored under a user code
      findByUid: (uid) => (name === 'Session' ? findByUid(uid) : Promise.resolve(undefined)),
      findByUserCode: async () => undefined,
      /** Marks the document consumed once; a second (or concurrent) consume fails the request. */
      async consume(id) {
        // $min keeps the first consumption's time: the one request that finds none before it wins
        const before = await db.claim(M, key(id), { $min: { 'payload.consumed': Math.floor(clock().getTime() / 1000) } });
        if (!before || before.payload.consumed !== undefined) throw new errors.InvalidGrant(`${name} already consumed`);
      },
      async destroy(id) {
        if (name === 'Interaction') {
          // the provider destroys an interaction once, when it resumes it to issue the response:
          // the one request that deletes it goes on, a doubled or replayed resume stops here (one
          // authorization code per sign-in). Atomic on MongoDB; on the embedded database under
          // the document's in-process lock.
          const { deletedCount } = await db.exclusive(`${M.collection.name}/${id}`, () => M.deleteOne({ _id: id })).finally(() => interactionChanged(id));
          if (deletedCount !== 1) throw new errors.SessionNotFound('This sign-in was already completed. Go back to the application: you may already be signed in.');
          return;
        }
        await M.deleteOne({ _id: key(id) });
        if (name === 'Client') clientChanged(id);
      },
      async revokeByGrantId(grantId) {
        const entryId = grantIndexId(grantId);
        await db.exclusive(`${M.collection.name}/${entryId}`, async () => {
          const entry = await M.findById(entryId).lean<GrantIndexDoc>();
          const ids = Object.keys(entry?.ids ?? {});
          await Promise.all(ids.map((id) => M.deleteOne({ _id: id })));
          if (entry) await M.deleteOne({ _id: entryId });
        });
        // tokens an earlier version listed in oidc_grant_tokens
        await db.exclusive(`grant-tokens/${grantId}`, async () => {
          const doc = await GrantTokens.findById(grantId).lean<GrantTokensDoc>();
          const ids = Object.keys((doc?.[name] as RefMap | undefined) ?? {});
          if (!ids.length) return;
          await Promise.all(ids.map((id) => M.deleteOne({ _id: id })));
          await GrantTokens.updateOne({ _id: grantId }, { $unset: { [name]: '' } });
        });
      },
    };
  };

  /** Members of an account's reference set that still resolve; members gone for good are dropped. */
  async function resolveRefs(accountId: string, kind: 'sessions' | 'grants', resolve: (member: string) => Promise<AdapterPayload | undefined>, gone: (member: string) => Promise<boolean>) {
    const doc = await AccountRefs.findById(accountId).lean<AccountRefsDoc>();
    const refs = doc?.[kind] ?? {};
    const found: AdapterPayload[] = [];
    const dead: string[] = [];
    const settled = Math.floor(clock().getTime() / 1000) - REF_GRACE_SECONDS;
    await Promise.all(Object.entries(refs).map(async ([m, at]) => {
      const payload = await resolve(m);
      if (payload) found.push(payload);
      // a reference written moments ago may lead to a document still being written (crash rule)
      else if ((at === 1 || at < settled) && (await gone(m))) dead.push(m);
    }));
    if (dead.length) {
      const unset = Object.fromEntries(dead.map((m) => [`${kind}.${m}`, '']));
      await db.exclusive(`account-refs/${accountId}`, () => AccountRefs.updateOne({ _id: accountId }, { $unset: unset }));
      for (const m of dead) written.delete(`${kind}|${accountId}|${m}`);
    }
    return found;
  }

  return {
    adapter,
    async recordOnce(name, id, payload, expiresIn) {
      const M = modelFor(name);
      const now = clock();
      const expiresAt = new Date(now.getTime() + Math.max(expiresIn, 1) * 1000);
      const inserted = await M.create({ _id: id, payload, expiresAt }).then(() => true, (err: { code?: number }) => {
        if (err.code === 11000) return false;
        throw err;
      });
      if (inserted) return true;
      return !!(await db.modifyIf(M, id, { expiresAt: { $lte: now } }, { $set: { payload, expiresAt } }));
    },
    async list(name) {
      const docs = await modelFor(name).find().lean<StoredDoc[]>();
      // (sessions share their collection with their pointers, which have no payload)
      return docs.filter((d) => alive(d) && d.payload).sort((a, b) => (a._id < b._id ? -1 : 1)).map((d) => d.payload);
    },
    sessionsOf: (accountId) => resolveRefs(
      accountId, 'sessions',
      async (uid) => { const p = await findByUid(uid); return p?.accountId === accountId ? p : undefined; },
      // a session between two identifiers (sign-in renews its jti) still has its pointer
      async (uid) => !alive(await sessionPointer(uid)),
    ),
    async forgetAccount(accountId) {
      await db.exclusive(`account-refs/${accountId}`, () => AccountRefs.deleteOne({ _id: accountId }));
    },
    grantsOf: (accountId) => resolveRefs(
      accountId, 'grants',
      async (grantId) => { const p = await findPayload(modelFor('Grant'), grantId); return p?.accountId === accountId ? p : undefined; },
      async () => true,
    ),
    async lastIssued(grantId) {
      const [legacy, ...entries] = await Promise.all([
        GrantTokens.findById(idKey(grantId)).lean<GrantTokensDoc>(),
        ...ISSUED.map((name) => modelFor(name).findById(grantIndexId(idKey(grantId))).lean<GrantIndexDoc>()),
      ]);
      const maps = [
        ...Object.values(legacy ?? {}).filter((refs): refs is RefMap => !!refs && typeof refs === 'object' && !(refs instanceof Date)),
        ...entries.map((entry) => entry?.ids ?? {}),
      ];
      // 1: written before refs carried a time (unknown)
      const newest = maps.flatMap((refs) => Object.values(refs)).reduce((a, at) => (typeof at === 'number' && at > a ? at : a), 1);
      return newest > 1 ? new Date(newest * 1000) : undefined;
    },
  };
}
