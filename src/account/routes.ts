// The account security area (/account/security): a person signed in to Tessera manages their own
// second factors. Being signed in means Tessera's own browser session; a visitor without one is
// sent through the ordinary sign-in as the first-party client `tessera-account`. Every change asks
// for the current password on the same form (re-authentication for every change).
import Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountView } from '../accounts/store.ts';
import type { TotpStore } from '../factors/totp/index.ts';
import type { RecoveryCodes } from '../factors/recovery/index.ts';
import type { WebAuthnStore } from '../factors/webauthn/index.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import { UserFacingError } from '../http/errors.ts';
import { createAccountArea, field, type AccountArea, type AreaDeps } from './area.ts';

export { ACCOUNT_CLIENT } from './area.ts';

export interface AccountAreaDeps extends AreaDeps {
  totp: TotpStore;
  recovery: RecoveryCodes;
  webauthn: WebAuthnStore;
  factors: FactorRegistry;
}

export function accountRouter(deps: AccountAreaDeps, extensions: ((router: Router, area: AccountArea) => void)[] = []): Router {
  const { accounts, totp, recovery, webauthn } = deps;
  const router = new Router({ prefix: '/account' });
  const area = createAccountArea(deps);
  const { signedIn, requireAccount } = area;

  /** The methods that can be the routine second factor: those the account has set up. */
  async function routineChoices(account: AccountView) {
    const usable = (await deps.factors.options(account)).filter((o) => o.availability.available && o.id !== 'recovery');
    return usable.map((o) => ({ id: o.id, label: o.label }));
  }

  async function overview(ctx: Context, account: AccountView, notice?: string) {
    const current = (await accounts.findById(account.id)) ?? account;
    await ctx.render('account/security', {
      title: 'Security', account: current, notice, csrf: ctx.state._csrf,
      routineChoices: await routineChoices(current),
      totpEnrolled: await totp.enrolled(account.id),
      recoveryLeft: await recovery.remaining(account.id),
      keys: await webauthn.list(account.id),
    });
  }

  router.use(async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    await next();
  });

  // back from the sign-in: Tessera's session is what counts; the code is not needed here
  router.get('/callback', async (ctx) => {
    const back = typeof ctx.query.state === 'string' && /^\/account\/[\w/-]*$/.test(ctx.query.state) ? ctx.query.state : '/account/security';
    if (typeof ctx.query.error === 'string') {
      throw new UserFacingError(400, 'sign_in_failed', 'The sign-in did not complete. Try again from your account page.');
    }
    ctx.redirect(back);
  });

  router.get('/security', async (ctx) => {
    const account = await requireAccount(ctx);
    if (account) await overview(ctx, account);
  });

  router.get('/security/totp', async (ctx) => {
    const account = await requireAccount(ctx);
    if (!account) return;
    const enrolment = (await totp.pending(account.id, account.email)) ?? (await totp.begin(account.id, account.email));
    await ctx.render('account/totp', { title: 'Authenticator app', enrolment, error: undefined, csrf: ctx.state._csrf });
  });

  router.post('/security/totp', async (ctx) => {
    const account = await requireAccount(ctx);
    if (!account) return;
    const enrolment = await totp.pending(account.id, account.email);
    if (!enrolment) throw new UserFacingError(400, 'enrolment_expired', 'This setup has expired. Open the authenticator page again to get a new code.');
    const render = (error: string) => {
      ctx.status = 400;
      return ctx.render('account/totp', { title: 'Authenticator app', enrolment, error, csrf: ctx.state._csrf });
    };
    if (!(await accounts.authenticate(account.email, field(ctx, 'password')))) return render('Your current password is not right.');
    if (!(await totp.confirm(account.id, field(ctx, 'code', 16)))) return render('That code is not right. Enter the code your app shows now.');
    await overview(ctx, account, 'Your authenticator app is set up. Applications that ask for a stronger sign-in will ask for its code.');
  });

  /** A change from the overview page: signed in, and the current password on the same form. */
  function change(path: string, act: (ctx: Context, account: AccountView) => Promise<void>) {
    router.post(path, async (ctx) => {
      const account = await requireAccount(ctx);
      if (!account) return;
      if (!(await area.passwordConfirmed(ctx, account))) {
        ctx.status = 400;
        await overview(ctx, account, 'Your current password is not right: nothing was changed.');
        return;
      }
      await act(ctx, account);
    });
  }

  // the routine second factor: every sign-in then needs it (trusted devices may skip it later)
  change('/security/second-factor', async (ctx, account) => {
    const choice = field(ctx, 'factor', 32);
    if (choice === 'off') {
      await accounts.setSecondFactor(account.id, undefined);
      await overview(ctx, account, 'Sign-ins no longer ask for a second factor unless an application does.');
      return;
    }
    const allowed = await routineChoices(account);
    const picked = allowed.find((c) => c.id === choice);
    if (!picked) {
      ctx.status = 400;
      await overview(ctx, account, 'Choose a method you have set up: nothing was changed.');
      return;
    }
    await accounts.setSecondFactor(account.id, picked.id);
    await overview(ctx, account, `Every sign-in now asks for a second factor: ${picked.label.toLowerCase()}.`);
  });

  change('/security/totp/remove', async (ctx, account) => {
    await totp.remove(account.id);
    await overview(ctx, account, 'The authenticator app was removed.');
  });

  change('/security/recovery-codes', async (ctx, account) => {
    const codes = await recovery.generate(account.id);
    await ctx.render('account/recovery-codes', { title: 'Recovery codes', codes });
  });

  // security keys and passkeys: the page asks for options (JSON, CSRF header), the browser runs
  // the ceremony, and the form posts its answer with a name and the current password
  const registration = (ctx: Context) => `webauthn:${ctx.state.accountId as string}`;

  router.post('/security/webauthn/options', async (ctx) => {
    const account = await signedIn(ctx);
    if (!account) throw new UserFacingError(401, 'not_signed_in', 'Sign in again, then add the key.');
    ctx.state.accountId = account.id;
    ctx.body = await webauthn.registrationOptions(account, registration(ctx));
  });

  change('/security/webauthn', async (ctx, account) => {
    ctx.state.accountId = account.id;
    const name = field(ctx, 'name', 64).trim();
    if (!name) {
      ctx.status = 400;
      await overview(ctx, account, 'Give the key a name (up to 64 characters): nothing was added.');
      return;
    }
    const result = await webauthn.register(account, registration(ctx), field(ctx, 'response', 16_384), name);
    if (!result.ok) ctx.status = 400;
    await overview(ctx, account, result.ok ? `"${name}" was added. It works as a second factor and for phishing-resistant sign-ins.` : result.message);
  });

  change('/security/webauthn/remove', async (ctx, account) => {
    const removed = await webauthn.remove(account.id, field(ctx, 'id', 1024));
    if (!removed) ctx.status = 400;
    await overview(ctx, account, removed ? 'The key was removed.' : 'There is no such key: nothing was changed.');
  });

  for (const extend of extensions) extend(router, area);
  return router;
}
