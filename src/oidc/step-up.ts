// The step-up check (oidc-provider's interaction policy, login prompt): gathers the facts of one
// authorization request and the signed-in account, asks the pure decision (policy/sign-in.ts), and
// either lets the request through, asks for an interaction (the steps go to the pages through the
// prompt details), or sends the RP unmet_authentication_requirements — never a weaker token.
import { errors, interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { decideSignIn, type Decision, type Proof, type SecondFactor, type SignInFacts } from '../policy/sign-in.ts';
import { AMR, type Factor } from '../policy/assurance.ts';

const { Check } = interactionPolicy;

/** Client metadata holding the client's minimum acr (`client create --minimum-acr LEVEL`). */
export const MINIMUM_ACR = 'urn:tessera:minimum_acr';

export interface AccountFactors {
  available: SecondFactor[];
  routine?: SecondFactor;
}

export interface StepUpDeps {
  /** What the account can use as second factors now, and its routine one. */
  factorsOf(accountId: string): Promise<AccountFactors>;
  /** What this session proved and when (per-factor times); undefined: derive from the session's amr. */
  proofsOf?(sessionUid: string): Promise<Proof[] | undefined>;
  emailCountsAsMfa: boolean;
  offerEnrolment: boolean;
  clock?: () => Date;
}

const FACTOR_BY_AMR = Object.fromEntries(Object.entries(AMR).map(([factor, amr]) => [amr, factor as Factor])) as Record<string, Factor>;

function essentialAcr(ctx: KoaContextWithOIDC): string[] {
  const acr = (ctx.oidc.claims as { id_token?: { acr?: { essential?: boolean; value?: string; values?: string[] } } }).id_token?.acr;
  if (!acr?.essential) return [];
  return acr.values ?? (acr.value ? [acr.value] : []);
}

/** The facts of this request and session, for the decision. */
export async function signInFacts(ctx: KoaContextWithOIDC, deps: StepUpDeps): Promise<SignInFacts | undefined> {
  const session = ctx.oidc.session;
  if (!session?.accountId) return undefined;
  const now = Math.floor((deps.clock?.() ?? new Date()).getTime() / 1000);
  const params = ctx.oidc.params ?? {};
  const loginTs = session.loginTs ?? now;
  const stored = session.uid && deps.proofsOf ? await deps.proofsOf(session.uid) : undefined;
  const proven: Proof[] = stored ?? (session.amr ?? []).flatMap((amr) => (FACTOR_BY_AMR[amr] ? [{ factor: FACTOR_BY_AMR[amr]!, at: loginTs }] : []));
  const { available, routine } = await deps.factorsOf(session.accountId);
  const maxAge = params.max_age;
  return {
    now,
    available,
    ...(routine ? { routine } : {}),
    proven,
    request: {
      acrValues: String(params.acr_values ?? '').split(' ').filter(Boolean),
      essentialAcr: essentialAcr(ctx),
      ...(maxAge !== undefined ? { maxAge: Number(maxAge) } : {}),
      // prompt=login voids what the session proved before; the interaction that just returned is
      // the new sign-in it asked for
      promptLogin: ctx.oidc.prompts.has('login') && !ctx.oidc.result?.login,
    },
    ...(typeof ctx.oidc.client?.[MINIMUM_ACR] === 'string' ? { clientMinimumAcr: ctx.oidc.client[MINIMUM_ACR] as string } : {}),
    emailCountsAsMfa: deps.emailCountsAsMfa,
    routineSkipped: false,
    offerEnrolment: deps.offerEnrolment,
  };
}

export function stepUpCheck(deps: StepUpDeps) {
  const decisions = new WeakMap<object, Decision>();
  return new Check('acr_step_up', 'the session does not meet the requested authentication level', async (ctx: KoaContextWithOIDC) => {
    const facts = await signInFacts(ctx, deps);
    if (!facts) return Check.NO_NEED_TO_PROMPT; // no session: the no_session check asks for a sign-in
    const decision = decideSignIn(facts);
    decisions.set(ctx, decision);
    if (decision.outcome === 'done') return Check.NO_NEED_TO_PROMPT;
    if (decision.outcome === 'unmet') throw new errors.UnmetAuthenticationRequirements(decision.reason);
    // after an interaction finished, a decision that still wants steps means it cannot be met:
    // never loop, never issue a weaker token
    if (ctx.oidc.result?.login) throw new errors.UnmetAuthenticationRequirements('the sign-in did not reach the required level');
    return Check.REQUEST_PROMPT;
  }, (ctx: KoaContextWithOIDC) => ({ signIn: decisions.get(ctx) }));
}
