// The admin console (/admin): server-rendered pages for clients, users and their devices,
// organisations and the audit log, over the one AdminService the JSON API uses too. Every page
// needs an admin's Tessera session at the multi-factor level (area.ts); every form carries the
// CSRF token (the app's page middleware checks it); destructive actions are confirmed with
// re-authentication (pages.ts). The JSON API (/admin/api/...) is another router.
import Router from '@koa/router';
import type { Middleware } from 'koa';
import { UserFacingError } from '../../http/errors.ts';
import { consolePath, createAdminArea, type AdminConsoleDeps } from './area.ts';
import { auditRoutes, rows } from './audit.ts';
import { clientRoutes } from './clients.ts';
import { organisationRoutes } from './organisations.ts';
import { adminErrors, confirmations, show } from './pages.ts';
import { userRoutes } from './users.ts';
import { recoveryRoutes } from './recoveries.ts';
import { webhookRoutes } from './webhooks.ts';

export { ADMIN_CLIENT, type AdminConsoleDeps } from './area.ts';

/** How far the overview counts accounts before it says "more than". */
const COUNT_PAGES = 10;

export function adminConsoleRouter(deps: AdminConsoleDeps): Router {
  const { admin } = deps;
  const router = new Router({ prefix: '/admin' });
  const area = createAdminArea(deps);
  const confirm = confirmations(area);
  const noStore: Middleware = async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    await next();
  };
  const gate: Middleware[] = [noStore, adminErrors, area.requireAdmin];

  // back from the sign-in: Tessera's session is what counts; the code is not needed here
  router.get('/callback', noStore, async (ctx) => {
    const error = typeof ctx.query.error === 'string' ? ctx.query.error : undefined;
    if (error === 'unmet_authentication_requirements') {
      throw new UserFacingError(403, 'second_factor_needed', 'The admin console needs a sign-in with a second factor, and this account has none. Set up an authenticator app or a security key in your account security center (/account/security), then open the console again.');
    }
    if (error) throw new UserFacingError(400, 'sign_in_failed', 'The sign-in did not complete. Open the admin console again to retry.');
    ctx.redirect(consolePath(ctx.query.state) ?? '/admin');
  });

  router.get('/', ...gate, async (ctx) => {
    const now = deps.reauth.clock();
    let users = 0;
    let cursor: string | undefined;
    for (let i = 0; i < COUNT_PAGES; i++) {
      const page = await admin.users.search({ limit: 100, ...(cursor ? { cursor } : {}) });
      users += page.items.length;
      cursor = page.next;
      if (!cursor) break;
    }
    const failures = await admin.audit.query({ type: 'sign_in.failure', from: new Date(now.getTime() - 24 * 3600_000), limit: 200 });
    const recent = await admin.audit.query({ type: 'admin.*', limit: 5 });
    await show(ctx, 'overview', {
      title: 'Administration',
      counts: {
        clients: (await admin.clients.list()).length,
        users: cursor ? `more than ${users}` : String(users),
        organisations: (await admin.organisations.list()).length,
        failures: failures.next ? `more than ${failures.items.length}` : String(failures.items.length),
      },
      recent: await rows(recent.items, deps.accounts),
    });
  });

  clientRoutes(router, gate, admin, confirm);
  userRoutes(router, gate, admin, confirm, deps.recoveries, deps.history);
  recoveryRoutes(router, gate, admin, deps.recoveries, deps.history, confirm, deps.reauth.clock);
  organisationRoutes(router, gate, admin, deps.accounts, confirm);
  webhookRoutes(router, gate, admin, confirm);
  auditRoutes(router, gate, admin, deps.accounts, deps.reauth.clock);
  return router;
}
