// Hosted sign-in pages: thin routes that carry one OIDC interaction from the sign-in form, through
// any second factor, to the consent decision and back to the provider. The flow record
// (flow.ts) names the one next step; GET shows it with that step's renderer. What a sign-in
// needs is decided in policy/ (through sign-in-flow.ts); accounts live in accounts/, factors in
// factors/. Brute-force limits (limits/service.ts) apply here: a locked sign-in does the same
// password work and the same writes and answers exactly like a wrong password; code entry is
// refused while the account's code limit is locked; a code page whose text or call is capped
// shows the other channels.
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { SKIP_CONSENT } from '../oidc/clients.ts';
import { UserFacingError } from '../http/errors.ts';
import { accountUnchanged, clientOf, details, field, finish, flowOf, pendingSignIn, type Details, type InteractionDeps } from './context.ts';
import { grantAllowed, rememberConsent, renderConsent } from './consent.ts';
import { beginSignIn, consentGiven, stepKind, type StepKind } from './sign-in-flow.ts';
import { renderSecondFactor, secondFactorRoutes } from './second-factor.ts';
import { enrolmentRoutes, renderEnrolment } from './enrolment.ts';
import { recoveryStepRoutes, renderCodesShown } from './recovery-step.ts';
import { deviceStepRoutes, renderDeviceStep } from './device-step.ts';
import { pinStepRoutes, renderPinStep, renderUnlock } from './pin-step.ts';
import { passkeySignInRoutes } from './passkey-sign-in.ts';
import { passkeyUpgradeRoutes, renderPasskeyOffer } from './passkey-upgrade.ts';
import { forgotPasswordRoutes } from './forgot-password.ts';
import { signUpRoutes } from './sign-up.ts';
import { lostFactorRoutes } from './lost-factor.ts';
import { browserOf, clientOfRequest, codesOpen, passwordFailed, refuseBlocked } from './device.ts';
import { deviceKeyProven, keyChallenge } from './device-key-proof.ts';
import { normalizeEmail } from '../accounts/store.ts';
import type { FactorPrompt, Said } from '../factors/types.ts';
import type { Flow } from './flow.ts';

export type { InteractionDeps } from './context.ts';

export interface RenderOptions { method?: string; error?: string | Said; prompt?: FactorPrompt }
type Renderer = (ctx: Context, deps: InteractionDeps, d: Details, flow: Flow & { accountId: string }, opts: RenderOptions) => Promise<void>;

export function interactionRouter(deps: InteractionDeps): Router {
  const { provider, accounts, limits } = deps;
  const router = new Router({ prefix: '/interaction/:uid' });

  async function renderLogin(ctx: Context, d: Details, email: string, error?: string | Said) {
    const { name } = await clientOf(deps, d);
    await ctx.render('interaction/login', { title: 'Sign in', uid: d.uid, clientName: name, email, error, csrf: ctx.state._csrf, signUp: !!deps.signUp, keyChallenge: keyChallenge(deps, d.uid) });
  }

  /** One renderer per kind of step (the password step is the sign-in form itself). */
  const renderers: Record<Exclude<StepKind, 'password'>, Renderer> = {
    // a code page that hits a daily cap on texts says so itself (HTTP 429) with what else there is
    'new-device': renderDeviceStep,
    'second-factor': renderSecondFactor,
    enrol: (ctx, deps2, d, flow, opts) => renderEnrolment(ctx, deps2, d, flow, opts.error),
    'recovery-codes': (ctx, deps2, d, flow) => renderCodesShown(ctx, deps2, d, flow),
    pin: (ctx, deps2, d, flow, opts) => renderPinStep(ctx, deps2, d, opts.error),
    consent: (ctx, deps2, d, flow) => renderConsent(ctx, deps2, d, flow.awaiting!.asked.scopes),
    'passkey-offer': (ctx, deps2, d, flow) => renderPasskeyOffer(ctx, deps2, d, flow),
  };

  async function grantConsent(ctx: Context, d: Details) {
    const { accountId } = d.session ?? {};
    const { client } = await clientOf(deps, d);
    if (!accountId) throw new UserFacingError(400, 'no_session', 'You are not signed in. Go back to the application and start again.', { key: 'interaction:errors.noSession' });
    // the interaction's grant may have been revoked meanwhile (e.g. its refresh token): start a new one
    const existing = d.grantId ? await provider.Grant.find(d.grantId) : undefined;
    const grant = existing ?? new provider.Grant({ accountId, clientId: String(d.params.client_id) });
    const missing = d.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    // "missing" was computed against the revoked grant: the new one needs every requested scope
    if (d.grantId && !existing) grant.addOIDCScope(String(d.params.scope ?? 'openid'));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    // a first-party client's grant is no consent of the person's
    if (client?.[SKIP_CONSENT] !== true) await rememberConsent(deps, accountId, grant);
    await finish(ctx, deps, 'consent', { consent: existing ? {} : { grantId } });
  }

  router.use(async (ctx: Context, next: Next) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    await next();
  });

  // every code entry of a sign-in in progress waits out the account's code limit first
  router.post(['/factor', '/device', '/pin'], async (ctx: Context, next: Next) => {
    const flow = await flowOf(ctx, deps);
    if (flow?.accountId) await codesOpen(ctx, deps, flow.accountId);
    await next();
  });

  router.get('/', async (ctx) => {
    const d = await details(ctx, provider);
    if (d.prompt.name === 'login') {
      if (await renderUnlock(ctx, deps, d)) return;
      const flow = await flowOf(ctx, deps);
      if (!flow?.accountId && d.prompt.reasons.includes('acr_step_up') && d.session?.accountId) {
        // a signed-in session asked for more: the flow begins from what the session proved
        // (unless the password itself must be seen again: the sign-in form)
        if (await beginSignIn(ctx, deps, d, d.session.accountId, []) !== 'password') return;
      }
      const kind = flow?.accountId && !flow.ended.includes('login') ? stepKind(flow.next, flow.awaiting, flow.recoveryCodes, flow.passkeyOffer) : undefined;
      if (kind && kind !== 'password') {
        // a step that may send a code checks the account first; the consent page only shows what
        // the application asks for, and its Allow checks (POST /confirm)
        if (kind !== 'consent') await accountUnchanged(deps, flow as Flow & { accountId: string });
        const method = typeof ctx.query.method === 'string' ? ctx.query.method : undefined;
        await renderers[kind](ctx, deps, d, flow as Flow & { accountId: string }, method ? { method } : {});
        return;
      }
      await renderLogin(ctx, d, String(d.params.login_hint ?? ''));
      return;
    }
    if (d.prompt.name === 'consent') {
      const { client, name } = await clientOf(deps, d);
      if (client?.[SKIP_CONSENT] === true) return grantConsent(ctx, d);
      await renderConsent(ctx, deps, d, (d.prompt.details.missingOIDCScope as string[] | undefined) ?? []);
      return;
    }
    throw new UserFacingError(400, 'unknown_prompt', 'This sign-in step is not supported.', { key: 'interaction:errors.unknownPrompt' });
  });

  router.post('/login', async (ctx) => {
    const d = await details(ctx, provider, 'login');
    const email = field(ctx, 'email', 320).trim();
    const password = field(ctx, 'password');
    if (!email || !password) {
      await renderLogin(ctx, d, email, { key: 'interaction:login.failed' });
      return;
    }
    const lookup = await accounts.signInLookup(email);
    const known = lookup.account;
    const { device, ghost } = await refuseBlocked(ctx, deps, normalizeEmail(email), known?.id);
    const client = clientOfRequest(ctx);
    const party = { email: normalizeEmail(email), browserId: browserOf(ctx), ip: client.ip ?? ctx.ip, knownDevice: !!device?.verifiedAt };
    const { locked, succeeded } = await limits.signInState(party);
    // the password work is done either way: a locked sign-in takes as long as any other
    const account = await lookup.verify(password);
    if (locked || !account) {
      // a locked sign-in is refused like a wrong password (same page, status, words and writes),
      // right password or not; it is not counted again, so waiting it out is enough
      const { triesLeft } = await passwordFailed(ctx, deps, party, known, device, locked);
      // the page's language: the sentence's key (locales/<language>/interaction.json login.failed, login.triesLeft)
      await renderLogin(ctx, d, email, triesLeft === undefined ? { key: 'interaction:login.failed' } : { key: 'interaction:login.failedTriesLeft', vars: { count: triesLeft } });
      return;
    }
    await succeeded();
    // device-bound trust: a trusted registration counts only with its device key's signature
    ctx.state.deviceKeyProven = await deviceKeyProven(ctx, deps, d.uid, device);
    // the browser proved the password: from now on it is one of the account's registrations
    await beginSignIn(ctx, deps, d, account.id, [{ factor: 'password', at: Math.floor(deps.stepUp.clock().getTime() / 1000) }], ghost);
  });

  deviceStepRoutes(router, deps);
  secondFactorRoutes(router, deps);
  enrolmentRoutes(router, deps);
  recoveryStepRoutes(router, deps);
  pinStepRoutes(router, deps);
  passkeySignInRoutes(router, deps);
  passkeyUpgradeRoutes(router, deps);
  forgotPasswordRoutes(router, deps);
  signUpRoutes(router, deps);
  lostFactorRoutes(router, deps);

  router.post('/confirm', async (ctx) => {
    const d = await details(ctx, provider);
    if (d.prompt.name === 'consent') return grantConsent(ctx, d);
    // the last step of a sign-in: the login waited for this "Allow"
    const { flow } = await pendingSignIn(ctx, deps);
    if (!flow.awaiting) throw new UserFacingError(400, 'wrong_step', 'This step of the sign-in is not the consent. Go back to the application and start again.', { key: 'interaction:errors.notConsent' });
    const { login, asked } = flow.awaiting;
    await consentGiven(ctx, deps, login, () => grantAllowed(deps, d, flow.accountId, asked));
  });

  router.post('/abort', async (ctx) => {
    await details(ctx, provider);
    await finish(ctx, deps, 'abort', { error: 'access_denied', error_description: 'The user cancelled the sign-in.' });
  });

  return router;
}

