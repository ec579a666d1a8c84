// The device registry: per account, one registration for each browser that signed in (or tried
// to), with its lifecycle (ACTIVE ⇄ BLOCKED, REMOVED for good), trust, flags, name, where it was
// last used, and a history entry for every state change, rename and flag change (with the admin or
// client as actor when one made it). The only module that touches `devices`. Trust, blocking,
// unblocking, removal, renames and flags are also reported to the audit log.
//
// Data access (README): a browser's registration is found through the account's device document
// (`account_devices`, keyed by account id: an HMAC of the browser id → registration id, and the
// list of its registrations); registrations are read by _id. The cookie's id itself is never stored.
// Failed attempts for an email from a browser that is no registration of its account (or for an
// email without one) count in an expiring document beside the device lists (`account_devices`,
// `ghost:` + an HMAC of email and browser), so a blocked page never tells whether an account exists,
// and a sign-in reads the list and the count in one command.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import { editDocument } from '../db/edit.ts';
import { forget, keep, memoized } from '../db/request-memo.ts';
import { readById, readByIds } from '../db/read-versions.ts';
import { DomainError } from '../domain-error.ts';
import { NO_AUDIT, type AuditActor, type AuditDetails, type AuditSink, type AuditType } from '../audit/events.ts';
import { blocksAt, canMove, type DeviceState } from '../policy/trust.ts';
import type { ClientInfo, Location } from './client-info.ts';
import type { DeviceKeyJwk, KeyProofFailure } from './device-key.ts';

export type Actor = 'user' | 'admin' | 'system';

/** Who exactly acted (an admin's account, or a machine client of the admin API), for history and audit. */
export interface Who {
  id: string;
  /** The admin's email or the client id: shown as the history entry's actor. */
  label: string;
  /** Default 'admin'; 'client' for a machine client of the admin API. */
  type?: 'admin' | 'client';
  /** Where the request came from (audit log). */
  ip?: string;
}

export interface HistoryEntry {
  from: DeviceState | null;
  to: DeviceState;
  by: Actor;
  why: string;
  at: Date;
  /** Who exactly (`Who.label`), when known: the admin's email or a client id. */
  actor?: string;
}

/** A pending change that waits for a one-time code (trusting this browser, removing a device). */
export interface PendingAction {
  action: 'trust' | 'remove';
  channel: 'email' | 'sms';
  name?: string;
  /** Trust at the limit: the trusted device this one replaces. */
  replaceId?: string;
  /** The browser's device public key, sent with the trust form (device-bound trust). */
  publicKey?: DeviceKeyJwk;
}

export interface Device {
  id: string;
  accountId: string;
  name?: string;
  state: DeviceState;
  flags: string[];
  firstSeenAt: Date;
  /** When this browser proved itself for the account (new-device verification); unset: unknown. */
  verifiedAt?: Date;
  /** When it became trusted (activation). */
  activatedAt?: Date;
  trustedUntil?: Date;
  lastUsedAt?: Date;
  lastIp?: string;
  location?: Location;
  browser?: string;
  os?: string;
  failures: number;
  history: HistoryEntry[];
  pending?: PendingAction;
  /** Whether its trust is bound to a device key (device-bound trust): set on every view the registry gives; the key itself is never in one. */
  keyBound?: boolean;
}

/** A trusted registration's device key (device-bound trust): never in the views others get. */
export interface DeviceKeyState {
  publicKey: DeviceKeyJwk;
  /** The nonce of the last challenge the key signed and the registration accepted (single use). */
  lastNonce?: string;
  /** Sign-ins with this registration's cookie but no valid signature, since the last good one. */
  failures: number;
}

/** A registration with its device key, for the sign-in that checks it. */
export type KeyedDevice = Device & { key?: DeviceKeyState };

interface DeviceDoc extends Omit<Device, 'id' | 'keyBound'> {
  _id: string;
  publicKey?: DeviceKeyJwk;
  keyNonce?: string;
  keyFailures?: number;
  /** The sign-in (its interaction) that last completed on it: each stamps it once (`signedIn`). */
  signInOf?: string;
  /** Registrations nobody verified expire after a while (never blocked ones). */
  expiresAt?: Date;
}

interface AccountDevicesDoc {
  _id: string;
  rev?: number;
  byBrowser: Record<string, string>;
  ids: string[];
}

interface FailureDoc {
  _id: string;
  rev?: number;
  count: number;
  expiresAt: Date;
}

export class DeviceError extends DomainError {
  override name = 'DeviceError';
  constructor(message: string) {
    super('invalid', 'device_error', message);
  }
}

export type DeviceRegistry = ReturnType<typeof createDeviceRegistry>;

const UNVERIFIED_DAYS = 30;
const DAY = 24 * 3600 * 1000;
export const MAX_NAME = 64;
export const MAX_FLAG = 40;
const FLAG = /^[\w .:@/-]{1,40}$/;

function view(doc: DeviceDoc): Device {
  const { _id, expiresAt: _e, publicKey: _k, keyNonce: _n, keyFailures: _f, signInOf: _s, ...rest } = doc;
  return { id: _id, ...rest, flags: rest.flags ?? [], history: rest.history ?? [], keyBound: !!doc.publicKey };
}

function keyedView(doc: DeviceDoc): KeyedDevice {
  const device: KeyedDevice = view(doc);
  if (doc.publicKey) device.key = { publicKey: doc.publicKey, ...(doc.keyNonce ? { lastNonce: doc.keyNonce } : {}), failures: doc.keyFailures ?? 0 };
  return device;
}

/** What removing, blocking or transferring a registration discards with its trust: its device key. */
const KEY_FIELDS = { publicKey: '', keyNonce: '', keyFailures: '' } as const;

export function createDeviceRegistry(db: Database, key: Buffer, settings: { maxFailures: number; maxRegistrations?: number }, clock: () => Date = () => new Date(), audit: AuditSink = NO_AUDIT) {
  const Devices = db.model<DeviceDoc>('Device', new Schema<DeviceDoc>({
    _id: String,
    accountId: { type: String, required: true },
    name: String,
    state: { type: String, required: true },
    flags: { type: [String], default: [] },
    firstSeenAt: { type: Date, required: true },
    verifiedAt: Date,
    activatedAt: Date,
    trustedUntil: Date,
    lastUsedAt: Date,
    lastIp: String,
    location: Schema.Types.Mixed,
    browser: String,
    os: String,
    failures: { type: Number, default: 0 },
    history: { type: Schema.Types.Mixed, default: [] },
    pending: Schema.Types.Mixed,
    publicKey: Schema.Types.Mixed,
    keyNonce: String,
    keyFailures: Number,
    signInOf: String,
    expiresAt: Date,
  }, { collection: 'devices', versionKey: false, minimize: false }), { expires: true });
  const AccountDevices = db.model<AccountDevicesDoc>('AccountDevices', new Schema<AccountDevicesDoc>(
    { _id: String, rev: Number, byBrowser: { type: Schema.Types.Mixed, default: {} }, ids: { type: [String], default: [] } },
    { collection: 'account_devices', versionKey: false, minimize: false },
  ));
  const failureSchema = (collection: string) => new Schema<FailureDoc>(
    { _id: String, rev: Number, count: Number, expiresAt: { type: Date, required: true } },
    { collection, versionKey: false },
  );
  // beside the device lists: a sign-in reads the account's list and the browser's count at once
  const Failures = db.model<FailureDoc>('DeviceFailure', failureSchema('account_devices'), { expires: true });
  // where an earlier version counted them (folded in at start-up: migrate)
  const LegacyFailures = db.model<FailureDoc>('LegacyDeviceFailure', failureSchema('device_failures'), { expires: true });
  const ghostId = (email: string, browserId: string) => `ghost:${mac('ghost', email, browserId)}`;
  const ghostCount = (doc: FailureDoc | undefined) => {
    const failures = doc && doc.expiresAt > clock() ? doc.count : 0;
    return { failures, blocked: blocksAt(failures, settings.maxFailures) };
  };

  const mac = (...parts: string[]) => createHmac('sha256', key).update(parts.join('\n')).digest('base64url');
  const hintMac = (browserId: string, accountId: string, registrationId: string) => mac('hint', browserId, accountId, registrationId).slice(0, 22);
  /** The registration a hint names, when it was made for this browser and account. */
  const hintedId = (browserId: string, accountId: string, hint: string): string | undefined => {
    const [id, given] = hint.split('.');
    if (!id || !given) return undefined;
    const expected = Buffer.from(hintMac(browserId, accountId, id));
    const got = Buffer.from(given);
    return got.length === expected.length && timingSafeEqual(got, expected) ? id : undefined;
  };
  // an account's device list is read once per request (db/request-memo.ts); its writes forget it
  const readRefs = (accountId: string) => memoized(`account-devices:${accountId}`, async () => (await readById(AccountDevices, accountId)) ?? null);
  const editRefs = async <R>(accountId: string, change: Parameters<typeof editDocument<AccountDevicesDoc, R>>[3], readNow?: AccountDevicesDoc | null): Promise<R> => {
    try {
      return await editDocument(db, AccountDevices, accountId, change, readNow);
    } finally {
      forget(`account-devices:${accountId}`);
    }
  };
  const later = (ms: number) => new Date(clock().getTime() + ms);

  async function byId(id: string): Promise<Device | undefined> {
    const doc = await docById(id);
    return doc ? view(doc) : undefined;
  }

  async function docById(id: string): Promise<DeviceDoc | undefined> {
    if (typeof id !== 'string' || !/^dev_[\w-]{16,40}$/.test(id)) return undefined;
    return readById(Devices, id);
  }

  const historyEntry = (from: DeviceState | null, to: DeviceState, by: Actor, why: string, who?: Who): HistoryEntry =>
    ({ from, to, by, why, at: clock(), ...(who?.label ? { actor: who.label } : {}) });

  function actorOf(by: Actor, who: Who | undefined, accountId: string): AuditActor {
    if (by === 'system') return { type: 'system' };
    if (by === 'user') return { type: 'user', id: who?.id ?? accountId, ...(who?.label ? { label: who.label } : {}) };
    return { type: who?.type ?? 'admin', ...(who ? { id: who.id, label: who.label } : {}) };
  }

  /** Reports a device event to the audit log (subject: the device; the account it belongs to). */
  function report(type: AuditType, device: Pick<Device, 'id' | 'accountId' | 'name'>, by: Actor, who: Who | undefined, details: AuditDetails, outcome: 'success' | 'failure' = 'success'): void {
    audit.record({
      type, outcome, actor: actorOf(by, who, device.accountId),
      subject: { type: 'device', id: device.id, ...(device.name ? { label: device.name } : {}) },
      accountId: device.accountId, ...(who?.ip ? { ip: who.ip } : {}), details,
    });
  }

  /** An admin's (or client's) device action that was refused is audited too, then the error goes on. */
  async function refusedToo<R>(type: AuditType, id: string, by: Actor, who: Who | undefined, work: () => Promise<R>): Promise<R> {
    try {
      return await work();
    } catch (err) {
      if (by === 'admin' && err instanceof DeviceError) {
        const device = await byId(id);
        if (device) report(type, device, by, who, { error: err.message }, 'failure');
      }
      throw err;
    }
  }

  /** Moves a registration to another state with a history entry; false when it was not in `from`. */
  async function move(id: string, from: DeviceState, to: DeviceState, by: Actor, why: string, extra: Record<string, unknown> = {}, unset: Record<string, ''> = {}, who?: Who): Promise<boolean> {
    if (!canMove(from, to)) return false;
    const entry = historyEntry(from, to, by, why, who);
    return db.updateIf(Devices, id, { state: from }, {
      $set: { state: to, ...extra },
      $push: { history: entry },
      ...(Object.keys(unset).length ? { $unset: unset } : {}),
    } as never);
  }

  /**
   * At the cap, which entries make room for one more (and a few after it, so the next sign-ins
   * find room without reading): the oldest first among the gone (expired), the never verified,
   * the removed, then verified ones that are not trusted. A blocked or trusted registration is
   * never pruned. Reads only the oldest few registrations, and only when the list is full.
   */
  async function pruneCandidates(refs: AccountDevicesDoc | null): Promise<Set<string>> {
    const ids = refs?.ids ?? [];
    const cap = settings.maxRegistrations ?? Number.POSITIVE_INFINITY;
    if (ids.length < cap) return new Set();
    const wanted = ids.length - cap + 1 + Math.max(1, Math.floor(cap / 10));
    const oldest = ids.slice(0, Math.min(ids.length, wanted * 3 + 10));
    const now = clock().getTime();
    const rank = (device: Device | undefined): number | undefined => {
      if (!device) return 0;
      if (device.state === 'REMOVED') return 2;
      if (device.state !== 'ACTIVE' || (device.trustedUntil && device.trustedUntil.getTime() > now)) return undefined;
      return device.verifiedAt ? 3 : 1;
    };
    const found = await Promise.all(oldest.map(async (id, position) => ({ id, position, rank: rank(await byId(id)) })));
    return new Set(found
      .filter((f): f is typeof f & { rank: number } => f.rank !== undefined)
      .sort((a, b) => a.rank - b.rank || a.position - b.position)
      .slice(0, wanted)
      .map(({ id }) => id));
  }

  return {
    /** Account deletion only: every registration of the account (orphans too: a scan) and its list. */
    async forgetAccount(accountId: string): Promise<void> {
      await Devices.deleteMany({ accountId });
      await AccountDevices.deleteOne({ _id: accountId });
    },
    byId,

    /** This browser's live registration for the account (not REMOVED), if any, with its device key. */
    async registrationFor(accountId: string, browserId: string): Promise<KeyedDevice | undefined> {
      const refs = await readRefs(accountId);
      const id = refs?.byBrowser?.[mac(browserId)];
      const doc = id ? await docById(id) : undefined;
      return doc && doc.state !== 'REMOVED' ? keyedView(doc) : undefined;
    },

    /**
     * Before a password is checked: this browser's registration for the account, and its failures
     * for the email (they count when it has none). The account's list and the count are one read;
     * the registration, when the list names one, another. An email without an account passes an id
     * no account has, so it reads as much. `hint`: the browser's registration hint (`hintFor`); when
     * it names a live registration of this account, that one read is all.
     */
    async beforePassword(accountId: string, email: string, browserId: string, hint?: string): Promise<{ device?: KeyedDevice; ghost: { failures: number; blocked: boolean } }> {
      // the browser's hint names its registration of this account: read it alone (its failures count on it)
      const hinted = hint ? hintedId(browserId, accountId, hint) : undefined;
      const doc = hinted ? await docById(hinted) : undefined;
      if (doc && doc.accountId === accountId && doc.state !== 'REMOVED') return { device: keyedView(doc), ghost: { failures: 0, blocked: false } };
      const ghost = ghostId(email, browserId);
      // one collection: the list and the count come back together (a ghost read through the list's model is a plain document)
      const found = await readByIds(AccountDevices, [accountId, ghost]);
      // the list as this request read it: registrationFor and ensure use this read
      keep(`account-devices:${accountId}`, Promise.resolve(found.get(accountId) ?? null));
      const device = await this.registrationFor(accountId, browserId);
      return { ...(device ? { device } : {}), ghost: ghostCount(found.get(ghost) as FailureDoc | undefined) };
    },

    /**
     * This browser's live registration for the account, made (ACTIVE, not yet verified) when it has
     * none. Call it only for a browser that proved something (the password, a passkey): the
     * account's list is capped (`maxRegistrations`), the oldest never-verified entries pruned.
     */
    async ensure(accountId: string, browserId: string, seen: ClientInfo, failures = 0, made: { verified?: boolean; used?: boolean } = {}): Promise<KeyedDevice> {
      return (await this.register(accountId, browserId, seen, failures, made)).device;
    },

    /**
     * ensure, telling whether this call made the registration (`made`): only then is it this sign-in's
     * own (`made.signIn`: the interaction that completed on it, as `signedIn` stamps it).
     */
    async register(accountId: string, browserId: string, seen: ClientInfo, failures = 0, made: { verified?: boolean; used?: boolean; signIn?: string } = {}): Promise<{ device: KeyedDevice; made: boolean }> {
      const browserKey = mac(browserId);
      const refs = await readRefs(accountId);
      const mapped = refs?.byBrowser?.[browserKey];
      const existingDoc = mapped ? await docById(mapped) : undefined;
      if (existingDoc && existingDoc.state !== 'REMOVED') return { device: keyedView(existingDoc), made: false };
      const now = clock();
      const doc: DeviceDoc = {
        _id: `dev_${randomBytes(16).toString('base64url')}`, accountId, state: 'ACTIVE', flags: [], firstSeenAt: now, failures,
        history: [{ from: null, to: 'ACTIVE', by: 'system', why: 'first seen', at: now }],
        ...(seen.ip ? { lastIp: seen.ip } : {}), ...(seen.location ? { location: seen.location } : {}), browser: seen.browser, os: seen.os,
        // made by a sign-in that needs nothing more of it: known (and used) from the start
        ...(made.verified ? { verifiedAt: now } : { expiresAt: later(UNVERIFIED_DAYS * DAY) }),
        ...(made.used ? { lastUsedAt: now } : {}),
        ...(made.signIn ? { signInOf: made.signIn } : {}),
      };
      const prune = await pruneCandidates(refs);
      await Devices.create(doc);
      // two first requests at once: the first new mapping wins, the other registration is dropped;
      // a mapping to a removed registration (`mapped`) is replaced: removed stays removed
      const winner = await editRefs(accountId, (current) => {
        const now2 = current?.byBrowser?.[browserKey];
        if (now2 && now2 !== mapped && now2 !== doc._id) return { result: now2 };
        const byBrowser = Object.fromEntries(Object.entries({ ...current?.byBrowser, [browserKey]: doc._id }).filter(([, id]) => !prune.has(id)));
        return { set: { byBrowser, ids: [...(current?.ids ?? []).filter((id) => !prune.has(id)), doc._id] }, result: doc._id };
      }, refs);
      if (winner === doc._id) {
        await Promise.all([...prune].map((id) => Devices.deleteOne({ _id: id })));
        return { device: view(doc), made: true };
      }
      await Devices.deleteOne({ _id: doc._id });
      return { device: (await byId(winner)) ?? view(doc), made: false };
    },

    /** Every registration of the account, newest first (removed ones included, for history). */
    async listFor(accountId: string): Promise<Device[]> {
      const refs = await readRefs(accountId);
      const found = await Promise.all((refs?.ids ?? []).map((id) => byId(id)));
      return found.filter((d): d is Device => !!d).sort((a, b) => b.firstSeenAt.getTime() - a.firstSeenAt.getTime());
    },

    /**
     * One failed attempt (wrong password or code) from this registration; at the limit it becomes
     * BLOCKED. Returns whether it is blocked now, and whether this failure blocked it.
     */
    async recordFailure(id: string, why: string): Promise<{ blocked: boolean; justBlocked: boolean; failures: number }> {
      const counted = await db.updateIf(Devices, id, { state: 'ACTIVE' }, { $inc: { failures: 1 } });
      const device = await byId(id);
      if (!device) return { blocked: false, justBlocked: false, failures: 0 };
      const { failures } = device;
      if (!counted || device.state !== 'ACTIVE') return { blocked: device.state === 'BLOCKED', justBlocked: false, failures };
      if (!blocksAt(failures, settings.maxFailures)) return { blocked: false, justBlocked: false, failures };
      const moved = await move(id, 'ACTIVE', 'BLOCKED', 'system', `${failures} failed attempts (${why})`, {}, { expiresAt: '', ...KEY_FIELDS });
      if (moved) report('device.blocked', device, 'system', undefined, { from: 'ACTIVE', to: 'BLOCKED', why: `${failures} failed attempts (${why})`, failures });
      return { blocked: true, justBlocked: moved, failures };
    },

    /** A failed attempt for an email from a browser that is no registration of it: whether it is "blocked" now, and the count. */
    async recordGhostFailure(email: string, browserId: string): Promise<{ blocked: boolean; failures: number }> {
      const id = ghostId(email, browserId);
      const now = clock();
      const expiresAt = later(DAY);
      const counted = (count: number) => ({ blocked: blocksAt(count, settings.maxFailures), failures: count });
      // add to a live count, create it, or start a dead one again: each step one guarded write (the
      // same lines on both servers), so parallel failures each count once without a read-and-retry race
      for (let attempt = 0; attempt < 10; attempt++) {
        const added = await db.modifyIf(Failures, id, { expiresAt: { $gt: now } }, { $inc: { count: 1 }, $set: { expiresAt } });
        if (added) return counted(added.count);
        const created = await Failures.create({ _id: id, count: 1, expiresAt }).then(() => true, (err: { code?: number }) => {
          if (err.code === 11000) return false;
          throw err;
        });
        if (created) return counted(1);
        const restarted = await db.modifyIf(Failures, id, { expiresAt: { $lte: now } }, { $set: { count: 1, expiresAt } });
        if (restarted) return counted(restarted.count);
      }
      throw new Error(`the failure count ${id} is contended`);
    },

    /**
     * The hint a browser keeps to its registration of an account (devices/cookie.ts): the
     * registration's id and a MAC of it with the browser's id and the account's, so a hint is only
     * good for the browser and the account it was made for (the account is not in it).
     */
    hintFor(browserId: string, accountId: string, registrationId: string): string {
      return `${registrationId}.${hintMac(browserId, accountId, registrationId)}`;
    },

    /** Failed attempts that block a browser (settings.maxFailures). */
    maxFailures: settings.maxFailures,

    /** The browser now has a registration that carries its failures: the per-email counter goes. */
    async forgetGhost(email: string, browserId: string): Promise<void> {
      await Failures.deleteOne({ _id: ghostId(email, browserId) });
    },

    /**
     * Start-up: moves an earlier version's live counts (`device_failures`) beside the device lists.
     * Per count: raised there (`$max`: never lowered, created if missing), then the old one deleted,
     * so a crash between leaves it to fold again at the next start, to the same result.
     */
    async migrate(): Promise<{ moved: number; failed: string[] }> {
      const now = clock();
      let moved = 0;
      const failed: string[] = [];
      for (const old of await LegacyFailures.find({}).lean<FailureDoc[]>()) {
        try {
          if (old.expiresAt > now) {
            await db.exclusive(`${Failures.collection.name}/ghost:${old._id}`, () => Failures.updateOne({ _id: `ghost:${old._id}` }, { $max: { count: old.count, expiresAt: old.expiresAt } }, { upsert: true }));
          }
          await LegacyFailures.deleteOne({ _id: old._id });
          moved++;
        } catch (err) {
          failed.push(`${old._id}: ${(err as Error).message}`);
        }
      }
      return { moved, failed };
    },

    /**
     * The browser proved itself for the account: known from now on (and trusted, when asked). A
     * trust with a device key binds it (`nonce`: the challenge its signature used, spent now).
     */
    async markVerified(id: string, trust?: { until: Date; name: string; key?: { publicKey: DeviceKeyJwk; nonce: string } }): Promise<void> {
      const now = clock();
      const keyed = trust?.key ? { publicKey: trust.key.publicKey, keyNonce: trust.key.nonce, keyFailures: 0 } : {};
      const res = await Devices.updateOne({ _id: id }, {
        $set: { verifiedAt: now, ...(trust ? { activatedAt: now, trustedUntil: trust.until, name: trust.name, ...keyed } : {}) },
        $unset: { expiresAt: '' },
      });
      const device = trust && res.matchedCount ? await byId(id) : undefined;
      if (device) report('device.trusted', device, 'user', undefined, { name: trust!.name, until: trust!.until.toISOString(), why: 'trusted at new-device verification', keyBound: !!trust!.key });
    },

    /**
     * Binds a device key to a registration trusted before keys, still trusted and still without
     * one (the second-factor step's "Keep trusting this device", after the factor passed): the
     * trust period stays; `nonce`, the challenge its signature used, is spent now. False when the
     * registration changed meanwhile (removed, blocked, its trust over, or a key bound already).
     */
    async bindKey(id: string, publicKey: DeviceKeyJwk, nonce: string): Promise<boolean> {
      const why = 'device key bound at the second-factor step ("Keep trusting this device")';
      const bound = await db.modifyIf(Devices, id, { state: 'ACTIVE', publicKey: { $exists: false }, trustedUntil: { $gt: clock() } }, {
        $set: { publicKey, keyNonce: nonce, keyFailures: 0 },
        $push: { history: historyEntry('ACTIVE', 'ACTIVE', 'user', why) },
      } as never);
      if (bound) report('device.trusted', view(bound), 'user', undefined, { name: bound.name ?? null, until: bound.trustedUntil!.toISOString(), why, keyBound: true });
      return !!bound;
    },

    /**
     * Spends a key challenge the registration's key signed: true once (a replayed or concurrent
     * copy, or a key changed meanwhile, gets false). A good proof starts the failure count again.
     */
    async claimKeyChallenge(id: string, publicKey: DeviceKeyJwk, nonce: string): Promise<boolean> {
      const before = await db.claim(Devices, id, { $set: { keyNonce: nonce, keyFailures: 0 } });
      return !!before && before.state === 'ACTIVE' && before.keyNonce !== nonce && before.publicKey?.x === publicKey.x && before.publicKey?.y === publicKey.y;
    },

    /**
     * A sign-in with this registration's cookie but no valid signature by its key: a possible
     * copied cookie, kept in the device history and the audit log; resolves to how many in a row.
     */
    async keyProofFailed(id: string, reason: KeyProofFailure, seen: ClientInfo): Promise<number> {
      const doc = await docById(id);
      if (!doc?.publicKey || doc.state !== 'ACTIVE') return 0;
      const why = `sign-in with this device's cookie but without its device key (${reason}): possibly a copied cookie`;
      const after = await db.modifyIf(Devices, id, { state: 'ACTIVE', 'publicKey.x': doc.publicKey.x }, { $inc: { keyFailures: 1 }, $push: { history: historyEntry('ACTIVE', 'ACTIVE', 'system', why) } } as never);
      const failures = (after as DeviceDoc | undefined)?.keyFailures ?? 0;
      if (after) report('device.key_proof_failed', view(doc), 'system', seen.ip ? { id: 'system', label: 'system', ip: seen.ip } : undefined, { reason, failures, why, browser: seen.browser ?? null, os: seen.os ?? null }, 'failure');
      return failures;
    },

    /**
     * A completed sign-in (`signIn`: its interaction) from this registration: where and when, and the
     * failure count starts again; `verified`: the browser proved itself with this sign-in (known from
     * now on). Once per sign-in, so it is the sign-in's "once": 'again' when that sign-in stamped it
     * already (a second copy of the request), 'inactive' when it is no longer ACTIVE (blocked or
     * removed meanwhile).
     */
    async signedIn(id: string, seen: ClientInfo, { verified = false, signIn }: { verified?: boolean; signIn: string }): Promise<'stamped' | 'again' | 'inactive'> {
      const stamped = await db.updateIf(Devices, id, { state: 'ACTIVE', signInOf: { $ne: signIn } }, {
        $set: { lastUsedAt: clock(), failures: 0, browser: seen.browser, os: seen.os, signInOf: signIn, ...(seen.ip ? { lastIp: seen.ip } : {}), ...(seen.location ? { location: seen.location } : { }), ...(verified ? { verifiedAt: clock() } : {}) },
        ...(seen.location && !verified ? {} : { $unset: { ...(seen.location ? {} : { location: '' }), ...(verified ? { expiresAt: '' } : {}) } }),
      });
      if (stamped) return 'stamped';
      const now = await Devices.findById(id).lean<DeviceDoc>();
      return now?.signInOf === signIn ? 'again' : 'inactive';
    },

    /** BLOCKED → ACTIVE (failures start again); `who`: the admin or client that did it. */
    async unblock(id: string, by: Actor, why: string, who?: Who): Promise<Device> {
      return refusedToo('device.unblocked', id, by, who, async () => {
        const device = await byId(id);
        if (!device) throw new DeviceError('There is no such device.');
        if (device.state === 'REMOVED') throw new DeviceError('This device was removed, which is final: it cannot be unblocked. Its browser signs in as a new device.');
        if (!(await move(id, 'BLOCKED', 'ACTIVE', by, why, { failures: 0 }, {}, who))) throw new DeviceError('Only a blocked device can be unblocked.');
        report('device.unblocked', device, by, who, { from: 'BLOCKED', to: 'ACTIVE', why });
        return (await byId(id))!;
      });
    },

    /** ACTIVE → BLOCKED by a person or an admin (not by failures); false when it was not active (blocked or removed already). */
    async block(id: string, by: Actor, why: string, who?: Who): Promise<boolean> {
      const device = await byId(id);
      if (!device || !(await move(id, 'ACTIVE', 'BLOCKED', by, why, {}, { expiresAt: '', trustedUntil: '', ...KEY_FIELDS }, who))) return false;
      report('device.blocked', device, by, who, { from: 'ACTIVE', to: 'BLOCKED', why });
      return true;
    },

    /** REMOVED is final: the browser is a new device for the account from then on. */
    async remove(id: string, by: Actor, why: string, who?: Who): Promise<Device> {
      return refusedToo('device.removed', id, by, who, async () => {
        const device = await byId(id);
        if (!device || device.state === 'REMOVED') throw new DeviceError('There is no such device, or it was already removed.');
        if (!(await move(id, device.state, 'REMOVED', by, why, {}, { trustedUntil: '', pending: '', expiresAt: '', ...KEY_FIELDS }, who))) throw new DeviceError('The device changed meanwhile. Try again.');
        report('device.removed', device, by, who, { from: device.state, to: 'REMOVED', why });
        return (await byId(id))!;
      });
    },

    /** Trusts the registration (security center); `publicKey`: the browser's device key it is bound to from now on (none: a key it has stays). */
    async trust(id: string, name: string, until: Date, publicKey?: DeviceKeyJwk): Promise<void> {
      const trusted = await db.updateIf(Devices, id, { state: 'ACTIVE' }, {
        $set: { name, activatedAt: clock(), trustedUntil: until, verifiedAt: clock(), ...(publicKey ? { publicKey, keyFailures: 0 } : {}) },
        $unset: { pending: '', expiresAt: '', ...(publicKey ? { keyNonce: '' } : {}) },
      } as never);
      const device = trusted ? await byId(id) : undefined;
      if (device) report('device.trusted', device, 'user', undefined, { name, until: until.toISOString(), keyBound: !!publicKey });
    },

    /**
     * Trust moves to a new browser: it inherits the old one's name and flags (bound to its own
     * device key, `publicKey`, when it sent one); the old one is REMOVED, its key discarded.
     */
    async transfer(fromId: string, toId: string, until: Date, by: Actor, publicKey?: DeviceKeyJwk): Promise<void> {
      const from = await byId(fromId);
      if (!from || from.state === 'REMOVED') throw new DeviceError('The device to replace is no longer there. Choose again.');
      const trusted = await db.updateIf(Devices, toId, { state: 'ACTIVE' }, {
        $set: { ...(from.name ? { name: from.name } : {}), flags: from.flags, activatedAt: clock(), trustedUntil: until, verifiedAt: clock(), ...(publicKey ? { publicKey, keyFailures: 0 } : {}) },
        $unset: { pending: '', expiresAt: '', ...(publicKey ? { keyNonce: '' } : {}) },
      } as never);
      const to = trusted ? await byId(toId) : undefined;
      if (to) report('device.trusted', to, by, undefined, { name: to.name ?? null, until: until.toISOString(), replaces: fromId, keyBound: !!publicKey });
      const why = `trust transferred to ${toId}`;
      if (await move(fromId, from.state, 'REMOVED', by, why, {}, { trustedUntil: '', pending: '', ...KEY_FIELDS })) report('device.removed', from, by, undefined, { from: from.state, to: 'REMOVED', why });
    },

    /** A new name, with a history entry (state unchanged); `who`: the admin or client that did it. */
    async rename(id: string, name: string, by: Actor = 'user', who?: Who): Promise<Device> {
      return refusedToo('device.renamed', id, by, who, async () => {
        const clean = typeof name === 'string' ? name.trim() : '';
        if (!clean || clean.length > MAX_NAME) throw new DeviceError(`A device name has 1 to ${MAX_NAME} characters.`);
        const device = await byId(id);
        if (!device || device.state === 'REMOVED') throw new DeviceError('There is no such device, or it was removed.');
        const why = `renamed to "${clean}"`;
        const entry = historyEntry(device.state, device.state, by, why, who);
        if (!(await db.updateIf(Devices, id, { state: device.state }, { $set: { name: clean }, $push: { history: entry } } as never))) {
          throw new DeviceError('The device changed meanwhile. Try again.');
        }
        report('device.renamed', device, by, who, { from: device.name ?? null, to: clean, why });
        return (await byId(id))!;
      });
    },

    /** Adds or removes a flag, with a history entry when it changed; `who`: the admin or client that did it. */
    async flag(id: string, change: { add?: string; remove?: string }, by: Actor = 'user', who?: Who): Promise<Device> {
      return refusedToo('device.flagged', id, by, who, async () => {
        const device = await byId(id);
        if (!device) throw new DeviceError('There is no such device.');
        const label = (change.add ?? change.remove ?? '').trim();
        if (!FLAG.test(label)) throw new DeviceError(`A flag has 1 to ${MAX_FLAG} letters, digits, spaces or . : @ / - _`);
        const flags = change.add ? [...new Set([...device.flags, label])] : device.flags.filter((f) => f !== label);
        if (flags.length === device.flags.length && flags.every((f, i) => f === device.flags[i])) return device;
        const why = `flag "${label}" ${change.add ? 'added' : 'removed'}`;
        const entry = historyEntry(device.state, device.state, by, why, who);
        if (await db.updateIf(Devices, id, { flags: device.flags }, { $set: { flags }, $push: { history: entry } } as never)) {
          report('device.flagged', device, by, who, { [change.add ? 'added' : 'removed']: label, flags, why });
        }
        return (await byId(id))!;
      });
    },

    async setPending(id: string, pending: PendingAction | undefined): Promise<void> {
      await Devices.updateOne({ _id: id }, pending ? { $set: { pending } } : { $unset: { pending: '' } });
    },
  };
}
