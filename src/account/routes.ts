// The account security center (/account/security): a person signed in to Tessera manages their
// own security in one place. This file holds the overview and the two-factor block (one routine
// method at a time; TOTP and text messages need a verified primary mobile number; recovery codes);
// the other blocks are extensions (password and PIN, phones, devices, trusted IPs, sessions).
// Being signed in means Tessera's own browser session; a visitor without one is sent through the
// ordinary sign-in as the first-party client `tessera-account`. Every change asks for recent
// authentication and emails the person a notice.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountView } from '../accounts/store.ts';
import type { TotpStore } from '../factors/totp/index.ts';
import type { RecoveryCodes } from '../factors/recovery/index.ts';
import type { WebAuthnStore } from '../factors/webauthn/index.ts';
import type { FactorRegistry } from '../factors/registry.ts';
import { UserFacingError } from '../http/errors.ts';
import { displayNumber } from '../phones/numbers.ts';
import type { Phones } from '../phones/store.ts';
import type { SessionService } from '../sessions/service.ts';
import { createAccountArea, field, tr, type AccountArea, type AreaDeps } from './area.ts';
import type { Translate } from '../i18n/index.ts';
import type { ChangeSaid } from '../notify/messages.ts';

export { ACCOUNT_CLIENT } from './area.ts';

/** A refused change: why, and the id of the field or button on the page that it concerns. */
interface Refusal {
  at: string;
  message: string;
}

export interface AccountAreaDeps extends AreaDeps {
  totp: TotpStore;
  recovery: RecoveryCodes;
  webauthn: WebAuthnStore;
  factors: FactorRegistry;
  phones: Phones;
  sessions: SessionService;
}

export function accountRouter(deps: AccountAreaDeps, extensions: ((router: Router, area: AccountArea) => void)[] = []): Router {
  const { accounts, totp, recovery, webauthn } = deps;
  const router = new Router({ prefix: '/account' });
  const area = createAccountArea(deps);
  const { signedIn, requireAccount } = area;

  /** The methods that can be the routine second factor: those the account has set up (labels in the page's language). */
  async function routineChoices(account: AccountView, t: Translate) {
    const usable = (await deps.factors.options(account)).filter((o) => o.availability.available && o.id !== 'recovery');
    return usable.map((o) => ({ id: o.id, label: FACTOR_LABELS[o.id] ? t(FACTOR_LABELS[o.id]!) : o.label }));
  }

  /** Enabling TOTP or text messages needs a verified primary mobile number (SPEC §5). */
  const NEEDS_PHONE: readonly string[] = ['totp', 'sms', 'voice'];
  const NO_PHONE = 'Add and verify a mobile number, and make it your primary number, first (Contacts).';
  const METHOD_NAMES: Record<string, string> = { email: 'emailed codes', sms: 'text messages', voice: 'phone calls', totp: 'the authenticator app', webauthn: 'security keys', recovery: 'recovery codes' };
  // the same names on the pages, in the page's language (literal keys: test/unit/translations.test.ts)
  const METHOD_KEYS: Record<string, string> = { email: 'account:methods.email', sms: 'account:methods.sms', voice: 'account:methods.voice', totp: 'account:methods.totp', webauthn: 'account:methods.webauthn', recovery: 'account:methods.recovery' };
  const FACTOR_LABELS: Record<string, string> = { email: 'account:factorLabels.email', sms: 'account:factorLabels.sms', voice: 'account:factorLabels.voice', totp: 'account:factorLabels.totp', webauthn: 'account:factorLabels.webauthn' };
  // the security notice names the method in the account's language (notify/messages.ts resolves the key)
  const twoFactorSaid = (state: 'on' | 'off', id: string): ChangeSaid | undefined => (METHOD_KEYS[id]
    ? { key: state === 'on' ? 'email:securityChange.twoFactorOn' : 'email:securityChange.twoFactorOff', vars: { method: { key: METHOD_KEYS[id]! } } } : undefined);
  const methodIn = (t: Translate) => (id: string) => (METHOD_KEYS[id] ? t(METHOD_KEYS[id]!) : id);

  /**
   * The overview, with a notice at the top or a refused change's message beside the field (or
   * button) whose id is `refused.at` (views/account/security.ejs; at the top when the page has none).
   */
  async function overview(ctx: Context, account: AccountView, notice?: string, refused?: Refusal) {
    const current = (await accounts.findById(account.id)) ?? account;
    const session = await area.current(ctx);
    const t = tr(ctx);
    await ctx.render('account/security', {
      title: t('account:overview.title'), account: current, notice, refused, csrf: ctx.state._csrf,
      reauthNeeded: await area.reauthNeeded(ctx),
      primaryPhone: await deps.phones.primaryVerified(account.id).then((n) => n && displayNumber(n)),
      sessionCount: session ? (await deps.sessions.list(current, session.session.uid)).length : 0,
      methodName: methodIn(t),
      routineChoices: await routineChoices(current, t),
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
      throw new UserFacingError(400, 'sign_in_failed', 'The sign-in did not complete. Try again from your account page.', { key: 'account:errors.signInFailed' });
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
    if (!(await deps.phones.primaryVerified(account.id))) {
      // an old link or bookmark: the overview, which shows the step before (no error page)
      await overview(ctx, account, `${tr(ctx)('account:totp.needsPhoneFirst')} ${tr(ctx)('account:totp.noPhone')}`);
      return;
    }
    const enrolment = (await totp.pending(account.id, account.email)) ?? (await totp.begin(account.id, account.email));
    await ctx.render('account/totp', { title: tr(ctx)('account:totp.title'), enrolment, refused: undefined, csrf: ctx.state._csrf, askEverySignIn: !account.secondFactor });
  });

  router.post('/security/totp', async (ctx) => {
    const account = await requireAccount(ctx);
    if (!account) return;
    if (!(await deps.phones.primaryVerified(account.id))) throw new UserFacingError(400, 'no_phone', `An authenticator app needs a verified mobile number. ${NO_PHONE}`, { key: 'account:errors.totpNoPhone' });
    const enrolment = await totp.pending(account.id, account.email);
    if (!enrolment) throw new UserFacingError(400, 'enrolment_expired', 'This setup has expired. Open the authenticator page again to get a new code.', { key: 'account:errors.enrolmentExpired' });
    const t = tr(ctx);
    const render = (at: 'code' | 'password', message: string) => {
      ctx.status = 400;
      return ctx.render('account/totp', { title: t('account:totp.title'), enrolment, refused: { at, message }, csrf: ctx.state._csrf, askEverySignIn: !account.secondFactor });
    };
    if (!(await area.passwordRight(ctx, account, field(ctx, 'password')))) return render('password', t('account:totp.wrongPassword'));
    if (!(await totp.confirm(account.id, field(ctx, 'code', 16)))) return render('code', t('account:totp.wrongCode'));
    area.notify(ctx, account, 'An authenticator app was set up for your account.', 'mfa.changed', { key: 'email:securityChange.appSetUp' });
    // set up is not yet on: with no routine method, the same form asks (checked by default)
    // whether every sign-in should need it
    const everySignIn = !account.secondFactor && field(ctx, 'everySignIn', 8) === 'on';
    if (everySignIn) {
      await accounts.setSecondFactor(account.id, 'totp');
      area.notify(ctx, account, `Two-factor sign-in with ${METHOD_NAMES.totp} was turned on: every sign-in now asks for it.`, 'mfa.changed', twoFactorSaid('on', 'totp'));
    }
    const done = everySignIn ? t('account:totp.doneEverySignIn') : t('account:totp.done');
    if (await showFirstCodes(ctx, account, done)) return;
    await overview(ctx, account, done);
  });

  /**
   * A change from the overview page: signed in, and the current password on the same form (the
   * field with the id `passwordAt`, where a refusal for want of it is shown).
   */
  function change(path: string, passwordAt: string | ((ctx: Context) => string), act: (ctx: Context, account: AccountView) => Promise<void>) {
    router.post(path, async (ctx) => {
      const account = await requireAccount(ctx);
      if (!account) return;
      if (!(await area.passwordConfirmed(ctx, account))) {
        ctx.status = 400;
        await overview(ctx, account, undefined, { at: typeof passwordAt === 'string' ? passwordAt : passwordAt(ctx), message: tr(ctx)('account:reauth.refused') });
        return;
      }
      await act(ctx, account);
    });
  }

  // the routine second factor: every sign-in then needs it (trusted devices may skip it later)
  change('/security/second-factor', 'routine-password', async (ctx, account) => {
    const choice = field(ctx, 'factor', 32);
    const t = tr(ctx);
    const method = methodIn(t);
    const refuse = (message: string) => {
      ctx.status = 400;
      return overview(ctx, account, undefined, { at: 'routine', message });
    };
    if (choice === 'off') {
      if (!account.secondFactor) return refuse(t('account:secondFactor.alreadyOff'));
      await accounts.setSecondFactor(account.id, undefined);
      area.notify(ctx, account, `Two-factor sign-in with ${METHOD_NAMES[account.secondFactor]} was turned off.`, 'mfa.changed', twoFactorSaid('off', account.secondFactor));
      await overview(ctx, account, t('account:secondFactor.turnedOff'));
      return;
    }
    if (NEEDS_PHONE.includes(choice) && !(await deps.phones.primaryVerified(account.id))) return refuse(`${t('account:secondFactor.needsPhone', { method: method(choice) })} ${t('account:totp.noPhone')}`);
    const allowed = await routineChoices(account, t);
    const picked = allowed.find((c) => c.id === choice);
    if (!picked) return refuse(t('account:secondFactor.notSetUp'));
    if (account.secondFactor === picked.id) return refuse(t('account:secondFactor.alreadyUses', { method: method(picked.id) }));
    // one routine method at a time: switching means turning the current one off first
    if (account.secondFactor) return refuse(t('account:secondFactor.turnOffFirst', { method: method(account.secondFactor) }));
    if (NEEDS_PHONE.includes(picked.id) && !(await deps.phones.primaryVerified(account.id))) return refuse(`${t('account:secondFactor.needsPhone', { method: method(picked.id) })} ${t('account:totp.noPhone')}`);
    await accounts.setSecondFactor(account.id, picked.id);
    area.notify(ctx, account, `Two-factor sign-in with ${METHOD_NAMES[picked.id]} was turned on: every sign-in now asks for it.`, 'mfa.changed', twoFactorSaid('on', picked.id));
    await overview(ctx, account, t('account:secondFactor.turnedOn', { method: picked.label.toLowerCase() }));
  });

  change('/security/totp/remove', 'remove-password', async (ctx, account) => {
    if (account.secondFactor === 'totp') {
      ctx.status = 400;
      await overview(ctx, account, undefined, { at: 'remove-totp', message: tr(ctx)('account:totp.removeInUse') });
      return;
    }
    await totp.remove(account.id);
    area.notify(ctx, account, 'The authenticator app was removed from your account.', 'mfa.changed', { key: 'email:securityChange.appRemoved' });
    await overview(ctx, account, tr(ctx)('account:totp.removed'));
  });

  change('/security/recovery-codes', 'recovery-password', async (ctx, account) => {
    const codes = await recovery.generate(account.id);
    area.notify(ctx, account, 'New recovery codes were created; the old ones no longer work.', 'mfa.changed', { key: 'email:securityChange.recoveryRenewed' });
    await ctx.render('account/recovery-codes', { title: tr(ctx)('account:recoveryCodes.title'), account, codes, intro: undefined, replaced: true });
  });

  // security keys and passkeys: the page asks for options (JSON, CSRF header), the browser runs
  // the ceremony, and the form posts its answer with a name and the current password
  const registration = (ctx: Context) => `webauthn:${ctx.state.accountId as string}`;

  router.post('/security/webauthn/options', async (ctx) => {
    const account = await signedIn(ctx);
    if (!account) throw new UserFacingError(401, 'not_signed_in', 'Sign in again, then add the key.', { key: 'account:errors.signInAgainForKey' });
    ctx.state.accountId = account.id;
    ctx.body = await webauthn.registrationOptions(account, registration(ctx));
  });

  /**
   * A first second factor (an authenticator app, a security key) comes with a way back in when it
   * is lost: with no unused recovery codes, a batch is made and shown once, after `done`. False
   * when the account has codes (nothing shown).
   */
  async function showFirstCodes(ctx: Context, account: AccountView, done: string): Promise<boolean> {
    if ((await recovery.remaining(account.id)) !== 0) return false;
    const codes = await recovery.generate(account.id);
    area.notify(ctx, account, 'Recovery codes were created for your account.', 'mfa.changed', { key: 'email:securityChange.recoveryCreated' });
    await ctx.render('account/recovery-codes', { title: tr(ctx)('account:recoveryCodes.title'), account, codes, intro: done, replaced: false });
    return true;
  }

  change('/security/webauthn', 'key-password', async (ctx, account) => {
    ctx.state.accountId = account.id;
    const name = field(ctx, 'name', 64).trim();
    if (!name) {
      ctx.status = 400;
      await overview(ctx, account, undefined, { at: 'key-name', message: tr(ctx)('account:keys.nameNeeded') });
      return;
    }
    const result = await webauthn.register(account, registration(ctx), field(ctx, 'response', 16_384), name);
    if (!result.ok) {
      ctx.status = 400;
      await overview(ctx, account, undefined, { at: 'webauthn-start', message: result.message });
      return;
    }
    area.notify(ctx, account, `The security key "${name}" was added to your account.`, 'mfa.changed', { key: 'email:securityChange.keyAdded', vars: { name } });
    const done = tr(ctx)('account:keys.added', { name });
    if (await showFirstCodes(ctx, account, done)) return;
    await overview(ctx, account, done);
  });

  change('/security/webauthn/remove', (ctx) => `key-password-${field(ctx, 'id', 1024)}`, async (ctx, account) => {
    const id = field(ctx, 'id', 1024);
    if (account.secondFactor === 'webauthn' && (await webauthn.list(account.id)).length === 1 && (await webauthn.list(account.id))[0]!.id === id) {
      ctx.status = 400;
      await overview(ctx, account, undefined, { at: `remove-key-${id}`, message: tr(ctx)('account:keys.onlyKeyInUse') });
      return;
    }
    const removed = await webauthn.remove(account.id, id);
    if (!removed) ctx.status = 400;
    else area.notify(ctx, account, 'A security key was removed from your account.', 'mfa.changed', { key: 'email:securityChange.keyRemoved' });
    if (removed) await overview(ctx, account, tr(ctx)('account:keys.removed'));
    else await overview(ctx, account, undefined, { at: `remove-key-${id}`, message: tr(ctx)('account:keys.noSuchKey') });

  });

  for (const extend of extensions) extend(router, area);
  return router;
}
