// The set-password page (/account/set-password?token=…): where the link of an invitation or of an
// admin's password reset lands. No sign-in: the token is the proof (the link came by email). The
// form asks for the new password twice and lists the rules; a refused password is answered with
// every problem and leaves the link usable; an accepted one spends the link (once, even under
// parallel requests) and sets the password. The token is in this page's URL, so the page never
// sends a Referer and is never cached.
import Router from '@koa/router';
import type { Context } from 'koa';
import { AccountError, type AccountStore } from '../accounts/store.ts';
import type { PasswordLinks } from '../accounts/password-links.ts';
import type { PasswordRules } from '../policy/password.ts';
import { field, tr } from './area.ts';
import { ruleWords } from './credentials.ts';
import { brokenRuleWords, weakPasswordWords } from './password-words.ts';

export interface SetPasswordDeps {
  accounts: Pick<AccountStore, 'findById' | 'passwordRuleProblems' | 'newPasswordProblemFor' | 'setPassword'>;
  passwordLinks: PasswordLinks;
  passwordRules: PasswordRules;
}

const MAX_PASSWORD = 1024;
const MAX_TOKEN = 64;

export function setPasswordRouter(deps: SetPasswordDeps): Router {
  const { accounts, passwordLinks } = deps;
  const router = new Router({ prefix: '/account' });

  function headers(ctx: Context) {
    ctx.set('Cache-Control', 'no-store');
    // the token is in the URL: no link or resource on this page may carry it elsewhere
    ctx.set('Referrer-Policy', 'no-referrer');
  }

  async function invalid(ctx: Context) {
    ctx.status = 400;
    await ctx.render('account/set-password', { title: tr(ctx)('account:setPassword.title'), state: 'invalid' });
  }

  /** The account a usable token names, or undefined (bad, used, expired, replaced, or the account is gone). */
  async function holder(token: string) {
    const link = token ? await passwordLinks.check(token) : undefined;
    return link ? accounts.findById(link.accountId) : undefined;
  }

  async function form(ctx: Context, token: string, email: string, errors: string[] = []) {
    if (errors.length) ctx.status = 400;
    await ctx.render('account/set-password', { title: tr(ctx)('account:setPassword.title'), state: 'form', token, email, errors, rules: ruleWords(tr(ctx), deps.passwordRules), csrf: ctx.state._csrf });
  }

  router.get('/set-password', async (ctx) => {
    headers(ctx);
    const token = typeof ctx.query.token === 'string' && ctx.query.token.length <= MAX_TOKEN ? ctx.query.token : '';
    const account = await holder(token);
    if (!account) return invalid(ctx);
    await form(ctx, token, account.email);
  });

  router.post('/set-password', async (ctx) => {
    headers(ctx);
    const token = field(ctx, 'token', MAX_TOKEN);
    const account = await holder(token);
    if (!account) return invalid(ctx);
    const password = field(ctx, 'password', MAX_PASSWORD);
    const repeat = field(ctx, 'confirm', MAX_PASSWORD);
    const t = tr(ctx);
    if (!password) return form(ctx, token, account.email, [t('account:password.enterNew')]);
    if (password !== repeat) return form(ctx, token, account.email, [t('account:password.mismatch')]);
    const broken = accounts.passwordRuleProblems(password);
    if (broken.length) return form(ctx, token, account.email, brokenRuleWords(t, deps.passwordRules, broken));
    const weak = await accounts.newPasswordProblemFor(account.id, password);
    if (weak) return form(ctx, token, account.email, [weakPasswordWords(t, deps.passwordRules, weak, ctx.state.locale === 'en')]);
    // only now is the link spent: exactly one of any parallel requests gets past this line
    const spent = await passwordLinks.redeem(token);
    if (!spent || spent.accountId !== account.id) return invalid(ctx);
    try {
      await accounts.setPassword(account.id, password);
    } catch (err) {
      if (err instanceof AccountError && err.code === 'not_found') return invalid(ctx);
      throw err;
    }
    await ctx.render('account/set-password', { title: tr(ctx)('account:setPassword.doneTitle'), state: 'done', email: account.email });
  });

  return router;
}
