// The Connected applications page of the security center (/account/security/apps): the relying
// parties the person let use their account, what each may see, and "Remove access", which ends the
// application's grant and tokens so it must ask for consent again (src/oidc/connected-apps.ts).
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountView } from '../accounts/store.ts';
import type { ConnectedApp, ConnectedApps } from '../oidc/connected-apps.ts';
import { REAUTH_REFUSED, field, type AccountArea } from './area.ts';
import { stamp } from './time.ts';

/** Scopes in words, as the page says what an application may do ("Allowed: …"). */
const SCOPE_WORDS: Record<string, string> = {
  openid: 'who you are', email: 'your email address', profile: 'your profile (name and other details)', phone: 'your phone number',
  address: 'your postal address', offline_access: 'stay signed in (offline access)', admin: 'administer Tessera',
};
const scopeWords = (scopes: string[]) => scopes.map((s) => SCOPE_WORDS[s] ?? s).join(', ') || 'only that you signed in';


/** What the page says: a confirmation, or why nothing changed (beside the application it is about, when listed). */
interface Message {
  notice?: string;
  error?: string;
  /** The grant the error is about: shown on its row when listed, else at the top. */
  grantId?: string;
}

function appView(app: ConnectedApp, message: Message, zone: string | undefined) {
  return {
    grantId: app.grantId, name: app.name, scopes: scopeWords(app.scopes), granted: app.grantedAt && stamp(app.grantedAt, zone), lastUsed: app.lastUsedAt && stamp(app.lastUsedAt, zone),
    error: message.error && message.grantId === app.grantId ? message.error : undefined,
  };
}

export function connectedAppRoutes(apps: ConnectedApps): (router: Router, area: AccountArea) => void {
  return (router, area) => {
    async function page(ctx: Context, account: AccountView, message: Message = {}) {
      const listed = (await apps.list(account.id)).map((a) => appView(a, message, account.profile.zoneinfo));
      if (message.error) ctx.status = 400;
      await ctx.render('account/apps', {
        title: 'Connected applications', csrf: ctx.state._csrf, apps: listed, reauthNeeded: await area.reauthNeeded(ctx),
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
      const grantId = field(ctx, 'grant', 128);
      if (!(await area.passwordConfirmed(ctx, account))) {
        await page(ctx, account, { error: REAUTH_REFUSED, grantId });
        return;
      }
      const removed = grantId ? await apps.remove(account.id, grantId) : undefined;
      if (!removed) {
        await page(ctx, account, { error: 'There is no such application with access to your account (its access may have been removed already): nothing was changed.', grantId });
        return;
      }
      area.notify(ctx, account, `Access was removed for the application ${removed.name}: it must ask you again before it can use your account.`, 'grant.revoked');
      await page(ctx, account, { notice: `${removed.name} no longer has access to your account. If you use it again, it will ask for your permission.` });
    });
  };
}
