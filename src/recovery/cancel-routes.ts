// The cancel page of an assisted recovery (/account/recovery/cancel?token=…): where the link of
// the recovery emails and texts lands. No sign-in: the signed link is the proof. Opening it only
// shows the request and a Cancel button (a POST with the form's CSRF token), so a mail scanner
// that follows links cancels nothing; the button cancels once. The token is in the URL: the page
// is never cached and never sends a Referer.
import Router from '@koa/router';
import type { Context } from 'koa';
import { clientInfo } from '../devices/client-info.ts';
import { stamp } from '../i18n/format.ts';
import { tr } from '../account/area.ts';
import { CANCEL_PATH, type AssistedRecovery, type LinkCheck } from './service.ts';

const MAX_TOKEN = 120;

function tokenOf(ctx: Context, from: 'query' | 'body'): string {
  const value = from === 'query' ? ctx.query.token : (ctx.request.body as Record<string, unknown> | undefined)?.token;
  return typeof value === 'string' && value.length <= MAX_TOKEN ? value : '';
}

export function recoveryCancelRouter(recovery: AssistedRecovery): Router {
  const router = new Router({ prefix: CANCEL_PATH });
  router.use(async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Referrer-Policy', 'no-referrer');
    await next();
  });

  async function show(ctx: Context, token: string, link: LinkCheck, done = false) {
    if (!link.ok) ctx.status = 400;
    const r = link.ok ? link.recovery : undefined;
    // the page's language (switcher, Accept-Language); its times that language's way, in the account's zone
    const locale = typeof ctx.state.locale === 'string' ? ctx.state.locale : 'en';
    const when = (d: Date) => stamp(d, link.ok ? link.zoneinfo : undefined, locale);
    await ctx.render('account/recovery-cancel', {
      title: done ? tr(ctx)('account:recoveryCancel.cancelled') : tr(ctx)('account:recoveryCancel.title'), token, csrf: ctx.state._csrf, done,
      why: link.ok ? undefined : link.why, email: r?.email, state: r?.state,
      requestedAt: r ? when(r.requestedAt) : undefined, resetAfter: r?.resetAfter ? when(r.resetAfter) : undefined,
    });
  }

  router.get('/', async (ctx) => {
    const token = tokenOf(ctx, 'query');
    await show(ctx, token, await recovery.check(token));
  });

  router.post('/', async (ctx) => {
    const token = tokenOf(ctx, 'body');
    const result = await recovery.cancel(token, clientInfo(ctx.ip, ctx.get('user-agent')));
    await show(ctx, token, result, result.ok);
  });
  return router;
}
