// What a browser session proved and when, per factor: the step-up decision needs each factor's
// own time for max_age (the provider's session keeps one loginTs for all). Keyed by the session's
// uid, which survives the session's identifier changes; written when an interaction returns.
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import type { Proof } from '../policy/sign-in.ts';

interface SessionProofsDoc {
  _id: string;
  accountId: string;
  proofs: Proof[];
  expiresAt: Date;
}

export type SessionProofs = ReturnType<typeof createSessionProofs>;

export function createSessionProofs(db: Database, lifetimeSeconds: number, clock: () => Date = () => new Date()) {
  const Proofs = db.model<SessionProofsDoc>('SessionProofs', new Schema<SessionProofsDoc>(
    { _id: String, accountId: { type: String, required: true }, proofs: { type: Schema.Types.Mixed, default: [] }, expiresAt: { type: Date, required: true } },
    { collection: 'session_proofs', versionKey: false, minimize: false },
  ), { expiresField: 'expiresAt' });

  return {
    async of(sessionUid: string, accountId: string): Promise<Proof[] | undefined> {
      const doc = await Proofs.findById(sessionUid).lean<SessionProofsDoc>();
      return doc && doc.accountId === accountId && doc.expiresAt > clock() ? doc.proofs : undefined;
    },
    /** Keeps the latest proof per factor; a session that now names another account starts over. */
    async record(sessionUid: string, accountId: string, proofs: Proof[]): Promise<void> {
      await db.exclusive(`session_proofs/${sessionUid}`, async () => {
        const doc = await Proofs.findById(sessionUid).lean<SessionProofsDoc>();
        const earlier = doc && doc.accountId === accountId ? doc.proofs : [];
        const latest = new Map<string, Proof>();
        for (const p of [...earlier, ...proofs].sort((a, b) => a.at - b.at)) latest.set(p.factor, p);
        await Proofs.replaceOne({ _id: sessionUid }, {
          accountId, proofs: [...latest.values()], expiresAt: new Date(clock().getTime() + lifetimeSeconds * 1000),
        }, { upsert: true });
      });
    },
  };
}
