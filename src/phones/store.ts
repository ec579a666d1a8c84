// Contacts: an account's phone numbers (at most MAX_PHONES), one document per account
// (`account_phones`, keyed by account id) changed through editDocument. A number is Unverified until
// a code proves it, then Active; the first Active mobile becomes primary when there is none. Text
// and voice codes go to the primary Active mobile (primaryVerified).
//
// Organisation reuse: `org_verified_numbers` keyed by `<orgId>:<HMAC(number)>` lists the accounts
// that verified that number in that organisation (no number in clear as a key). A member adding a
// number another current member has Active gets it Active at once. Only `_id` lookups.
import { createHmac, randomBytes } from 'node:crypto';
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import { editDocument } from '../db/edit.ts';
import { DomainError } from '../domain-error.ts';
import { displayNumber, parseNumber, type NumberProblem, type PhoneType } from './numbers.ts';

export const MAX_PHONES = 5;

export interface Phone {
  id: string;
  /** E.164, e.g. +33612345678. */
  number: string;
  type: PhoneType;
  status: 'unverified' | 'active';
  primary: boolean;
  addedAt: Date;
  verifiedAt?: Date;
}

/** An added or changed number, and whether it is Active already (verified in the organisation). */
export interface Saved {
  phone: Phone;
  reused: boolean;
}

interface ListDoc {
  _id: string;
  rev?: number;
  phones: Phone[];
}

interface OrgNumberDoc {
  _id: string;
  rev?: number;
  accounts: string[];
}

/** A refused change: the message says why; nothing was changed. */
export class PhoneError extends DomainError {
  override name = 'PhoneError';
  /** The values a page needs to say it in another language (the number as people read it). */
  readonly vars: Record<string, string | number>;
  /** The number parser's own reason as a translation (numbers.ts), when it refused the typed number. */
  readonly said: NumberProblem['said'] | undefined;
  constructor(message: string, code = 'phone_refused', vars: Record<string, string | number> = {}, said?: NumberProblem['said']) {
    super('invalid', code, message);
    this.vars = vars;
    this.said = said;
  }
}

/** Why this phone cannot be the primary number, or undefined when it can (an Active mobile). */
export function primaryProblem(phone: Phone): string | undefined {
  if (phone.status !== 'active') return `Verify ${displayNumber(phone.number)} before you make it your primary number.`;
  if (phone.type !== 'mobile') return `${displayNumber(phone.number)} cannot receive text messages: your primary number must be a mobile number.`;
  return undefined;
}

export const noSuchPhone = () => new PhoneError('There is no such number on your list.', 'no_such_phone');

export interface PhoneStoreOptions {
  clock: () => Date;
  /** HMAC key for the per-organisation index of verified numbers (numbers are not stored as keys). */
  numberKey: Buffer;
  /** The organisation an account belongs to, if any. */
  organisationOf(accountId: string): Promise<string | undefined>;
}

export type Phones = ReturnType<typeof createPhones>;

const revive = (p: Phone): Phone => ({ ...p, addedAt: new Date(p.addedAt), ...(p.verifiedAt ? { verifiedAt: new Date(p.verifiedAt) } : {}) });

/** Marks `id` Active; it becomes primary when the list has no primary and it is a mobile. */
function activated(phones: Phone[], id: string, at: Date): Phone[] {
  const hasPrimary = phones.some((p) => p.primary);
  return phones.map((p) => (p.id === id ? { ...p, status: 'active', verifiedAt: at, primary: p.primary || (!hasPrimary && p.type === 'mobile') } : p));
}

function parsed(raw: string): { number: string; type: PhoneType } {
  const result = parseNumber(raw);
  if ('problem' in result) throw new PhoneError(result.problem, 'invalid_number', {}, result.said);
  return result;
}

export function createPhones(db: Database, options: PhoneStoreOptions) {
  const { clock, numberKey, organisationOf } = options;
  const Lists = db.model<ListDoc>('AccountPhones', new Schema<ListDoc>(
    { _id: String, rev: Number, phones: { type: Schema.Types.Mixed, default: [] } },
    { collection: 'account_phones', versionKey: false, minimize: false },
  ));
  const OrgNumbers = db.model<OrgNumberDoc>('OrgVerifiedNumber', new Schema<OrgNumberDoc>(
    { _id: String, rev: Number, accounts: { type: [String], default: [] } },
    { collection: 'org_verified_numbers', versionKey: false, minimize: false },
  ));

  const list = async (accountId: string): Promise<Phone[]> => ((await Lists.findById(accountId).lean<ListDoc>())?.phones ?? []).map(revive);
  const tag = (number: string) => createHmac('sha256', numberKey).update(number).digest('base64url');
  const orgKey = (orgId: string, number: string) => `${orgId}:${tag(number)}`;

  /** Whether another current member of the account's organisation has this number Active. */
  async function verifiedInOrganisation(accountId: string, number: string): Promise<boolean> {
    const orgId = await organisationOf(accountId);
    if (!orgId) return false;
    const listed = (await OrgNumbers.findById(orgKey(orgId, number)).lean<OrgNumberDoc>())?.accounts ?? [];
    // the index may be stale (a member left, a change was half done): check the member's own list
    for (const other of listed.filter((a) => a !== accountId).slice(0, MAX_PHONES)) {
      if ((await organisationOf(other)) !== orgId) continue;
      if ((await list(other)).some((p) => p.number === number && p.status === 'active')) return true;
    }
    return false;
  }

  async function indexVerified(accountId: string, number: string): Promise<void> {
    const orgId = await organisationOf(accountId);
    if (!orgId) return;
    await editDocument(db, OrgNumbers, orgKey(orgId, number), (doc) =>
      doc?.accounts.includes(accountId) ? { result: undefined } : { set: { accounts: [...(doc?.accounts ?? []), accountId] }, result: undefined });
  }

  async function unindex(accountId: string, number: string): Promise<void> {
    const orgId = await organisationOf(accountId);
    if (!orgId) return;
    await editDocument(db, OrgNumbers, orgKey(orgId, number), (doc) =>
      doc?.accounts.includes(accountId) ? { set: { accounts: doc.accounts.filter((a) => a !== accountId) }, result: undefined } : { result: undefined });
  }

  /** The phone `id` of this account's list, or PhoneError. */
  function find(phones: Phone[], id: string): Phone {
    const phone = phones.find((p) => p.id === id);
    if (!phone) throw noSuchPhone();
    return phone;
  }

  /** Refuses a number already on the list (other than the entry `except`). */
  function unique(phones: Phone[], number: string, except?: string): void {
    if (phones.some((p) => p.number === number && p.id !== except)) throw new PhoneError(`${displayNumber(number)} is already on your list.`, 'duplicate_number', { number: displayNumber(number) });
  }

  return {
    /** Account deletion: the organisation's index of its active numbers first, then the list (crash rule). */
    async forgetAccount(accountId: string): Promise<void> {
      for (const phone of await list(accountId)) if (phone.status === 'active') await unindex(accountId, phone.number);
      await Lists.deleteOne({ _id: accountId });
    },
    list,
    /** One phone of this account, or undefined. */
    async get(accountId: string, id: string): Promise<Phone | undefined> {
      return (await list(accountId)).find((p) => p.id === id);
    },

    /** A short keyed hash of a number: binds a verification code to the number it was sent to. */
    tag,

    /** The account's primary, verified mobile number (E.164), if any. */
    async primaryVerified(accountId: string): Promise<string | undefined> {
      return (await list(accountId)).find((p) => p.primary && p.status === 'active' && p.type === 'mobile')?.number;
    },

    /** Adds a number: Unverified, or Active at once when the organisation verified it already. */
    async add(accountId: string, raw: string): Promise<Saved> {
      const { number, type } = parsed(raw);
      const reused = await verifiedInOrganisation(accountId, number);
      const saved = await editDocument(db, Lists, accountId, (doc) => {
        const phones = doc?.phones ?? [];
        unique(phones, number);
        if (phones.length >= MAX_PHONES) throw new PhoneError(`You have ${MAX_PHONES} numbers already, the most an account can have. Delete one first.`, 'list_full', { max: MAX_PHONES });
        const now = clock();
        const phone: Phone = { id: randomBytes(9).toString('base64url'), number, type, status: 'unverified', primary: false, addedAt: now };
        const next = reused ? activated([...phones, phone], phone.id, now) : [...phones, phone];
        return { set: { phones: next }, result: { phone: revive(find(next, phone.id)), reused } };
      });
      if (reused) await indexVerified(accountId, number);
      return saved;
    },

    /** A code to `number` was confirmed: the phone is Active (if it still has that number). */
    async markVerified(accountId: string, id: string, number: string): Promise<Phone> {
      const phone = await editDocument(db, Lists, accountId, (doc) => {
        const phones = doc?.phones ?? [];
        const current = find(phones, id);
        if (current.number !== number) throw new PhoneError('This number was changed in the meantime: verify the new number.', 'number_changed');
        if (current.status === 'active') return { result: revive(current) };
        const next = activated(phones, id, clock());
        return { set: { phones: next }, result: revive(find(next, id)) };
      });
      await indexVerified(accountId, number);
      return phone;
    },

    /**
     * An administrator vouches for a number (no code is sent): it is Active at once, added when the
     * list lacks it. It becomes primary when the account has no primary yet (as a verified number
     * does) or when `primary` asks for it, which only a mobile number can be. `changed` is false
     * when the list already said all that.
     */
    async setVerified(accountId: string, raw: string, primary: boolean): Promise<{ phone: Phone; added: boolean; changed: boolean; previousPrimary?: Phone }> {
      const { number, type } = parsed(raw);
      if (primary && type !== 'mobile') throw new PhoneError(`${displayNumber(number)} cannot receive text messages: only a mobile number can be the primary number.`, 'cannot_be_primary', { number: displayNumber(number), notMobile: 1 });
      const saved = await editDocument(db, Lists, accountId, (doc) => {
        const phones = doc?.phones ?? [];
        const now = clock();
        const existing = phones.find((p) => p.number === number);
        if (!existing && phones.length >= MAX_PHONES) throw new PhoneError(`The account has ${MAX_PHONES} numbers already, the most an account can have: the person must delete one in their security center first.`, 'list_full', { max: MAX_PHONES });
        const phone: Phone = existing ?? { id: randomBytes(9).toString('base64url'), number, type, status: 'unverified', primary: false, addedAt: now };
        const listed = existing ? phones : [...phones, phone];
        let next = phone.status === 'active' ? listed : activated(listed, phone.id, now);
        if (primary) next = next.map((p) => ({ ...p, primary: p.id === phone.id }));
        const before = phones.find((p) => p.primary);
        const result = revive(find(next, phone.id));
        const changed = !existing || existing.status !== 'active' || existing.primary !== result.primary;
        const previousPrimary = before && before.id !== phone.id && result.primary ? revive(before) : undefined;
        const out = { phone: result, added: !existing, changed, ...(previousPrimary ? { previousPrimary } : {}) };
        return changed ? { set: { phones: next }, result: out } : { result: out };
      });
      await indexVerified(accountId, number);
      return saved;
    },

    /** Makes an Active mobile number the primary one (the others lose the marker). */
    async setPrimary(accountId: string, id: string): Promise<Phone> {
      return editDocument(db, Lists, accountId, (doc) => {
        const phones = doc?.phones ?? [];
        const chosen = find(phones, id);
        const problem = primaryProblem(chosen);
        if (problem) throw new PhoneError(problem, 'cannot_be_primary', { number: displayNumber(chosen.number), ...(chosen.status === 'active' ? { notMobile: 1 } : {}) });
        if (chosen.primary) return { result: revive(chosen) };
        const next = phones.map((p) => ({ ...p, primary: p.id === id }));
        return { set: { phones: next }, result: revive(find(next, id)) };
      });
    },

    /**
     * Replaces a phone's number: Unverified again (or Active when the organisation verified the new
     * one); a primary keeps its marker. `keepPrimary` refuses it for the primary number.
     */
    async change(accountId: string, id: string, raw: string, keepPrimary: string | undefined): Promise<Saved & { previous: Phone }> {
      const { number, type } = parsed(raw);
      const reused = await verifiedInOrganisation(accountId, number);
      const saved = await editDocument(db, Lists, accountId, (doc) => {
        const phones = doc?.phones ?? [];
        const old = find(phones, id);
        if (old.primary && keepPrimary) throw new PhoneError(keepPrimary, 'primary_in_use');
        if (old.number === number) throw new PhoneError(`${displayNumber(number)} is already this entry's number.`, 'same_number', { number: displayNumber(number) });
        unique(phones, number, id);
        const { verifiedAt: _dropped, ...rest } = old;
        const replaced: Phone = { ...rest, number, type, status: 'unverified', primary: old.primary && type === 'mobile' };
        const others = phones.map((p) => (p.id === id ? replaced : p));
        const next = reused ? activated(others, id, clock()) : others;
        return { set: { phones: next }, result: { phone: revive(find(next, id)), reused, previous: revive(old) } };
      });
      if (saved.previous.status === 'active') await unindex(accountId, saved.previous.number);
      if (reused) await indexVerified(accountId, number);
      return saved;
    },

    /** Deletes a phone; `keepPrimary` (the reason) refuses it for the primary number. */
    async remove(accountId: string, id: string, keepPrimary: string | undefined): Promise<Phone> {
      const removed = await editDocument(db, Lists, accountId, (doc) => {
        const phones = doc?.phones ?? [];
        const old = find(phones, id);
        if (old.primary && keepPrimary) throw new PhoneError(keepPrimary, 'primary_in_use');
        return { set: { phones: phones.filter((p) => p.id !== id) }, result: revive(old) };
      });
      if (removed.status === 'active') await unindex(accountId, removed.number);
      return removed;
    },
  };
}
