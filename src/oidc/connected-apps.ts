// The applications a person has let use their account (Keycloak's "Applications"): one entry per
// relying party with the scopes its grants hold, and removing one — every grant of the account for
// that application and every token and code issued under them — so it must ask for consent again.
// Tessera's own first-party clients are not applications the person connected, and are not listed.
import type Provider from 'oidc-provider';
import type { AdapterPayload } from 'oidc-provider';
import type { OidcStorage } from './adapter.ts';
import { revokeGrant } from './account-sessions.ts';
import { FIRST_PARTY_CLIENTS, type ClientStore } from './clients.ts';

export interface ConnectedApp {
  /** The newest of the account's grants for the application: the handle its "Remove access" form posts. */
  grantId: string;
  clientId: string;
  /** The client's name, else its id. */
  name: string;
  /** The OIDC scopes granted (those the person refused taken out), in the order first granted. */
  scopes: string[];
  /** When the account first granted the application access. */
  grantedAt?: Date;
  /** When a token or code was last issued to it, while that record is kept (else unknown). */
  lastUsedAt?: Date;
}

export interface ConnectedAppsDeps {
  provider: Provider;
  storage: OidcStorage;
  clients: ClientStore;
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

  return {
    /** The account's connected applications, most recently used (or granted) first. */
    async list(accountId: string): Promise<ConnectedApp[]> {
      const apps = await Promise.all([...(await grantsByClient(accountId))].map(async ([clientId, grants]) => {
        const client = await deps.clients.find(clientId);
        // the newest grant first: its id is the row's handle, its scopes lead the list
        const newestFirst = [...grants].sort((a, b) => Number(b.iat ?? 0) - Number(a.iat ?? 0));
        let grantedAt: Date | undefined;
        let lastUsedAt: Date | undefined;
        for (const grant of newestFirst) {
          grantedAt = earlier(grantedAt, at(grant.iat));
          lastUsedAt = later(lastUsedAt, await deps.storage.lastIssued(grant.jti as string));
        }
        const app: ConnectedApp = {
          grantId: newestFirst[0]!.jti as string, clientId, name: client?.name ?? clientId,
          scopes: [...new Set(newestFirst.flatMap(grantedScopes))],
          ...(grantedAt ? { grantedAt } : {}), ...(lastUsedAt ? { lastUsedAt } : {}),
        };
        return app;
      }));
      const recency = (a: ConnectedApp) => (a.lastUsedAt ?? a.grantedAt)?.getTime() ?? 0;
      return apps.sort((a, b) => recency(b) - recency(a) || a.name.localeCompare(b.name));
    },

    /**
     * Removes the application the grant `grantId` of this account belongs to: each of the account's
     * grants for it, with their tokens and codes. Resolves to the application removed, or undefined
     * (and nothing changed) when `grantId` is not a grant this account connected an application with.
     */
    async remove(accountId: string, grantId: string): Promise<{ clientId: string; name: string } | undefined> {
      for (const [clientId, grants] of await grantsByClient(accountId)) {
        if (!grants.some((g) => g.jti === grantId)) continue;
        for (const grant of grants) await revokeGrant(deps.provider, grant.jti as string);
        const client = await deps.clients.find(clientId);
        return { clientId, name: client?.name ?? clientId };
      }
      return undefined;
    },
  };
}
