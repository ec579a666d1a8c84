// The email address on the profile page: changing it (the new address, with re-authentication;
// a code emailed to the new address; entering it makes the change, which the old address is told
// about) and verifying it (a code emailed to the address; entering it marks it verified, the
// email_verified claim). Codes are the one-time code challenges every emailed code uses (sealed,
// expiring on the injected clock, 3 wrong entries lock one until "Resend"); each code is bound to
// the account and the address it went to, so it proves nothing about another address.
import { createHmac } from 'node:crypto';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { AccountError, normalizeEmail, type AccountStore, type AccountView } from '../accounts/store.ts';
import { ChallengeError, type Challenges } from '../factors/challenges.ts';
import { createCodeFactor } from '../factors/code-factor.ts';
import { maskEmail } from '../factors/email/index.ts';
import type { FactorContext, FactorPrompt } from '../factors/types.ts';
import type { CodeMessages } from '../notify/messages.ts';
import type { Transports } from '../notify/transports.ts';
import { clientInfo, describeLocation } from '../devices/client-info.ts';
import { field, tr, type AccountArea } from './area.ts';
import type { Translate } from '../i18n/index.ts';

export interface EmailRouteDeps {
  accounts: Pick<AccountStore, 'checkNewEmail' | 'changeEmail' | 'markEmailVerified'>;
  challenges: Challenges;
  transports: Transports;
  messages: CodeMessages;
  /** Takes one code send from the account's hourly cap (limits.resend); false at the cap. */
  codeSends(accountId: string): Promise<boolean>;
  /** Keys the address in a challenge's id (the database never holds it there in clear). */
  key: Buffer;
  clock: () => Date;
  log: (line: string) => void;
}

/** What the profile page's email block shows: the typed new address and each error beside its field. */
export interface EmailBlock {
  value?: string;
  problems?: { email?: string; password?: string };
  /** Why no verification code could be sent. */
  verifyProblem?: string;
}

/** Renders the profile page (profile-routes.ts) with the email block as given. */
export type ProfilePage = (ctx: Context, account: AccountView, email: EmailBlock, notice?: string) => Promise<void>;

type Purpose = 'email-change' | 'email-verify';
const MAX_EMAIL = 254;
const CAPPED = 'No code was sent: codes were sent too often in the last hour. Try again later.';

/** The words a refused address gets beside its field, in the page's language. */
function refusal(t: Translate, err: AccountError, english: boolean): string {
  switch (err.code) {
    case 'same_email': return t('account:email.same');
    // another account has it: say no more than that it cannot be used
    case 'email_taken': return t('account:email.taken');
    case 'email_moved': return t('account:email.moved');
    // an English page keeps the store's own words (what exactly is wrong with the address)
    case 'invalid_email': return english ? `${err.message[0]!.toUpperCase()}${err.message.slice(1)}.` : t('account:email.invalid');
    default: throw err;
  }
}

export function emailRoutes(deps: EmailRouteDeps, page: ProfilePage) {
  const { challenges } = deps;
  const tag = (address: string) => createHmac('sha256', deps.key).update(normalizeEmail(address)).digest('base64url');
  /** A code belongs to the account, the address it went to and what it confirms. */
  const contextOf = (account: AccountView, address: string, purpose: Purpose, restart = false) =>
    ({ account, scope: `${account.id}.${tag(address)}`, purpose, ...(restart ? { restart: true } : {}) });

  /** The emailed code for `address`; `allowFirst` is asked before a code is first made (not on Resend: the challenges count those). */
  const factorFor = (address: string, purpose: Purpose, allowFirst?: (accountId: string) => Promise<void>) => createCodeFactor({
    id: 'email', label: 'Email me a code',
    destination: async () => address, unavailableReason: 'no address',
    ...(allowFirst ? { allowSend: async (_to: string, c: FactorContext) => { if (c.restart) await allowFirst(c.account.id); } } : {}),
    deliver: async (to, code, minutes, _purpose, c) => deps.transports.email(await deps.messages.in(c.account.profile).emailAddressCode(to, code, minutes, purpose)),
    describe: (to) => `We emailed a 6-digit code to ${to}.`,
    said: (to) => ({ key: 'interaction:prompt.emailed', vars: { to } }),
  }, deps);

  const takeSend = async (accountId: string) => {
    if (!(await deps.codeSends(accountId))) throw new ChallengeError('send_limit', CAPPED);
  };

  /** The old address is told (in the background: a failed email never undoes the change). */
  function tellOldAddress(ctx: Context, before: AccountView, after: AccountView): void {
    const info = clientInfo(ctx.ip, ctx.get('user-agent'));
    const seen = { at: deps.clock(), ...(info.ip ? { ip: info.ip } : {}), where: describeLocation(info.location), browser: info.browser, os: info.os };
    void deps.messages.in(before.profile).emailChanged(before.email, maskEmail(after.email), seen)
      .then((email) => deps.transports.email(email))
      .catch((err: Error) => deps.log(`[tessera] could not tell the old address of account ${before.id} about its email change: ${err.message}`));
  }

  return (router: Router, area: AccountArea): void => {
    const base = { 'email-change': '/account/security/profile/email', 'email-verify': '/account/security/profile/email-verification' } as const;

    async function codePage(ctx: Context, purpose: Purpose, address: string, prompt: FactorPrompt, error?: string) {
      if (error) ctx.status = 400;
      if (prompt.capped) ctx.status = 429;
      await ctx.render('account/email-code', {
        title: purpose === 'email-change' ? tr(ctx)('account:email.confirmTitle') : tr(ctx)('account:email.verifyTitle'),
        csrf: ctx.state._csrf, purpose, address, action: base[purpose], prompt, error,
      });
    }

    /**
     * Whether a code was sent to `address` for `purpose` (else the profile page says so): a code
     * page never makes or sends a code for an address the person did not ask for first.
     */
    async function codeSent(ctx: Context, account: AccountView, purpose: Purpose, address: string): Promise<boolean> {
      if (address && await challenges.peek(contextOf(account, address, purpose).scope, purpose, 'email', account.id)) return true;
      ctx.status = 400;
      const noCode = tr(ctx)('account:email.noCode');
      await page(ctx, account, purpose === 'email-change' ? { value: address, problems: { email: noCode } } : { verifyProblem: noCode });
      return false;
    }

    /** Checks the entered code; a wrong one shows the code page again with the reason beside the field. */
    async function codeRight(ctx: Context, account: AccountView, purpose: Purpose, address: string): Promise<boolean> {
      const factor = factorFor(address, purpose);
      const c = contextOf(account, address, purpose);
      const result = await factor.verify(c, field(ctx, 'code', 16));
      if (result.ok) return true;
      // the code as it stands (nothing is made or sent), its trouble said once, beside the field
      const { problem: _said, ...prompt } = await factor.begin(c);
      await codePage(ctx, purpose, address, prompt, result.said ? tr(ctx)(result.said.key, result.said.vars) : result.message);
      return false;
    }

    // a change: the new address and re-authentication; then a code to the new address
    router.post('/security/profile/email', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      const typed = field(ctx, 'email', 1024);
      const value = typed.slice(0, MAX_EMAIL);
      const problems: NonNullable<EmailBlock['problems']> = {};
      if (!typed.trim()) problems.email = tr(ctx)('account:email.enterAddress');
      else if (typed.trim().length > MAX_EMAIL) problems.email = tr(ctx)('account:email.tooLong', { max: MAX_EMAIL });
      if (!(await area.passwordConfirmed(ctx, account))) problems.password = tr(ctx)('account:reauth.refused');
      let address = '';
      let taken: AccountError | undefined;
      if (!problems.email) {
        try {
          address = await deps.accounts.checkNewEmail(account.id, typed);
        } catch (err) {
          if (!(err instanceof AccountError)) throw err;
          if (err.code === 'email_taken') taken = err;
          else problems.email = refusal(tr(ctx), err, ctx.state.locale === 'en');
        }
      }
      if (!problems.email && !problems.password) {
        // whether another account has the address is told only after re-authentication, and each
        // answer counts on the hourly cap on codes: no free lookups of who has an address
        if (!(await deps.codeSends(account.id))) {
          ctx.status = 429;
          return page(ctx, account, { value, problems: { email: tr(ctx)('account:email.capped') } });
        }
        if (taken) problems.email = refusal(tr(ctx), taken, ctx.state.locale === 'en');
      }
      if (problems.email || problems.password) {
        ctx.status = 400;
        return page(ctx, account, { value, problems });
      }
      await codePage(ctx, 'email-change', address, await factorFor(address, 'email-change').begin(contextOf(account, address, 'email-change', true)));
    });

    router.post('/security/profile/email/code', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      const address = field(ctx, 'email', MAX_EMAIL).trim();
      if (!(await codeSent(ctx, account, 'email-change', address)) || !(await codeRight(ctx, account, 'email-change', address))) return;
      let changed: AccountView;
      try {
        changed = await deps.accounts.changeEmail(account.id, account.email, address);
      } catch (err) {
        if (!(err instanceof AccountError)) throw err;
        ctx.status = 400;
        return page(ctx, account, { value: address, problems: { email: refusal(tr(ctx), err, ctx.state.locale === 'en') } });
      }
      area.audit(ctx, account, 'account.email_changed', `The email address was changed from ${account.email} to ${changed.email}.`);
      tellOldAddress(ctx, account, changed);
      // the header names who is signed in: the new address from now on
      ctx.state.signedInAs = changed.email;
      await page(ctx, changed, {}, tr(ctx)('account:email.changed', { email: changed.email, old: account.email }));
    });

    router.post('/security/profile/email/resend', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      const address = field(ctx, 'email', MAX_EMAIL).trim();
      if (await codeSent(ctx, account, 'email-change', address)) await codePage(ctx, 'email-change', address, await factorFor(address, 'email-change').resend!(contextOf(account, address, 'email-change')));
    });

    // verification of the current address: a code to it (a first code counts on the hourly cap)
    router.post('/security/profile/email-verification', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      if (account.emailVerified) return page(ctx, account, {}, tr(ctx)('account:email.alreadyVerified'));
      const prompt = await factorFor(account.email, 'email-verify', takeSend).begin(contextOf(account, account.email, 'email-verify', true));
      if (prompt.capped) {
        ctx.status = 429;
        return page(ctx, account, { verifyProblem: !prompt.problem || prompt.problem === CAPPED ? tr(ctx)('account:email.capped') : prompt.problem });
      }
      await codePage(ctx, 'email-verify', account.email, prompt);
    });

    router.post('/security/profile/email-verification/code', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      if (!(await codeSent(ctx, account, 'email-verify', account.email)) || !(await codeRight(ctx, account, 'email-verify', account.email))) return;
      const verified = await deps.accounts.markEmailVerified(account.id, account.email);
      if (!verified) {
        ctx.status = 400;
        return page(ctx, account, { verifyProblem: tr(ctx)('account:email.movedNothingVerified') });
      }
      area.audit(ctx, verified, 'account.email_verified', `The email address ${verified.email} was verified.`);
      await page(ctx, verified, {}, tr(ctx)('account:email.verifiedNow', { email: verified.email }));
    });

    router.post('/security/profile/email-verification/resend', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      if (await codeSent(ctx, account, 'email-verify', account.email)) await codePage(ctx, 'email-verify', account.email, await factorFor(account.email, 'email-verify').resend!(contextOf(account, account.email, 'email-verify')));
    });
  };
}
