// The step-up check (oidc-provider's interaction policy, login prompt): gathers the facts of one
// authorization request and the signed-in account, asks the pure decision (policy/sign-in.ts), and
// either lets the request through, asks for an interaction (the decision goes to the pages in the
// prompt details), or sends the RP unmet_authentication_requirements — never a weaker token.
import { errors, interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { decideSignIn, type Decision, type Proof, type SecondFactor, type SignInFacts } from '../policy/sign-in.ts';
import { ACR, AMR, type Factor } from '../policy/assurance.ts';
import type { RiskAssessment } from '../policy/risk.ts';

const { Check } = interactionPolicy;

/** Client metadata holding the client's minimum acr (`client create --minimum-acr LEVEL`). */
export const MINIMUM_ACR = 'urn:tessera:minimum_acr';

export interface AccountFactors {
  available: SecondFactor[];
  routine?: SecondFactor;
  /** Whether the account asks new browsers for a code (on unless an admin turned it off). */
  deviceVerification: boolean;
  /** Whether the account asks for its PIN after every sign-in. */
  pinAfterSignIn?: boolean;
}

export interface StepUpDeps {
  /**
   * The account's routine factor, and (when `withAvailable`, or when it has a routine factor) what
   * it can use as second factors now; without either the decision never needs the list.
   */
  factorsOf(accountId: string, withAvailable: boolean): Promise<AccountFactors>;
  /** What this session proved and when, per factor. */
  proofsOf(sessionUid: string, accountId: string): Promise<Proof[] | undefined>;
  recordProofs(sessionUid: string, accountId: string, proofs: Proof[]): Promise<void>;
  /**
   * Trust signals for this browser and client address: whether they skip the routine factor, and
   * (during a sign-in) whether the browser still needs new-device verification for the account.
   */
  trustOf(accountId: string, where: Where, needs: { routine?: SecondFactor; newDeviceCheck: boolean; pin?: boolean }): Promise<{ routineSkipped: boolean; newDevice: boolean; pinSkipped?: boolean }>;
  /** The browser's device id (its signed device cookie), if it has one. */
  browserOf(ctx: Pick<KoaContextWithOIDC, 'cookies'>): string | undefined;
  /**
   * A sign-in (or step-up) finished in this browser session: record where (active sessions, screen
   * lock), from which registration, and what it proved, in one write. `fresh`: the session was never
   * stored (its uid was made in this request), so it has no record yet.
   */
  sessionSignedIn(ctx: KoaContextWithOIDC, sessionUid: string, accountId: string, proofs: Proof[], deviceId?: string, fresh?: boolean): Promise<void>;
  /** Auto-logout and the screen lock for a signed-in session on use ('ended' signs it out). */
  sessionState?(ctx: KoaContextWithOIDC, session: { uid: string; accountId: string; loginTs?: number }): Promise<'active' | 'locked' | 'ended'>;
  /**
   * A session that moves: what the risk policy asks of this signed-in session, used from another
   * country than its sign-in's (undefined: nothing; recorded by the implementation).
   */
  sessionMoved?(ctx: KoaContextWithOIDC, session: { uid: string; accountId: string }): Promise<RiskAssessment | undefined>;
  emailCountsAsMfa: boolean;
  offerEnrolment: boolean;
  clock: () => Date;
}

/** What a session that moved is raised to (under enforce). */
export function raisedByMove(move: RiskAssessment | undefined): SignInFacts['riskRequires'] {
  return move?.applied === 'second-factor' || move?.applied === 'phishing-resistant' ? move.applied : undefined;
}

/**
 * A session's proofs that still count when the risk policy asks for a second factor now (a session
 * that moved, an unusual sign-in in a signed-in session): the password (and the PIN), never its
 * second factors, which are asked again; a passkey-only session signs in again.
 */
export const keptAfterMove = (proofs: Proof[]): Proof[] => proofs.filter((p) => p.factor === 'password' || p.factor === 'pin');

const moves = new WeakMap<object, Promise<RiskAssessment | undefined>>();

/**
 * The session-move assessment of this authorization request, asked once however many checks need
 * it (the provider runs a prompt's checks concurrently); none right after an interaction.
 */
export function sessionMoveOf(deps: StepUpDeps, ctx: KoaContextWithOIDC): Promise<RiskAssessment | undefined> {
  const session = ctx.oidc.session;
  if (!deps.sessionMoved || !session?.accountId || !session.uid || (ctx.oidc.result as { login?: unknown } | undefined)?.login) return Promise.resolve(undefined);
  let move = moves.get(ctx);
  if (!move) {
    move = deps.sessionMoved(ctx, { uid: session.uid, accountId: session.accountId });
    moves.set(ctx, move);
  }
  return move;
}

export type RequestFacts = SignInFacts['request'] & { clientMinimumAcr?: string };

/** Where a request comes from: the browser's device id and the client IP. */
export interface Where {
  browserId?: string;
  ip?: string;
  /** A sign-in through the hosted pages (new-device verification applies), not an existing session. */
  signingIn: boolean;
  /** The browser's registration for the account, when the request already read it (`key`: its device key, if bound to one). */
  device?: { state: string; verifiedAt?: Date; trustedUntil?: Date; key?: unknown };
  /**
   * Device-bound trust: whether this sign-in signed a fresh challenge with the registration's
   * device key. Unset for a signed-in session: its sign-in proved the key (when there is one).
   */
  keyProven?: boolean;
}

/** The result an interaction hands back: the provider's login plus the per-factor proofs and the browser's registration. */
export interface SignInResult {
  login: { accountId: string; acr: string; amr: string[]; ts: number; remember?: boolean };
  proofs: Proof[];
  deviceId?: string;
}

const FACTOR_BY_AMR = Object.fromEntries(Object.entries(AMR).map(([factor, amr]) => [amr, factor as Factor])) as Record<string, Factor>;

function essentialAcr(claims: unknown): string[] {
  let parsed = claims;
  if (typeof claims === 'string') {
    try { parsed = JSON.parse(claims); } catch { return []; }
  }
  const acr = (parsed as { id_token?: { acr?: { essential?: boolean; value?: string; values?: string[] } } } | undefined)?.id_token?.acr;
  if (!acr?.essential) return [];
  return acr.values ?? (acr.value ? [acr.value] : []);
}

/** What an authorization request asks for, from its parameters (the provider's or an interaction's). */
export function requestFacts(params: Record<string, unknown>, client: Record<string, unknown> | undefined): RequestFacts {
  const maxAge = params.max_age;
  return {
    acrValues: String(params.acr_values ?? '').split(' ').filter(Boolean),
    essentialAcr: essentialAcr(params.claims),
    ...(maxAge !== undefined && maxAge !== '' && Number.isFinite(Number(maxAge)) ? { maxAge: Number(maxAge) } : {}),
    promptLogin: String(params.prompt ?? '').split(' ').includes('login'),
    ...(typeof client?.[MINIMUM_ACR] === 'string' ? { clientMinimumAcr: client[MINIMUM_ACR] as string } : {}),
  };
}

/** The decision's facts for one account, its proofs and one request. */
export async function factsFor(deps: StepUpDeps, accountId: string, proven: Proof[], request: RequestFacts, where: Where, riskRequires?: SignInFacts['riskRequires']): Promise<SignInFacts> {
  const { clientMinimumAcr, ...rest } = request;
  // only a level above the password (or a step the risk policy raised) needs to know which factors the account can use
  const aboveP = (v: string) => v !== ACR.password;
  const asksMore = !!riskRequires || rest.acrValues.some(aboveP) || rest.essentialAcr.some(aboveP) || (!!clientMinimumAcr && aboveP(clientMinimumAcr));
  const { available, routine, deviceVerification, pinAfterSignIn = false } = await deps.factorsOf(accountId, asksMore);
  const newDeviceCheck = where.signingIn && deviceVerification;
  const trust = routine || newDeviceCheck || pinAfterSignIn
    ? await deps.trustOf(accountId, where, { ...(routine ? { routine } : {}), newDeviceCheck, pin: pinAfterSignIn })
    : { routineSkipped: false, newDevice: false };
  return {
    now: Math.floor(deps.clock().getTime() / 1000),
    available,
    ...(routine ? { routine } : {}),
    proven,
    request: rest,
    ...(clientMinimumAcr ? { clientMinimumAcr } : {}),
    emailCountsAsMfa: deps.emailCountsAsMfa,
    routineSkipped: trust.routineSkipped,
    newDevice: trust.newDevice,
    offerEnrolment: deps.offerEnrolment,
    pinAfterSignIn: pinAfterSignIn && !trust.pinSkipped,
    ...(riskRequires ? { riskRequires } : {}),
  };
}

/** A session's proofs: the recorded ones, or (sessions older than the record) its amr at loginTs. */
export async function sessionProofs(deps: StepUpDeps, session: { uid?: string; accountId?: string; amr?: string[]; loginTs?: number }): Promise<Proof[]> {
  if (!session.accountId) return [];
  const recorded = session.uid ? await deps.proofsOf(session.uid, session.accountId) : undefined;
  if (recorded) return recorded;
  const at = session.loginTs ?? Math.floor(deps.clock().getTime() / 1000);
  return (session.amr ?? []).flatMap((amr) => (FACTOR_BY_AMR[amr] ? [{ factor: FACTOR_BY_AMR[amr]!, at }] : []));
}

export function stepUpCheck(deps: StepUpDeps) {
  const decisions = new WeakMap<object, Decision>();
  return new Check('acr_step_up', 'the session does not meet the requested authentication level', async (ctx: KoaContextWithOIDC) => {
    const session = ctx.oidc.session;
    if (!session?.accountId) return Check.NO_NEED_TO_PROMPT; // no session: the no_session check asks for a sign-in
    const result = ctx.oidc.result as Partial<SignInResult> | undefined;
    let proven: Proof[];
    let request = requestFacts(ctx.oidc.params ?? {}, ctx.oidc.client as unknown as Record<string, unknown>);
    if (result?.login && Array.isArray(result.proofs)) {
      // an interaction just returned: its proofs are what counts (it already applied prompt=login)
      proven = result.proofs;
      // a session the provider never stored has no issue time (oidc-provider sets iat when it saves one)
      if (session.uid) await deps.sessionSignedIn(ctx, session.uid, session.accountId, proven, typeof result.deviceId === 'string' ? result.deviceId : undefined, session.iat === undefined);
      request = { ...request, promptLogin: false };
    } else {
      proven = await sessionProofs(deps, session);
      if (result?.login) request = { ...request, promptLogin: false };
    }
    // a session used from another country than its sign-in's: its second factors are asked again
    const moved = raisedByMove(await sessionMoveOf(deps, ctx));
    if (moved) proven = keptAfterMove(proven);
    // an existing session was made on a verified browser: only trust signals apply here
    const where = { browserId: deps.browserOf(ctx), ip: ctx.ip, signingIn: false };
    const decision = decideSignIn(await factsFor(deps, session.accountId, proven, request, where, moved));
    decisions.set(ctx, decision);
    if (decision.outcome === 'done') return Check.NO_NEED_TO_PROMPT;
    if (decision.outcome === 'unmet') throw new errors.UnmetAuthenticationRequirements(decision.reason);
    // after an interaction finished, a decision that still wants steps means it cannot be met:
    // never loop, never issue a weaker token
    if (result?.login) throw new errors.UnmetAuthenticationRequirements('the sign-in did not reach the required level');
    return Check.REQUEST_PROMPT;
  }, (ctx: KoaContextWithOIDC) => ({ signIn: decisions.get(ctx) }));
}
