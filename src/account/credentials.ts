// The Password and PIN blocks of the security center. Password: the current one, a new one that
// meets every rule (each broken rule named) and is not common, typed twice; other sessions may be
// ended. PIN: set or change with a repeat and the current password; "Request PIN after sign-in"
// and the screen lock (both need a PIN). Every change emails a notice.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { AccountError, type AccountStore, type AccountView } from '../accounts/store.ts';
import { pinProblem, type PinRules } from '../policy/pin.ts';
import { SCREEN_LOCK_MINUTES } from '../policy/session.ts';
import { describeRules, type PasswordRules } from '../policy/password.ts';
import type { SessionService } from '../sessions/service.ts';
import { REAUTH_REFUSED, field, type AccountArea } from './area.ts';

export interface CredentialDeps {
  accounts: AccountStore;
  sessions: SessionService;
  passwordRules: PasswordRules;
  pinRules: PinRules;
}

const MAX_PASSWORD = 1024;

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
      await ctx.render('account/password', { title: 'Password', csrf: ctx.state._csrf, rules: describeRules(deps.passwordRules), notice: message.notice, refused: message.refused });
    }
    const refusePassword = (ctx: Context, at: 'current' | 'new-password' | 'confirm', ...messages: string[]) => passwordPage(ctx, { refused: { at, messages } });

    /** The PIN page; a refusal stands beside the field or button whose id it names (views/account/pin.ejs). */
    async function pinPage(ctx: Context, account: AccountView, message: { notice?: string; refused?: Refusal } = {}) {
      const current = (await accounts.findById(account.id)) ?? account;
      if (message.refused) ctx.status = 400;
      await ctx.render('account/pin', {
        title: 'PIN and screen lock', csrf: ctx.state._csrf, security: current.security, rules: deps.pinRules,
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
      if (!current) return refusePassword(ctx, 'current', 'Enter your current password.');
      // the current password goes through the limits first (wrong ones count, too many sign out)
      if (!(await area.passwordRight(ctx, account, current))) return refusePassword(ctx, 'current', 'Your current password is not right: nothing was changed.');
      if (!next) return refusePassword(ctx, 'new-password', 'Enter a new password.');
      if (next !== repeat) return refusePassword(ctx, 'confirm', 'The new password and its confirmation do not match.');
      const broken = accounts.passwordRuleProblems(next);
      if (broken.length) return refusePassword(ctx, 'new-password', ...broken.map((rule) => `The new password needs ${rule}.`));
      try {
        await accounts.changePassword(account.id, current, next);
      } catch (err) {
        if (!(err instanceof AccountError)) throw err;
        if (err.code === 'wrong_password') return refusePassword(ctx, 'current', 'Your current password is not right: nothing was changed.');
        return refusePassword(ctx, 'new-password', `${err.message[0]!.toUpperCase()}${err.message.slice(1)}.`);
      }
      let ended = 0;
      if (field(ctx, 'endOthers', 8) === 'on') {
        const here = await area.current(ctx);
        ended = await deps.sessions.endOthers(account.id, here?.session.uid, { ...area.who(ctx, account), why: 'signed out with the password change' });
      }
      area.notify(ctx, account, `Your password was changed${ended ? ` and ${ended} other ${ended === 1 ? 'session was' : 'sessions were'} signed out` : ''}.`, 'password.changed');
      await passwordPage(ctx, { notice: `Your password was changed.${ended ? ` ${ended} other ${ended === 1 ? 'session was' : 'sessions were'} signed out.` : ''}` });
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
      if (!(await area.passwordRight(ctx, account, field(ctx, 'password', MAX_PASSWORD)))) return refusePin(ctx, account, 'pin-password', 'Your current password is not right: the PIN was not changed.');
      if (pin !== repeat) return refusePin(ctx, account, 'repeat', 'The PIN and its repeat do not match: the PIN was not changed.');
      const problem = pinProblem(pin, deps.pinRules);
      if (problem) return refusePin(ctx, account, 'pin', `${problem} The PIN was not changed.`);
      await accounts.setPin(account.id, pin);
      area.notify(ctx, account, account.security.pinSet ? 'Your PIN was changed.' : 'A PIN was set for your account.', 'pin.changed');
      await pinPage(ctx, account, { notice: account.security.pinSet ? 'Your PIN was changed.' : 'Your PIN is set. You can now ask for it after sign-in or use the screen lock.' });
    });

    router.post('/security/pin/settings', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      if (!(await area.passwordConfirmed(ctx, account))) return refusePin(ctx, account, 'settings-password', REAUTH_REFUSED);
      const after = field(ctx, 'afterSignIn', 8);
      const lock = Number(field(ctx, 'screenLock', 8) || 'x');
      const CHOOSE = 'Choose yes or no, and a screen lock from the list: nothing was changed.';
      if (after !== 'yes' && after !== 'no') return refusePin(ctx, account, 'after', CHOOSE);
      if (!(SCREEN_LOCK_MINUTES as readonly number[]).includes(lock)) return refusePin(ctx, account, 'lock', CHOOSE);
      if (!account.security.pinSet && (after === 'yes' || lock > 0)) return refusePin(ctx, account, 'settings-save', 'Set a PIN first: nothing was changed.');
      await accounts.setSessionSettings(account.id, { pinAfterSignIn: after === 'yes', screenLockMinutes: lock });
      const said = `PIN after sign-in: ${after}; screen lock: ${lock ? `after ${lock} minutes of inactivity` : 'off'}.`;
      area.notify(ctx, account, `Your PIN settings changed. ${said}`, 'pin.changed');
      await pinPage(ctx, account, { notice: `Saved. ${said}` });
    });

    router.post('/security/pin/remove', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      if (!(await area.passwordConfirmed(ctx, account))) return refusePin(ctx, account, 'remove-password', REAUTH_REFUSED);
      if (!account.security.pinSet) return refusePin(ctx, account, 'remove-pin', 'There is no PIN to remove.');
      await accounts.removePin(account.id);
      area.notify(ctx, account, 'Your PIN was removed; sign-ins no longer ask for it and the screen lock is off.', 'pin.changed');
      await pinPage(ctx, account, { notice: 'Your PIN was removed. The screen lock and "PIN after sign-in" are off.' });
    });
  };
}
