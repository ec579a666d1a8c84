// Set-password links: what an invitation or an admin's password reset emails. The token is 32
// random bytes (base64url) given out once; the database keeps only its HMAC (the document _id),
// with the account, the purpose and the expiry (SET_PASSWORD_LINK_HOURS, read through the one
// clock). A link works once (a conditional update on `usedAt`, exact under parallel requests), and
// only while it is the newest link of its account: a per-account document names the newest one,
// so issuing a link makes every earlier one unusable. Every read is by _id.
import { createHmac, randomBytes } from 'node:crypto';
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';

export type LinkPurpose = 'invite' | 'reset';

export interface LinkHolder {
  accountId: string;
  purpose: LinkPurpose;
}

interface LinkDoc {
  _id: string; // HMAC of the token
  accountId: string;
  purpose: LinkPurpose;
  expiresAt: Date;
  usedAt?: Date;
}

interface NewestDoc {
  _id: string; // account id
  link: string; // _id of the account's newest link
  expiresAt: Date;
}

export interface PasswordLinks {
  /** A new link's token for the account (earlier links stop working). */
  issue(accountId: string, purpose: LinkPurpose): Promise<string>;
  /** Who the token is for, while it is unused, unexpired and the account's newest; never spends it. */
  check(token: string): Promise<LinkHolder | undefined>;
  /** Spends the token: its holder exactly once (whatever the number of parallel requests), then undefined. */
  redeem(token: string): Promise<LinkHolder | undefined>;
  /** Account deletion only: every link of the account (a scan) and its newest-link pointer. */
  forgetAccount(accountId: string): Promise<void>;
}

const TOKEN = /^[\w-]{43}$/;

export function createPasswordLinks(db: Database, options: { key: Buffer; hours: number; clock: () => Date }): PasswordLinks {
  const { clock } = options;
  const Links = db.model<LinkDoc>('PasswordLink', new Schema<LinkDoc>({
    _id: String,
    accountId: { type: String, required: true },
    purpose: { type: String, enum: ['invite', 'reset'], required: true },
    expiresAt: { type: Date, required: true },
    usedAt: { type: Date },
  }, { collection: 'password_links', versionKey: false }), { expires: true });
  const Newest = db.model<NewestDoc>('PasswordLinkNewest', new Schema<NewestDoc>({
    _id: String, link: { type: String, required: true }, expiresAt: { type: Date, required: true },
  }, { collection: 'password_link_newest', versionKey: false }), { expires: true });

  const idOf = (token: string) => createHmac('sha256', options.key).update(token).digest('base64url');

  /** The link document of a well-formed token, when it is still usable now. */
  async function usable(token: string): Promise<LinkDoc | undefined> {
    if (typeof token !== 'string' || !TOKEN.test(token)) return undefined;
    const doc = await Links.findById(idOf(token)).lean<LinkDoc>();
    const now = clock();
    if (!doc || doc.usedAt || doc.expiresAt <= now) return undefined;
    const newest = await Newest.findById(doc.accountId).lean<NewestDoc>();
    return newest?.link === doc._id ? doc : undefined;
  }

  return {
    async issue(accountId, purpose) {
      const token = randomBytes(32).toString('base64url');
      const expiresAt = new Date(clock().getTime() + options.hours * 3600_000);
      const _id = idOf(token);
      await Links.create({ _id, accountId, purpose, expiresAt });
      await Newest.replaceOne({ _id: accountId }, { link: _id, expiresAt }, { upsert: true });
      return token;
    },

    async check(token) {
      const doc = await usable(token);
      return doc ? { accountId: doc.accountId, purpose: doc.purpose } : undefined;
    },

    async forgetAccount(accountId) {
      await Links.deleteMany({ accountId });
      await Newest.deleteOne({ _id: accountId });
    },

    async redeem(token) {
      const doc = await usable(token);
      if (!doc) return undefined;
      const now = clock();
      const spent = await db.updateIf(Links, doc._id, { usedAt: { $exists: false }, expiresAt: { $gt: now } }, { $set: { usedAt: now } });
      return spent ? { accountId: doc.accountId, purpose: doc.purpose } : undefined;
    },
  };
}
