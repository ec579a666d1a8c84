// The flow record: one per sign-in, kept in the interaction's own document, holding what the
// sign-in knows — the account once identified, what this interaction and the signed-in session
// proved, the step decided after the latest proof, wrong PINs — and which of its ends (login,
// consent, abort, the return to the provider) already happened. Routes read it once per request
// (with the provider's read of the interaction), act on its one next step and record the next
// proof; each end is claimed once, on every server and across processes (a conditional update of
// this one document).
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import { collectionFor, interactionChanged, interactionDocument } from '../oidc/adapter.ts';
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

/** The flow's fields, kept in the interaction's own document under `flow` (unset until the sign-in records something). */
interface FlowFields {
  accountId?: string;
  stamp?: number;
  proofs?: Proof[];
  sessionProofs?: Proof[];
  next?: Decision;
  pinFailures?: number;
  awaiting?: AwaitingConsent;
  recoveryCodes?: RecoveryCodesStage;
  passkeyOffer?: PasskeyOfferStage;
  reset?: PasswordReset;
  ended?: Ending[];
  risk?: RiskAssessment;
  deviceKey?: boolean;
}

/** The provider's interaction document (oidc/adapter.ts) as the flow sees it. */
interface InteractionDoc {
  _id: string;
  flow?: FlowFields;
  /** The provider's own fields (oidc/adapter.ts): written here only with an end's claim. */
  payload?: Record<string, unknown>;
  expiresAt?: Date;
}

export type SignInFlows = ReturnType<typeof createSignInFlows>;

/**
 * The flow record lives in the provider's interaction document (`oidc_interaction`, beside the
 * provider's `payload`): the document the provider reads on every step is the one the flow is read
 * from (the same read, oidc/adapter.ts `interactionDocument`), it lives and dies with the
 * interaction, and a flow cannot outlive or miss its interaction. Every write goes under the
 * document's in-process lock on the embedded database, as the adapter's own writes of it do
 * (its updates rewrite the whole document).
 */
export function createSignInFlows(db: Database) {
  const Docs = db.model<InteractionDoc>('SignInFlow', new Schema<InteractionDoc>(
    // the provider's fields too: an end's claim writes the result with them (`end`)
    { _id: String, flow: Schema.Types.Mixed, payload: Schema.Types.Mixed, expiresAt: Date },
    { collection: collectionFor('Interaction'), versionKey: false, minimize: false },
  ));
  const lockKey = (uid: string) => `${Docs.collection.name}/${uid}`;
  /** A plain update of the flow (no guard), under the document's lock; forgets the request's copy. */
  const write = async (uid: string, update: Record<string, unknown>): Promise<void> => {
    try {
      await db.exclusive(lockKey(uid), () => Docs.updateOne({ _id: uid }, update as never));
    } finally {
      interactionChanged(uid);
    }
  };
  /** A guarded write (db.updateIf) of the flow: true when it applied. */
  const writeIf = async (uid: string, when: Record<string, unknown>, update: Record<string, unknown>): Promise<boolean> => {
    try {
      return await db.updateIf(Docs, uid, when, update as never);
    } finally {
      interactionChanged(uid);
    }
  };
  const view = (uid: string, f: FlowFields): Flow => ({
    uid, ...(f.accountId ? { accountId: f.accountId } : {}), ...(f.stamp !== undefined ? { stamp: f.stamp } : {}), proofs: f.proofs ?? [], sessionProofs: f.sessionProofs ?? [],
    ...(f.next ? { next: f.next } : {}), pinFailures: f.pinFailures ?? 0, ...(f.awaiting ? { awaiting: f.awaiting } : {}),
    ...(f.recoveryCodes ? { recoveryCodes: f.recoveryCodes } : {}), ...(f.passkeyOffer ? { passkeyOffer: f.passkeyOffer } : {}), ...(f.reset ? { reset: f.reset } : {}), ended: f.ended ?? [],
    ...(f.risk ? { risk: f.risk } : {}), ...(typeof f.deviceKey === 'boolean' ? { deviceKey: f.deviceKey } : {}),
  });
  /** `{ 'flow.a': x, ... }` for an update or a guard on the flow's fields. */
  const under = (fields: Record<string, unknown>) => Object.fromEntries(Object.entries(fields).map(([k, v]) => [`flow.${k}`, v]));

  return {
    /** Account deletion only: its sign-ins in progress end (their interactions go; a scan). */
    async forgetAccount(accountId: string): Promise<void> {
      await Docs.deleteMany({ 'flow.accountId': accountId });
    },
    /**
     * The interaction's flow, if the sign-in recorded one. The interaction's document is read once
     * per request (the provider's read of it, when it came first); `fresh`: read it again. Whether
     * the interaction is still alive is the provider's check: every route reads it through the
     * provider too (context.ts `details`), which refuses an expired one.
     */
    async get(uid: string, fresh = false): Promise<Flow | undefined> {
      if (fresh) interactionChanged(uid);
      const doc = await interactionDocument(Docs, uid) as InteractionDoc | undefined;
      return doc?.flow ? view(uid, doc.flow) : undefined;
    },

    /**
     * The account is known (the password, or the signed-in session for a step-up): the flow now
     * belongs to it, with what was proven and the step decided next. A flow that named another
     * account (a second password on the same page) starts over for this one.
     */
    async identify(uid: string, accountId: string, fields: { stamp: number; proofs: Proof[]; sessionProofs: Proof[]; next: Decision; awaiting?: AwaitingConsent; passkeyOffer?: PasskeyOfferStage; risk?: RiskAssessment; deviceKey?: boolean }): Promise<void> {
      const hasKey = typeof fields.deviceKey === 'boolean';
      const set = { accountId, stamp: fields.stamp, proofs: fields.proofs, sessionProofs: fields.sessionProofs, next: fields.next, ...(fields.awaiting ? { awaiting: fields.awaiting } : {}), ...(fields.passkeyOffer ? { passkeyOffer: fields.passkeyOffer } : {}), ...(fields.risk ? { risk: fields.risk } : {}), ...(hasKey ? { deviceKey: fields.deviceKey } : {}), pinFailures: 0 };
      // what an earlier start had reached (a consent waiting, recovery codes shown, a passkey offer) is not this one's
      const unset = { recoveryCodes: '', ...(fields.awaiting ? {} : { awaiting: '' }), ...(fields.passkeyOffer ? {} : { passkeyOffer: '' }), ...(fields.risk ? {} : { risk: '' }), ...(hasKey ? {} : { deviceKey: '' }) };
      await write(uid, { $set: under(set), $unset: under(unset) });
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
      return writeIf(uid, under({ accountId, proofs: { $size: after } }), { $push: { 'flow.proofs': proof }, ...(Object.keys(set).length ? { $set: under(set) } : {}) });
    },

    /** Continue after the recovery codes: true once, false for a repeated or concurrent one. */
    async continueAfterCodes(uid: string, accountId: string): Promise<boolean> {
      return writeIf(uid, under({ accountId, recoveryCodes: 'shown' }), { $set: { 'flow.recoveryCodes': 'continued' } });
    },

    /** The step decided after the latest proof (a finished login waiting for consent: `awaiting`). */
    async decided(uid: string, next: Decision, awaiting?: AwaitingConsent, passkeyOffer?: PasskeyOfferStage): Promise<void> {
      await write(uid, { $set: under({ next, ...(awaiting ? { awaiting } : {}), ...(passkeyOffer ? { passkeyOffer } : {}) }) });
    },

    /** This sign-in itself changed the account (its routine factor): it carries the account's new stamp on. */
    async restamp(uid: string, accountId: string, from: number, to: number): Promise<boolean> {
      return writeIf(uid, under({ accountId, stamp: from }), { $set: { 'flow.stamp': to } });
    },

    /**
     * The passkey offer answered (created or "Not now"): true once, false for a repeated or
     * concurrent answer. `codesShown`: the new passkey comes with recovery codes, shown now (as `prove`).
     */
    async answerPasskeyOffer(uid: string, accountId: string, codesShown = false): Promise<boolean> {
      return writeIf(uid, under({ accountId, passkeyOffer: 'shown' }), { $set: under({ passkeyOffer: 'answered', ...(codesShown ? { recoveryCodes: 'shown' } : {}) }) });
    },

    /**
     * Claims one end of the sign-in with its result: true for the first request, false for every
     * later one (and when the interaction is gone: it was completed or has expired). `result`: the
     * interaction's fields as the provider saves them with the sign-in's result (context.ts
     * `resultFields`), written by the same guarded update, so the end and its result are one command.
     */
    async end(uid: string, ending: Ending, result: Record<string, unknown>): Promise<boolean> {
      return writeIf(uid, { 'flow.ended': { $ne: ending } }, { $addToSet: { 'flow.ended': ending }, $set: result });
    },

    /**
     * "Forgot password?" asked for an email in this interaction: a new reset replaces any earlier
     * one (one write, whether or not the email has an account).
     */
    async startReset(uid: string, reset: PasswordReset): Promise<void> {
      await write(uid, { $set: { 'flow.reset': reset } });
    },

    /** A proof of the reset (its code, then a second factor) that the reset read with `after` proofs: true once. */
    async resetProved(uid: string, startedAt: number, proof: Proof, after: number): Promise<boolean> {
      return writeIf(uid, { 'flow.reset.startedAt': startedAt, 'flow.reset.proofs': { $size: after }, 'flow.reset.done': { $exists: false } }, { $push: { 'flow.reset.proofs': proof } });
    },

    /** The reset's new password is about to be set: true once (a second submission is "already done"). */
    async resetClaimed(uid: string, startedAt: number, proofs: number): Promise<boolean> {
      return writeIf(uid, { 'flow.reset.startedAt': startedAt, 'flow.reset.proofs': { $size: proofs }, 'flow.reset.done': { $exists: false } }, { $set: { 'flow.reset.done': true } });
    },

    /** One more wrong PIN in this sign-in; resolves to the count (no lost increments; Infinity when the interaction is gone). */
    async pinFailed(uid: string): Promise<number> {
      try {
        const doc = await db.exclusive(lockKey(uid), () => Docs.findOneAndUpdate({ _id: uid }, { $inc: { 'flow.pinFailures': 1 } }, { returnDocument: 'after' }).lean<InteractionDoc>());
        const count = doc?.flow?.pinFailures;
        return typeof count === 'number' ? count : Number.POSITIVE_INFINITY;
      } finally {
        interactionChanged(uid);
      }
    },
  };
}
