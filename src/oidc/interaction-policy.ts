// Tessera's interaction policy: oidc-provider's login and consent prompts, plus the checks Tessera
// adds in front of them. Step-up (acr/max_age) will join here.
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { stepUpCheck, type StepUpDeps } from './step-up.ts';

const { base, Check } = interactionPolicy;

const SIGNED_IN_FIELDS = ['accountId', 'acr', 'amr', 'loginTs', 'authorizations'] as const;

/**
 * A session whose account is disabled or gone is treated as signed out: the browser gets the
 * sign-in page (prompt=none: login_required), never an error, and the session forgets the account
 * so a different person can sign in from that browser.
 */
const accountUnavailable = new Check('account_unavailable', 'the signed-in account is disabled or no longer exists', (ctx: KoaContextWithOIDC) => {
  const session = ctx.oidc.session;
  if (!session?.accountId || ctx.oidc.account) return Check.NO_NEED_TO_PROMPT;
  // the session is a proxy that refuses non-string account ids; deleting goes to the model itself
  for (const field of SIGNED_IN_FIELDS) Reflect.deleteProperty(session, field);
  (session as unknown as { touched: boolean }).touched = true; // makes the provider save it
  return Check.REQUEST_PROMPT;
});

export function buildInteractionPolicy(stepUp: StepUpDeps) {
  const policy = base();
  const login = policy.get('login')!;
  // the step-up check replaces the provider's own essential-acr checks (it decides them, and
  // acr_values, max_age per factor and the client's minimum)
  login.checks.remove('essential_acr');
  login.checks.remove('essential_acrs');
  login.checks.add(stepUpCheck(stepUp), 0);
  // first: the other login checks and the consent prompt assume the session's account exists
  login.checks.add(accountUnavailable, 0);
  return policy;
}
