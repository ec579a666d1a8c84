// The Password and PIN blocks of the security center. Password: the current one, a new one that
// meets every rule (each broken rule named) and is not common, typed twice; other sessions may be
// ended. PIN: set or change with a repeat and the current password; "Request PIN after sign-in"
// and the screen lock (both need a PIN). Every change emails a notice.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { AccountError, type AccountStore, type AccountView } from '../accounts/store.ts';
import { pinProblemKind, type PinProblem, type PinRules } from '../policy/pin.ts';
import { SCREEN_LOCK_MINUTES } from '../policy/session.ts';
import type { PasswordRules } from '../policy/password.ts';
import type { Translate } from '../i18n/index.ts';
import type { SessionService } from '../sessions/service.ts';
import { tr, field, type AccountArea } from './area.ts';
import { brokenRuleWords, weakPasswordWords } from './password-words.ts';

export interface CredentialDeps {
  accounts: AccountStore;
  sessions: SessionService;
  passwordRules: PasswordRules;
  pinRules: PinRules;
}

const MAX_PASSWORD = 1024;

/** The rule set in the page's language (policy/password.ts describeRules says the same in English). */
export const ruleWords = (t: Translate, rules: PasswordRules): string[] => [
  t('account:password.rules.minLength', { count: rules.minLength }),
  ...(rules.requireUpper ? [t('account:password.rules.upper')] : []),
  ...(rules.requireLower ? [t('account:password.rules.lower')] : []),
  ...(rules.requireDigit ? [t('account:password.rules.digit')] : []),
  ...(rules.symbols ? [t('account:password.rules.symbols', { symbols: rules.symbols })] : []),
  t('account:password.rules.notName'),
  t('account:password.rules.notCommon'),
];

/** Why a PIN is refused, in the page's language (policy/pin.ts pinProblem says the same in English). */
export function pinProblemWords(t: Translate, problem: PinProblem, rules: PinRules): string {
  switch (problem) {
    case 'digits_only': return t('account:pin.problem.digitsOnly');
    case 'length': return t('account:pin.problem.length', { min: rules.minLength, max: rules.maxLength });
    case 'repeats': return t('account:pin.problem.repeats');
    case 'sequence': return t('account:pin.problem.sequence');
  }
}

/** A refused change: why (one or more sentences), and the id of the field on the page it concerns. */
interface Refusal {
  at: string;
  messages: string[];
}

export function credentialRoutes(deps: CredentialDeps): (router: Router, area: AccountArea) => void {
  const { accounts } = deps;
  return (router, area) => {
    /** The password page; a refusal's messages stand beside the field they concern (current, new-password, confirm). */
    async function passwordPage(ctx: Context, message: { notice?: string; refused?: Refusal } = {}) {
      if (message.refused) ctx.status = 400;
      await ctx.render('account/password', { title: tr(ctx)('account:nav.password'), csrf: ctx.state._csrf, rules: ruleWords(tr(ctx), deps.passwordRules), notice: message.notice, refused: message.refused });
    }
    const refusePassword = (ctx: Context, at: 'current' | 'new-password' | 'confirm', ...messages: string[]) => passwordPage(ctx, { refused: { at, messages } });

    /** The PIN page; a refusal stands beside the field or button whose id it names (views/account/pin.ejs). */
    async function pinPage(ctx: Context, account: AccountView, message: { notice?: string; refused?: Refusal } = {}) {
      const current = (await accounts.findById(account.id)) ?? account;
      if (message.refused) ctx.status = 400;
      await ctx.render('account/pin', {
        title: tr(ctx)('account:nav.pin'), csrf: ctx.state._csrf, security: current.security, rules: deps.pinRules,
        lockChoices: SCREEN_LOCK_MINUTES, reauthNeeded: await area.reauthNeeded(ctx), notice: message.notice, refused: message.refused,
      });
    }
    const refusePin = (ctx: Context, account: AccountView, at: string, message: string) => pinPage(ctx, account, { refused: { at, messages: [message] } });

    router.get('/security/password', async (ctx) => {
      if (await area.requireAccount(ctx)) await passwordPage(ctx);
    });

    router.post('/security/password', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      const current = field(ctx, 'current', MAX_PASSWORD);
      const next = field(ctx, 'password', MAX_PASSWORD);
      const repeat = field(ctx, 'confirm', MAX_PASSWORD);
      const t = tr(ctx);
      if (!current) return refusePassword(ctx, 'current', t('account:password.enterCurrent'));
      // the current password goes through the limits first (wrong ones count, too many sign out)
      if (!(await area.passwordRight(ctx, account, current))) return refusePassword(ctx, 'current', t('account:password.wrongCurrent'));
      if (!next) return refusePassword(ctx, 'new-password', t('account:password.enterNew'));
      if (next !== repeat) return refusePassword(ctx, 'confirm', t('account:password.mismatch'));
      const broken = accounts.passwordRuleProblems(next);
      if (broken.length) return refusePassword(ctx, 'new-password', ...brokenRuleWords(t, deps.passwordRules, broken));
      try {
        await accounts.changePassword(account.id, current, next);
      } catch (err) {
        if (!(err instanceof AccountError)) throw err;
        if (err.code === 'wrong_password') return refusePassword(ctx, 'current', t('account:password.wrongCurrent'));
        return refusePassword(ctx, 'new-password', weakPasswordWords(t, deps.passwordRules, err.message, ctx.state.locale === 'en'));
      }
      let ended = 0;
      if (field(ctx, 'endOthers', 8) === 'on') {
        const here = await area.current(ctx);
        ended = await deps.sessions.endOthers(account.id, here?.session.uid, { ...area.who(ctx, account), why: 'signed out with the password change' });
      }
      area.notify(ctx, account, `Your password was changed${ended ? ` and ${ended} other ${ended === 1 ? 'session was' : 'sessions were'} signed out` : ''}.`, 'password.changed',
        ended ? { key: 'email:securityChange.passwordEnded', vars: { count: ended } } : { key: 'email:securityChange.password' });
      await passwordPage(ctx, { notice: `${t('account:password.changed')}${ended ? ` ${t('account:sessions.othersEnded', { count: ended })}` : ''}` });
    });

    router.get('/security/pin', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (account) await pinPage(ctx, account);
    });

    // set or change: PIN, repeat, and the current password (always typed, as for the password)
    router.post('/security/pin', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      const pin = field(ctx, 'pin', 32);
      const repeat = field(ctx, 'repeat', 32);
      const t = tr(ctx);
      if (!(await area.passwordRight(ctx, account, field(ctx, 'password', MAX_PASSWORD)))) return refusePin(ctx, account, 'pin-password', t('account:pin.wrongPassword'));
      if (pin !== repeat) return refusePin(ctx, account, 'repeat', t('account:pin.mismatch'));
      const problem = pinProblemKind(pin, deps.pinRules);
      if (problem) return refusePin(ctx, account, 'pin', `${pinProblemWords(t, problem, deps.pinRules)} ${t('account:pin.notChanged')}`);
      await accounts.setPin(account.id, pin);
      area.notify(ctx, account, account.security.pinSet ? 'Your PIN was changed.' : 'A PIN was set for your account.', 'pin.changed',
        { key: account.security.pinSet ? 'email:securityChange.pinChanged' : 'email:securityChange.pinSet' });
      await pinPage(ctx, account, { notice: account.security.pinSet ? t('account:pin.changed') : t('account:pin.set') });
    });

    router.post('/security/pin/settings', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      if (!(await area.passwordConfirmed(ctx, account))) return refusePin(ctx, account, 'settings-password', tr(ctx)('account:reauth.refused'));
      const after = field(ctx, 'afterSignIn', 8);
      const lock = Number(field(ctx, 'screenLock', 8) || 'x');
      const t = tr(ctx);
      const CHOOSE = t('account:pin.choose');
      if (after !== 'yes' && after !== 'no') return refusePin(ctx, account, 'after', CHOOSE);
      if (!(SCREEN_LOCK_MINUTES as readonly number[]).includes(lock)) return refusePin(ctx, account, 'lock', CHOOSE);
      if (!account.security.pinSet && (after === 'yes' || lock > 0)) return refusePin(ctx, account, 'settings-save', t('account:pin.setFirst'));
      await accounts.setSessionSettings(account.id, { pinAfterSignIn: after === 'yes', screenLockMinutes: lock });
      const said = `PIN after sign-in: ${after}; screen lock: ${lock ? `after ${lock} minutes of inactivity` : 'off'}.`;
      area.notify(ctx, account, `Your PIN settings changed. ${said}`, 'pin.changed', { key: 'email:securityChange.pinSettings', vars: {
        afterSignIn: { key: after === 'yes' ? 'account:common.yes' : 'account:common.no' },
        screenLock: lock ? { key: 'email:securityChange.screenLockAfter', vars: { count: lock } } : { key: 'account:common.off' },
      } });
      await pinPage(ctx, account, { notice: t('account:pin.saved', { afterSignIn: after === 'yes' ? t('account:common.yes') : t('account:common.no'), screenLock: lock ? t('account:pin.afterInactivity', { count: lock }) : t('account:common.off') }) });
    });

    router.post('/security/pin/remove', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      if (!(await area.passwordConfirmed(ctx, account))) return refusePin(ctx, account, 'remove-password', tr(ctx)('account:reauth.refused'));
      if (!account.security.pinSet) return refusePin(ctx, account, 'remove-pin', tr(ctx)('account:pin.nothingToRemove'));
      await accounts.removePin(account.id);
      area.notify(ctx, account, 'Your PIN was removed; sign-ins no longer ask for it and the screen lock is off.', 'pin.changed', { key: 'email:securityChange.pinRemoved' });
      await pinPage(ctx, account, { notice: tr(ctx)('account:pin.removed') });
    });
  };
}
