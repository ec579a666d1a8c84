// Between the steps of one sign-in: after every proof (the password, a code, a key) ask the one
// decision what comes next — once per proof — then finish the login with the acr/amr it names,
// record the proof and the next step in the flow record (the interaction page shows it), or send
// the relying party unmet_authentication_requirements.
import type { Context } from 'koa';
import { decideSignIn, type Decision, type Proof, type SignInFacts, type Step } from '../policy/sign-in.ts';
import type { RiskAssessment } from '../policy/risk.ts';
import { assessSignIn } from './risk-signals.ts';
import { factsFor, keptAfterMove, raisedByMove, requestFacts, sessionProofs, type SignInResult } from '../oidc/step-up.ts';
import { accountOf, alreadyDone, finish, clientOf, type Details, type InteractionDeps } from './context.ts';
import type { Flow } from './flow.ts';
import { consentToAsk, type AwaitingConsent } from './consent.ts';
import { ADMIN_CLIENT, ADMIN_SCOPE, STANDARD_SCOPES } from '../oidc/clients.ts';
import { UserFacingError } from '../http/errors.ts';
import { clientOfRequest, deviceFor, registrationOf, signInCompleted } from './device.ts';
import { passkeyOfferDue } from './passkey-offer.ts';

/** The page a decided next step is shown on: one renderer per kind. */
export type StepKind = 'password' | 'new-device' | 'second-factor' | 'enrol' | 'recovery-codes' | 'pin' | 'consent' | 'passkey-offer';

/** The scopes the provider knows (oidc/provider.ts): what a consent page can grant. */
const SUPPORTED_SCOPES: ReadonlySet<string> = new Set([...STANDARD_SCOPES, ADMIN_SCOPE]);

/** `codes`: the flow's recovery codes stage (flow.ts); shown codes wait for Continue, a shown passkey offer for its answer. */
export function stepKind(next: Decision | undefined, awaiting?: AwaitingConsent, codes?: Flow['recoveryCodes'], offer?: Flow['passkeyOffer']): StepKind | undefined {
  if (offer === 'shown') return 'passkey-offer';
  if (awaiting) return 'consent';
  if (codes === 'shown') return 'recovery-codes';
  if (next?.outcome === 'enrol') return 'enrol';
  if (next?.outcome !== 'steps') return undefined;
  const kind = next.steps[0]!.kind;
  return kind === 'phishing-resistant' ? 'second-factor' : kind;
}

/** The second-factor step a decision asks for (a phishing-resistant level: security keys only). */
export function factorStep(next: Decision | undefined): Extract<Step, { kind: 'second-factor' }> | undefined {
  if (next?.outcome !== 'steps') return undefined;
  const step = next.steps[0]!;
  if (step.kind === 'phishing-resistant') return { kind: 'second-factor', options: ['webauthn'], reason: 'level' };
  return step.kind === 'second-factor' ? step : undefined;
}

/** What the risk policy makes the decision require (under enforce; observe and off raise nothing). */
function raisedBy(risk: RiskAssessment | undefined): SignInFacts['riskRequires'] {
  return risk?.applied === 'second-factor' || risk?.applied === 'phishing-resistant' ? risk.applied : undefined;
}

/** `keyProven`: whether this sign-in proved the browser's device key (unset: begun from a signed-in session). */
async function decide(ctx: Context, deps: InteractionDeps, d: Details, accountId: string, proven: Proof[], risk?: RiskAssessment, keyProven?: boolean): Promise<Decision> {
  const { client } = await clientOf(deps, d);
  const request = requestFacts(d.params, client as unknown as Record<string, unknown>);
  const device = await registrationOf(ctx, deps, accountId);
  const where = { browserId: ctx.state.browserId as string | undefined, ip: ctx.ip, signingIn: true, ...(device ? { device } : {}), ...(keyProven !== undefined ? { keyProven } : {}) };
  // the interaction's own proofs are fresh: prompt=login already voided the session's
  return decideSignIn(await factsFor(deps.stepUp, accountId, proven, { ...request, promptLogin: false }, where, raisedBy(risk)));
}

/**
 * Acts on a decision: finish the login, show the next step, or refuse. A decision that starts
 * with the password (a step-up that must see it again) is left to the sign-in form: 'password'.
 */
async function act(ctx: Context, deps: InteractionDeps, d: Details, accountId: string, proven: Proof[], decision: Decision, record: (next: Decision, awaiting?: AwaitingConsent, offer?: 'shown') => Promise<unknown>, offerPasskey = false, risk?: RiskAssessment, stepUp = false): Promise<'password' | undefined> {
  if (decision.outcome === 'done' && offerPasskey) {
    // signed in with the password in a browser that can make a passkey: the offer comes first (passkey-upgrade.ts)
    await record(decision, undefined, 'shown');
    ctx.status = 303;
    ctx.redirect(`/interaction/${d.uid}`);
    return undefined;
  }
  if (decision.outcome === 'done') {
    const login: SignInResult = { login: { accountId, acr: decision.acr, amr: decision.amr, ts: decision.authTime }, proofs: proven };
    const need = await consentToAsk(deps, d, accountId, SUPPORTED_SCOPES);
    if (!need || 'kept' in need) {
      // nothing to ask, or the person allowed this application as much before (a kept consent:
      // the provider's load of the grant makes or widens it, oidc/provider.ts loadExistingGrant)
      await completeSignIn(ctx, deps, d, login, risk, stepUp);
      return undefined;
    }
    const asked = need.ask;
    // signed in (the browser is known from now on); the relying party waits for the person's
    // consent, the last step, on this interaction's page
    const device = await signInCompleted(ctx, deps, accountId, decision.amr, (await clientOf(deps, d)).name, risk, { acr: decision.acr, stepUp });
    await record(decision, { login: { ...login, deviceId: device.id }, asked });
    ctx.status = 303;
    ctx.redirect(`/interaction/${d.uid}`);
    return undefined;
  }
  if (decision.outcome === 'steps' && decision.steps[0]!.kind === 'password') return 'password';
  if (decision.outcome === 'enrol' || decision.outcome === 'steps') {
    await record(decision);
    ctx.status = 303;
    ctx.redirect(`/interaction/${d.uid}`);
    return undefined;
  }
  const reason = decision.outcome === 'unmet'
    ? decision.reason
    : 'this account has no sign-in method that reaches the level the application asked for';
  await finish(ctx, deps, 'login', { error: 'unmet_authentication_requirements', error_description: reason });
  return undefined;
}

/**
 * Ends a finished sign-in once: the device and the attempt are recorded (once: the registration's
 * stamp for this interaction, device.ts), then the end and its result are one write, and the
 * provider takes over.
 */
async function completeSignIn(ctx: Context, deps: InteractionDeps, d: Details, login: SignInResult, risk?: RiskAssessment, stepUp = false): Promise<void> {
  const device = await signInCompleted(ctx, deps, login.login.accountId, login.login.amr, (await clientOf(deps, d)).name, risk, { acr: login.login.acr, stepUp });
  await finish(ctx, deps, 'login', { ...login, deviceId: device.id } as never);
}

/**
 * "Allow" on the consent page, the last step of a sign-in: once, with the grant the person allowed
 * (written first, as the provider's own consent does: a second copy of the request writes it too,
 * and is then "already done").
 */
export async function consentGiven(ctx: Context, deps: InteractionDeps, login: SignInResult, allowed: () => Promise<{ grantId?: string }>): Promise<void> {
  await finish(ctx, deps, 'login', { ...login, consent: await allowed() } as never);
}

/** The risk assessment of a session that moved, when that is why this interaction asks (enforce only). */
function movedSession(d: Details): RiskAssessment | undefined {
  const move = d.prompt.reasons.includes('session_moved') ? (d.prompt.details as { sessionMoved?: RiskAssessment }).sessionMoved : undefined;
  return raisedByMove(move) ? move : undefined;
}

/**
 * The sign-in names its account (the password, or the signed-in session a step-up starts from):
 * the flow record begins with what the session had already proved for that account.
 */
export async function beginSignIn(ctx: Context, deps: InteractionDeps, d: Details, accountId: string, proofs: Proof[], ghost?: { email: string; failures: number }): Promise<'password' | undefined> {
  const { client } = await clientOf(deps, d);
  if (client?.clientId === ADMIN_CLIENT) {
    // the console is for administrators: refuse anyone else before any further step, so nobody is
    // walked through a code or an authenticator setup only to be turned away at the end
    const account = await accountOf(deps, accountId);
    if (account.role !== 'admin' || account.disabled) {
      ctx.status = 403;
      await ctx.render('interaction/not-admin', { title: 'Administrators only', email: account.email });
      return undefined;
    }
  }
  const sameAccount = d.session?.accountId === accountId && !requestFacts(d.params, client as unknown as Record<string, unknown>).promptLogin;
  // the sign-in's first proof (the password, a passkey): the risk policy looks at its situation
  // once; a session that moved (oidc/interaction-policy.ts) was looked at by the provider's check
  const risk = (proofs.length ? await assessSignIn(ctx, deps, accountId) : undefined) ?? (sameAccount ? movedSession(d) : undefined);
  if (risk?.applied === 'refuse') {
    await finish(ctx, deps, 'login', { error: 'access_denied', error_description: 'the sign-in was refused by the identity provider\'s risk policy' });
    return undefined;
  }
  // what the session proved before counts, except its second factors when the risk policy asks
  // for one now (they were proven somewhere else, or before whatever made this sign-in unusual)
  const sessionHad = sameAccount ? await sessionProofs(deps.stepUp, { uid: d.session!.uid, accountId, amr: d.session!.amr }) : [];
  const earlier = raisedBy(risk) ? keptAfterMove(sessionHad) : sessionHad;
  const proven = [...earlier, ...proofs];
  // device-bound trust: a sign-in with a proof (the password, a passkey) counts the device key only
  // when the password page's challenge was signed with it (POST /login set it); one begun from a
  // signed-in session keeps what that session's sign-in proved
  const deviceKey = proofs.length ? ctx.state.deviceKeyProven === true : undefined;
  const decision = await decide(ctx, deps, d, accountId, proven, risk, deviceKey);
  const offer = decision.outcome === 'done' && await passkeyOfferDue(ctx, deps, accountId, proofs);
  // a browser that proved the password becomes a registration (in the state this decision leaves it;
  // behind a passkey offer the sign-in completes after the answer, which marks it signed in then)
  if (proofs.length && (decision.outcome === 'done' || decision.outcome === 'steps' || decision.outcome === 'enrol')) {
    const device = await deviceFor(ctx, deps, accountId, ghost, decision.outcome === 'done' && !offer);
    // a signal marked for notice (risk.notify; impossible travel by default) tells the account now,
    // whether or not the next step is passed (observe mode sends nothing)
    if (risk?.notify && risk.mode === 'enforce') deps.notices.unusualSignIn(accountId, clientOfRequest(ctx), risk.reasons, device.id);
  }
  // a signed-in session's account asked for more than the session had proven: a step-up (counted
  // when asked from the session, and when it ends met or unmet)
  const stepUp = earlier.length > 0 && (proofs.length > 0 || decision.outcome !== 'done');
  if (stepUp && !proofs.length) deps.metrics.stepUp('asked');
  return act(ctx, deps, d, accountId, proven, decision,
    async (next, awaiting, passkeyOffer) => deps.flows.identify(d.uid, accountId, { stamp: (await accountOf(deps, accountId)).stamp, proofs, sessionProofs: earlier, next, ...(awaiting ? { awaiting } : {}), ...(passkeyOffer ? { passkeyOffer } : {}), ...(risk ? { risk } : {}), ...(deviceKey !== undefined ? { deviceKey } : {}) }), offer, risk, stepUp);
}

/**
 * After a proof in a flow past its first step: the proof completes the step once (a concurrent
 * copy is "already done"), then finish, go to the next step, or refuse.
 */
export async function continueSignIn(ctx: Context, deps: InteractionDeps, d: Details, flow: Flow & { accountId: string }, proof: Proof, opts: { deviceKey?: boolean } = {}): Promise<void> {
  await recordProof(deps, d, flow, proof, false, opts.deviceKey);
  await carryOn(ctx, deps, d, { ...flow, proofs: [...flow.proofs, proof], ...(opts.deviceKey ? { deviceKey: true } : {}) });
}

/**
 * Records a proof that completes the flow's current step, once (a concurrent or repeated copy is
 * "already done"). `codesShown`: recovery codes are shown before the sign-in goes on (flow.ts).
 */
export async function recordProof(deps: InteractionDeps, d: Details, flow: Flow & { accountId: string }, proof: Proof, codesShown = false, deviceKey = false): Promise<void> {
  if (!(await deps.flows.prove(d.uid, flow.accountId, proof, flow.proofs.length, codesShown, deviceKey))) throw alreadyDone();
}

/** Asks the decision once from the proofs the flow has recorded, then finish, go to the next step, or refuse. */
export async function carryOn(ctx: Context, deps: InteractionDeps, d: Details, flow: Flow & { accountId: string }): Promise<void> {
  const proven = [...flow.sessionProofs, ...flow.proofs];
  const decision = await decide(ctx, deps, d, flow.accountId, proven, flow.risk, flow.deviceKey);
  const offer = decision.outcome === 'done' && await passkeyOfferDue(ctx, deps, flow.accountId, flow.proofs, flow.passkeyOffer);
  if (await act(ctx, deps, d, flow.accountId, proven, decision, (next, awaiting, passkeyOffer) => deps.flows.decided(d.uid, next, awaiting, passkeyOffer), offer, flow.risk, flow.sessionProofs.length > 0) === 'password') {
    throw new UserFacingError(400, 'no_sign_in', 'This sign-in needs your password again. Go back to the application and start again.', { key: 'interaction:errors.passwordAgain' });
  }
}
