// Authenticator apps (TOTP, RFC 6238: 6 digits, 30 s, ±1 step). Enrolment: a secret shown as a
// QR code and a manual key, confirmed with a current code (and, on the page, the password). The
// secret is sealed at rest; every code is accepted once (a conditional update on the last step).
import { generateSecret, generateURI, verify } from 'otplib';
import QRCode from 'qrcode';
import { Schema } from 'mongoose';
import type { Database } from '../../db/database.ts';
import type { Sealer } from '../../crypto/seal.ts';
import type { SecondFactorModule, Verification } from '../types.ts';

interface TotpDoc {
  _id: string; // account id
  sealedSecret: string;
  lastStep: number;
  createdAt: Date;
}

interface PendingDoc {
  _id: string; // account id
  sealedSecret: string;
  expiresAt: Date;
}

export interface TotpEnrolment {
  /** Base32, for manual entry. */
  secret: string;
  uri: string;
  qrSvg: string;
}

const PERIOD = 30;

export type TotpStore = ReturnType<typeof createTotp>;

export function createTotp(db: Database, sealer: Sealer, options: { issuer: string; clock: () => Date; pendingSeconds?: number }) {
  const { clock } = options;
  const Credentials = db.model<TotpDoc>('TotpCredential', new Schema<TotpDoc>({
    _id: String, sealedSecret: { type: String, required: true }, lastStep: { type: Number, default: 0 }, createdAt: { type: Date, required: true },
  }, { collection: 'totp_credentials', versionKey: false }));
  const Pending = db.model<PendingDoc>('TotpEnrolment', new Schema<PendingDoc>({
    _id: String, sealedSecret: { type: String, required: true }, expiresAt: { type: Date, required: true },
  }, { collection: 'totp_enrolments', versionKey: false }), { expires: true });

  const context = (accountId: string) => `totp:${accountId}`;
  const epoch = () => Math.floor(clock().getTime() / 1000);

  /** The time step this code matches (now ±1 step), or undefined. */
  async function matchingStep(secret: string, code: string): Promise<number | undefined> {
    if (!/^\d{6}$/.test(code)) return undefined;
    const result = await verify({ secret, token: code, epoch: epoch(), epochTolerance: PERIOD });
    return result.valid ? (result as { timeStep: number }).timeStep : undefined;
  }

  const store = {
    async enrolled(accountId: string): Promise<boolean> {
      return !!(await Credentials.findById(accountId).lean());
    },

    /** When the account's authenticator app was set up (undefined: none is). */
    async enrolledAt(accountId: string): Promise<Date | undefined> {
      return (await Credentials.findById(accountId).lean<TotpDoc>())?.createdAt;
    },

    /** A new secret to show (replacing any unfinished enrolment); confirmed by `confirm`. */
    async begin(accountId: string, label: string): Promise<TotpEnrolment> {
      const secret = generateSecret();
      await Pending.replaceOne({ _id: accountId }, {
        sealedSecret: sealer.seal(secret, context(accountId)),
        expiresAt: new Date(clock().getTime() + (options.pendingSeconds ?? 900) * 1000),
      }, { upsert: true });
      return store.render(secret, label);
    },

    /** The enrolment being confirmed (a reload shows the same secret). */
    async pending(accountId: string, label: string): Promise<TotpEnrolment | undefined> {
      const doc = await Pending.findById(accountId).lean<PendingDoc>();
      if (!doc || doc.expiresAt <= clock()) return undefined;
      return store.render(sealer.open(doc.sealedSecret, context(accountId)), label);
    },

    async render(secret: string, label: string): Promise<TotpEnrolment> {
      const uri = generateURI({ issuer: options.issuer, label, secret });
      return { secret, uri, qrSvg: await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 1 }) };
    },

    /** Confirms the pending secret with a current code; the code is spent. */
    async confirm(accountId: string, code: string): Promise<boolean> {
      const doc = await Pending.findById(accountId).lean<PendingDoc>();
      if (!doc || doc.expiresAt <= clock()) return false;
      const secret = sealer.open(doc.sealedSecret, context(accountId));
      const step = await matchingStep(secret, code.trim());
      if (step === undefined) return false;
      await Credentials.replaceOne({ _id: accountId }, { sealedSecret: doc.sealedSecret, lastStep: step, createdAt: clock() }, { upsert: true });
      await Pending.deleteOne({ _id: accountId });
      return true;
    },

    /** A sign-in code: valid now (±1 step) and newer than every code accepted before. */
    async check(accountId: string, code: string): Promise<boolean> {
      return (await store.use(accountId, code)) === 'accepted';
    },

    /**
     * A code checked and spent: 'accepted' once; 'spent' for a right code of a step already used
     * (a replay or a double click: no guess); 'wrong' otherwise.
     */
    async use(accountId: string, code: string): Promise<'accepted' | 'spent' | 'wrong'> {
      const doc = await Credentials.findById(accountId).lean<TotpDoc>();
      if (!doc) return 'wrong';
      const step = await matchingStep(sealer.open(doc.sealedSecret, context(accountId)), code.trim());
      if (step === undefined) return 'wrong';
      // accepted once: only if no code of this or a later step was accepted (exact in parallel)
      return (await db.updateIf(Credentials, accountId, { lastStep: { $lt: step } }, { $set: { lastStep: step } })) ? 'accepted' : 'spent';
    },

    async remove(accountId: string): Promise<void> {
      await Credentials.deleteOne({ _id: accountId });
      await Pending.deleteOne({ _id: accountId });
    },

    /** An admin's MFA reset: the account's authenticator app (and any unfinished setup); how many were removed. */
    async removeAll(accountId: string): Promise<number> {
      const removed = await Credentials.deleteOne({ _id: accountId });
      await Pending.deleteOne({ _id: accountId });
      return removed.deletedCount;
    },
  };
  return store;
}

export function totpFactor(totp: TotpStore, clock: () => Date): SecondFactorModule {
  return {
    id: 'totp',
    label: 'Use my authenticator app',
    availability: async (account) => ((await totp.enrolled(account.id)) ? { available: true } : { available: false, reason: 'no authenticator app set up' }),
    begin: async () => ({ input: 'code', instructions: 'Enter the 6-digit code your authenticator app shows for Tessera.', canResend: false, said: { instructions: { key: 'interaction:prompt.totp' } } }),
    async verify({ account }, answer): Promise<Verification> {
      const used = await totp.use(account.id, answer);
      if (used === 'accepted') return { ok: true, proof: { factor: 'totp', at: Math.floor(clock().getTime() / 1000) } };
      // a right code already used is no guess: it counts nothing against the browser
      if (used === 'spent') return { ok: false, spent: true, message: 'That code was already used. Wait for the next code and try again.', said: { key: 'interaction:refused.totpUsed' } };
      return { ok: false, message: 'That code is not right, or it was already used. Wait for the next code and try again.', said: { key: 'interaction:refused.totpWrong' } };
    },
    enrolment: {
      async begin(account) {
        const e = (await totp.pending(account.id, account.email)) ?? (await totp.begin(account.id, account.email));
        return { kind: 'totp', secret: e.secret, qrSvg: e.qrSvg };
      },
      async complete(account, _scope, answer) {
        if (await totp.confirm(account.id, answer)) return { ok: true, proof: { factor: 'totp', at: Math.floor(clock().getTime() / 1000) } };
        return { ok: false, message: 'That code is not right. Enter the code your app shows now.', said: { key: 'interaction:refused.totpEnrolWrong' } };
      },
    },
  };
}
