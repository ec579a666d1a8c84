// One-time code challenges (email, SMS, voice): 6 digits from a CSPRNG, sealed at rest with
// ENCRYPTION_KEY, bound to one account, one interaction (or settings action) and one purpose,
// compared in constant time and accepted once. A challenge is keyed by interaction, purpose and
// channel, so reloading a page finds the same code instead of sending a new one.
//
// Rules (settings; every time read from the injected clock): a code lives `lifetimeSeconds`;
// "Resend" on the same channel is allowed every `resendIntervalSeconds` and sends the same code
// while it is valid; `maxAttempts` wrong entries lock the challenge until a resend issues a new
// code; the count of failures is never reset (devices count them toward blocking).
//
// Limits (limits/service.ts, when given): "Resend" is capped per account per hour, and a new SMS or
// voice code (open or resend) per account per day; at a cap nothing is made or sent and a
// ChallengeError says so (the page offers the other channels).
//
// Audit log: a code made to be sent (open, resend) is 'challenge.issued' and a wrong, expired or
// locked entry 'challenge.failed', with the purpose and channel (never the code).
import { randomInt, timingSafeEqual } from 'node:crypto';
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import type { Sealer } from '../crypto/seal.ts';
import { NO_AUDIT, type AuditDetails, type AuditSink } from '../audit/events.ts';
import { UserFacingError } from '../http/errors.ts';

export type Channel = 'email' | 'sms' | 'voice';

export interface CodeRules {
  lifetimeSeconds: number;
  resendIntervalSeconds: number;
  maxAttempts: number;
  /** Purposes with their own lifetime, which "Extend" may lengthen by as much again up to `maxSeconds`. */
  lifetimes?: Record<string, { seconds: number; maxSeconds: number }>;
}

interface ChallengeDoc {
  _id: string;
  accountId: string;
  channel: Channel;
  sealedCode: string;
  issuedAt: Date;
  sentAt: Date;
  expiresAt: Date;
  /** Wrong entries against the current code. */
  attempts: number;
  /** Wrong entries over the challenge's life; never reset. */
  failures: number;
  verifiedAt?: Date;
}

export interface ChallengeState {
  id: string;
  channel: Channel;
  expiresAt: Date;
  locked: boolean;
  attemptsLeft: number;
  failures: number;
  /** When Resend becomes possible. */
  resendAt: Date;
  verified: boolean;
}

export type VerifyResult =
  | { ok: true }
  | { ok: false; reason: 'wrong' | 'expired' | 'locked' | 'missing' | 'used'; state?: ChallengeState };

/** Caps on sending (limits/service.ts): each call takes one send, false at the cap. */
export interface SendCaps {
  resend(accountId: string): Promise<boolean>;
  phoneSend(accountId: string): Promise<boolean>;
}

/** A code that cannot be made or sent now; a page that does not handle it shows it as a 4xx (429 at a cap). */
export class ChallengeError extends UserFacingError {
  override name = 'ChallengeError';
  declare readonly code: 'resend_too_soon' | 'missing' | 'cannot_extend' | 'resend_limit' | 'send_limit';
  readonly retryAfterSeconds: number;
  constructor(code: ChallengeError['code'], message: string, retryAfterSeconds = 0) {
    super(code === 'resend_limit' || code === 'send_limit' || code === 'resend_too_soon' ? 429 : 400, code, message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export const PHONE_CAP_MESSAGE = 'No code was sent: this account has had the most text messages and calls allowed in a day. '
  + 'Use another method below (such as email), or try again tomorrow.';
export const RESEND_CAP_MESSAGE = 'No code was sent: codes were sent again too often in the last hour. '
  + 'Use the code you have, another method below, or try again later.';

export type Challenges = ReturnType<typeof createChallenges>;

const newCode = () => String(randomInt(0, 1_000_000)).padStart(6, '0');

export function createChallenges(db: Database, sealer: Sealer, rules: CodeRules, clock: () => Date = () => new Date(), audit: AuditSink = NO_AUDIT, caps?: SendCaps) {
  const Challenges = db.model<ChallengeDoc>('Challenge', new Schema<ChallengeDoc>({
    _id: String,
    accountId: { type: String, required: true },
    channel: { type: String, required: true },
    sealedCode: { type: String, required: true },
    issuedAt: { type: Date, required: true },
    sentAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
    attempts: { type: Number, default: 0 },
    failures: { type: Number, default: 0 },
    verifiedAt: Date,
  }, { collection: 'challenges', versionKey: false }), { expiresField: 'expiresAt' });

  const keyOf = (scope: string, purpose: string, channel: Channel) => `${purpose}:${channel}:${scope}`;
  const context = (id: string) => `one-time-code:${id}`;
  const later = (seconds: number) => new Date(clock().getTime() + seconds * 1000);
  const lifetimeOf = (purpose: string) => rules.lifetimes?.[purpose]?.seconds ?? rules.lifetimeSeconds;

  function state(doc: ChallengeDoc): ChallengeState {
    return {
      id: doc._id,
      channel: doc.channel,
      expiresAt: doc.expiresAt,
      locked: doc.attempts >= rules.maxAttempts,
      attemptsLeft: Math.max(0, rules.maxAttempts - doc.attempts),
      failures: doc.failures,
      resendAt: new Date(doc.sentAt.getTime() + rules.resendIntervalSeconds * 1000),
      verified: !!doc.verifiedAt,
    };
  }

  const live = (doc: ChallengeDoc | null): doc is ChallengeDoc => !!doc && doc.expiresAt > clock();
  const byPhone = (channel: Channel) => channel === 'sms' || channel === 'voice';

  /** Takes one text or call from the account's daily cap (email is not capped); throws at the cap. */
  async function phoneAllowed(channel: Channel, accountId: string): Promise<void> {
    if (caps && byPhone(channel) && !(await caps.phoneSend(accountId))) throw new ChallengeError('send_limit', PHONE_CAP_MESSAGE);
  }

  function report(failed: boolean, accountId: string, details: AuditDetails): void {
    audit.record({
      type: failed ? 'challenge.failed' : 'challenge.issued', outcome: failed ? 'failure' : 'success',
      actor: { type: 'user', id: accountId },
      subject: { type: 'account', id: accountId }, accountId, details,
    });
  }

  /** A failed entry, reported to the audit log, as verify() answers it. */
  function failed(accountId: string, purpose: string, channel: Channel, reason: 'wrong' | 'expired' | 'locked', s: ChallengeState): VerifyResult {
    report(true, accountId, { purpose, channel, reason, attemptsLeft: s.attemptsLeft, failures: s.failures });
    return { ok: false, reason, state: s };
  }

  return {
    /**
     * The challenge for this scope (an interaction uid or a settings action), purpose and channel.
     * Creates one with a fresh code when none is live; `code` is set only then (to be delivered).
     */
    async open(scope: string, purpose: string, channel: Channel, accountId: string): Promise<{ state: ChallengeState; code?: string }> {
      const id = keyOf(scope, purpose, channel);
      const existing = await Challenges.findById(id).lean<ChallengeDoc>();
      if (live(existing) && existing.accountId === accountId) return { state: state(existing) };
      await phoneAllowed(channel, accountId);
      const code = newCode();
      const now = clock();
      const fresh = {
        accountId, channel, sealedCode: sealer.seal(code, context(id)), issuedAt: now, sentAt: now,
        expiresAt: later(lifetimeOf(purpose)), attempts: 0,
      };
      // two pages opening at once (two tabs, a double reload): one code wins, the other page shows it
      const won = existing
        ? await db.updateIf(Challenges, id, { issuedAt: existing.issuedAt }, { $set: fresh, $unset: { verifiedAt: '' } })
        : await Challenges.create({ _id: id, ...fresh, failures: 0 }).then(() => true, (err: { code?: number }) => {
          if (err.code === 11000) return false;
          throw err;
        });
      const doc = won ? { _id: id, ...fresh, failures: existing?.failures ?? 0 } : await Challenges.findById(id).lean<ChallengeDoc>();
      if (!doc) throw new ChallengeError('missing', 'The code could not be prepared. Try again.');
      if (won) report(false, accountId, { purpose, channel, resend: false });
      return won ? { state: state(doc), code } : { state: state(doc) };
    },

    /** The challenge's state as it is (expired or locked included), without making one. */
    async peek(scope: string, purpose: string, channel: Channel, accountId: string): Promise<ChallengeState | undefined> {
      const doc = await Challenges.findById(keyOf(scope, purpose, channel)).lean<ChallengeDoc>();
      return doc && doc.accountId === accountId ? state(doc) : undefined;
    },

    /**
     * Resend: at most once per interval; the same code while it is valid and not locked, a new
     * code (with fresh attempts, failures kept) when it expired or was locked. Returns the code to send.
     */
    async resend(scope: string, purpose: string, channel: Channel, accountId: string): Promise<{ state: ChallengeState; code: string }> {
      const id = keyOf(scope, purpose, channel);
      const doc = await Challenges.findById(id).lean<ChallengeDoc>();
      if (!doc || doc.accountId !== accountId) throw new ChallengeError('missing', 'There is no code to resend. Start again.');
      const now = clock();
      const tooSoon = (sentAt: Date) => Math.ceil((sentAt.getTime() + rules.resendIntervalSeconds * 1000 - now.getTime()) / 1000);
      if (tooSoon(doc.sentAt) > 0) throw new ChallengeError('resend_too_soon', `You can ask for the code again in ${tooSoon(doc.sentAt)} s.`, tooSoon(doc.sentAt));
      if (caps && !(await caps.resend(accountId))) throw new ChallengeError('resend_limit', RESEND_CAP_MESSAGE);
      await phoneAllowed(channel, accountId);
      const reuse = doc.expiresAt > now && doc.attempts < rules.maxAttempts && !doc.verifiedAt;
      const code = reuse ? sealer.open(doc.sealedCode, context(id)) : newCode();
      const set = reuse
        ? { sentAt: now }
        : { sealedCode: sealer.seal(code, context(id)), issuedAt: now, sentAt: now, expiresAt: later(lifetimeOf(purpose)), attempts: 0 };
      // only if nothing changed since the read (a concurrent resend or failure): exact on every server
      const won = await db.updateIf(Challenges, id, { sentAt: doc.sentAt, attempts: doc.attempts, sealedCode: doc.sealedCode },
        reuse ? { $set: set } : { $set: set, $unset: { verifiedAt: '' } });
      if (!won) throw new ChallengeError('resend_too_soon', 'The code was just sent again. Check your messages.', rules.resendIntervalSeconds);
      report(false, accountId, { purpose, channel, resend: true, newCode: !reuse });
      return { state: state({ ...doc, ...set } as ChallengeDoc), code };
    },

    /**
     * "Extend": a live, unlocked code of a purpose with its own lifetime lives that long again,
     * but never past `maxSeconds` after it was issued. Expired or locked codes need "Resend".
     */
    async extend(scope: string, purpose: string, channel: Channel, accountId: string): Promise<ChallengeState> {
      const id = keyOf(scope, purpose, channel);
      const limits = rules.lifetimes?.[purpose];
      const doc = await Challenges.findById(id).lean<ChallengeDoc>();
      if (!limits || !doc || doc.accountId !== accountId) throw new ChallengeError('missing', 'There is no code to extend. Start again.');
      const now = clock();
      if (doc.expiresAt <= now || doc.attempts >= rules.maxAttempts || doc.verifiedAt) {
        throw new ChallengeError('cannot_extend', 'This code can no longer be extended: use "Resend" to get a new one.');
      }
      const cap = doc.issuedAt.getTime() + limits.maxSeconds * 1000;
      const expiresAt = new Date(Math.min(doc.expiresAt.getTime() + limits.seconds * 1000, cap));
      if (expiresAt.getTime() <= doc.expiresAt.getTime()) {
        throw new ChallengeError('cannot_extend', `This code cannot be extended any further (at most ${Math.round(limits.maxSeconds / 60)} minutes in all).`);
      }
      await db.updateIf(Challenges, id, { sealedCode: doc.sealedCode, expiresAt: doc.expiresAt }, { $set: { expiresAt } });
      return state({ ...doc, expiresAt });
    },

    /** Checks an entered code; a right code is accepted once, a wrong one counts. */
    async verify(scope: string, purpose: string, channel: Channel, accountId: string, entered: string): Promise<VerifyResult> {
      const id = keyOf(scope, purpose, channel);
      const doc = await Challenges.findById(id).lean<ChallengeDoc>();
      if (!doc || doc.accountId !== accountId) return { ok: false, reason: 'missing' };
      if (doc.verifiedAt) return { ok: false, reason: 'used', state: state(doc) };
      if (doc.expiresAt <= clock()) return failed(accountId, purpose, channel, 'expired', state(doc));
      if (doc.attempts >= rules.maxAttempts) return failed(accountId, purpose, channel, 'locked', state(doc));
      const expected = Buffer.from(sealer.open(doc.sealedCode, context(id)));
      const given = Buffer.from(/^\d{6}$/.test(entered) ? entered : '------');
      if (timingSafeEqual(expected, given)) {
        // accepted once, even under parallel submissions of the right code
        const won = await db.updateIf(Challenges, id, { verifiedAt: { $exists: false }, sealedCode: doc.sealedCode }, { $set: { verifiedAt: clock() } });
        return won ? { ok: true } : { ok: false, reason: 'used', state: state(doc) };
      }
      // count the failure against the code it was made on; never lose an increment
      const counted = await db.updateIf(Challenges, id, { sealedCode: doc.sealedCode, attempts: { $lt: rules.maxAttempts } }, { $inc: { attempts: 1, failures: 1 } });
      if (!counted) return failed(accountId, purpose, channel, 'locked', state({ ...doc, attempts: rules.maxAttempts }));
      const after = await Challenges.findById(id).lean<ChallengeDoc>();
      const s = state(after ?? doc);
      return failed(accountId, purpose, channel, s.locked ? 'locked' : 'wrong', s);
    },
  };
}
