// GET /dev/outbox (development only): the emails, texts and calls the outbox transports recorded,
// newest first, so a newcomer without SMTP or Twilio can read their codes.
import type { Context, Next } from 'koa';
import type { Outbox } from './transports.ts';

export function outboxPage(outbox: Outbox) {
  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'GET' || ctx.path !== '/dev/outbox') return next();
    ctx.set('Cache-Control', 'no-store');
    await (ctx as unknown as { render: (v: string, l: object) => Promise<void> }).render('dev/outbox', { title: 'Development outbox', entries: outbox.list() });
  };
}
