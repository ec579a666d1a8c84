// Hosted sign-in pages: thin routes that carry one OIDC interaction from the sign-in form to the
// consent decision and back to the provider. Decisions live in policy/, accounts in accounts/.
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { AccountStore } from '../accounts/store.ts';
import { PASSWORD_SIGN_IN } from '../policy/assurance.ts';
import { SKIP_CONSENT } from '../oidc/clients.ts';
import { UserFacingError } from '../http/errors.ts';
import { alreadyDone, type InteractionSteps } from './steps.ts';

export interface InteractionDeps {
  provider: Provider;
  accounts: AccountStore;
  steps: InteractionSteps;
}

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

const SIGN_IN_FAILED = 'Incorrect email or password.';

function field(ctx: Context, name: string, max = 1024): string {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  if (typeof value !== 'string' || value.length > max) return '';
  return value;
}

export function interactionRouter({ provider, accounts, steps }: InteractionDeps): Router {
  const router = new Router({ prefix: '/interaction/:uid' });

  async function details(ctx: Context, expectedPrompt?: string): Promise<Details> {
    const d = await provider.interactionDetails(ctx.req, ctx.res);
    if (d.uid !== ctx.params.uid) throw new UserFacingError(400, 'interaction_mismatch', 'This page does not belong to the sign-in in progress. Go back to the application and start again.');
    if (expectedPrompt && d.prompt.name !== expectedPrompt) {
      throw new UserFacingError(400, 'wrong_step', 'This step of the sign-in is already done. Go back to the application and start again.');
    }
    return d;
  }

  /** Ends a step of the interaction; only the first of concurrent or repeated submissions gets here. */
  async function finish(ctx: Context, step: 'login' | 'consent' | 'abort', result: Parameters<Provider['interactionResult']>[2]) {
    if (!(await steps.claim(String(ctx.params.uid), step))) {
      throw alreadyDone();
    }
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
  }

  const findClient = (d: Details) => provider.Client.find(String(d.params.client_id));
  const displayName = (d: Details, client: Awaited<ReturnType<typeof findClient>>) => client?.clientName ?? String(d.params.client_id);
  const clientName = async (d: Details) => displayName(d, await findClient(d));

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
    await finish(ctx, 'consent', { consent: existing ? {} : { grantId } });
  }

  router.use(async (ctx: Context, next: Next) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    await next();
  });

  router.get('/', async (ctx) => {
    const d = await details(ctx);
    const client = await findClient(d);
    if (d.prompt.name === 'login') {
      await ctx.render('interaction/login', {
        title: 'Sign in', uid: d.uid, clientName: displayName(d, client), email: String(d.params.login_hint ?? ''), error: undefined, csrf: ctx.state._csrf,
      });
      return;
    }
    if (d.prompt.name === 'consent') {
      if (client?.[SKIP_CONSENT] === true) return grantConsent(ctx, d);
      const scopes = (d.prompt.details.missingOIDCScope as string[] | undefined) ?? [];
      await ctx.render('interaction/consent', { title: 'Allow access', uid: d.uid, clientName: displayName(d, client), scopes, csrf: ctx.state._csrf });
      return;
    }
    throw new UserFacingError(400, 'unknown_prompt', 'This sign-in step is not supported.');
  });

  router.post('/login', async (ctx) => {
    const d = await details(ctx, 'login');
    const email = field(ctx, 'email', 320).trim();
    const password = field(ctx, 'password');
    const account = email && password ? await accounts.authenticate(email, password) : undefined;
    if (!account) {
      await ctx.render('interaction/login', {
        title: 'Sign in', uid: d.uid, clientName: await clientName(d), email, error: SIGN_IN_FAILED, csrf: ctx.state._csrf,
      });
      return;
    }
    await finish(ctx, 'login', { login: { accountId: account.id, acr: PASSWORD_SIGN_IN.acr, amr: [...PASSWORD_SIGN_IN.amr] } });
  });

  router.post('/confirm', async (ctx) => {
    const d = await details(ctx, 'consent');
    await grantConsent(ctx, d);
  });

  router.post('/abort', async (ctx) => {
    await details(ctx);
    await finish(ctx, 'abort', { error: 'access_denied', error_description: 'The user cancelled the sign-in.' });
  });

  return router;
}
