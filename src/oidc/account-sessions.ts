// Ends everything an account holds at the provider: each browser session (with back-channel logout
// to the relying parties that registered for it), each grant and every token issued under it.
// Used when an account is disabled, and (one session at a time) by the account's own "log out".
import type Provider from 'oidc-provider';
import type { OidcStorage } from './adapter.ts';
import { deliveryFailure } from './backchannel-logout.ts';

const TOKEN_MODELS = ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest'] as const;

// @types/oidc-provider leaves the instance method untyped (lib/models/client.js)
type BackchannelClient = { backchannelLogoutUri?: string; backchannelLogout(sub: string, sid: string): Promise<void> };

export interface EndedSessions {
  sessions: number;
  grants: number;
  backchannelFailures: string[];
}

/** Every token and code issued under the grant, then the grant itself (a crash between leaves the grant to revoke again). */
export async function revokeGrant(provider: Provider, grantId: string): Promise<void> {
  await Promise.all(TOKEN_MODELS.map((model) => provider[model].revokeByGrantId(grantId)));
  await provider.Grant.adapter.destroy(grantId);
}

/**
 * Ends one browser session of the account: the grants (and so the refresh and access tokens) of
 * every relying party signed in through it, a back-channel logout to those that registered one,
 * then the session itself. Resolves to false when there is no such session of that account. Each
 * delivery's outcome is also the provider's backchannel.success or backchannel.error, as from its
 * end-session endpoint (without a request context): logged and counted (oidc/backchannel-logout.ts).
 */
export async function endSession(provider: Provider, sessionUid: string, accountId: string, backchannelFailures: string[] = []): Promise<boolean> {
  const session = await provider.Session.findByUid(sessionUid);
  if (!session || session.accountId !== accountId) return false;
  for (const [clientId, { grantId, sid }] of Object.entries(session.authorizations ?? {})) {
    if (grantId) await revokeGrant(provider, grantId);
    const client = await provider.Client.find(clientId) as BackchannelClient | undefined;
    if (client?.backchannelLogoutUri && sid) {
      await client.backchannelLogout(accountId, sid).then(
        () => { provider.emit('backchannel.success', undefined, client, accountId, sid); },
        (err: unknown) => {
          backchannelFailures.push(`${clientId}: ${deliveryFailure(err)}`);
          provider.emit('backchannel.error', undefined, err, client, accountId, sid);
        },
      );
    }
  }
  await session.destroy();
  return true;
}

export async function endAccountSessions(provider: Provider, storage: OidcStorage, accountId: string): Promise<EndedSessions> {
  const ended: EndedSessions = { sessions: 0, grants: 0, backchannelFailures: [] };
  for (const payload of await storage.sessionsOf(accountId)) {
    if (await endSession(provider, payload.uid as string, accountId, ended.backchannelFailures)) ended.sessions++;
  }
  // grants that outlived their session (offline_access) or never had one (device flow)
  for (const grant of await storage.grantsOf(accountId)) {
    await revokeGrant(provider, grant.jti as string);
    ended.grants++;
  }
  return ended;
}
