// The flow record: one document per sign-in (keyed by the interaction uid) holding what the
// sign-in knows — the account once identified, what this interaction and the signed-in session
// proved, the step decided after the latest proof, wrong PINs — and which of its ends (login,
// consent, abort, the return to the provider) already happened. Routes read it once per request,
// act on its one next step and record the next proof; each end is claimed once, on every server
// and across processes (a conditional update of this one document).
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import { countUp } from '../db/edit.ts';
import type { Decision, Proof } from '../policy/sign-in.ts';
import type { RiskAssessment } from '../policy/risk.ts';
import type { AwaitingConsent } from './consent.ts';
import type { PasswordReset } from './forgot-password.ts';

/**
 * The ends of a sign-in, each reached once: a second request for one is "already done". (The
 * return to the provider is once too: the provider deletes the interaction, oidc/adapter.ts.)
 */
export type Ending = 'login' | 'consent' | 'abort';

export interface Flow {
  uid: string;
  /** The account the password (or the signed-in session) named; unset before the password. */
  accountId?: string;
  /** The account's security stamp when it was named: a change since stops the sign-in. */
  stamp?: number;
  /** What this interaction proved, oldest first. */
  proofs: Proof[];
  /** What the signed-in session had proved for the same account (read once, when the flow began). */
  sessionProofs: Proof[];
  /** The decision after the latest proof: the next step, or an enrolment. */
  next?: Decision;
  /** Wrong PINs in this sign-in ("Request PIN after sign-in"). */
  pinFailures: number;
  /** The login is complete and waits for the person's consent (the last step). */
  awaiting?: AwaitingConsent;
  /**
   * A first second factor set up in this sign-in came with recovery codes: 'shown' (once; the
   * sign-in waits for Continue), then 'continued' (the decision after the setup was taken, once).
   */
  recoveryCodes?: RecoveryCodesStage;
  /** The passkey offer after a password sign-in (passkey-upgrade.ts): 'shown' (the sign-in waits for an answer), then 'answered' (once). */
  passkeyOffer?: PasskeyOfferStage;
  /** "Forgot password?" in this interaction, before the sign-in names its account (forgot-password.ts). */
  reset?: PasswordReset;
  ended: Ending[];
  /** What the risk policy found at the sign-in's first proof (policy/risk.ts): applied to every later decision. */
  risk?: RiskAssessment;
  /**
   * Device-bound trust: whether this sign-in signed a fresh challenge with the browser's device key
   * (at the password, or when "Trust this device" bound a new key). Unset: begun from a signed-in session.
   */
  deviceKey?: boolean;
}

export type RecoveryCodesStage = 'shown' | 'continued';
export type PasskeyOfferStage = 'shown' | 'answered';

interface FlowDoc {
  _id: string;
  accountId?: string;
  stamp?: number;
  proofs: Proof[];
  sessionProofs: Proof[];
  next?: Decision;
  pinFailures?: number;
  awaiting?: AwaitingConsent;
  recoveryCodes?: RecoveryCodesStage;
  passkeyOffer?: PasskeyOfferStage;
  reset?: PasswordReset;
  ended: Ending[];
  risk?: RiskAssessment;
  deviceKey?: boolean;
  expiresAt: Date;
}

export type SignInFlows = ReturnType<typeof createSignInFlows>;

export function createSignInFlows(db: Database, lifetimeSeconds: number, clock: () => Date = () => new Date()) {
  const Flows = db.model<FlowDoc>('SignInFlow', new Schema<FlowDoc>({
    _id: String, accountId: String, stamp: Number, proofs: { type: Schema.Types.Mixed, default: [] }, sessionProofs: { type: Schema.Types.Mixed, default: [] },
    next: Schema.Types.Mixed, pinFailures: Number, awaiting: Schema.Types.Mixed, recoveryCodes: String, passkeyOffer: String, reset: Schema.Types.Mixed, ended: { type: [String], default: [] }, risk: Schema.Types.Mixed, deviceKey: Boolean, expiresAt: { type: Date, required: true },
  }, { collection: 'sign_in_flows', versionKey: false, minimize: false }), { expires: true });

  const expiry = () => new Date(clock().getTime() + lifetimeSeconds * 1000);
  const view = (doc: FlowDoc): Flow => ({
    uid: doc._id, ...(doc.accountId ? { accountId: doc.accountId } : {}), ...(doc.stamp !== undefined ? { stamp: doc.stamp } : {}), proofs: doc.proofs ?? [], sessionProofs: doc.sessionProofs ?? [],
    ...(doc.next ? { next: doc.next } : {}), pinFailures: doc.pinFailures ?? 0, ...(doc.awaiting ? { awaiting: doc.awaiting } : {}),
    ...(doc.recoveryCodes ? { recoveryCodes: doc.recoveryCodes } : {}), ...(doc.passkeyOffer ? { passkeyOffer: doc.passkeyOffer } : {}), ...(doc.reset ? { reset: doc.reset } : {}), ended: doc.ended ?? [],
    ...(doc.risk ? { risk: doc.risk } : {}), ...(typeof doc.deviceKey === 'boolean' ? { deviceKey: doc.deviceKey } : {}),
  });

  /** Inserts the flow; false when another request created it first. */
  async function insert(doc: Omit<FlowDoc, 'expiresAt'>): Promise<boolean> {
    try {
      await Flows.create({ ...doc, expiresAt: expiry() });
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 11000) return false;
      throw err;
    }
  }

  return {
    /** Account deletion only: what is left of the account's (short-lived) sign-ins in progress (a scan). */
    async forgetAccount(accountId: string): Promise<void> {
      await Flows.deleteMany({ accountId });
    },
    async get(uid: string): Promise<Flow | undefined> {
      const doc = await Flows.findById(uid).lean<FlowDoc>();
      return doc && doc.expiresAt > clock() ? view(doc) : undefined;
    },

    /**
     * The account is known (the password, or the signed-in session for a step-up): the flow now
     * belongs to it, with what was proven and the step decided next. A flow that named another
     * account (a second password on the same page) starts over for this one.
     */
    async identify(uid: string, accountId: string, fields: { stamp: number; proofs: Proof[]; sessionProofs: Proof[]; next: Decision; awaiting?: AwaitingConsent; passkeyOffer?: PasskeyOfferStage; risk?: RiskAssessment; deviceKey?: boolean }): Promise<void> {
      const hasKey = typeof fields.deviceKey === 'boolean';
      const set = { accountId, stamp: fields.stamp, proofs: fields.proofs, sessionProofs: fields.sessionProofs, next: fields.next, ...(fields.awaiting ? { awaiting: fields.awaiting } : {}), ...(fields.passkeyOffer ? { passkeyOffer: fields.passkeyOffer } : {}), ...(fields.risk ? { risk: fields.risk } : {}), ...(hasKey ? { deviceKey: fields.deviceKey } : {}), pinFailures: 0, expiresAt: expiry() };
      if (await insert({ _id: uid, ...set, ended: [] })) return;
      // what the earlier start had reached (a consent waiting, recovery codes shown, a passkey offer) is not this one's
      await Flows.updateOne({ _id: uid }, { $set: set, $unset: { recoveryCodes: '', ...(fields.awaiting ? {} : { awaiting: '' }), ...(fields.passkeyOffer ? {} : { passkeyOffer: '' }), ...(fields.risk ? {} : { risk: '' }), ...(hasKey ? {} : { deviceKey: '' }) } });
    },

    /**
     * Records a proof of this flow's account that completes its current step (the flow still has
     * the `after` proofs it was read with): true once, false for a concurrent or repeated one.
     * `codesShown`: the proof is a first second factor whose recovery codes are shown now; the
     * same write makes the sign-in wait for Continue, so a reload cannot run the setup again.
     * `deviceKey`: the proof's request also bound and proved a device key ("Trust this device").
     */
    async prove(uid: string, accountId: string, proof: Proof, after: number, codesShown = false, deviceKey = false): Promise<boolean> {
      const set = { ...(codesShown ? { recoveryCodes: 'shown' } : {}), ...(deviceKey ? { deviceKey: true } : {}) };
      return db.updateIf(Flows, uid, { accountId, proofs: { $size: after } }, { $push: { proofs: proof }, ...(Object.keys(set).length ? { $set: set } : {}) } as never);
    },

    /** Continue after the recovery codes: true once, false for a repeated or concurrent one. */
    async continueAfterCodes(uid: string, accountId: string): Promise<boolean> {
      return db.updateIf(Flows, uid, { accountId, recoveryCodes: 'shown' }, { $set: { recoveryCodes: 'continued' } });
    },

    /** The step decided after the latest proof (a finished login waiting for consent: `awaiting`). */
    async decided(uid: string, next: Decision, awaiting?: AwaitingConsent, passkeyOffer?: PasskeyOfferStage): Promise<void> {
      await Flows.updateOne({ _id: uid }, { $set: { next, ...(awaiting ? { awaiting } : {}), ...(passkeyOffer ? { passkeyOffer } : {}) } });
    },

    /**
     * The passkey offer answered (created or "Not now"): true once, false for a repeated or
     * concurrent answer. `codesShown`: the new passkey comes with recovery codes, shown now (as `prove`).
     */
    /** This sign-in itself changed the account (its routine factor): it carries the account's new stamp on. */
    async restamp(uid: string, accountId: string, from: number, to: number): Promise<boolean> {
      return db.updateIf(Flows, uid, { accountId, stamp: from }, { $set: { stamp: to } });
    },

    async answerPasskeyOffer(uid: string, accountId: string, codesShown = false): Promise<boolean> {
      return db.updateIf(Flows, uid, { accountId, passkeyOffer: 'shown' }, { $set: { passkeyOffer: 'answered', ...(codesShown ? { recoveryCodes: 'shown' } : {}) } });
    },

    /** Claims one end of the sign-in: true for the first request, false for every later one. */
    async end(uid: string, ending: Ending): Promise<boolean> {
      const claim = async () => {
        const before = await db.claim(Flows, uid, { $addToSet: { ended: ending } });
        return before && !(before.ended ?? []).includes(ending);
      };
      const won = await claim();
      if (won !== undefined) return won;
      // no flow yet (consent for a signed-in session, a cancel on the password page): the insert decides
      if (await insert({ _id: uid, proofs: [], sessionProofs: [], ended: [ending] })) return true;
      return (await claim()) === true;
    },

    /**
     * "Forgot password?" asked for an email in this interaction: a new reset replaces any earlier
     * one (one write, whether or not the email has an account).
     */
    async startReset(uid: string, reset: PasswordReset): Promise<void> {
      if (await insert({ _id: uid, proofs: [], sessionProofs: [], ended: [], reset })) return;
      await Flows.updateOne({ _id: uid }, { $set: { reset, expiresAt: expiry() } });
    },

    /** A proof of the reset (its code, then a second factor) that the reset read with `after` proofs: true once. */
    async resetProved(uid: string, startedAt: number, proof: Proof, after: number): Promise<boolean> {
      return db.updateIf(Flows, uid, { 'reset.startedAt': startedAt, 'reset.proofs': { $size: after }, 'reset.done': { $exists: false } }, { $push: { 'reset.proofs': proof } });
    },

    /** The reset's new password is about to be set: true once (a second submission is "already done"). */
    async resetClaimed(uid: string, startedAt: number, proofs: number): Promise<boolean> {
      return db.updateIf(Flows, uid, { 'reset.startedAt': startedAt, 'reset.proofs': { $size: proofs }, 'reset.done': { $exists: false } }, { $set: { 'reset.done': true } });
    },

    /** One more wrong PIN in this sign-in; resolves to the count (no lost increments). */
    pinFailed: (uid: string): Promise<number> => countUp(db, Flows, uid, 'pinFailures'),
  };
}
