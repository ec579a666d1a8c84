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
// Limits: "Resend" is capped per account per hour (limits/service.ts, when given); a code that is
// about to be sent asks the caller's `allowSend` first (texts and calls: limits/phone-caps.ts). At
// a cap nothing is made or sent and a ChallengeError says so (the page offers the other channels).
//
// An expired or locked code stays as it is until "Resend" (a reload, or opening the page again,
// shows it so and sends nothing), unless the caller starts over on purpose (`restart`: a new
// action on the devices page). The document outlives its code (`validUntil`) by a day
// (`expiresAt`, what the TTL index and the embedded database's keeper delete by).
//
// Audit log: a code made to be sent (open, resend) is 'challenge.issued' and a wrong, expired or
// locked entry 'challenge.failed', with the purpose and channel (never the code).
import { randomInt, timingSafeEqual } from 'node:crypto';
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import type { Sealer } from '../crypto/seal.ts';
import { NO_AUDIT, type AuditDetails, type AuditSink } from '../audit/events.ts';
import { DomainError } from '../domain-error.ts';

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
  /** When the code stops being accepted (documents from before it was kept apart: `expiresAt`). */
  validUntil?: Date;
  /** When the document goes, a day after its code: the code's state stays visible until then. */
  expiresAt: Date;
  /** Wrong entries against the current code. */
  attempts: number;
  /** Wrong entries over the challenge's life; never reset. */
  failures: number;
  verifiedAt?: Date;
  /** The latest send of this code failed (the provider refused it): a reload must not claim it went. */
  undeliveredAt?: Date;
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
  /** The latest send failed: nothing arrived (Resend tries again). */
  undelivered: boolean;
}

export type VerifyResult =
  | { ok: true }
  | { ok: false; reason: 'wrong' | 'expired' | 'locked' | 'missing' | 'used'; state?: ChallengeState };

/** The cap on "Resend" (limits/service.ts): each call takes one, false at the cap. */
export interface SendCaps {
  resend(accountId: string): Promise<boolean>;
}

/** Asked before a code is made to be sent; throws a ChallengeError when it may not go (a cap). */
export type AllowSend = () => Promise<void>;

/** A code that cannot be made or sent now; a page that does not handle it shows it as a 4xx (429 at a cap). */
export class ChallengeError extends DomainError {
  override name = 'ChallengeError';
  declare readonly code: 'resend_too_soon' | 'missing' | 'cannot_extend' | 'resend_limit' | 'send_limit';
  readonly retryAfterSeconds: number;
  constructor(code: ChallengeError['code'], message: string, retryAfterSeconds = 0) {
    super(code === 'resend_limit' || code === 'send_limit' || code === 'resend_too_soon' ? 'limited' : 'invalid', code, message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export const RESEND_CAP_MESSAGE = 'No code was sent: codes were sent again too often in the last hour. '
  + 'Use the code you have, another method below, or try again later.';

export type Challenges = ReturnType<typeof createChallenges>;

const newCode = () => String(randomInt(0, 1_000_000)).padStart(6, '0');
const KEEP_MS = 24 * 3600 * 1000;

export function createChallenges(db: Database, sealer: Sealer, rules: CodeRules, clock: () => Date = () => new Date(), audit: AuditSink = NO_AUDIT, caps?: SendCaps) {
  const Challenges = db.model<ChallengeDoc>('Challenge', new Schema<ChallengeDoc>({
    _id: String,
    accountId: { type: String, required: true },
    channel: { type: String, required: true },
    sealedCode: { type: String, required: true },
    issuedAt: { type: Date, required: true },
    sentAt: { type: Date, required: true },
    validUntil: Date,
    expiresAt: { type: Date, required: true },
    attempts: { type: Number, default: 0 },
    failures: { type: Number, default: 0 },
    verifiedAt: Date,
    undeliveredAt: Date,
  }, { collection: 'challenges', versionKey: false }), { expires: true });

  const keyOf = (scope: string, purpose: string, channel: Channel) => `${purpose}:${channel}:${scope}`;
  const context = (id: string) => `one-time-code:${id}`;
  const later = (seconds: number) => new Date(clock().getTime() + seconds * 1000);
  const lifetimeOf = (purpose: string) => rules.lifetimes?.[purpose]?.seconds ?? rules.lifetimeSeconds;
  /** A code valid from now for this purpose, and its document kept a day longer. */
  const validity = (purpose: string) => {
    const validUntil = later(lifetimeOf(purpose));
    return { validUntil, expiresAt: new Date(validUntil.getTime() + KEEP_MS) };
  };
  const codeEnds = (doc: ChallengeDoc) => doc.validUntil ?? doc.expiresAt;

  function state(doc: ChallengeDoc): ChallengeState {
    return {
      id: doc._id,
      channel: doc.channel,
      expiresAt: codeEnds(doc),
      locked: doc.attempts >= rules.maxAttempts,
      attemptsLeft: Math.max(0, rules.maxAttempts - doc.attempts),
      failures: doc.failures,
      resendAt: new Date(doc.sentAt.getTime() + rules.resendIntervalSeconds * 1000),
      verified: !!doc.verifiedAt,
      undelivered: !!doc.undeliveredAt,
    };
  }

  const live = (doc: ChallengeDoc | null): doc is ChallengeDoc => !!doc && codeEnds(doc) > clock();
  /** A document still kept (its code may have expired: it says so until Resend). */
  const kept = (doc: ChallengeDoc | null): doc is ChallengeDoc => !!doc && doc.expiresAt > clock();

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
    /** Account deletion only: what is left of the account's (short-lived) codes (a scan). */
    async forgetAccount(accountId: string): Promise<void> {
      await Challenges.deleteMany({ accountId });
    },
    /**
     * The challenge for this scope (an interaction uid or a settings action), purpose and channel.
     * Creates one with a fresh code when there is none (`restart`: also in place of an expired,
     * locked or used one); `code` is set only then (to be delivered, `allowSend` permitting).
     */
    async open(scope: string, purpose: string, channel: Channel, accountId: string, opts: { allowSend?: AllowSend; restart?: boolean } = {}): Promise<{ state: ChallengeState; code?: string }> {
      const id = keyOf(scope, purpose, channel);
      const existing = await Challenges.findById(id).lean<ChallengeDoc>();
      const mine = !!existing && existing.accountId === accountId;
      if (mine && live(existing) && !(opts.restart && (existing.attempts >= rules.maxAttempts || existing.verifiedAt))) return { state: state(existing) };
      if (mine && kept(existing) && !opts.restart) return { state: state(existing) };
      await opts.allowSend?.();
      const code = newCode();
      const now = clock();
      const fresh = {
        accountId, channel, sealedCode: sealer.seal(code, context(id)), issuedAt: now, sentAt: now,
        ...validity(purpose), attempts: 0,
      };
      // two pages opening at once (two tabs, a double reload): one code wins, the other page shows it
      const won = existing
        ? await db.updateIf(Challenges, id, { issuedAt: existing.issuedAt }, { $set: fresh, $unset: { verifiedAt: '', undeliveredAt: '' } })
        : await Challenges.create({ _id: id, ...fresh, failures: 0 }).then(() => true, (err: { code?: number }) => {
          if (err.code === 11000) return false;
          throw err;
        });
      const doc = won ? { _id: id, ...fresh, failures: existing?.failures ?? 0 } : await Challenges.findById(id).lean<ChallengeDoc>();
      if (!doc) throw new ChallengeError('missing', 'The code could not be prepared. Try again.');
      if (won) report(false, accountId, { purpose, channel, resend: false });
      return won ? { state: state(doc), code } : { state: state(doc) };
    },

    /** The code just made or sent again did not go out (the provider refused it). */
    async undelivered(scope: string, purpose: string, channel: Channel): Promise<void> {
      await Challenges.updateOne({ _id: keyOf(scope, purpose, channel) }, { $set: { undeliveredAt: clock() } });
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
    async resend(scope: string, purpose: string, channel: Channel, accountId: string, allowSend?: AllowSend): Promise<{ state: ChallengeState; code: string }> {
      const id = keyOf(scope, purpose, channel);
      const doc = await Challenges.findById(id).lean<ChallengeDoc>();
      if (!doc || doc.accountId !== accountId) throw new ChallengeError('missing', 'There is no code to resend. Start again.');
      const now = clock();
      const tooSoon = (sentAt: Date) => Math.ceil((sentAt.getTime() + rules.resendIntervalSeconds * 1000 - now.getTime()) / 1000);
      if (tooSoon(doc.sentAt) > 0) throw new ChallengeError('resend_too_soon', `You can ask for the code again in ${tooSoon(doc.sentAt)} s.`, tooSoon(doc.sentAt));
      if (caps && !(await caps.resend(accountId))) throw new ChallengeError('resend_limit', RESEND_CAP_MESSAGE);
      await allowSend?.();
      const reuse = codeEnds(doc) > now && doc.attempts < rules.maxAttempts && !doc.verifiedAt;
      const code = reuse ? sealer.open(doc.sealedCode, context(id)) : newCode();
      const set = reuse
        ? { sentAt: now }
        : { sealedCode: sealer.seal(code, context(id)), issuedAt: now, sentAt: now, ...validity(purpose), attempts: 0 };
      // only if nothing changed since the read (a concurrent resend or failure): exact on every server
      const won = await db.updateIf(Challenges, id, { sentAt: doc.sentAt, attempts: doc.attempts, sealedCode: doc.sealedCode },
        { $set: set, $unset: reuse ? { undeliveredAt: '' } : { verifiedAt: '', undeliveredAt: '' } });
      if (!won) throw new ChallengeError('resend_too_soon', 'The code was just sent again. Check your messages.', rules.resendIntervalSeconds);
      report(false, accountId, { purpose, channel, resend: true, newCode: !reuse });
      return { state: state({ ...doc, ...set, undeliveredAt: undefined } as ChallengeDoc), code };
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
      const ends = codeEnds(doc);
      if (ends <= now || doc.attempts >= rules.maxAttempts || doc.verifiedAt) {
        throw new ChallengeError('cannot_extend', 'This code can no longer be extended: use "Resend" to get a new one.');
      }
      const cap = doc.issuedAt.getTime() + limits.maxSeconds * 1000;
      const validUntil = new Date(Math.min(ends.getTime() + limits.seconds * 1000, cap));
      if (validUntil.getTime() <= ends.getTime()) {
        throw new ChallengeError('cannot_extend', `This code cannot be extended any further (at most ${Math.round(limits.maxSeconds / 60)} minutes in all).`);
      }
      await db.updateIf(Challenges, id, { sealedCode: doc.sealedCode, expiresAt: doc.expiresAt }, { $set: { validUntil, expiresAt: new Date(validUntil.getTime() + KEEP_MS) } });
      return state({ ...doc, validUntil });
    },

    /** Checks an entered code; a right code is accepted once, a wrong one counts. */
    async verify(scope: string, purpose: string, channel: Channel, accountId: string, entered: string): Promise<VerifyResult> {
      const id = keyOf(scope, purpose, channel);
      const doc = await Challenges.findById(id).lean<ChallengeDoc>();
      if (!doc || doc.accountId !== accountId) return { ok: false, reason: 'missing' };
      if (doc.verifiedAt) return { ok: false, reason: 'used', state: state(doc) };
      if (codeEnds(doc) <= clock()) return failed(accountId, purpose, channel, 'expired', state(doc));
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
