// The applications a person has let use their account (Keycloak's "Applications"): one entry per
// relying party the person allowed (its grants, and the consent the account keeps for later
// sign-ins), with the scopes allowed, and removing one — every grant of the account for that
// application, every token and code issued under them, and the kept consent — so it must ask for
// consent again. Tessera's own first-party clients are not applications the person connected.
import type Provider from 'oidc-provider';
import type { AdapterPayload } from 'oidc-provider';
import type { OidcStorage } from './adapter.ts';
import { revokeGrant } from './account-sessions.ts';
import { FIRST_PARTY_CLIENTS, appIdentity, type ClientStore } from './clients.ts';
import type { AccountStore } from '../accounts/store.ts';
import { keptFor } from '../policy/consent.ts';

export interface ConnectedApp {
  /** The application's client id: the handle its "Remove access" form posts. */
  clientId: string;
  /** The client's name, else its id. */
  name: string;
  /** The OIDC scopes granted (those the person refused taken out), in the order first granted. */
  scopes: string[];
  /** When the account first granted the application access (its first grant or its kept consent). */
  grantedAt?: Date;
  /** When a token or code was last issued to it, while that record is kept (else unknown). */
  lastUsedAt?: Date;
}

export interface ConnectedAppsDeps {
  provider: Provider;
  storage: OidcStorage;
  clients: ClientStore;
  accounts: Pick<AccountStore, 'findById' | 'forgetConsent'>;
}

type OpenIdPart = { scope?: string } | undefined;

/** The grant's OIDC scopes less the refused ones (oidc-provider's Grant#getOIDCScope, on the stored payload). */
function grantedScopes(grant: AdapterPayload): string[] {
  const granted = ((grant.openid as OpenIdPart)?.scope ?? '').split(' ').filter(Boolean);
  const refused = new Set(((grant.rejected as { openid?: OpenIdPart } | undefined)?.openid?.scope ?? '').split(' ').filter((s) => s !== 'openid'));
  return granted.filter((s) => !refused.has(s));
}

const at = (seconds: unknown) => (typeof seconds === 'number' ? new Date(seconds * 1000) : undefined);
const later = (a: Date | undefined, b: Date | undefined) => (!a || (b && b > a) ? b : a);
const earlier = (a: Date | undefined, b: Date | undefined) => (!a || (b && b < a) ? b : a);

export type ConnectedApps = ReturnType<typeof createConnectedApps>;

export function createConnectedApps(deps: ConnectedAppsDeps) {
  /** The account's live grants to applications it connected (not Tessera's own), by client. */
  async function grantsByClient(accountId: string): Promise<Map<string, AdapterPayload[]>> {
    const byClient = new Map<string, AdapterPayload[]>();
    for (const grant of await deps.storage.grantsOf(accountId)) {
      const clientId = grant.clientId;
      if (typeof clientId !== 'string' || typeof grant.jti !== 'string' || FIRST_PARTY_CLIENTS.includes(clientId)) continue;
      byClient.set(clientId, [...(byClient.get(clientId) ?? []), grant]);
    }
    return byClient;
  }

  /** Each application the account allowed: its live grants (maybe none) and its kept consent (maybe none). */
  async function allowed(accountId: string) {
    const [byClient, account] = await Promise.all([grantsByClient(accountId), deps.accounts.findById(accountId)]);
    const apps = new Map<string, { grants: AdapterPayload[]; kept?: { scopes: string[]; at: Date } }>();
    for (const [clientId, grants] of byClient) apps.set(clientId, { grants });
    await Promise.all(Object.entries(account?.consents ?? {}).map(async ([clientId, kept]) => {
      if (FIRST_PARTY_CLIENTS.includes(clientId)) return;
      const client = await deps.provider.Client.find(clientId);
      // a consent kept for a client since deleted, or created again, no longer counts
      if (!client || !keptFor(kept, appIdentity(client))) return;
      apps.set(clientId, { grants: apps.get(clientId)?.grants ?? [], kept });
    }));
    return apps;
  }

  return {
    /** The account's connected applications, most recently used (or granted) first. */
    async list(accountId: string): Promise<ConnectedApp[]> {
      const apps = await Promise.all([...(await allowed(accountId))].map(async ([clientId, { grants, kept }]) => {
        const client = await deps.clients.find(clientId);
        // the newest grant first: its scopes lead the list
        const newestFirst = [...grants].sort((a, b) => Number(b.iat ?? 0) - Number(a.iat ?? 0));
        let grantedAt: Date | undefined = kept?.at;
        let lastUsedAt: Date | undefined;
        for (const grant of newestFirst) {
          grantedAt = earlier(grantedAt, at(grant.iat));
          lastUsedAt = later(lastUsedAt, await deps.storage.lastIssued(grant.jti as string));
        }
        const app: ConnectedApp = {
          clientId, name: client?.name ?? clientId,
          scopes: [...new Set([...newestFirst.flatMap(grantedScopes), ...(kept?.scopes ?? [])])],
          ...(grantedAt ? { grantedAt } : {}), ...(lastUsedAt ? { lastUsedAt } : {}),
        };
        return app;
      }));
      const recency = (a: ConnectedApp) => (a.lastUsedAt ?? a.grantedAt)?.getTime() ?? 0;
      return apps.sort((a, b) => recency(b) - recency(a) || a.name.localeCompare(b.name));
    },

    /**
     * Removes the application `clientId` from this account: each of the account's grants for it,
     * with their tokens and codes, then the consent kept for it. Resolves to the application
     * removed, or undefined (and nothing changed) when it is not one this account connected.
     */
    async remove(accountId: string, clientId: string): Promise<{ clientId: string; name: string } | undefined> {
      const app = (await allowed(accountId)).get(clientId);
      if (!app) return undefined;
      for (const grant of app.grants) await revokeGrant(deps.provider, grant.jti as string);
      // the grants first: a crash between leaves the consent, and the page lists the application still
      await deps.accounts.forgetConsent(accountId, clientId);
      const client = await deps.clients.find(clientId);
      return { clientId, name: client?.name ?? clientId };
    },
  };
}
