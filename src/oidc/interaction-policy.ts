// Tessera's interaction policy: oidc-provider's login and consent prompts, plus the checks Tessera
// adds in front of them. Step-up (acr/max_age) will join here.
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { raisedByMove, sessionMoveOf, stepUpCheck, type StepUpDeps } from './step-up.ts';

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
  // the session is a proxy that refuses non-string account ids: signOut deletes on the model itself
  signOut(ctx);
  return Check.REQUEST_PROMPT;
});

/** Forgets the signed-in account in this browser session (the provider saves it so). */
function signOut(ctx: KoaContextWithOIDC): void {
  const session = ctx.oidc.session!;
  for (const field of SIGNED_IN_FIELDS) Reflect.deleteProperty(session, field);
  (session as unknown as { touched: boolean }).touched = true;
}

/**
 * The person's own session rules on every use by a relying party (silent SSO included): a session
 * past its auto-logout is ended (its relying parties too) and asks for a full sign-in; a session the
 * screen lock closed asks for the PIN only (prompt=none: login_required). Right after a sign-in
 * (the interaction returned a login) there is nothing to check.
 */
function sessionGuard(stepUp: StepUpDeps) {
  return new Check('screen_locked', 'the session is locked after inactivity: the PIN opens it', 'login_required', async (ctx: KoaContextWithOIDC) => {
    const session = ctx.oidc.session;
    if (!stepUp.sessionState || !session?.accountId || !session.uid || (ctx.oidc.result as { login?: unknown } | undefined)?.login) return Check.NO_NEED_TO_PROMPT;
    const state = await stepUp.sessionState(ctx, { uid: session.uid, accountId: session.accountId, ...(session.loginTs ? { loginTs: session.loginTs } : {}) });
    if (state === 'ended') {
      signOut(ctx);
      return Check.REQUEST_PROMPT;
    }
    return state === 'locked' ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
  });
}

/**
 * A session that moves (the adaptive sign-in): a signed-in session used from another country than
 * the one it signed in from asks for its second factor again instead of signing in silently
 * (prompt=none: login_required). The step-up check applies what it asks; the pages get the
 * assessment in the prompt details, to say why.
 */
function sessionMoved(stepUp: StepUpDeps) {
  return new Check('session_moved', 'the session is used from another country than the one it signed in from', 'login_required',
    async (ctx: KoaContextWithOIDC) => (raisedByMove(await sessionMoveOf(stepUp, ctx)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT),
    async (ctx: KoaContextWithOIDC) => {
      const move = await sessionMoveOf(stepUp, ctx);
      return raisedByMove(move) ? { sessionMoved: move } : {};
    });
}

export function buildInteractionPolicy(stepUp: StepUpDeps) {
  const policy = base();
  const login = policy.get('login')!;
  // the step-up check replaces the provider's own essential-acr checks (it decides them, and
  // acr_values, max_age per factor and the client's minimum)
  login.checks.remove('essential_acr');
  login.checks.remove('essential_acrs');
  login.checks.add(stepUpCheck(stepUp), 0);
  // before the step-up (its error, login_required, is the one prompt=none answers)
  login.checks.add(sessionMoved(stepUp), 0);
  // before the step-up: a locked session opens with the PIN first, an ended one signs in anew
  login.checks.add(sessionGuard(stepUp), 0);
  // first: the other login checks and the consent prompt assume the session's account exists
  login.checks.add(accountUnavailable, 0);
  return policy;
}
