// The Connected applications page of the security center (/account/security/apps): the relying
// parties the person let use their account, what each may see, and "Remove access", which ends the
// application's grant and tokens and forgets the person's consent, so it must ask again (src/oidc/connected-apps.ts).
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountView } from '../accounts/store.ts';
import type { ConnectedApp, ConnectedApps } from '../oidc/connected-apps.ts';
import { tr, field, type AccountArea } from './area.ts';
import { stamp } from '../i18n/format.ts';
import type { Translate } from '../i18n/index.ts';

/** Scopes in words, as the page says what an application may do ("Allowed: …"). */
const SCOPE_WORDS: Record<string, (t: Translate) => string> = {
  openid: (t) => t('account:apps.scopes.openid'), email: (t) => t('account:apps.scopes.email'), profile: (t) => t('account:apps.scopes.profile'),
  phone: (t) => t('account:apps.scopes.phone'), address: (t) => t('account:apps.scopes.address'),
  offline_access: (t) => t('account:apps.scopes.offline_access'), admin: (t) => t('account:apps.scopes.admin'),
};
const scopeWords = (t: Translate, scopes: string[]) => scopes.map((s) => SCOPE_WORDS[s]?.(t) ?? s).join(', ') || t('account:apps.scopes.none');


/** What the page says: a confirmation, or why nothing changed (beside the application it is about, when listed). */
interface Message {
  notice?: string;
  error?: string;
  /** The application (client id) the error is about: shown on its row when listed, else at the top. */
  clientId?: string;
}

function appView(t: Translate, app: ConnectedApp, message: Message, zone: string | undefined, locale: string) {
  return {
    clientId: app.clientId, name: app.name, scopes: scopeWords(t, app.scopes), granted: app.grantedAt && stamp(app.grantedAt, zone, locale), lastUsed: app.lastUsedAt && stamp(app.lastUsedAt, zone, locale),
    error: message.error && message.clientId === app.clientId ? message.error : undefined,
  };
}

export function connectedAppRoutes(apps: ConnectedApps): (router: Router, area: AccountArea) => void {
  return (router, area) => {
    async function page(ctx: Context, account: AccountView, message: Message = {}) {
      const listed = (await apps.list(account.id)).map((a) => appView(tr(ctx), a, message, account.profile.zoneinfo, ctx.state.locale as string));
      if (message.error) ctx.status = 400;
      await ctx.render('account/apps', {
        title: tr(ctx)('account:nav.apps'), csrf: ctx.state._csrf, apps: listed, reauthNeeded: await area.reauthNeeded(ctx),
        notice: message.notice, error: message.error && !listed.some((a) => a.error) ? message.error : undefined,
      });
    }

    router.get('/security/apps', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (account) await page(ctx, account);
    });

    router.post('/security/apps/remove', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      const clientId = field(ctx, 'app', 256);
      if (!(await area.passwordConfirmed(ctx, account))) {
        await page(ctx, account, { error: tr(ctx)('account:reauth.refused'), clientId });
        return;
      }
      const removed = clientId ? await apps.remove(account.id, clientId) : undefined;
      if (!removed) {
        await page(ctx, account, { error: tr(ctx)('account:apps.noSuchApp'), clientId });
        return;
      }
      area.notify(ctx, account, `Access was removed for the application ${removed.name}: it must ask you again before it can use your account.`, 'grant.revoked',
        { key: 'email:securityChange.appAccessRemoved', vars: { name: removed.name } });
      await page(ctx, account, { notice: tr(ctx)('account:apps.removed', { name: removed.name }) });
    });
  };
}
