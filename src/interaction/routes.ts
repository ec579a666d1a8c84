// Hosted sign-in pages: thin routes that carry one OIDC interaction from the sign-in form, through
// any second factor, to the consent decision and back to the provider. What a sign-in needs is
// decided in policy/ (through sign-in-flow.ts); accounts live in accounts/, factors in factors/.
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { SKIP_CONSENT } from '../oidc/clients.ts';
import { UserFacingError } from '../http/errors.ts';
import { clientOf, details, field, finish, type Details, type InteractionDeps } from './context.ts';
import { continueSignIn } from './sign-in-flow.ts';
import { renderSecondFactor, secondFactorRoutes } from './second-factor.ts';
import { enrolmentRoutes, renderEnrolment } from './enrolment.ts';
import { deviceStepRoutes, renderDeviceStep } from './device-step.ts';
import { pinStepRoutes, renderPinStep, renderUnlock } from './pin-step.ts';
import { browserOf, countFailure, deviceBlocked, deviceFor, recordAttempt } from './device.ts';
import { normalizeEmail } from '../accounts/store.ts';

export type { InteractionDeps } from './context.ts';

const SIGN_IN_FAILED = 'Incorrect email or password.';

export function interactionRouter(deps: InteractionDeps): Router {
  const { provider, accounts } = deps;
  const router = new Router({ prefix: '/interaction/:uid' });

  async function renderLogin(ctx: Context, d: Details, email: string, error?: string) {
    const { name } = await clientOf(deps, d);
    if (error) ctx.status = 200;
    await ctx.render('interaction/login', { title: 'Sign in', uid: d.uid, clientName: name, email, error, csrf: ctx.state._csrf });
  }

  async function grantConsent(ctx: Context, d: Details) {
    const { accountId } = d.session ?? {};
    if (!accountId) throw new UserFacingError(400, 'no_session', 'You are not signed in. Go back to the application and start again.');
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
    await finish(ctx, deps, 'consent', { consent: existing ? {} : { grantId } });
  }

  router.use(async (ctx: Context, next: Next) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    await next();
  });

  router.get('/', async (ctx) => {
    const d = await details(ctx, provider);
    if (d.prompt.name === 'login') {
      // a sign-in past its password, or a signed-in session asked for more: only the missing step
      const progress = await deps.progress.get(d.uid);
      const accountId = progress?.accountId ?? (d.prompt.reasons.includes('acr_step_up') ? d.session?.accountId : undefined);
      const method = typeof ctx.query.method === 'string' ? ctx.query.method : undefined;
      if (await renderUnlock(ctx, deps, d)) return;
      if (accountId && await renderDeviceStep(ctx, deps, d, accountId, method ? { method } : {})) return;
      if (accountId && await renderSecondFactor(ctx, deps, d, accountId, method ? { method } : {})) return;
      if (accountId && await renderEnrolment(ctx, deps, d, accountId)) return;
      if (accountId && await renderPinStep(ctx, deps, d, accountId)) return;
      await renderLogin(ctx, d, String(d.params.login_hint ?? ''));
      return;
    }
    if (d.prompt.name === 'consent') {
      const { client, name } = await clientOf(deps, d);
      if (client?.[SKIP_CONSENT] === true) return grantConsent(ctx, d);
      const scopes = (d.prompt.details.missingOIDCScope as string[] | undefined) ?? [];
      await ctx.render('interaction/consent', { title: 'Allow access', uid: d.uid, clientName: name, scopes, csrf: ctx.state._csrf });
      return;
    }
    throw new UserFacingError(400, 'unknown_prompt', 'This sign-in step is not supported.');
  });

  router.post('/login', async (ctx) => {
    const d = await details(ctx, provider, 'login');
    const email = field(ctx, 'email', 320).trim();
    const password = field(ctx, 'password');
    if (!email || !password) {
      await renderLogin(ctx, d, email, SIGN_IN_FAILED);
      return;
    }
    // a device blocked for this email is refused before the password is checked (an account or not:
    // the answers look the same), so guessing on from it learns nothing
    const lookup = await accounts.signInLookup(email);
    const known = lookup.account;
    if (known) await deviceFor(ctx, deps, known.id);
    else if (await deps.devices.ghostBlocked(normalizeEmail(email), browserOf(ctx))) throw deviceBlocked();
    const account = await lookup.verify(password);
    if (!account) {
      if (known) await countFailure(ctx, deps, known.id, 'wrong_password', 'pwd');
      else {
        // an email without an account: audited (with its IP) like any failed sign-in, no account named
        await recordAttempt(ctx, deps, 'wrong_password', undefined, undefined, ['pwd']);
        if (await deps.devices.recordGhostFailure(normalizeEmail(email), browserOf(ctx))) throw deviceBlocked();
      }
      await renderLogin(ctx, d, email, SIGN_IN_FAILED);
      return;
    }
    await continueSignIn(ctx, deps, d, account.id, [{ factor: 'password', at: Math.floor(deps.stepUp.clock().getTime() / 1000) }]);
  });

  deviceStepRoutes(router, deps);
  secondFactorRoutes(router, deps);
  enrolmentRoutes(router, deps);
  pinStepRoutes(router, deps);

  router.post('/confirm', async (ctx) => {
    const d = await details(ctx, provider, 'consent');
    await grantConsent(ctx, d);
  });

  router.post('/abort', async (ctx) => {
    await details(ctx, provider);
    await deps.progress.end(String(ctx.params.uid));
    await finish(ctx, deps, 'abort', { error: 'access_denied', error_description: 'The user cancelled the sign-in.' });
  });

  return router;
}
