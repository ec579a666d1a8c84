// Who may use the admin console (/admin), decided once per request: Tessera's own browser session
// (screen lock and auto-logout applied by the session guard) whose account is an admin, not
// disabled, and whose session proofs reach the multi-factor level. A visitor without a session, or
// with a weaker one, goes through Tessera's sign-in as the first-party client `tessera-admin`, whose
// minimum acr makes Tessera ask for the second factor; a non-admin gets a 403 page. Destructive
// actions re-authenticate as the account area does: the typed password, or a blank one within
// REAUTH_MINUTES of a password or second-factor proof.
import { createHash, randomBytes } from 'node:crypto';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { AccountStore, AccountView } from '../../accounts/store.ts';
import { ADMIN_CLIENT, type ClientStore } from '../../oidc/clients.ts';
import { field, type BrowserSession, type ReauthDeps, type SessionGuard } from '../../account/area.ts';
import { ACR, acrRank } from '../../policy/assurance.ts';
import { recentlyAuthenticated } from '../../policy/session.ts';
import { levelOf, type Proof } from '../../policy/sign-in.ts';
import type { AdminActor, AdminService } from '../types.ts';
import type { AssistedRecovery } from '../../recovery/service.ts';
import type { SignInHistory } from '../../sessions/history.ts';

export { ADMIN_CLIENT };

export interface AdminConsoleDeps {
  issuer: string;
  provider: Provider;
  admin: AdminService;
  accounts: AccountStore;
  clients: ClientStore;
  /** Re-authentication, as in the account area. */
  reauth: ReauthDeps;
  guard?: SessionGuard;
  /** Setting MFA_EMAIL_COUNTS: whether an emailed code counts toward the multi-factor level. */
  emailCountsAsMfa: boolean;
  /** The assisted-recovery queue and decisions (recoveries.ts), with the accounts' sign-in history. */
  recoveries: AssistedRecovery;
  history: SignInHistory;
}

/** A console page the sign-in may return to: /admin or below it (never the JSON API). */
export function consolePath(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 200) return undefined;
  if (!/^\/admin(\/[\w/-]*)?$/.test(value) || /^\/admin\/api(\/|$)/.test(value) || value.includes('//')) return undefined;
  return value;
}

type Seen = { account: AccountView; session: BrowserSession; state: 'active' | 'locked'; proofs: Proof[] } | undefined;

const SEEN = Symbol('tessera.adminSession');

export type AdminArea = ReturnType<typeof createAdminArea>;

export function createAdminArea(deps: AdminConsoleDeps) {
  const now = () => Math.floor(deps.reauth.clock().getTime() / 1000);

  /**
   * The first-party client the console signs in with, made when missing (looked up on every
   * sign-in redirect, so a deleted one comes back).
   */
  async function ensureClient(): Promise<void> {
    if (await deps.clients.find(ADMIN_CLIENT)) return;
    await deps.clients.create({
      clientId: ADMIN_CLIENT, name: 'Tessera admin console', redirectUris: [`${deps.issuer}/admin/callback`], skipConsent: true, minimumAcr: ACR.mfa,
    }).catch((err: { code?: string }) => { if (err.code !== 'client_exists') throw err; });
  }

  /** The signed-in account (disabled or not), its session and proofs, with the session guard applied; read once per request. */
  function current(ctx: Context): Promise<Seen> {
    const state = ctx.state as Record<symbol, Promise<Seen> | undefined>;
    state[SEEN] ??= (async () => {
      const session = await deps.provider.Session.get(ctx as never);
      if (!session.accountId) return undefined;
      const account = await deps.accounts.findById(session.accountId);
      if (!account) return undefined;
      const browser: BrowserSession = { uid: session.uid, accountId: session.accountId, ...(session.loginTs ? { loginTs: session.loginTs } : {}) };
      const from = { ip: ctx.ip, userAgent: ctx.get('user-agent'), ...(typeof ctx.state.browserId === 'string' ? { browserId: ctx.state.browserId } : {}) };
      const verdict = deps.guard && !account.disabled ? await deps.guard.check(browser.uid, account, from, browser.loginTs) : 'active';
      if (verdict === 'ended') return undefined;
      const proofs = (await deps.reauth.proofsOf(browser.uid, account.id)) ?? [];
      return { account, session: browser, state: verdict, proofs };
    })();
    return state[SEEN];
  }

  /** Whether the session's proofs reach the multi-factor level (the console client's minimum). */
  function strongEnough(proofs: Proof[]): boolean {
    const { acr } = levelOf(proofs, {
      now: now(), available: [], proven: proofs, request: { acrValues: [], essentialAcr: [], promptLogin: false },
      emailCountsAsMfa: deps.emailCountsAsMfa, routineSkipped: false, newDevice: false, offerEnrolment: false,
    });
    return acrRank(acr) >= acrRank(ACR.mfa);
  }

  /** Through Tessera's sign-in as the console client, back to `back` (/admin/callback). */
  async function signInRedirect(ctx: Context, back: string): Promise<void> {
    await ensureClient();
    const url = new URL('/auth', deps.issuer);
    const verifier = randomBytes(32).toString('base64url');
    for (const [k, v] of Object.entries({
      client_id: ADMIN_CLIENT, response_type: 'code', scope: 'openid', redirect_uri: `${deps.issuer}/admin/callback`,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
      // asked for as well as the client's minimum: an edited client never lets a weaker session loop back here
      acr_values: ACR.mfa, state: back,
    })) url.searchParams.set(k, v);
    ctx.redirect(url.href);
  }

  async function recent(ctx: Context): Promise<boolean> {
    const seen = await current(ctx);
    return !!seen && recentlyAuthenticated(seen.proofs, now(), deps.reauth.seconds);
  }

  return {
    ensureClient,
    /**
     * Middleware for every console page: an active admin session at the multi-factor level goes on
     * (ctx.state.admin is the account); anyone else is redirected or shown the 403 page.
     */
    async requireAdmin(ctx: Context, next: Next): Promise<void> {
      const seen = await current(ctx);
      const back = (ctx.method === 'GET' && consolePath(ctx.path)) || '/admin';
      if (!seen) return signInRedirect(ctx, back);
      if (seen.state === 'locked') {
        ctx.redirect(`/account/unlock?back=${encodeURIComponent(back)}`);
        return;
      }
      if (seen.account.role !== 'admin' || seen.account.disabled) {
        ctx.status = 403;
        await ctx.render('admin/forbidden', { title: 'Administrators only', email: seen.account.email });
        return;
      }
      if (!strongEnough(seen.proofs)) return signInRedirect(ctx, back);
      ctx.state.admin = seen.account;
      await next();
    },
    /** Whether a destructive action's form must carry the password (no recent proof in this session). */
    async reauthNeeded(ctx: Context): Promise<boolean> {
      return !(await recent(ctx));
    },
    /**
     * Re-authentication for a destructive action: a typed password must be right (and records a
     * password proof, starting a new window); a blank one is accepted only within the window.
     */
    async passwordConfirmed(ctx: Context): Promise<boolean> {
      const seen = await current(ctx);
      if (!seen) return false;
      const raw = (ctx.request.body as Record<string, unknown> | undefined)?.password;
      if (raw === undefined || raw === '') return recent(ctx);
      const typed = field(ctx, 'password');
      if (!(await deps.reauth.checkPassword(ctx, seen.account, seen.session.uid, typed))) return false;
      const proof: Proof = { factor: 'password', at: now() };
      await deps.reauth.recordProofs(seen.session.uid, seen.account.id, [proof]);
      seen.proofs = [...seen.proofs, proof];
      return true;
    },
  };
}

/** The signed-in admin of this request (set by requireAdmin). */
export function adminOf(ctx: Context): AccountView {
  return ctx.state.admin as AccountView;
}

/** The audit log's "who": this admin, from this IP. */
export function actorOf(ctx: Context): AdminActor {
  const admin = adminOf(ctx);
  return { type: 'admin', id: admin.id, label: admin.email, ip: ctx.ip };
}
