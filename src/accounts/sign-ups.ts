// Sign-ups waiting for their emailed code (signup.enabled): one document per sign-in interaction
// (keyed by its uid: the only lookup is by _id), holding the account to be made — the address,
// the name and the password's hash, never the password — for as long as its code lives. Nothing
// here is an account and nothing here makes one: the account is written only after the code,
// once (`claim`: of any number of parallel right codes one wins), and the claim wipes the hash.
// A sign-up for an address that already has an account is kept the same way (`taken`), so both
// cost the same writes; it can never be claimed.
import { randomUUID } from 'node:crypto';
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import type { PreparedSignUp } from './store.ts';

export interface PendingSignUp {
  /** New for each form sent: what the emailed code is bound to (another address, another code). */
  id: string;
  email: string;
  /** The address has an account: its owner was told, no code went, no code is ever accepted. */
  taken: boolean;
  expiresAt: Date;
}

interface SignUpDoc {
  _id: string;
  pendingId: string;
  email: string;
  name?: string;
  passwordHash?: string;
  taken: boolean;
  usedAt?: Date;
  expiresAt: Date;
}

export type SignUps = ReturnType<typeof createSignUps>;

export function createSignUps(db: Database, lifetimeSeconds: number, clock: () => Date = () => new Date()) {
  const SignUps = db.model<SignUpDoc>('SignUp', new Schema<SignUpDoc>({
    _id: String, pendingId: { type: String, required: true }, email: { type: String, required: true }, name: String, passwordHash: String,
    taken: { type: Boolean, required: true }, usedAt: Date, expiresAt: { type: Date, required: true },
  }, { collection: 'sign_ups', versionKey: false }), { expires: true });

  const view = (doc: SignUpDoc): PendingSignUp => ({ id: doc.pendingId, email: doc.email, taken: doc.taken, expiresAt: doc.expiresAt });

  return {
    /**
     * The form was sent: this interaction's sign-up is now this one (one write, whichever the
     * address), replacing an earlier one, and lives as long as a code.
     */
    async begin(uid: string, account: PreparedSignUp, taken: boolean): Promise<PendingSignUp> {
      const doc: SignUpDoc = { _id: uid, pendingId: randomUUID(), ...account, taken, expiresAt: new Date(clock().getTime() + lifetimeSeconds * 1000) };
      await SignUps.replaceOne({ _id: uid }, doc, { upsert: true });
      return view(doc);
    },

    /** This interaction's sign-up while its code may still be entered (not expired, not used). */
    async get(uid: string): Promise<PendingSignUp | undefined> {
      const doc = await SignUps.findById(uid).lean<SignUpDoc>();
      return doc && !doc.usedAt && doc.expiresAt > clock() ? view(doc) : undefined;
    },

    /** A new code was sent ("Resend" after a lock): the sign-up lives as long as it. */
    async extend(uid: string, pending: PendingSignUp, until: Date): Promise<void> {
      if (until > pending.expiresAt) await db.updateIf(SignUps, uid, { pendingId: pending.id, usedAt: { $exists: false } }, { $set: { expiresAt: until } });
    },

    /**
     * The code was right: the account to make, once (false for every other request, a taken
     * address's sign-up, or one replaced meanwhile). The same write forgets the name and hash.
     */
    async claim(uid: string, pending: PendingSignUp): Promise<PreparedSignUp | undefined> {
      if (pending.taken) return undefined;
      const before = await SignUps.findById(uid).lean<SignUpDoc>();
      if (!before?.passwordHash || before.pendingId !== pending.id || before.taken) return undefined;
      const won = await db.updateIf(SignUps, uid, { pendingId: pending.id, taken: false, usedAt: { $exists: false } }, { $set: { usedAt: clock() }, $unset: { name: '', passwordHash: '' } });
      return won ? { email: before.email, name: before.name ?? '', passwordHash: before.passwordHash } : undefined;
    },
  };
}
