// The Session history, Active sessions and auto-logout blocks of the security center, and the
// unlock page a locked session shows (the PIN, not a full sign-in). Ending a session ends the
// relying parties' sessions tied to it (src/sessions/service.ts).
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountStore, AccountView } from '../accounts/store.ts';
import { describeLocation } from '../devices/client-info.ts';
import type { DeviceRegistry } from '../devices/registry.ts';
import { REAUTH_REFUSED, field, type AccountArea } from '../account/area.ts';
import { stamp } from '../account/time.ts';
import { HISTORY_PAGE, type SignInHistory } from './history.ts';
import type { SessionService } from './service.ts';

export interface SessionRouteDeps {
  accounts: AccountStore;
  sessions: SessionService;
  history: SignInHistory;
  devices: DeviceRegistry;
  maxDays: number;
  /** Pages of history a person can go back (the kept entries). */
  keepEntries: number;
}

const RESULTS: Record<string, string> = {
  success: 'Signed in', wrong_password: 'Wrong password', wrong_code: 'Wrong code or PIN', blocked_device: 'Refused: device blocked', new_device: 'First sign-in from this device',
  recovery_requested: 'Assisted recovery requested', recovery_approved: 'Assisted recovery approved by an administrator', recovery_rejected: 'Assisted recovery rejected by an administrator',
  recovery_cancelled: 'Assisted recovery cancelled', recovery_completed: 'Second factors reset (assisted recovery)',
};
/** Results that are not a failure (shown without the warning colour). */
const NEUTRAL = new Set(['success', 'new_device']);

/** amr values in words; `mfa` and `user` say how, not what, and are left out. */
const FACTOR_WORDS: Record<string, string> = {
  pwd: 'password', otp: 'authenticator app', sms: 'text message', tel: 'call', email: 'emailed code', hwk: 'security key', swk: 'passkey', rcode: 'recovery code', pin: 'PIN',
};
const factorWords = (amr: string[]) => amr.flatMap((v) => (FACTOR_WORDS[v] ? [FACTOR_WORDS[v]] : [])).join(', ');

/**
 * A time as the person reads it: in the time zone of their profile (zoneinfo), named after it,
 * or in UTC when they set none (or an old profile holds one this runtime does not know).
 */
/** Where the unlock page returns: an account page, or an admin console page (never the JSON API). */
const safeBack = (value: unknown) =>
  typeof value === 'string' && value.length <= 200 && (/^\/account\/[\w/-]*$/.test(value) || (/^\/admin(\/[\w/-]*)?$/.test(value) && !/^\/admin\/api(\/|$)/.test(value)))
    ? value : '/account/security';

export function sessionRoutes(deps: SessionRouteDeps): (router: Router, area: AccountArea) => void {
  return (router, area) => {
    /** The page, with a notice at the top or a refusal beside the field or button whose id is `refused.at` (views/account/sessions.ejs). */
    async function page(ctx: Context, account: AccountView, message: { notice?: string; refused?: { at: string; message: string } } = {}) {
      const current = (await deps.accounts.findById(account.id)) ?? account;
      const here = await area.current(ctx);
      const sessions = (await deps.sessions.list(current, here?.session.uid)).map((s) => ({
        ...s, signedIn: stamp(s.signedInAt, current.profile.zoneinfo), lastActive: stamp(s.lastActiveAt, current.profile.zoneinfo), ends: stamp(s.endsAt, current.profile.zoneinfo), where: describeLocation(s.location),
      }));
      if (message.refused) ctx.status = 400;
      await ctx.render('account/sessions', {
        title: 'Active sessions', csrf: ctx.state._csrf, sessions, autoLogoutDays: current.security.autoLogoutDays, maxDays: deps.maxDays,
        reauthNeeded: await area.reauthNeeded(ctx), notice: message.notice, refused: message.refused,
      });
    }

    /**
     * A change on the sessions page: signed in and recently authenticated, or the page with why not
     * beside the form's password field (the id `passwordAt`).
     */
    function change(path: string, passwordAt: string | ((ctx: Context) => string), act: (ctx: Context, account: AccountView) => Promise<void>) {
      router.post(path, async (ctx) => {
        const account = await area.requireAccount(ctx);
        if (!account) return;
        if (!(await area.passwordConfirmed(ctx, account))) {
          await page(ctx, account, { refused: { at: typeof passwordAt === 'string' ? passwordAt : passwordAt(ctx), message: REAUTH_REFUSED } });
          return;
        }
        await act(ctx, account);
      });
    }

    router.get('/security/sessions', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (account) await page(ctx, account);
    });

    change('/security/sessions/end', (ctx) => `session-password-${field(ctx, 'session', 64)}`, async (ctx, account) => {
      const here = await area.current(ctx);
      const ref = field(ctx, 'session', 64);
      const own = (await deps.sessions.list(account, here?.session.uid)).find((s) => s.ref === ref);
      if (!own || !(await deps.sessions.endByRef(account.id, ref))) {
        await page(ctx, account, { refused: { at: `end-${ref}`, message: 'There is no such session of yours (it may have ended already): nothing was changed.' } });
        return;
      }
      area.notify(ctx, account, `A session (${own.browser} on ${own.os}) was signed out.`, 'session.ended');
      if (own.current) {
        ctx.redirect('/account/security');
        return;
      }
      await page(ctx, account, { notice: `The session on ${own.browser} on ${own.os} was signed out.` });
    });

    change('/security/sessions/end-others', 'others-password', async (ctx, account) => {
      const here = await area.current(ctx);
      const ended = await deps.sessions.endOthers(account.id, here?.session.uid);
      if (ended) area.notify(ctx, account, `All your other sessions (${ended}) were signed out.`, 'session.ended');
      await page(ctx, account, { notice: ended ? `${ended} other ${ended === 1 ? 'session was' : 'sessions were'} signed out.` : 'There were no other sessions.' });
    });

    change('/security/sessions/auto-logout', 'auto-password', async (ctx, account) => {
      const raw = field(ctx, 'days', 8).trim();
      const days = raw === 'never' ? null : /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
      if (days !== null && !(Number.isInteger(days) && days >= 1 && days <= deps.maxDays)) {
        await page(ctx, account, { refused: { at: 'days', message: `Choose a number of days from 1 to ${deps.maxDays}, or "never": nothing was changed.` } });
        return;
      }
      await deps.accounts.setSessionSettings(account.id, { autoLogoutDays: days });
      const said = days === null ? `sessions end after ${deps.maxDays} days (the longest this server allows)` : `sessions end ${days} ${days === 1 ? 'day' : 'days'} after sign-in`;
      area.notify(ctx, account, `Auto-logout changed: ${said}.`, 'session.changed');
      await page(ctx, account, { notice: `Saved: ${said}, whatever the activity. This applies to your current sessions too.` });
    });

    router.get('/security/history', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      const raw = typeof ctx.query.page === 'string' ? ctx.query.page : '1';
      const pages = Math.ceil(deps.keepEntries / HISTORY_PAGE);
      const number = /^\d{1,6}$/.test(raw) ? Math.min(Math.max(Number(raw), 1), pages) : 1;
      const { entries, older } = await deps.history.page(account.id, number - 1);
      const devices = new Map((await deps.devices.listFor(account.id)).map((d) => [d.id, d.name ?? `${d.browser} on ${d.os}`]));
      await ctx.render('account/history', {
        title: 'Session history', page: number, older: older && number < pages,
        entries: entries.map((e) => ({
          when: stamp(e.at, account.profile.zoneinfo), result: RESULTS[e.result] ?? e.result, ok: NEUTRAL.has(e.result), ip: e.ip ?? '—', where: describeLocation(e.location),
          browser: `${e.browser} on ${e.os}`, device: (e.deviceId && devices.get(e.deviceId)) || '—', factors: factorWords(e.factors),
          ...(e.application ? { application: e.application } : {}),
        })),
      });
    });

    // the screen lock: a locked session opens with the PIN; too many wrong PINs end it
    router.get('/unlock', async (ctx) => {
      const seen = await area.current(ctx);
      if (!seen || seen.state !== 'locked') {
        ctx.redirect(safeBack(ctx.query.back));
        return;
      }
      await ctx.render('account/unlock', { title: 'Unlock', csrf: ctx.state._csrf, back: safeBack(ctx.query.back), email: seen.account.email, error: undefined });
    });

    router.post('/unlock', async (ctx) => {
      const back = safeBack(field(ctx, 'back', 200));
      const seen = await area.current(ctx);
      if (!seen || seen.state !== 'locked') {
        ctx.redirect(back);
        return;
      }
      const result = await deps.sessions.unlock(seen.session.uid, seen.account, field(ctx, 'pin', 32).trim());
      if (result.outcome === 'unlocked') {
        ctx.redirect(back);
        return;
      }
      if (result.outcome === 'ended') {
        ctx.status = 401;
        await ctx.render('account/signed-out', { title: 'Signed out', back });
        return;
      }
      ctx.status = 400;
      await ctx.render('account/unlock', {
        title: 'Unlock', csrf: ctx.state._csrf, back, email: seen.account.email,
        error: `That PIN is not right. ${result.left} ${result.left === 1 ? 'try' : 'tries'} left before you are signed out.`,
      });
    });
  };
}
