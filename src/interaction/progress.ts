// A sign-in between its steps: which account the password (or the existing session) named, and
// what this interaction has proven so far. Keyed by interaction uid; it lives as long as the
// interaction. Routes read it to know which step comes next.
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import { countUp } from '../db/edit.ts';
import type { Proof } from '../policy/sign-in.ts';

interface ProgressDoc {
  _id: string;
  accountId: string;
  proofs: Proof[];
  /** Wrong PINs in this sign-in ("Request PIN after sign-in"). */
  pinFailures?: number;
  expiresAt: Date;
}

export interface Progress {
  accountId: string;
  proofs: Proof[];
}

export type SignInProgress = ReturnType<typeof createSignInProgress>;

export function createSignInProgress(db: Database, lifetimeSeconds: number, clock: () => Date = () => new Date()) {
  const Progress = db.model<ProgressDoc>('SignInProgress', new Schema<ProgressDoc>(
    { _id: String, accountId: { type: String, required: true }, proofs: { type: Schema.Types.Mixed, default: [] }, pinFailures: Number, expiresAt: { type: Date, required: true } },
    { collection: 'sign_in_progress', versionKey: false, minimize: false },
  ), { expiresField: 'expiresAt' });

  return {
    async get(uid: string): Promise<Progress | undefined> {
      const doc = await Progress.findById(uid).lean<ProgressDoc>();
      return doc && doc.expiresAt > clock() ? { accountId: doc.accountId, proofs: doc.proofs } : undefined;
    },
    async start(uid: string, progress: Progress): Promise<void> {
      await Progress.replaceOne({ _id: uid }, { ...progress, expiresAt: new Date(clock().getTime() + lifetimeSeconds * 1000) }, { upsert: true });
    },
    /** Adds a proof to the sign-in of this account (a proof for another account changes nothing). */
    async prove(uid: string, accountId: string, proof: Proof): Promise<Progress | undefined> {
      await db.updateIf(Progress, uid, { accountId }, { $push: { proofs: proof } });
      return this.get(uid);
    },
    /** One more wrong PIN in this sign-in; resolves to the count (no lost increments). */
    pinFailed: (uid: string): Promise<number> => countUp(db, Progress, uid, 'pinFailures'),
    async end(uid: string): Promise<void> {
      await Progress.deleteOne({ _id: uid });
    },
  };
}
