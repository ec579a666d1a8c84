// Who may call the admin JSON API: a bearer access token issued by Tessera with the `admin` scope,
// either a machine client's client_credentials token (the client must have the admin API granted)
// or a signed-in admin's token from the console client. The answer is the AdminActor every admin
// action is recorded under, or an ApiError (401 for no or bad token, 403 for too little right).
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { AdminActor } from '../types.ts';
import { ADMIN_CLIENT, ADMIN_SCOPE } from '../../oidc/clients.ts';

const REALM = 'tessera-admin-api';

export interface ApiAuthDeps {
  provider: Provider;
  clients: { find(clientId: string): Promise<{ adminApi?: boolean } | undefined> };
  accounts: { findById(accountId: string): Promise<{ role: string; disabled: boolean; email: string } | undefined> };
}

/** A failure the API answers as JSON `{ error, error_description, details? }`. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly code: string;
  readonly details: { path: string; message: string }[] | undefined;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, extra: { details?: { path: string; message: string }[]; headers?: Record<string, string> } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = extra.details;
    this.headers = extra.headers ?? {};
  }
}

// RFC 6750 §3: no error attribute when the request had no token at all
const missing = () => new ApiError(401, 'missing_token', 'Send an access token: Authorization: Bearer <token>.', {
  headers: { 'WWW-Authenticate': `Bearer realm="${REALM}"` },
});
const invalid = (message = 'The access token is unknown, expired or revoked.') => new ApiError(401, 'invalid_token', message, {
  headers: { 'WWW-Authenticate': `Bearer realm="${REALM}", error="invalid_token"` },
});
const insufficientScope = (message: string) => new ApiError(403, 'insufficient_scope', message, {
  headers: { 'WWW-Authenticate': `Bearer realm="${REALM}", error="insufficient_scope", scope="${ADMIN_SCOPE}"` },
});
const insufficientRole = () => new ApiError(403, 'insufficient_role', 'This account is not an active administrator.');

// a DPoP-bound token (RFC 9449) is worthless without a proof of its key, which this API does not
// check: such a token is refused, never taken as a bearer token
const DPOP_REFUSED = 'The admin API takes bearer tokens only (Authorization: Bearer <token>), not DPoP: request its token without a DPoP proof.';
const boundRefused = (token: { jkt?: string | undefined }) => invalid(token.jkt
  ? 'This access token is bound to a DPoP key, and the admin API takes bearer tokens only: request its token without a DPoP proof.'
  : undefined);

/** The token of `Authorization: Bearer <token>` (RFC 6750 b64token, at most 512 characters). */
function bearerToken(ctx: Context): string {
  const header = ctx.get('Authorization');
  if (!header) throw missing();
  if (/^DPoP /i.test(header)) throw invalid(DPOP_REFUSED);
  const match = /^Bearer +([A-Za-z0-9\-._~+/]{1,512}=*) *$/i.exec(header);
  if (!match) throw invalid('The Authorization header must be "Bearer <token>".');
  return match[1]!;
}

const expired = (token: { exp?: number | undefined }) => !token.exp || token.exp * 1000 <= Date.now();

/** Checks the request's bearer token and returns the actor it stands for; throws ApiError. */
export async function authenticate(deps: ApiAuthDeps, ctx: Context): Promise<AdminActor> {
  const value = bearerToken(ctx);
  const { provider } = deps;
  const ip = ctx.ip;

  const machine = await provider.ClientCredentials.find(value);
  if (machine) {
    // a sender-constrained (DPoP or mTLS) token is worthless without its proof: this API takes plain bearer tokens only
    if (machine.jkt || machine['x5t#S256']) throw boundRefused(machine);
    if (expired(machine) || !machine.clientId) throw invalid();
    const client = await deps.clients.find(machine.clientId);
    if (!client) throw invalid();
    if (!machine.scopes.has(ADMIN_SCOPE)) throw insufficientScope(`The token lacks the "${ADMIN_SCOPE}" scope: request it with scope=${ADMIN_SCOPE}.`);
    if (client.adminApi !== true) throw insufficientScope(`Client ${machine.clientId} is not granted the admin API (tessera client grant-admin-api --client-id ${machine.clientId}).`);
    return { type: 'client', id: machine.clientId, label: machine.clientId, ...(ip ? { ip } : {}) };
  }

  const token = await provider.AccessToken.find(value);
  if (token && (token.jkt || token['x5t#S256'])) throw boundRefused(token);
  if (!token || expired(token)) throw invalid();
  // as the userinfo endpoint does: the grant must stand, and a token tied to a session dies with it
  const grant = await provider.Grant.find(token.grantId);
  if (!grant || grant.clientId !== token.clientId || grant.accountId !== token.accountId) throw invalid();
  if (token.expiresWithSession && (!token.sessionUid || !(await provider.Session.findByUid(token.sessionUid)))) throw invalid();
  if (token.clientId !== ADMIN_CLIENT) throw insufficientScope(`Only tokens issued to the admin console (${ADMIN_CLIENT}) or an admin API client are accepted.`);
  if (!token.scopes.has(ADMIN_SCOPE)) throw insufficientScope(`The token lacks the "${ADMIN_SCOPE}" scope.`);
  const account = await deps.accounts.findById(token.accountId);
  if (!account) throw invalid();
  if (account.role !== 'admin' || account.disabled) throw insufficientRole();
  return { type: 'admin', id: token.accountId, label: account.email, ...(ip ? { ip } : {}) };
}
