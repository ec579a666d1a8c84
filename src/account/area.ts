// What every page of the account area shares: who is signed in (Tessera's own browser session),
// the redirect through Tessera's sign-in for a visitor without one, a guarded form reader, and the
// check of the current password that every change asks for.
import { createHash, randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { AccountStore, AccountView } from '../accounts/store.ts';
import type { ClientStore } from '../oidc/clients.ts';

export const ACCOUNT_CLIENT = 'tessera-account';

export interface AreaDeps {
  issuer: string;
  provider: Provider;
  accounts: AccountStore;
  clients: ClientStore;
}

/** A string form field of at most `max` characters, or '' (absent, an array, an object, too long). */
export function field(ctx: Context, name: string, max = 1024): string {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' && value.length <= max ? value : '';
}

export type AccountArea = ReturnType<typeof createAccountArea>;

export function createAccountArea(deps: AreaDeps) {
  let clientReady: Promise<void> | undefined;

  /** The first-party client the account area signs in with (made on first use). */
  function ensureClient(): Promise<void> {
    clientReady ??= (async () => {
      if (await deps.clients.find(ACCOUNT_CLIENT)) return;
      await deps.clients.create({ clientId: ACCOUNT_CLIENT, name: 'Tessera account', redirectUris: [`${deps.issuer}/account/callback`], skipConsent: true })
        .catch((err: { code?: string }) => { if (err.code !== 'client_exists') throw err; });
    })().catch((err) => { clientReady = undefined; throw err; });
    return clientReady;
  }

  async function signedIn(ctx: Context): Promise<AccountView | undefined> {
    const session = await deps.provider.Session.get(ctx as never);
    if (!session.accountId) return undefined;
    const account = await deps.accounts.findById(session.accountId);
    return account && !account.disabled ? account : undefined;
  }

  return {
    signedIn,
    /** The signed-in account, or a redirect through Tessera's sign-in back to this page. */
    async requireAccount(ctx: Context): Promise<AccountView | undefined> {
      const account = await signedIn(ctx);
      if (account) return account;
      await ensureClient();
      const url = new URL('/auth', deps.issuer);
      const verifier = randomBytes(32).toString('base64url');
      for (const [k, v] of Object.entries({
        client_id: ACCOUNT_CLIENT, response_type: 'code', scope: 'openid', redirect_uri: `${deps.issuer}/account/callback`,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
        state: ctx.method === 'GET' ? ctx.path : '/account/security',
      })) url.searchParams.set(k, v);
      ctx.redirect(url.href);
      return undefined;
    },
    /** Re-authentication for a change: the current password, sent with the same form. */
    async passwordConfirmed(ctx: Context, account: AccountView): Promise<boolean> {
      return !!(await deps.accounts.authenticate(account.email, field(ctx, 'password')));
    },
  };
}
