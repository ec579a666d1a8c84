// The "Your data" page of the security center (/account/security/data): says in plain sentences
// what the download holds, and its form answers a JSON file of everything Tessera keeps about the
// account (data-export.ts). Downloading asks for recent authentication like a change, and emails
// the person that it happened.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { AccountView } from '../accounts/store.ts';
import type { AuditEvent } from '../audit/events.ts';
import type { AuditLog } from '../audit/store.ts';
import type { SignInEvent } from '../devices/events.ts';
import type { DeviceRegistry } from '../devices/registry.ts';
import type { RecoveryCodes } from '../factors/recovery/index.ts';
import type { TotpStore } from '../factors/totp/index.ts';
import type { WebAuthnStore } from '../factors/webauthn/index.ts';
import type { OidcStorage } from '../oidc/adapter.ts';
import type { ClientStore } from '../oidc/clients.ts';
import type { Organisations } from '../orgs/store.ts';
import type { Phones } from '../phones/store.ts';
import { HISTORY_PAGE, type SignInHistory } from '../sessions/history.ts';
import type { SessionService } from '../sessions/service.ts';
import type { TrustedIps } from '../trusted-ips/store.ts';
import { assembleExport, exportFileName, type AccountFacts } from './data-export.ts';
import { field, tr, type AccountArea } from './area.ts';

export interface DataExportDeps {
  organisations: Pick<Organisations, 'memberOf'>;
  devices: Pick<DeviceRegistry, 'listFor'>;
  sessions: Pick<SessionService, 'list'>;
  history: Pick<SignInHistory, 'page'>;
  phones: Pick<Phones, 'list'>;
  trustedIps: Pick<TrustedIps, 'list'>;
  totp: Pick<TotpStore, 'enrolledAt'>;
  webauthn: Pick<WebAuthnStore, 'list'>;
  recovery: Pick<RecoveryCodes, 'remaining'>;
  storage: Pick<OidcStorage, 'grantsOf'>;
  clients: Pick<ClientStore, 'find'>;
  audit: Pick<AuditLog, 'query'>;
  /** Sign-in attempts kept per account (account.historyEntries). */
  keepEntries: number;
  /** Most audit events in one download (AUDIT_EXPORT_MAX_ROWS, as the admin's CSV). */
  auditMaxRows: number;
  sessionMaxDays: number;
  clock: () => Date;
}

const AUDIT_PAGE = 200;

export function dataExportRoutes(deps: DataExportDeps): (router: Router, area: AccountArea) => void {
  /** Every kept sign-in attempt, newest first (the history's own pages, each read by _id). */
  async function allHistory(accountId: string): Promise<SignInEvent[]> {
    const entries: SignInEvent[] = [];
    const pages = Math.ceil(deps.keepEntries / HISTORY_PAGE) + 1;
    for (let n = 0; n < pages; n++) {
      const page = await deps.history.page(accountId, n);
      entries.push(...page.entries);
      if (!page.older) break;
    }
    return entries;
  }

  /**
   * The audit events about the account, newest first, up to the limit. The one read here that is
   * not by _id: a query by accountId, served by its index on MongoDB, a scan of the collection on
   * the embedded database — acceptable for a download a person asks for rarely, never on a page view.
   */
  async function auditOf(accountId: string): Promise<{ events: AuditEvent[]; complete: boolean }> {
    const events: AuditEvent[] = [];
    let cursor: string | undefined;
    while (events.length < deps.auditMaxRows) {
      const page = await deps.audit.query({ accountId, limit: Math.min(AUDIT_PAGE, deps.auditMaxRows - events.length), ...(cursor ? { cursor } : {}) });
      events.push(...page.events);
      if (!page.next) return { events, complete: true };
      cursor = page.next;
    }
    return { events, complete: false };
  }

  async function facts(account: AccountView, currentUid: string | undefined): Promise<AccountFacts> {
    const [organisation, devices, sessions, history, phones, trustedIps, totpSince, keys, recoveryCodesLeft, grants, audit] = await Promise.all([
      deps.organisations.memberOf(account), deps.devices.listFor(account.id), deps.sessions.list(account, currentUid), allHistory(account.id),
      deps.phones.list(account.id), deps.trustedIps.list(account.id), deps.totp.enrolledAt(account.id), deps.webauthn.list(account.id),
      deps.recovery.remaining(account.id), deps.storage.grantsOf(account.id), auditOf(account.id),
    ]);
    const clientIds = new Set([...grants.map((g) => g.clientId), ...sessions.flatMap((s) => s.clientIds), ...Object.keys(account.consents)].filter((id): id is string => typeof id === 'string'));
    const clientNames = new Map(await Promise.all([...clientIds].map(async (id) => [id, (await deps.clients.find(id))?.name] as const)));
    return {
      account, ...(organisation ? { organisationName: organisation.name } : {}), devices, sessions, history, phones, trustedIps,
      ...(totpSince ? { totpSince } : {}), keys, recoveryCodesLeft, grants, clientNames, audit, sessionMaxDays: deps.sessionMaxDays, exportedAt: deps.clock(),
    };
  }

  return (router, area) => {
    async function page(ctx: Context, account: AccountView, error?: string) {
      if (error) ctx.status = 400;
      await ctx.render('account/data', {
        title: tr(ctx)('account:nav.dataSection'), email: account.email, csrf: ctx.state._csrf, reauthNeeded: await area.reauthNeeded(ctx), error,
        keepEntries: deps.keepEntries,
      });
    }

    router.get('/security/data', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (account) await page(ctx, account);
    });

    router.post('/security/data', async (ctx) => {
      const account = await area.requireAccount(ctx);
      if (!account) return;
      if (!(await area.passwordConfirmed(ctx, account))) {
        await page(ctx, account, field(ctx, 'password') ? tr(ctx)('account:data.wrongPassword') : tr(ctx)('account:data.passwordNeeded'));
        return;
      }
      const here = await area.current(ctx);
      const data = assembleExport(await facts(account, here?.session.uid));
      area.notify(ctx, account, 'A copy of your data (profile, devices, sessions, sign-in history and security settings) was downloaded.', 'account.data_exported',
        { key: 'email:securityChange.dataExported' });
      ctx.set('Cache-Control', 'no-store');
      ctx.set('Content-Disposition', `attachment; filename="${exportFileName(data.about.exportedAt)}"`);
      ctx.type = 'application/json';
      ctx.body = `${JSON.stringify(data, null, 2)}\n`;
    });
  };
}
