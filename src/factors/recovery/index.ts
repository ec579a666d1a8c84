// Recovery codes: a batch of 10 shown once, stored only as keyed hashes (HMAC-SHA256 under a key
// derived from ENCRYPTION_KEY), each accepted once (a conditional update), a new batch replacing
// the old. Using one emails the account so an unexpected use is noticed.
import { createHmac, randomBytes } from 'node:crypto';
import { Schema } from 'mongoose';
import type { Database } from '../../db/database.ts';
import type { SecondFactorModule, Verification } from '../types.ts';

interface RecoveryDoc {
  _id: string; // account id
  /** hash → 0 while unused, the epoch ms of its use after */
  codes: Record<string, number>;
  createdAt: Date;
}

const BATCH = 10;
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'; // no 0/O, 1/I

/** 12 characters from 32 (60 bits), shown as XXXX-XXXX-XXXX. */
function newCode(): string {
  const bytes = randomBytes(12);
  const chars = [...bytes].map((b) => ALPHABET[b % 32]);
  return `${chars.slice(0, 4).join('')}-${chars.slice(4, 8).join('')}-${chars.slice(8).join('')}`;
}

export const normalizeRecoveryCode = (input: string) => input.toUpperCase().replace(/[\s-]/g, '');

export type RecoveryCodes = ReturnType<typeof createRecoveryCodes>;

export function createRecoveryCodes(db: Database, hmacKey: Buffer, clock: () => Date) {
  const Codes = db.model<RecoveryDoc>('RecoveryCodes', new Schema<RecoveryDoc>({
    _id: String, codes: { type: Schema.Types.Mixed, required: true }, createdAt: { type: Date, required: true },
  }, { collection: 'recovery_codes', versionKey: false, minimize: false }));
  const hash = (accountId: string, code: string) => createHmac('sha256', hmacKey).update(`${accountId}:${normalizeRecoveryCode(code)}`).digest('base64url');

  return {
    /** A new batch: returns the codes in clear, once; the previous batch stops working. */
    async generate(accountId: string): Promise<string[]> {
      const codes = Array.from({ length: BATCH }, newCode);
      await Codes.replaceOne({ _id: accountId }, { codes: Object.fromEntries(codes.map((c) => [hash(accountId, c), 0])), createdAt: clock() }, { upsert: true });
      return codes;
    },
    async remaining(accountId: string): Promise<number> {
      const doc = await Codes.findById(accountId).lean<RecoveryDoc>();
      return doc ? Object.values(doc.codes).filter((used) => used === 0).length : 0;
    },
    /** An admin's MFA reset: the account's recovery codes; how many unused ones were removed. */
    async removeAll(accountId: string): Promise<number> {
      const doc = await Codes.findOneAndDelete({ _id: accountId }).lean<RecoveryDoc>();
      return doc ? Object.values(doc.codes).filter((used) => used === 0).length : 0;
    },
    /** Spends a code: true once for each code of the current batch. */
    async use(accountId: string, code: string): Promise<boolean> {
      const normalized = normalizeRecoveryCode(code);
      if (!/^[A-Z2-9]{12}$/.test(normalized)) return false;
      const key = `codes.${hash(accountId, normalized)}`;
      return db.updateIf(Codes, accountId, { [key]: 0 }, { $set: { [key]: clock().getTime() } });
    },
  };
}

export function recoveryFactor(codes: RecoveryCodes, notifyUsed: (account: { id: string; email: string }, left: number) => Promise<void>, clock: () => Date): SecondFactorModule {
  return {
    id: 'recovery',
    label: 'Use a recovery code',
    availability: async (account) => ((await codes.remaining(account.id)) > 0 ? { available: true } : { available: false, reason: 'no recovery codes left' }),
    begin: async () => ({ input: 'code', instructions: 'Enter one of your recovery codes (XXXX-XXXX-XXXX). Each works once.', canResend: false, said: { instructions: { key: 'interaction:prompt.recovery' } } }),
    async verify({ account }, answer): Promise<Verification> {
      if (!(await codes.use(account.id, answer))) return { ok: false, message: 'That recovery code is not right or was already used.', said: { key: 'interaction:refused.recoveryWrong' } };
      await notifyUsed(account, await codes.remaining(account.id)).catch(() => {});
      return { ok: true, proof: { factor: 'recovery', at: Math.floor(clock().getTime() / 1000) } };
    },
  };
}
