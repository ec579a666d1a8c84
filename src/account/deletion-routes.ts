// "Delete your account" in the security center (/account/security/delete): what deletion removes
// and keeps, then a form with the current password (always typed: an irreversible change) that
// schedules the deletion after the grace period (accounts/deletion.ts), signs the person out
// everywhere, and says how to cancel: sign in again before the date.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountView } from '../accounts/store.ts';
import type { AccountDeletion } from '../accounts/deletion.ts';
import type { SessionService } from '../sessions/service.ts';
import { clientInfo } from '../devices/client-info.ts';
import { field, tr, type AccountArea } from './area.ts';
import { day } from '../i18n/format.ts';

export interface DeletionRouteDeps {
  deletion: Pick<AccountDeletion, 'schedule' | 'graceDays'>;
  sessions: Pick<SessionService, 'endOthers'>;
}

export function deletionRoutes(deps: DeletionRouteDeps) {
  return (router: Router, area: AccountArea): void => {
    const page = (ctx: Context, account: AccountView, error?: string) => ctx.render('account/delete', {
      title: tr(ctx)('account:nav.delete'), account, graceDays: deps.deletion.graceDays, error, csrf: ctx.state._csrf,
    });

    router.get('/security/delete', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      await page(ctx, account);
    });

    router.post('/security/delete', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      const password = field(ctx, 'password');
      if (!password || !(await area.passwordRight(ctx, account, password))) {
        ctx.status = 400;
        await page(ctx, account, password ? tr(ctx)('account:deletion.wrongPassword') : tr(ctx)('account:deletion.enterPassword'));
        return;
      }
      const scheduled = await deps.deletion.schedule(account, clientInfo(ctx.ip, ctx.get('user-agent')));
      await deps.sessions.endOthers(account.id, undefined, { actor: { type: 'user', id: account.id, label: account.email }, why: 'the account is to be deleted' });
      // the day in the account's zone, written the page's way ("14 April 2026" in English)
      await ctx.render('account/delete-scheduled', { title: tr(ctx)('account:deletion.scheduledTitle'), email: account.email, on: day(scheduled.deletionScheduledFor!, account.profile.zoneinfo, ctx.state.locale as string) });
    });
  };
}
