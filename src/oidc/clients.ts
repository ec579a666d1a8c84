// Relying-party clients, stored in MongoDB through the provider's own Client storage so admins can
// add them at run time. Metadata is validated by oidc-provider's client schema before it is saved.
import { randomBytes } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';
import type { OidcStorage } from './adapter.ts';
import type { Sealer } from '../crypto/seal.ts';
import { ACR_LEVELS, isAcr } from '../policy/assurance.ts';
import { MINIMUM_ACR } from './step-up.ts';

export const SKIP_CONSENT = 'urn:tessera:skip_consent';
/** 'required' (default) or 'optional'; public clients always require PKCE (S256). */
export const PKCE = 'urn:tessera:pkce';
export type PkcePolicy = 'required' | 'optional';

export class ClientError extends Error {
  override name = 'ClientError';
  readonly code: 'invalid_client_metadata' | 'client_exists' | 'not_found';
  constructor(code: ClientError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

export interface NewClient {
  clientId: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  /** Extra grants beyond authorization_code: refresh_token, client_credentials. */
  grants?: ('refresh_token' | 'client_credentials')[];
  public?: boolean;
  skipConsent?: boolean;
  name?: string;
  backchannelLogoutUri?: string;
  /** PKCE policy; 'optional' only for confidential clients (OIDC Core does not require PKCE). */
  pkce?: PkcePolicy;
  /** Every sign-in for this client reaches at least this acr, or the client gets unmet_authentication_requirements. */
  minimumAcr?: string;
}

export interface ClientView {
  clientId: string;
  clientSecret?: string;
  name?: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  grantTypes: string[];
  authMethod: string;
  skipConsent: boolean;
  pkce: PkcePolicy;
  minimumAcr?: string;
}

const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9_:-]{0,127}$/;

type Metadata = Record<string, unknown>;

function view(m: Metadata): ClientView {
  return {
    clientId: m.client_id as string,
    ...(m.client_secret ? { clientSecret: m.client_secret as string } : {}),
    ...(m.client_name ? { name: m.client_name as string } : {}),
    redirectUris: (m.redirect_uris as string[] | undefined) ?? [],
    postLogoutRedirectUris: (m.post_logout_redirect_uris as string[] | undefined) ?? [],
    grantTypes: (m.grant_types as string[] | undefined) ?? ['authorization_code'],
    authMethod: (m.token_endpoint_auth_method as string | undefined) ?? 'client_secret_basic',
    skipConsent: m[SKIP_CONSENT] === true,
    pkce: m[PKCE] === 'optional' ? 'optional' : 'required',
    ...(typeof m[MINIMUM_ACR] === 'string' ? { minimumAcr: m[MINIMUM_ACR] } : {}),
  };
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

/**
 * Where Tessera may send users and tokens back (RFC 9700 §2.1, RFC 8252 §8.3): https, or http
 * only to a loopback host; never a wildcard, a fragment or credentials. (Native apps' private-use
 * schemes need application_type=native, which clients cannot have yet.)
 */
export function uriProblem(uri: string, kind: string): string | undefined {
  if (uri.includes('*')) return `${kind} ${uri}: wildcards are not allowed; register each exact URI`;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `${kind} ${uri} is not an absolute URI`;
  }
  if (url.hash || uri.includes('#')) return `${kind} ${uri} must not contain a fragment (#)`;
  if (url.username || url.password) return `${kind} ${uri} must not contain credentials`;
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    return LOOPBACK.test(url.hostname) ? undefined : `${kind} ${uri}: http is allowed only for loopback hosts (127.0.0.1, [::1], localhost); use https`;
  }
  return `${kind} ${uri}: the scheme ${url.protocol} is not allowed (https, or http on a loopback host)`;
}

export function buildClientMetadata(input: NewClient): Metadata {
  const problems = [
    ...input.redirectUris.map((u) => uriProblem(u, 'redirect URI')),
    ...(input.postLogoutRedirectUris ?? []).map((u) => uriProblem(u, 'post-logout redirect URI')),
    ...(input.backchannelLogoutUri ? [uriProblem(input.backchannelLogoutUri, 'back-channel logout URI')] : []),
  ].filter(Boolean);
  if (problems.length) throw new ClientError('invalid_client_metadata', problems.join('; '));
  if (!CLIENT_ID.test(input.clientId)) {
    throw new ClientError('invalid_client_metadata', 'client id must be 1-128 letters, digits, "_", ":" or "-" (no dots)');
  }
  const grants = new Set(input.grants ?? []);
  const interactive = input.redirectUris.length > 0;
  if (!interactive && !grants.has('client_credentials')) {
    throw new ClientError('invalid_client_metadata', 'a client needs at least one redirect URI, or the client_credentials grant');
  }
  if (input.public && grants.has('client_credentials')) {
    throw new ClientError('invalid_client_metadata', 'a public client cannot use client_credentials');
  }
  if (input.pkce !== undefined && input.pkce !== 'required' && input.pkce !== 'optional') {
    throw new ClientError('invalid_client_metadata', `pkce must be required or optional, got "${String(input.pkce)}"`);
  }
  if (input.minimumAcr !== undefined && !isAcr(input.minimumAcr)) {
    throw new ClientError('invalid_client_metadata', `minimum acr must be one of ${ACR_LEVELS.join(', ')}, got "${input.minimumAcr}"`);
  }
  if (input.public && input.pkce === 'optional') {
    throw new ClientError('invalid_client_metadata', 'a public client always requires PKCE (RFC 9700 §2.1.1): pkce optional is only for confidential clients');
  }
  const grantTypes = [...(interactive ? ['authorization_code'] : []), ...grants];
  return {
    client_id: input.clientId,
    ...(input.name ? { client_name: input.name } : {}),
    ...(input.public ? { token_endpoint_auth_method: 'none' } : { client_secret: randomBytes(32).toString('base64url') }),
    redirect_uris: input.redirectUris,
    post_logout_redirect_uris: input.postLogoutRedirectUris ?? [],
    grant_types: grantTypes,
    response_types: interactive ? ['code'] : [],
    ...(input.backchannelLogoutUri ? { backchannel_logout_uri: input.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
    [SKIP_CONSENT]: input.skipConsent === true,
    [PKCE]: input.pkce ?? 'required',
    ...(input.minimumAcr ? { [MINIMUM_ACR]: input.minimumAcr } : {}),
  };
}

/**
 * Wraps the provider storage so client secrets are sealed with ENCRYPTION_KEY at rest and opened
 * only when oidc-provider (or the client store) reads a client.
 */
export function withSealedClientSecrets(storage: OidcStorage, sealer: Sealer): OidcStorage {
  const context = (p: AdapterPayload) => `client-secret:${p.client_id}`;
  const open = (p: AdapterPayload | undefined) =>
    p && typeof p.client_secret === 'string' ? { ...p, client_secret: sealer.open(p.client_secret, context(p)) } : p;
  return {
    ...storage,
    adapter(name) {
      const inner = storage.adapter(name);
      if (name !== 'Client') return inner;
      return {
        ...inner,
        upsert: (id, p, expiresIn) =>
          inner.upsert(id, typeof p.client_secret === 'string' ? { ...p, client_secret: sealer.seal(p.client_secret, context(p)) } : p, expiresIn),
        find: async (id) => open((await inner.find(id)) ?? undefined),
      };
    },
    async list(name) {
      const all = await storage.list(name);
      return name === 'Client' ? all.map((p) => open(p)!) : all;
    },
  };
}

export type ClientStore = ReturnType<typeof createClientStore>;

/** `validate` is the provider's Client.validate: it throws InvalidClientMetadata with a description. */
export function createClientStore(storage: OidcStorage, validate: (metadata: Metadata) => Promise<void>) {
  const clients = storage.adapter('Client');
  return {
    async create(input: NewClient): Promise<ClientView> {
      const metadata = buildClientMetadata(input);
      try {
        await validate(metadata);
      } catch (err) {
        const e = err as { error_description?: string; message: string };
        throw new ClientError('invalid_client_metadata', e.error_description ?? e.message);
      }
      if (await clients.find(input.clientId)) throw new ClientError('client_exists', `client ${input.clientId} already exists`);
      await clients.upsert(input.clientId, metadata, 0);
      return view(metadata);
    },
    async find(clientId: string): Promise<ClientView | undefined> {
      const m = await clients.find(clientId);
      return m ? view(m) : undefined;
    },
    async list(): Promise<ClientView[]> {
      return (await storage.list('Client')).map(view);
    },
    async remove(clientId: string): Promise<void> {
      if (!(await clients.find(clientId))) throw new ClientError('not_found', `no client ${clientId}`);
      await clients.destroy(clientId);
    },
  };
}
