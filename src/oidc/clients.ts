// Relying-party clients, stored in MongoDB through the provider's own Client storage so admins can
// add, edit, rotate and remove them at run time. Metadata is validated by oidc-provider's client
// schema before it is saved. First-party clients (the account area, the admin console) are made by
// the areas themselves and cannot be changed through the admin functions.
import { randomBytes } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';
import type { OidcStorage } from './adapter.ts';
import type { Sealer } from '../crypto/seal.ts';
import { ACR_LEVELS, isAcr } from '../policy/assurance.ts';
import { MINIMUM_ACR } from './step-up.ts';
import { DomainError, type ErrorKind } from '../domain-error.ts';
import { brandColourMessage, brandColourProblem } from '../policy/brand-colour.ts';
import { clientJwksProblem, type ClientJwks } from './client-jwks.ts';
import type { AppIdentity } from '../policy/consent.ts';

export const SKIP_CONSENT = 'urn:tessera:skip_consent';
/** 'required' (default) or 'optional'; public clients always require PKCE (S256). */
export const PKCE = 'urn:tessera:pkce';
export type PkcePolicy = 'required' | 'optional';
/** Set by `grantAdminApi`: the client may get client_credentials tokens with scope `admin`. */
export const ADMIN_API = 'urn:tessera:admin_api';
/** After a rotation: the previous secret (sealed at rest) and until when it works (epoch seconds). */
export const PREVIOUS_SECRET = 'urn:tessera:previous_secret';
export const PREVIOUS_SECRET_EXPIRES_AT = 'urn:tessera:previous_secret_expires_at';
/** Branding beyond the standard client_name, logo_uri, policy_uri and tos_uri: the pages' colour and a support link. */
export const BRAND_COLOR = 'urn:tessera:brand_color';
export const SUPPORT_URI = 'urn:tessera:support_uri';
/** 'fapi2': the provider applies the FAPI 2.0 Security Profile to this client (provider.ts features.fapi). */
export const SECURITY_PROFILE = 'urn:tessera:security_profile';
export type SecurityProfile = 'fapi2';
/**
 * A random value set when a client is created and kept by every change: what tells a client from
 * one deleted and created again under the same id (a consent kept for the first does not count
 * for the second, policy/consent.ts). Clients created before it have none.
 */
export const REGISTRATION = 'urn:tessera:registration';

/** A client (the provider's, or its stored metadata read through it) as policy/consent.ts names the application. */
export function appIdentity(client: { clientId: string; redirectUris?: readonly string[] }): AppIdentity {
  const registration = (client as unknown as Record<string, unknown>)[REGISTRATION];
  return { clientId: client.clientId, ...(client.redirectUris ? { redirectUris: client.redirectUris } : {}), ...(typeof registration === 'string' ? { registration } : {}) };
}

/** The admin console's client (the only one whose users' tokens may carry `admin`). */
export const ADMIN_CLIENT = 'tessera-admin';
/** Made and owned by Tessera's own areas (tessera-account is ACCOUNT_CLIENT in account/area.ts). */
export const FIRST_PARTY_CLIENTS: readonly string[] = ['tessera-account', ADMIN_CLIENT];

/** The scope of the admin API, and the standard ones every client may request. */
export const ADMIN_SCOPE = 'admin';
export const STANDARD_SCOPES: readonly string[] = ['openid', 'offline_access', 'email', 'profile', 'phone', 'address'];
/** The `scope` metadata of clients allowed `admin` (the provider refuses static scopes not listed). */
const ADMIN_SCOPES = [...STANDARD_SCOPES, ADMIN_SCOPE].join(' ');

export type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
const AUTH_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];
const GRANTS: readonly string[] = ['refresh_token', 'client_credentials'];

// a first-party client is refused as invalid input (400), as the admin API has always answered
const CLIENT_ERROR_KINDS: Record<ClientError['code'], ErrorKind> = {
  invalid_client_metadata: 'invalid', client_exists: 'conflict', not_found: 'not_found', protected: 'invalid',
};

export class ClientError extends DomainError {
  override name = 'ClientError';
  declare readonly code: 'invalid_client_metadata' | 'client_exists' | 'not_found' | 'protected';
  constructor(code: ClientError['code'], message: string) {
    super(CLIENT_ERROR_KINDS[code], code, message);
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
  /** How a confidential client authenticates (default client_secret_basic); `public: true` means 'none'. */
  authMethod?: AuthMethod;
  /** Branding (shown on the sign-in and consent pages): https links, a logo, a #rrggbb colour. */
  logoUri?: string;
  policyUri?: string;
  tosUri?: string;
  supportUri?: string;
  brandColor?: string;
  /** private_key_jwt: the client's public keys (a JWKS), or where it publishes them (https); exactly one. */
  jwks?: ClientJwks;
  jwksUri?: string;
  /** Authorization requests only through PAR (RFC 9126 require_pushed_authorization_requests). */
  requirePushedAuthorizationRequests?: boolean;
  /** Access tokens only DPoP-bound (RFC 9449 dpop_bound_access_tokens). */
  dpopBoundAccessTokens?: boolean;
  /** 'fapi2': needs private_key_jwt, PAR and DPoP; the provider then applies FAPI 2.0 to this client. */
  securityProfile?: SecurityProfile;
}

/** The optional branding fields, each cleared by null in a patch. */
export const BRANDING_FIELDS = ['logoUri', 'policyUri', 'tosUri', 'supportUri', 'brandColor'] as const;
type BrandingField = typeof BRANDING_FIELDS[number];

/** What `update` may change; null clears an optional field. The id, secret and public-ness never change here. */
export interface ClientPatch {
  name?: string | null;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  grants?: ('refresh_token' | 'client_credentials')[];
  authMethod?: AuthMethod;
  minimumAcr?: string | null;
  skipConsent?: boolean;
  backchannelLogoutUri?: string | null;
  pkce?: PkcePolicy;
  logoUri?: string | null;
  policyUri?: string | null;
  tosUri?: string | null;
  supportUri?: string | null;
  brandColor?: string | null;
  jwks?: ClientJwks | null;
  jwksUri?: string | null;
  requirePushedAuthorizationRequests?: boolean;
  dpopBoundAccessTokens?: boolean;
  securityProfile?: SecurityProfile | null;
}
const PATCH_KEYS = new Set([
  'name', 'redirectUris', 'postLogoutRedirectUris', 'grants', 'authMethod', 'minimumAcr', 'skipConsent', 'backchannelLogoutUri', 'pkce', ...BRANDING_FIELDS,
  'jwks', 'jwksUri', 'requirePushedAuthorizationRequests', 'dpopBoundAccessTokens', 'securityProfile',
]);

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
  backchannelLogoutUri?: string;
  /** The client may use the admin API (client_credentials with scope admin). */
  adminApi: boolean;
  /** After a rotation, while the grace period runs: until when the previous secret still works. */
  previousSecretValidUntil?: Date;
  logoUri?: string;
  policyUri?: string;
  tosUri?: string;
  supportUri?: string;
  brandColor?: string;
  jwks?: ClientJwks;
  jwksUri?: string;
  requirePushedAuthorizationRequests: boolean;
  dpopBoundAccessTokens: boolean;
  securityProfile?: SecurityProfile;
}

/** Where each branding field is kept in the client's metadata (standard names where OIDC has them). */
const BRANDING_METADATA: Record<BrandingField, string> = {
  logoUri: 'logo_uri', policyUri: 'policy_uri', tosUri: 'tos_uri', supportUri: SUPPORT_URI, brandColor: BRAND_COLOR,
};
const BRANDING_LABELS: Record<BrandingField, string> = {
  logoUri: 'logo', policyUri: 'privacy policy link', tosUri: 'terms link', supportUri: 'support link', brandColor: 'brand colour',
};

/** The branding fields stored in `m`. */
function brandingOf(m: Metadata): Partial<Record<BrandingField, string>> {
  return Object.fromEntries(BRANDING_FIELDS.flatMap((f) => (typeof m[BRANDING_METADATA[f]] === 'string' ? [[f, m[BRANDING_METADATA[f]] as string]] : [])));
}

/** Why a branding link cannot be used: https (http only on a loopback host), at most 2000 characters. */
export function brandingUriProblem(uri: string, kind: string): string | undefined {
  if (uri.length > 2000) return `the ${kind} is longer than 2000 characters`;
  return uriProblem(uri, `the ${kind}`);
}

/** Why a client's brand colour cannot be used (format, or contrast below WCAG AA), as a sentence. */
export function brandColorProblem(value: string): string | undefined {
  const problem = brandColourProblem(value);
  return problem ? brandColourMessage(value, problem) : undefined;
}

const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9_:-]{0,127}$/;

type Metadata = Record<string, unknown>;

/** Until when the previous secret works, if it still does at `now`. */
function previousValidUntil(m: Metadata, now: Date): Date | undefined {
  const until = m[PREVIOUS_SECRET_EXPIRES_AT];
  if (typeof m[PREVIOUS_SECRET] !== 'string' || typeof until !== 'number') return undefined;
  return until * 1000 > now.getTime() ? new Date(until * 1000) : undefined;
}

function view(m: Metadata, now: Date): ClientView {
  const previous = previousValidUntil(m, now);
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
    ...(typeof m.backchannel_logout_uri === 'string' ? { backchannelLogoutUri: m.backchannel_logout_uri } : {}),
    adminApi: m[ADMIN_API] === true,
    ...(previous ? { previousSecretValidUntil: previous } : {}),
    ...brandingOf(m),
    ...securityOf(m),
    requirePushedAuthorizationRequests: m.require_pushed_authorization_requests === true,
    dpopBoundAccessTokens: m.dpop_bound_access_tokens === true,
  };
}

/** The private_key_jwt keys and the security profile stored in `m`. */
function securityOf(m: Metadata): Pick<NewClient, 'jwks' | 'jwksUri' | 'securityProfile'> {
  return {
    ...(m.jwks && typeof m.jwks === 'object' ? { jwks: m.jwks as ClientJwks } : {}),
    ...(typeof m.jwks_uri === 'string' ? { jwksUri: m.jwks_uri } : {}),
    ...(m[SECURITY_PROFILE] === 'fapi2' ? { securityProfile: 'fapi2' as const } : {}),
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

const invalid = (message: string) => new ClientError('invalid_client_metadata', message);

/** The input's types, for callers that pass on what they were sent (a bad type is a 400, not a crash). */
function checkTypes(input: NewClient): void {
  const strings = (value: unknown, what: string) => {
    if (value !== undefined && (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))) throw invalid(`${what} must be a list of strings`);
  };
  if (typeof input.clientId !== 'string') throw invalid('client id must be a string');
  strings(input.redirectUris, 'redirect URIs');
  if (input.redirectUris === undefined) throw invalid('redirect URIs must be a list of strings');
  strings(input.postLogoutRedirectUris, 'post-logout redirect URIs');
  strings(input.grants, 'grants');
  for (const key of ['name', 'backchannelLogoutUri', 'minimumAcr', ...BRANDING_FIELDS] as const) {
    if (input[key] !== undefined && typeof input[key] !== 'string') throw invalid(`${key} must be a string`);
  }
  for (const key of ['public', 'skipConsent', 'requirePushedAuthorizationRequests', 'dpopBoundAccessTokens'] as const) {
    if (input[key] !== undefined && typeof input[key] !== 'boolean') throw invalid(`${key} must be true or false`);
  }
  if (input.jwksUri !== undefined && typeof input.jwksUri !== 'string') throw invalid('jwksUri must be a string');
  if (input.securityProfile !== undefined && input.securityProfile !== 'fapi2') throw invalid(`security profile may only be fapi2, got "${String(input.securityProfile)}"`);
}

type SecurityInput = Pick<NewClient, 'public' | 'authMethod' | 'jwks' | 'jwksUri' | 'requirePushedAuthorizationRequests' | 'dpopBoundAccessTokens' | 'securityProfile' | 'pkce'>;
/** What is wrong with a client's security settings, and the field to show it beside. */
export interface SecurityProblem { field: 'jwks' | 'jwksUri' | 'authMethod' | 'securityProfile'; message: string }

/** private_key_jwt needs exactly one of a JWKS and a jwks_uri; a secret method takes neither. */
function keysProblem(input: SecurityInput): SecurityProblem | undefined {
  const has = input.jwks !== undefined || input.jwksUri !== undefined;
  if (input.authMethod !== 'private_key_jwt') {
    return has ? { field: 'authMethod', message: 'a JWKS or JWKS URI is used only with private_key_jwt: choose that authentication method, or leave the keys empty' } : undefined;
  }
  if (input.jwks !== undefined && input.jwksUri !== undefined) return { field: 'jwks', message: 'give either a JWKS or a JWKS URI, not both' };
  if (input.jwks !== undefined) {
    const message = clientJwksProblem(input.jwks);
    return message ? { field: 'jwks', message } : undefined;
  }
  if (input.jwksUri !== undefined) {
    const message = input.jwksUri.length > 2000 ? 'the JWKS URI is longer than 2000 characters' : uriProblem(input.jwksUri, 'JWKS URI');
    return message ? { field: 'jwksUri', message } : undefined;
  }
  return { field: 'jwks', message: 'private_key_jwt needs the client\'s public keys: paste its JWKS, or give the https URI where it publishes them' };
}

/** FAPI 2.0 (Security Profile §5.3.2): a confidential client with private_key_jwt, PAR and sender-constrained (DPoP) tokens. */
function profileProblem(input: SecurityInput): SecurityProblem | undefined {
  if (input.securityProfile !== 'fapi2') return undefined;
  if (input.public) return { field: 'securityProfile', message: 'a public client cannot use the FAPI 2.0 profile: it needs a confidential client with private_key_jwt' };
  const missing = [
    ...(input.authMethod !== 'private_key_jwt' ? ['private_key_jwt authentication'] : []),
    ...(input.requirePushedAuthorizationRequests !== true ? ['required pushed authorization requests'] : []),
    ...(input.dpopBoundAccessTokens !== true ? ['DPoP-bound access tokens'] : []),
  ];
  if (missing.length) return { field: 'securityProfile', message: `the FAPI 2.0 profile needs ${missing.join(', ')}: turn ${missing.length > 1 ? 'them' : 'it'} on, or choose no security profile` };
  if (input.pkce === 'optional') return { field: 'securityProfile', message: 'the FAPI 2.0 profile always requires PKCE: set pkce to required' };
  return undefined;
}

/** The first problem of a client's keys and security profile (the admin API's schema and the console show it beside its field). */
export function securityProblem(input: SecurityInput): SecurityProblem | undefined {
  return keysProblem(input) ?? profileProblem(input);
}

/** Every check on what an admin may set, and the metadata it makes (without a secret). */
function metadataFor(input: NewClient): Metadata {
  checkTypes(input);
  const problems = [
    ...input.redirectUris.map((u) => uriProblem(u, 'redirect URI')),
    ...(input.postLogoutRedirectUris ?? []).map((u) => uriProblem(u, 'post-logout redirect URI')),
    ...(input.backchannelLogoutUri ? [uriProblem(input.backchannelLogoutUri, 'back-channel logout URI')] : []),
  ].filter(Boolean);
  if (problems.length) throw invalid(problems.join('; '));
  for (const field of BRANDING_FIELDS) {
    const value = input[field];
    if (value === undefined) continue;
    const problem = field === 'brandColor' ? brandColorProblem(value) : brandingUriProblem(value, BRANDING_LABELS[field]);
    if (problem) throw invalid(problem);
  }
  if (!CLIENT_ID.test(input.clientId)) {
    throw invalid('client id must be 1-128 letters, digits, "_", ":" or "-" (no dots)');
  }
  const unknownGrant = (input.grants ?? []).find((g) => !GRANTS.includes(g));
  if (unknownGrant !== undefined) throw invalid(`grants may be refresh_token or client_credentials, got "${unknownGrant}"`);
  const grants = new Set(input.grants ?? []);
  const interactive = input.redirectUris.length > 0;
  if (!interactive && !grants.has('client_credentials')) {
    throw invalid('a client needs at least one redirect URI, or the client_credentials grant');
  }
  if (input.public && grants.has('client_credentials')) {
    throw invalid('a public client cannot use client_credentials');
  }
  if (input.pkce !== undefined && input.pkce !== 'required' && input.pkce !== 'optional') {
    throw invalid(`pkce must be required or optional, got "${String(input.pkce)}"`);
  }
  if (input.minimumAcr !== undefined && !isAcr(input.minimumAcr)) {
    throw invalid(`minimum acr must be one of ${ACR_LEVELS.join(', ')}, got "${input.minimumAcr}"`);
  }
  if (input.public && input.pkce === 'optional') {
    throw invalid('a public client always requires PKCE (RFC 9700 §2.1.1): pkce optional is only for confidential clients');
  }
  if (input.authMethod !== undefined) {
    if (input.public) throw invalid('a public client has no secret: its authentication method is always none (PKCE only)');
    if (!AUTH_METHODS.includes(input.authMethod)) throw invalid(`authentication method must be client_secret_basic, client_secret_post or private_key_jwt, got "${String(input.authMethod)}"`);
  }
  const security = securityProblem(input);
  if (security) throw invalid(security.message);
  const grantTypes = [...(interactive ? ['authorization_code'] : []), ...grants];
  return {
    client_id: input.clientId,
    ...(input.name ? { client_name: input.name } : {}),
    ...(input.public ? { token_endpoint_auth_method: 'none' } : input.authMethod ? { token_endpoint_auth_method: input.authMethod } : {}),
    redirect_uris: input.redirectUris,
    post_logout_redirect_uris: input.postLogoutRedirectUris ?? [],
    grant_types: grantTypes,
    response_types: interactive ? ['code'] : [],
    ...(input.backchannelLogoutUri ? { backchannel_logout_uri: input.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
    [SKIP_CONSENT]: input.skipConsent === true,
    [PKCE]: input.pkce ?? 'required',
    ...(input.minimumAcr ? { [MINIMUM_ACR]: input.minimumAcr } : {}),
    ...(input.jwks ? { jwks: input.jwks } : {}),
    ...(input.jwksUri ? { jwks_uri: input.jwksUri } : {}),
    ...(input.requirePushedAuthorizationRequests ? { require_pushed_authorization_requests: true } : {}),
    ...(input.dpopBoundAccessTokens ? { dpop_bound_access_tokens: true } : {}),
    ...(input.securityProfile ? { [SECURITY_PROFILE]: input.securityProfile } : {}),
    ...Object.fromEntries(BRANDING_FIELDS.flatMap((f) => (input[f] ? [[BRANDING_METADATA[f], f === 'brandColor' ? input[f]!.toLowerCase() : input[f]]] : []))),
    // the console's users may request the admin scope; other clients get the provider's default list
    ...(input.clientId === ADMIN_CLIENT ? { scope: ADMIN_SCOPES } : {}),
  };
}

/** The metadata properties metadataFor decides; update replaces them and keeps every other one. */
const MANAGED = [
  'client_name', 'token_endpoint_auth_method', 'redirect_uris', 'post_logout_redirect_uris', 'grant_types', 'response_types',
  'backchannel_logout_uri', 'backchannel_logout_session_required', SKIP_CONSENT, PKCE, MINIMUM_ACR,
  ...Object.values(BRANDING_METADATA),
  'jwks', 'jwks_uri', 'require_pushed_authorization_requests', 'dpop_bound_access_tokens', SECURITY_PROFILE,
];

/** A client with a secret: confidential, and not authenticating with its own keys. */
const usesSecret = (input: NewClient) => !input.public && input.authMethod !== 'private_key_jwt';

export function buildClientMetadata(input: NewClient): Metadata {
  const metadata = metadataFor(input);
  return usesSecret(input) ? { ...metadata, client_secret: newSecret() } : metadata;
}

const newSecret = () => randomBytes(32).toString('base64url');

/** The stored client as the input that would make it (the inverse of metadataFor). */
function inputOf(m: Metadata): NewClient {
  const isPublic = m.token_endpoint_auth_method === 'none';
  const method = m.token_endpoint_auth_method;
  return {
    clientId: m.client_id as string,
    redirectUris: (m.redirect_uris as string[] | undefined) ?? [],
    postLogoutRedirectUris: (m.post_logout_redirect_uris as string[] | undefined) ?? [],
    grants: ((m.grant_types as string[] | undefined) ?? []).filter((g): g is 'refresh_token' | 'client_credentials' => GRANTS.includes(g)),
    ...(isPublic ? { public: true } : {}),
    ...(!isPublic && typeof method === 'string' && AUTH_METHODS.includes(method) ? { authMethod: method as AuthMethod } : {}),
    skipConsent: m[SKIP_CONSENT] === true,
    ...(typeof m.client_name === 'string' ? { name: m.client_name } : {}),
    ...(typeof m.backchannel_logout_uri === 'string' ? { backchannelLogoutUri: m.backchannel_logout_uri } : {}),
    pkce: m[PKCE] === 'optional' ? 'optional' : 'required',
    ...(typeof m[MINIMUM_ACR] === 'string' ? { minimumAcr: m[MINIMUM_ACR] } : {}),
    ...brandingOf(m),
    ...securityOf(m),
    ...(m.require_pushed_authorization_requests === true ? { requirePushedAuthorizationRequests: true } : {}),
    ...(m.dpop_bound_access_tokens === true ? { dpopBoundAccessTokens: true } : {}),
  };
}

/** The patch applied to a client's input; a public client's authentication method is fixed. */
function patched(current: NewClient, patch: ClientPatch): NewClient {
  if (typeof patch !== 'object' || patch === null) throw invalid('the change must be an object');
  const unknown = Object.entries(patch).find(([key, value]) => !PATCH_KEYS.has(key) && value !== undefined);
  if (unknown) throw invalid(`"${unknown[0]}" cannot be changed`);
  const next: NewClient = { ...current };
  const optional = <K extends 'name' | 'minimumAcr' | 'backchannelLogoutUri' | BrandingField>(key: K) => {
    const value = patch[key];
    if (value === null) delete next[key];
    else if (value !== undefined) next[key] = value;
  };
  optional('name');
  optional('minimumAcr');
  optional('backchannelLogoutUri');
  for (const field of BRANDING_FIELDS) optional(field);
  if (patch.redirectUris !== undefined) next.redirectUris = patch.redirectUris;
  if (patch.postLogoutRedirectUris !== undefined) next.postLogoutRedirectUris = patch.postLogoutRedirectUris;
  if (patch.grants !== undefined) next.grants = patch.grants;
  if (patch.skipConsent !== undefined) next.skipConsent = patch.skipConsent;
  if (patch.pkce !== undefined) next.pkce = patch.pkce;
  if (patch.authMethod !== undefined) {
    if (current.public) throw invalid(`client ${current.clientId} is public: it has no secret, and its authentication method (none) cannot be changed`);
    next.authMethod = patch.authMethod;
  }
  // the keys go with private_key_jwt: leaving it drops them, unless the patch sets them (then refused)
  if (next.authMethod !== 'private_key_jwt' && current.authMethod === 'private_key_jwt') {
    delete next.jwks;
    delete next.jwksUri;
  }
  // a JWKS replaces a jwks_uri and the other way round
  if (patch.jwks !== undefined && patch.jwks !== null && patch.jwksUri === undefined) delete next.jwksUri;
  if (patch.jwksUri !== undefined && patch.jwksUri !== null && patch.jwks === undefined) delete next.jwks;
  for (const key of ['jwks', 'jwksUri', 'securityProfile'] as const) {
    const value = patch[key];
    if (value === null) delete next[key];
    else if (value !== undefined) (next as unknown as Record<string, unknown>)[key] = value;
  }
  if (patch.requirePushedAuthorizationRequests !== undefined) next.requirePushedAuthorizationRequests = patch.requirePushedAuthorizationRequests;
  if (patch.dpopBoundAccessTokens !== undefined) next.dpopBoundAccessTokens = patch.dpopBoundAccessTokens;
  return next;
}

const omit = (m: Metadata, keys: readonly string[]) => Object.fromEntries(Object.entries(m).filter(([k]) => !keys.includes(k)));

/**
 * Wraps the provider storage so client secrets (the current one, and the previous one during a
 * rotation's grace period) are sealed with ENCRYPTION_KEY at rest and opened only when
 * oidc-provider (or the client store) reads a client.
 */
export function withSealedClientSecrets(storage: OidcStorage, sealer: Sealer): OidcStorage {
  // the current and the previous secret: each sealed under its own context
  const secrets = [
    { key: 'client_secret', context: (p: AdapterPayload) => `client-secret:${p.client_id}` },
    { key: PREVIOUS_SECRET, context: (p: AdapterPayload) => `client-previous-secret:${p.client_id}` },
  ];
  const transform = (p: AdapterPayload, how: (value: string, context: string) => string) => {
    let out = p;
    for (const { key, context } of secrets) {
      const value = p[key];
      if (typeof value === 'string') out = { ...out, [key]: how(value, context(p)) };
    }
    return out;
  };
  const seal = (p: AdapterPayload) => transform(p, (v, c) => sealer.seal(v, c));
  // a client is read on almost every provider request (kept by the storage for CLIENT_CACHE_SECONDS):
  // each sealed value is opened once per process, not on every read (a new secret is a new sealed value)
  const opened = new Map<string, string>();
  const openValue = (value: string, context: string) => {
    const key = `${context}\0${value}`;
    let plain = opened.get(key);
    if (plain === undefined) {
      plain = sealer.open(value, context);
      if (opened.size >= 10_000) opened.clear();
      opened.set(key, plain);
    }
    return plain;
  };
  const open = (p: AdapterPayload | undefined) => (p ? transform(p, openValue) : p);
  return {
    ...storage,
    adapter(name) {
      const inner = storage.adapter(name);
      if (name !== 'Client') return inner;
      return {
        ...inner,
        upsert: (id, p, expiresIn) => inner.upsert(id, seal(p), expiresIn),
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

/**
 * `validate` is the provider's Client.validate: it throws InvalidClientMetadata with a description.
 * `clock` says whether a previous secret's grace period still runs (for views).
 */
export function createClientStore(storage: OidcStorage, validate: (metadata: Metadata) => Promise<void>, clock: () => Date = () => new Date()) {
  const clients = storage.adapter('Client');

  // One change at a time per client in this process: an edit, a rotation and a grant read the
  // stored client and write it whole, so two at once would lose one of them (a rotated secret
  // shown to an admin that never worked). Another process (the CLI) is not covered.
  const queues = new Map<string, Promise<unknown>>();
  function serial<R>(clientId: string, work: () => Promise<R>): Promise<R> {
    const run = (queues.get(clientId) ?? Promise.resolve()).then(work);
    const tail = run.then(() => undefined, () => undefined);
    queues.set(clientId, tail);
    void tail.then(() => { if (queues.get(clientId) === tail) queues.delete(clientId); });
    return run;
  }

  async function validated(metadata: Metadata): Promise<Metadata> {
    try {
      await validate(metadata);
    } catch (err) {
      const e = err as { error_description?: string; message: string };
      throw invalid(e.error_description ?? e.message);
    }
    return metadata;
  }

  /** The stored client an admin function may change: not first-party, and existing. */
  async function editable(clientId: string, action: string): Promise<Metadata> {
    if (typeof clientId !== 'string') throw new ClientError('not_found', 'no such client');
    if (FIRST_PARTY_CLIENTS.includes(clientId)) {
      throw new ClientError('protected', `${clientId} is a first-party client of Tessera itself: it cannot be ${action}`);
    }
    const stored = await clients.find(clientId);
    if (!stored) throw new ClientError('not_found', `no client ${clientId}`);
    return stored;
  }

  return {
    /** Also makes the first-party clients (the areas call it on first use). */
    async create(input: NewClient): Promise<ClientView> {
      const metadata = { ...buildClientMetadata(input), [REGISTRATION]: randomBytes(12).toString('base64url') };
      return serial(input.clientId, async () => {
        await validated(metadata);
        if (await clients.find(input.clientId)) throw new ClientError('client_exists', `client ${input.clientId} already exists`);
        await clients.upsert(input.clientId, metadata, 0);
        return view(metadata, clock());
      });
    },
    async find(clientId: string): Promise<ClientView | undefined> {
      const m = await clients.find(clientId);
      return m ? view(m, clock()) : undefined;
    },
    async list(): Promise<ClientView[]> {
      const now = clock();
      return (await storage.list('Client')).map((m) => view(m, now));
    },
    /**
     * Changes what an admin may set, with the same checks as create; the secret, the previous
     * secret, the admin-API grant (and its client_credentials grant) and public-ness stay.
     * Nothing is written when anything is invalid.
     */
    async update(clientId: string, patch: ClientPatch): Promise<ClientView> {
      return serial(clientId, async () => {
        const stored = await editable(clientId, 'edited');
        const input = patched(inputOf(stored), patch);
        if (stored[ADMIN_API] === true && !input.grants?.includes('client_credentials')) {
          input.grants = [...(input.grants ?? []), 'client_credentials'];
        }
        // a client moving to private_key_jwt loses its secrets; one moving to a secret gets a new one
        const secret = usesSecret(input)
          ? { client_secret: typeof stored.client_secret === 'string' ? stored.client_secret : newSecret() }
          : {};
        const kept = omit(stored, [...MANAGED, 'client_secret', PREVIOUS_SECRET, PREVIOUS_SECRET_EXPIRES_AT]);
        const previous = usesSecret(input) && typeof stored.client_secret === 'string'
          ? Object.fromEntries([PREVIOUS_SECRET, PREVIOUS_SECRET_EXPIRES_AT].flatMap((k) => (stored[k] !== undefined ? [[k, stored[k]]] : [])))
          : {};
        const metadata = await validated({ ...kept, ...secret, ...previous, ...metadataFor(input) });
        await clients.upsert(clientId, metadata, 0);
        return view(metadata, clock());
      });
    },
    /**
     * A new random secret; the one it replaces keeps working until now + grace (not at all when
     * grace is 0). A secret rotated out earlier stops at once: only one previous secret is kept.
     */
    async rotateSecret(clientId: string, { now, graceSeconds }: { now: Date; graceSeconds: number }): Promise<{ client: ClientView; clientSecret: string; previousValidUntil?: Date }> {
      if (!Number.isFinite(graceSeconds) || graceSeconds < 0) throw new RangeError(`graceSeconds must be 0 or more, got ${graceSeconds}`);
      return serial(clientId, async () => {
        const stored = await editable(clientId, 'rotated');
        if (stored.token_endpoint_auth_method === 'private_key_jwt') {
          throw invalid(`client ${clientId} authenticates with private_key_jwt: it has no secret to rotate; change its keys (JWKS or JWKS URI) instead`);
        }
        if (stored.token_endpoint_auth_method === 'none' || typeof stored.client_secret !== 'string') {
          throw invalid(`client ${clientId} is a public client: a public client has no secret to rotate`);
        }
        const clientSecret = newSecret();
        const until = graceSeconds > 0 ? Math.floor(now.getTime() / 1000 + graceSeconds) : undefined;
        const metadata = await validated({
          ...omit(stored, [PREVIOUS_SECRET, PREVIOUS_SECRET_EXPIRES_AT]),
          client_secret: clientSecret,
          ...(until ? { [PREVIOUS_SECRET]: stored.client_secret, [PREVIOUS_SECRET_EXPIRES_AT]: until } : {}),
        });
        await clients.upsert(clientId, metadata, 0);
        return { client: view(metadata, now), clientSecret, ...(until ? { previousValidUntil: new Date(until * 1000) } : {}) };
      });
    },
    /**
     * Lets a confidential client use the admin API: the client_credentials grant, the `admin`
     * scope (beside the standard ones, so its other flows keep working) and the admin-API mark.
     */
    async grantAdminApi(clientId: string): Promise<ClientView> {
      return serial(clientId, async () => {
        const stored = await editable(clientId, 'given the admin API');
        if (stored.token_endpoint_auth_method === 'none' || typeof stored.client_secret !== 'string') {
          throw invalid(`client ${clientId} is a public client: only a confidential client (with a secret) can use the admin API`);
        }
        const grants = (stored.grant_types as string[] | undefined) ?? ['authorization_code'];
        const scopes = new Set([...(typeof stored.scope === 'string' ? stored.scope.split(' ') : []), ...ADMIN_SCOPES.split(' ')]);
        const metadata = await validated({
          ...stored,
          grant_types: grants.includes('client_credentials') ? grants : [...grants, 'client_credentials'],
          scope: [...scopes].filter(Boolean).join(' '),
          [ADMIN_API]: true,
        });
        await clients.upsert(clientId, metadata, 0);
        return view(metadata, clock());
      });
    },
    async remove(clientId: string): Promise<void> {
      return serial(clientId, async () => {
        await editable(clientId, 'deleted');
        await clients.destroy(clientId);
      });
    },
  };
}
