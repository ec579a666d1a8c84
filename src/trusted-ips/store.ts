// The trusted-IP list of each account: addresses or CIDR ranges (IPv4, IPv6) from which the named
// routine second factor (or all of them) is skipped. One document per account (`trusted_ips`,
// keyed by account id), so the sign-in reads it with one _id lookup.
import { randomBytes } from 'node:crypto';
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import { editDocument } from '../db/edit.ts';
import { inRange, parseRange, type RangeProblem } from '../policy/ip-ranges.ts';
import type { IpSkip } from '../policy/trust.ts';
import { DomainError } from '../domain-error.ts';

export const MAX_TRUSTED_IPS = 20;

/** What an entry may skip: one routine factor, or all. */
export const SKIPPABLE: readonly IpSkip[] = ['all', 'email', 'sms', 'voice', 'totp', 'webauthn', 'pin'];

export interface TrustedIp {
  id: string;
  /** Canonical range, e.g. 203.0.113.0/24 or 2001:db8::/48 (a single address is /32 or /128). */
  cidr: string;
  skips: IpSkip;
  createdAt: Date;
  updatedAt: Date;
}

interface ListDoc {
  _id: string;
  rev?: number;
  entries: TrustedIp[];
}

/** A range or change the list refuses (the page shows the message and changes nothing). */
export class TrustedIpError extends DomainError {
  override name = 'TrustedIpError';
  /** The range parser's own reason as a translation (policy/ip-ranges.ts), when it refused the typed range. */
  readonly said: RangeProblem['said'] | undefined;
  constructor(message: string, said?: RangeProblem['said']) {
    super('invalid', 'invalid_trusted_ip', message);
    this.said = said;
  }
}

export type TrustedIps = ReturnType<typeof createTrustedIps>;

function checked(range: string, skips: string): { cidr: string; skips: IpSkip } {
  const parsed = parseRange(range);
  if ('problem' in parsed) throw new TrustedIpError(parsed.problem, parsed.said);
  if (!(SKIPPABLE as readonly string[]).includes(skips)) throw new TrustedIpError('Choose which second factor this address skips, or all of them.');
  return { cidr: parsed.cidr, skips: skips as IpSkip };
}

export function createTrustedIps(db: Database, clock: () => Date = () => new Date()) {
  const Lists = db.model<ListDoc>('TrustedIpList', new Schema<ListDoc>(
    { _id: String, rev: Number, entries: { type: Schema.Types.Mixed, default: [] } },
    { collection: 'trusted_ips', versionKey: false, minimize: false },
  ));

  const entriesOf = async (accountId: string): Promise<TrustedIp[]> =>
    ((await Lists.findById(accountId).lean<ListDoc>())?.entries ?? []).map((e) => ({ ...e, createdAt: new Date(e.createdAt), updatedAt: new Date(e.updatedAt) }));

  return {
    /** Account deletion: the account's list. */
    async forgetAccount(accountId: string): Promise<void> {
      await Lists.deleteOne({ _id: accountId });
    },
    list: entriesOf,

    async add(accountId: string, range: string, skips: string): Promise<TrustedIp> {
      const entry = checked(range, skips);
      return editDocument(db, Lists, accountId, (doc) => {
        const entries = doc?.entries ?? [];
        if (entries.some((e) => e.cidr === entry.cidr)) throw new TrustedIpError(`${entry.cidr} is already on your list.`);
        if (entries.length >= MAX_TRUSTED_IPS) throw new TrustedIpError(`Your list is full (${MAX_TRUSTED_IPS} entries). Delete one first.`);
        const now = clock();
        const added: TrustedIp = { id: randomBytes(9).toString('base64url'), ...entry, createdAt: now, updatedAt: now };
        return { set: { entries: [...entries, added] }, result: added };
      });
    },

    async update(accountId: string, id: string, range: string, skips: string): Promise<TrustedIp> {
      const entry = checked(range, skips);
      return editDocument(db, Lists, accountId, (doc) => {
        const entries = doc?.entries ?? [];
        const old = entries.find((e) => e.id === id);
        if (!old) throw new TrustedIpError('There is no such entry on your list.');
        if (entries.some((e) => e.id !== id && e.cidr === entry.cidr)) throw new TrustedIpError(`${entry.cidr} is already on your list.`);
        const updated: TrustedIp = { ...old, ...entry, updatedAt: clock() };
        return { set: { entries: entries.map((e) => (e.id === id ? updated : e)) }, result: updated };
      });
    },

    async remove(accountId: string, id: string): Promise<TrustedIp> {
      return editDocument(db, Lists, accountId, (doc) => {
        const entries = doc?.entries ?? [];
        const old = entries.find((e) => e.id === id);
        if (!old) throw new TrustedIpError('There is no such entry on your list.');
        return { set: { entries: entries.filter((e) => e.id !== id) }, result: old };
      });
    },

    /** What the entries matching this client address skip (empty when none matches). */
    async skipsFor(accountId: string, ip: string | undefined): Promise<IpSkip[]> {
      if (!ip) return [];
      return (await entriesOf(accountId)).filter((e) => inRange(ip, e.cidr)).map((e) => e.skips);
    },
  };
}

