// Hosted sign-in pages: thin routes that carry one OIDC interaction from the sign-in form, through
// any second factor, to the consent decision and back to the provider. What a sign-in needs is
// decided in policy/ (through sign-in-flow.ts); accounts live in accounts/, factors in factors/.
// Brute-force limits (limits/service.ts) apply here: a locked sign-in does the same password work
// and answers exactly like a wrong password; code entry is refused while the account's code
// limit is locked; a code page whose text or call is capped shows the other channels.
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
import { browserOf, clientOfRequest, codesOpen, countFailure, deviceBlocked, deviceFor, recordAttempt } from './device.ts';
import { normalizeEmail } from '../accounts/store.ts';
import { ChallengeError } from '../factors/challenges.ts';
import type { FactorPrompt } from '../factors/types.ts';
import { describeLocation } from '../devices/client-info.ts';

export type { InteractionDeps } from './context.ts';

const SIGN_IN_FAILED = 'Incorrect email or password.';

const capLimited = (err: unknown): err is ChallengeError => err instanceof ChallengeError && (err.code === 'send_limit' || err.code === 'resend_limit');

/**
 * Renders a code page; when its text or call is capped (nothing was sent), renders it again
 * saying so, with the other channels to choose from (HTTP 429).
 */
async function capped(ctx: Context, render: (prompt?: FactorPrompt) => Promise<boolean>): Promise<boolean> {
  try {
    return await render();
  } catch (err) {
    if (!capLimited(err)) throw err;
    const shown = await render({ input: 'code', instructions: 'Choose another method below.', canResend: false, problem: err.message });
    if (shown) ctx.status = 429;
    return shown;
  }
}

export function interactionRouter(deps: InteractionDeps): Router {
  const { provider, accounts } = deps;
  const { limits } = deps;
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

  // every code entry of a sign-in in progress waits out the account's code limit first
  router.post(['/factor', '/device', '/pin'], async (ctx: Context, next: Next) => {
    const progress = await deps.progress.get(String(ctx.params.uid));
    if (progress) await codesOpen(ctx, deps, progress.accountId);
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
      if (accountId && await capped(ctx, (prompt) => renderDeviceStep(ctx, deps, d, accountId, { ...(method ? { method } : {}), ...(prompt ? { prompt } : {}) }))) return;
      if (accountId && await capped(ctx, (prompt) => renderSecondFactor(ctx, deps, d, accountId, { ...(method ? { method } : {}), ...(prompt ? { prompt } : {}) }))) return;
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
    const device = known ? await deviceFor(ctx, deps, known.id) : undefined;
    if (!known && await deps.devices.ghostBlocked(normalizeEmail(email), browserOf(ctx))) throw deviceBlocked();
    const client = clientOfRequest(ctx);
    const party = { email: normalizeEmail(email), browserId: browserOf(ctx), ip: client.ip ?? ctx.ip, knownDevice: !!device?.verifiedAt };
    const locked = await limits.signInLocked(party);
    // the password work is done either way: a locked sign-in takes as long as any other
    const account = await lookup.verify(password);
    if (locked) {
      // refused like a wrong password (same page, status and words), right password or not; not
      // counted again, so waiting it out is enough
      await recordAttempt(ctx, deps, 'wrong_password', known?.id, device, ['pwd']);
      await renderLogin(ctx, d, email, SIGN_IN_FAILED);
      return;
    }
    if (!account) {
      if (await limits.signInFailed(party) && known) {
        limits.lockedOut(known.email, { at: deps.stepUp.clock(), ...(client.ip ? { ip: client.ip } : {}), where: describeLocation(client.location), browser: client.browser, os: client.os });
      }
      if (known) await countFailure(ctx, deps, known.id, 'wrong_password', 'pwd');
      else {
        // an email without an account: audited (with its IP) like any failed sign-in, no account named
        await recordAttempt(ctx, deps, 'wrong_password', undefined, undefined, ['pwd']);
        if (await deps.devices.recordGhostFailure(normalizeEmail(email), browserOf(ctx))) throw deviceBlocked();
      }
      await renderLogin(ctx, d, email, SIGN_IN_FAILED);
      return;
    }
    await limits.signInSucceeded(party);
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
