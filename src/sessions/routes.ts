// The Session history, Active sessions and auto-logout blocks of the security center, and the
// unlock page a locked session shows (the PIN, not a full sign-in). Ending a session ends the
// relying parties' sessions tied to it (src/sessions/service.ts).
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountStore, AccountView } from '../accounts/store.ts';
import { browserOn, placeIn, softwareIn } from '../devices/device-words.ts';
import type { DeviceRegistry } from '../devices/registry.ts';
import { tr, field, type AccountArea } from '../account/area.ts';
import { stamp } from '../i18n/format.ts';
import type { Translate } from '../i18n/index.ts';
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

/** Each result in the page's language (locales/<language>/account.json history.results). */
const RESULTS: Record<string, (t: Translate) => string> = {
  success: (t) => t('account:history.results.success'), wrong_password: (t) => t('account:history.results.wrong_password'),
  wrong_code: (t) => t('account:history.results.wrong_code'), blocked_device: (t) => t('account:history.results.blocked_device'),
  new_device: (t) => t('account:history.results.new_device'), recovery_requested: (t) => t('account:history.results.recovery_requested'),
  recovery_approved: (t) => t('account:history.results.recovery_approved'), recovery_rejected: (t) => t('account:history.results.recovery_rejected'),
  recovery_cancelled: (t) => t('account:history.results.recovery_cancelled'), recovery_completed: (t) => t('account:history.results.recovery_completed'),
};
/** Results that are not a failure (shown without the warning colour). */
const NEUTRAL = new Set(['success', 'new_device']);

/** amr values in words; `mfa` and `user` say how, not what, and are left out. */
const FACTOR_WORDS: Record<string, (t: Translate) => string> = {
  pwd: (t) => t('account:history.factors.pwd'), otp: (t) => t('account:history.factors.otp'), sms: (t) => t('account:history.factors.sms'),
  tel: (t) => t('account:history.factors.tel'), email: (t) => t('account:history.factors.email'), hwk: (t) => t('account:history.factors.hwk'),
  swk: (t) => t('account:history.factors.swk'), rcode: (t) => t('account:history.factors.rcode'), pin: (t) => t('account:history.factors.pin'),
};
const factorWords = (t: Translate, amr: string[]) => amr.flatMap((v) => (FACTOR_WORDS[v] ? [FACTOR_WORDS[v](t)] : [])).join(', ');

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
      const zone = current.profile.zoneinfo;
      const locale = ctx.state.locale as string;
      const sessions = (await deps.sessions.list(current, here?.session.uid)).map((s) => ({
        ...s, signedIn: stamp(s.signedInAt, zone, locale), lastActive: stamp(s.lastActiveAt, zone, locale), ends: stamp(s.endsAt, zone, locale), where: placeIn(tr(ctx), locale, s.location), ...softwareIn(tr(ctx), s),
      }));
      if (message.refused) ctx.status = 400;
      await ctx.render('account/sessions', {
        title: tr(ctx)('account:nav.sessions'), csrf: ctx.state._csrf, sessions, autoLogoutDays: current.security.autoLogoutDays, maxDays: deps.maxDays,
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
          await page(ctx, account, { refused: { at: typeof passwordAt === 'string' ? passwordAt : passwordAt(ctx), message: tr(ctx)('account:reauth.refused') } });
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
        await page(ctx, account, { refused: { at: `end-${ref}`, message: tr(ctx)('account:sessions.noSuchSession') } });
        return;
      }
      area.notify(ctx, account, `A session (${own.browser} on ${own.os}) was signed out.`, 'session.ended', { key: 'email:securityChange.sessionEnded', vars: { browser: own.browser, os: own.os } });
      if (own.current) {
        ctx.redirect('/account/security');
        return;
      }
      await page(ctx, account, { notice: tr(ctx)('account:sessions.ended', { browser: own.browser, os: own.os }) });
    });

    change('/security/sessions/end-others', 'others-password', async (ctx, account) => {
      const here = await area.current(ctx);
      const ended = await deps.sessions.endOthers(account.id, here?.session.uid);
      if (ended) area.notify(ctx, account, `All your other sessions (${ended}) were signed out.`, 'session.ended', { key: 'email:securityChange.othersEnded', vars: { ended } });
      await page(ctx, account, { notice: ended ? tr(ctx)('account:sessions.othersEnded', { count: ended }) : tr(ctx)('account:sessions.noOthers') });
    });

    change('/security/sessions/auto-logout', 'auto-password', async (ctx, account) => {
      const raw = field(ctx, 'days', 8).trim();
      const days = raw === 'never' ? null : /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
      if (days !== null && !(Number.isInteger(days) && days >= 1 && days <= deps.maxDays)) {
        await page(ctx, account, { refused: { at: 'days', message: tr(ctx)('account:sessions.chooseDays', { max: deps.maxDays }) } });
        return;
      }
      await deps.accounts.setSessionSettings(account.id, { autoLogoutDays: days });
      const said = days === null ? `sessions end after ${deps.maxDays} days (the longest this server allows)` : `sessions end ${days} ${days === 1 ? 'day' : 'days'} after sign-in`;
      area.notify(ctx, account, `Auto-logout changed: ${said}.`, 'session.changed', days === null
        ? { key: 'email:securityChange.autoLogoutLongest', vars: { max: deps.maxDays } } : { key: 'email:securityChange.autoLogoutDays', vars: { count: days } });
      const t = tr(ctx);
      await page(ctx, account, { notice: t('account:sessions.saved', { said: days === null ? t('account:sessions.saidLongest', { max: deps.maxDays }) : t('account:sessions.saidDays', { count: days }) }) });
    });

    router.get('/security/history', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      const raw = typeof ctx.query.page === 'string' ? ctx.query.page : '1';
      const pages = Math.ceil(deps.keepEntries / HISTORY_PAGE);
      const number = /^\d{1,6}$/.test(raw) ? Math.min(Math.max(Number(raw), 1), pages) : 1;
      const { entries, older } = await deps.history.page(account.id, number - 1);
      const t = tr(ctx);
      const devices = new Map((await deps.devices.listFor(account.id)).map((d) => [d.id, d.name ?? browserOn(t, d)]));
      await ctx.render('account/history', {
        title: t('account:nav.history'), page: number, older: older && number < pages,
        entries: entries.map((e) => ({
          when: stamp(e.at, account.profile.zoneinfo, ctx.state.locale as string), result: RESULTS[e.result]?.(t) ?? e.result, ok: NEUTRAL.has(e.result), ip: e.ip ?? '—',
          where: placeIn(t, ctx.state.locale as string, e.location),
          browser: browserOn(t, e), device: (e.deviceId && devices.get(e.deviceId)) || '—', factors: factorWords(t, e.factors),
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
      await ctx.render('account/unlock', { title: tr(ctx)('account:unlock.title'), csrf: ctx.state._csrf, back: safeBack(ctx.query.back), email: seen.account.email, error: undefined });
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
        await ctx.render('account/signed-out', { title: tr(ctx)('account:unlock.signedOutTitle'), back });
        return;
      }
      ctx.status = 400;
      await ctx.render('account/unlock', {
        title: tr(ctx)('account:unlock.title'), csrf: ctx.state._csrf, back, email: seen.account.email,
        error: tr(ctx)('account:unlock.wrongPin', { count: result.left }),
      });
    });
  };
}
