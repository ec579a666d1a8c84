// The "This wasn't me" page (/account/not-me?token=…): where the link of a new-device or unusual
// sign-in email lands. No sign-in: the signed link is the proof (devices/containment.ts). Opening
// it only shows what will happen and a button (a POST with the form's CSRF token), so a mail
// scanner that follows links changes nothing; the button secures the account once. A bad, expired
// or used link gets a 400 page with a way forward. The token is in the URL: the page is never
// cached and never sends a Referer.
import Router from '@koa/router';
import type { Context } from 'koa';
import { clientInfo } from './client-info.ts';
import { CONTAINMENT_PATH, DEVICES_PATH, type Containment, type ContainmentCheck } from './containment.ts';
import type { Translate } from '../i18n/index.ts';
import { deviceIn, speakAs } from './device-words.ts';
import { stamp } from '../i18n/format.ts';

const MAX_TOKEN = 200;

function tokenOf(ctx: Context, from: 'query' | 'body'): string {
  const value = from === 'query' ? ctx.query.token : (ctx.request.body as Record<string, unknown> | undefined)?.token;
  return typeof value === 'string' && value.length <= MAX_TOKEN ? value : '';
}

export function containmentRouter(containment: Containment): Router {
  const router = new Router({ prefix: CONTAINMENT_PATH });
  router.use(async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Referrer-Policy', 'no-referrer');
    await next();
  });

  async function show(ctx: Context, token: string, link: ContainmentCheck, done = false) {
    if (!link.ok) ctx.status = 400;
    // the page speaks the language of the account the link names
    if (link.ok) speakAs(ctx, link.account);
    await ctx.render('devices/not-me', {
      token, csrf: ctx.state._csrf, done, days: containment.days, devicesPath: DEVICES_PATH,
      why: link.ok ? undefined : link.why,
      email: link.ok ? link.account.email : undefined,
      device: link.ok ? deviceIn(ctx.state.t as Translate, link.device, true) : undefined,
      lastUsed: link.ok && link.device.lastUsedAt ? stamp(link.device.lastUsedAt, link.account.profile?.zoneinfo, ctx.state.locale as string) : undefined,
    });
  }

  router.get('/', async (ctx) => {
    const token = tokenOf(ctx, 'query');
    await show(ctx, token, await containment.check(token));
  });

  router.post('/', async (ctx) => {
    const token = tokenOf(ctx, 'body');
    const result = await containment.confirm(token, clientInfo(ctx.ip, ctx.get('user-agent')));
    await show(ctx, token, result, result.ok);
  });
  return router;
}
