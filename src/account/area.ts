// What every page of the account area shares: who is signed in (Tessera's own browser session,
// with its screen lock and auto-logout applied), the redirect through Tessera's sign-in for a
// visitor without one, a guarded form reader, re-authentication for a change (the current
// password, or a password or second factor proven in the last few minutes) and the notice email
// and audit event every change sends and records.
import { createHash, randomBytes } from 'node:crypto';
import type { ChangeSaid } from '../notify/messages.ts';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { AccountStore, AccountView } from '../accounts/store.ts';
import type { ClientStore } from '../oidc/clients.ts';
import type { Proof } from '../policy/sign-in.ts';
import { reauthWindowOpen } from '../policy/session.ts';
import { normalizeIp } from '../policy/ip-ranges.ts';
import { clockFace } from '../i18n/format.ts';
import { translator, type Translate } from '../i18n/index.ts';
import { NO_AUDIT, type AuditActor, type AuditSink, type AuditType } from '../audit/events.ts';

export const ACCOUNT_CLIENT = 'tessera-account';

/** What a change refused for want of re-authentication says. */
export const REAUTH_REFUSED = 'Your current password is not right, or needed again because you signed in more than a few minutes ago: nothing was changed.';

/** A browser session as the account area sees it. */
export interface BrowserSession {
  uid: string;
  accountId: string;
  loginTs?: number;
}

/** Screen lock and auto-logout (src/sessions): what a signed-in session may do now. */
export interface SessionGuard {
  /** 'active' (and now marked as used), 'locked' (the PIN unlocks it) or 'ended' (signed out now). */
  check(uid: string, account: AccountView, from: { ip: string; userAgent?: string; browserId?: string }, loginTs?: number): Promise<'active' | 'locked' | 'ended'>;
}

/** Re-authentication: how recent a proof must be (seconds), what the session proved, and recording a new proof. */
export interface ReauthDeps {
  seconds: number;
  proofsOf(sessionUid: string, accountId: string): Promise<Proof[] | undefined>;
  recordProofs(sessionUid: string, accountId: string, proofs: Proof[]): Promise<void>;
  /** When a change was last confirmed in the window (it slides: policy/session.ts reauthWindowOpen), and recording one now. */
  changeConfirmedAt(sessionUid: string, accountId: string): Promise<Date | undefined>;
  changeConfirmed(sessionUid: string, accountId: string): Promise<void>;
  /** A typed password checked through the sign-in limits (password-guard.ts): may end the session (401). */
  checkPassword(ctx: Context, account: AccountView, sessionUid: string, typed: string): Promise<boolean>;
  clock: () => Date;
}

export interface AreaDeps {
  issuer: string;
  provider: Provider;
  accounts: AccountStore;
  clients: ClientStore;
  reauth: ReauthDeps;
  /** Emails the account a notice of a change (in the background: a failed email never undoes it). */
  notify(ctx: Context, account: AccountView, change: string, said?: ChangeSaid): void;
  /** Where every change is also recorded (the audit log). */
  audit?: AuditSink;
  guard?: SessionGuard;
  /** Whether the account administers an organisation (the frame then shows the Organisation section). */
  administersOrganisation?(account: AccountView): Promise<boolean>;
}

/**
 * The translation function of this request's page (i18n/middleware.ts), in the signed-in account's
 * language once `current` has run: notices and refusals are translated where the route makes them.
 */
export const tr = (ctx: Context): Translate => (typeof ctx.state.t === 'function' ? ctx.state.t as Translate : translator('en'));

/** A string form field of at most `max` characters, or '' (absent, an array, an object, too long). */
export function field(ctx: Context, name: string, max = 1024): string {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' && value.length <= max ? value : '';
}

export type AccountArea = ReturnType<typeof createAccountArea>;

const SIGNED_IN = Symbol('tessera.accountSession');

export function createAccountArea(deps: AreaDeps) {
  let clientReady: Promise<void> | undefined;
  const audit = deps.audit ?? NO_AUDIT;

  /** The person acting on their own account, and the address the request came from. */
  function who(ctx: Context, account: AccountView): { actor: AuditActor; ip?: string } {
    const ip = normalizeIp(ctx.ip);
    return { actor: { type: 'user', id: account.id, label: account.email }, ...(ip ? { ip } : {}) };
  }

  function record(ctx: Context, account: AccountView, type: AuditType, change: string): void {
    audit.record({ type, outcome: 'success', ...who(ctx, account), subject: { type: 'account', id: account.id, label: account.email }, accountId: account.id, details: { change } });
  }

  /** The first-party client the account area signs in with (made on first use). */
  function ensureClient(): Promise<void> {
    clientReady ??= (async () => {
      if (await deps.clients.find(ACCOUNT_CLIENT)) return;
      await deps.clients.create({ clientId: ACCOUNT_CLIENT, name: 'Tessera account', redirectUris: [`${deps.issuer}/account/callback`], skipConsent: true })
        .catch((err: { code?: string }) => { if (err.code !== 'client_exists') throw err; });
    })().catch((err) => { clientReady = undefined; throw err; });
    return clientReady;
  }

  type Seen = { account: AccountView; session: BrowserSession; state: 'active' | 'locked' } | undefined;

  /** The signed-in account and its session (read once per request), with the session guard applied. */
  async function current(ctx: Context): Promise<Seen> {
    const state = ctx.state as Record<symbol, Promise<Seen> | undefined>;
    state[SIGNED_IN] ??= (async () => {
      const session = await deps.provider.Session.get(ctx as never);
      if (!session.accountId) return undefined;
      const account = await deps.accounts.findById(session.accountId);
      if (!account || account.disabled) return undefined;
      const browser: BrowserSession = { uid: session.uid, accountId: session.accountId, ...(session.loginTs ? { loginTs: session.loginTs } : {}) };
      const from = { ip: ctx.ip, userAgent: ctx.get('user-agent'), ...(typeof ctx.state.browserId === 'string' ? { browserId: ctx.state.browserId } : {}) };
      const verdict = deps.guard ? await deps.guard.check(browser.uid, account, from, browser.loginTs) : 'active';
      if (verdict === 'ended') return undefined;
      // the pages are in the account's language, when it has one (the switcher still wins,
      // Accept-Language follows: policy/locale.ts)
      if (account.profile.locale) ctx.state.localeHints = { ...(ctx.state.localeHints as object | undefined), accountLocale: account.profile.locale };
      // the security center's header names who is signed in (views/partials/account-nav.ejs)
      // and every time on them is in the person's time zone and the page's language (i18n/format.ts)
      if (verdict === 'active') Object.assign(ctx.state, { signedInAs: account.email, ...clockFace(account.profile.zoneinfo, typeof ctx.state.locale === 'string' ? ctx.state.locale : 'en') });
      // an organisation admin's frame has the Organisation section (org-webhooks.ts); read afresh
      // on every request, so a person who stops being one loses it at once
      if (verdict === 'active' && account.organisationId && deps.administersOrganisation) ctx.state.organisationAdmin = await deps.administersOrganisation(account);
      return { account, session: browser, state: verdict };
    })();
    return state[SIGNED_IN];
  }

  async function signInRedirect(ctx: Context, back: string): Promise<void> {
    await ensureClient();
    const url = new URL('/auth', deps.issuer);
    const verifier = randomBytes(32).toString('base64url');
    for (const [k, v] of Object.entries({
      client_id: ACCOUNT_CLIENT, response_type: 'code', scope: 'openid', redirect_uri: `${deps.issuer}/account/callback`,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
      state: back,
    })) url.searchParams.set(k, v);
    ctx.redirect(url.href);
  }

  /** Whether this session's re-authentication window is open (a recent proof, or a visit kept going by changes). */
  async function recent(ctx: Context): Promise<boolean> {
    const seen = await current(ctx);
    if (!seen) return false;
    const { uid } = seen.session;
    const proofs = (await deps.reauth.proofsOf(uid, seen.account.id)) ?? [];
    const confirmed = await deps.reauth.changeConfirmedAt(uid, seen.account.id);
    return reauthWindowOpen(proofs, confirmed && Math.floor(confirmed.getTime() / 1000), Math.floor(deps.reauth.clock().getTime() / 1000), deps.reauth.seconds);
  }

  /**
   * Whether `typed` is the account's current password (a change that always asks for it): checked
   * through the sign-in limits, counted in this session when wrong (too many end it: 401); a right
   * one starts a new re-authentication window.
   */
  async function passwordRight(ctx: Context, account: AccountView, typed: string): Promise<boolean> {
    const seen = await current(ctx);
    if (!seen || !(await deps.reauth.checkPassword(ctx, account, seen.session.uid, typed))) return false;
    await deps.reauth.recordProofs(seen.session.uid, account.id, [{ factor: 'password', at: Math.floor(deps.reauth.clock().getTime() / 1000) }]);
    return true;
  }

  return {
    /** The signed-in account when its session is usable now (not locked, not ended). */
    async signedIn(ctx: Context): Promise<AccountView | undefined> {
      const seen = await current(ctx);
      return seen?.state === 'active' ? seen.account : undefined;
    },
    /** The signed-in session, locked or not (the unlock page). */
    current,
    /** The signed-in account, or a redirect (sign-in, or the PIN for a locked session) back to this page. */
    async requireAccount(ctx: Context): Promise<AccountView | undefined> {
      const seen = await current(ctx);
      const back = ctx.method === 'GET' && /^\/account\/[\w/-]*$/.test(ctx.path) ? ctx.path : '/account/security';
      if (seen?.state === 'active') return seen.account;
      if (seen?.state === 'locked') {
        ctx.redirect(`/account/unlock?back=${encodeURIComponent(back)}`);
        return undefined;
      }
      await signInRedirect(ctx, back);
      return undefined;
    },
    /** Whether a change form must carry the current password (no recent proof in this session). */
    async reauthNeeded(ctx: Context): Promise<boolean> {
      return !(await recent(ctx));
    },
    /**
     * Re-authentication for a change. A typed password must be right (and starts a new window); a
     * blank one is accepted only within the window after a password or second factor.
     */
    async passwordConfirmed(ctx: Context, account: AccountView): Promise<boolean> {
      const raw = (ctx.request.body as Record<string, unknown> | undefined)?.password;
      // absent or empty: an open window stands in, and this change keeps it open; anything but a
      // plain string is refused
      if (raw === undefined || raw === '') {
        if (!(await recent(ctx))) return false;
        const seen = (await current(ctx))!;
        await deps.reauth.changeConfirmed(seen.session.uid, seen.account.id);
        return true;
      }
      return passwordRight(ctx, account, field(ctx, 'password'));
    },
    passwordRight,
    /** Emails the account that `change` happened (time, IP, browser; `said`: its translation for the email) and records it in the audit log as `type`. */
    notify(ctx: Context, account: AccountView, change: string, type: AuditType, said?: ChangeSaid): void {
      record(ctx, account, type, change);
      deps.notify(ctx, account, change, said);
    },
    /** Records a change in the audit log only (no email). */
    audit(ctx: Context, account: AccountView, type: AuditType, change: string): void {
      record(ctx, account, type, change);
    },
    /** The person and their address, for modules that record a change themselves (sessions). */
    who,
  };
}
