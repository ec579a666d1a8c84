// oidc-provider configuration: what Tessera enables, how accounts and clients are found, and how
// provider-rendered pages (errors, logout) look. Everything stateful comes in through `deps`.
import { LANGUAGES } from '../i18n/index.ts';
import { keepQueryForSwitcher } from '../i18n/middleware.ts';
import Provider, { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { createHash, timingSafeEqual, type JsonWebKey } from 'node:crypto';
import type { Config } from '../config/schema.ts';
import { appOrigin, plainWords } from './error-words.ts';
import type { AccountStore } from '../accounts/store.ts';
import type { OidcStorage } from './adapter.ts';
import {
  ADMIN_API, ADMIN_CLIENT, ADMIN_SCOPE, PKCE, PREVIOUS_SECRET, PREVIOUS_SECRET_EXPIRES_AT, SKIP_CONSENT, STANDARD_SCOPES,
  BRAND_COLOR, SUPPORT_URI, brandColorProblem, brandingUriProblem, SECURITY_PROFILE, REGISTRATION, appIdentity,
} from './clients.ts';
import { keptConsentAllows } from '../policy/consent.ts';
import { ACR_LEVELS, isAcr } from '../policy/assurance.ts';
import { buildInteractionPolicy } from './interaction-policy.ts';
import { applicationBrand, type Brand } from '../branding/pages.ts';
import { MINIMUM_ACR, type StepUpDeps } from './step-up.ts';
import { cookieName } from '../http/issuer-origin.ts';
import { profileClaims } from '../accounts/profile.ts';
import { databaseUnavailable, DATABASE_UNAVAILABLE_MESSAGE } from '../http/errors.ts';
import { deriveKey } from '../crypto/seal.ts';
import { checkedClientKeysFetch, explainRefusedClientKeys, type ProviderFetch } from './client-jwks-uri.ts';

export interface ProviderDeps {
  config: Config;
  storage: OidcStorage;
  accounts: AccountStore;
  jwks: JsonWebKey[];
  /** What the step-up decision needs to know about accounts and sessions. */
  stepUp: StepUpDeps;
  /** Lets the provider call relying parties on loopback/private addresses (tests, internal RPs). */
  allowPrivateFetch?: boolean;
  /** Tessera's one clock (a rotated-out client secret's grace period); default: the step-up's. */
  clock?: () => Date;
  /** The account's primary verified mobile number (E.164), the `phone_number` claim; none without it. */
  phoneOf?: (accountId: string) => Promise<string | undefined>;
  /** Receives a line for every refused client key set (client-jwks-uri.ts); default: dropped. */
  log?: (line: string) => void;
}

type Render = (view: string, locals: Record<string, unknown>) => Promise<void>;
const render = (ctx: KoaContextWithOIDC, view: string, locals: Record<string, unknown>) =>
  (ctx as unknown as { render: Render }).render(view, locals);

/** The logout pages of an application show its brand (branding/pages.ts). */
const brandFor = async (ctx: KoaContextWithOIDC) => {
  const state = ctx.state as { brand?: Brand; installationBrand?: Brand };
  if (ctx.oidc.client && state.installationBrand) state.brand = applicationBrand(ctx.oidc.client as never, state.installationBrand);
};

const { Check } = interactionPolicy;

/** Tokens of users (authorization code) carry `admin` only for the admin console's client. */
const adminScopeCheck = new Check('admin_scope', 'the admin scope is only for the admin console', (ctx: KoaContextWithOIDC) => {
  if (ctx.oidc.requestParamScopes.has(ADMIN_SCOPE) && ctx.oidc.client?.clientId !== ADMIN_CLIENT) {
    throw new errors.InvalidScope('the admin scope is only for the Tessera admin console (machine clients use client_credentials)', ADMIN_SCOPE);
  }
  return Check.NO_NEED_TO_PROMPT;
});

/** Equal in constant time (hashes first: timingSafeEqual needs equal lengths). */
function secretEquals(expected: string, actual: string): boolean {
  const digest = (v: string) => createHash('sha256').update(v).digest();
  return timingSafeEqual(digest(expected), digest(actual));
}

export function createProvider({ config, storage, accounts, jwks, stepUp, allowPrivateFetch = false, clock = stepUp.clock, phoneOf, log = () => {} }: ProviderDeps): Provider {
  const { ttl } = config;
  const httpsIssuer = config.issuer.startsWith('https:');
  /**
   * Adds to `grant` what the request asks beyond it when the person's kept consent to this
   * application allows all of it, and saves it: true when the grant then covers the request (an
   * existing grant that lacks nothing is left as it is; a new one is saved only when it gets
   * something). Never for prompt=consent, a native application, resource indicators or
   * authorization details: those see the consent page.
   */
  async function withKeptConsent(ctx: KoaContextWithOIDC, grant: InstanceType<Provider['Grant']>, fresh = false): Promise<boolean> {
    const { oidc } = ctx;
    const client = oidc.client!;
    const had = new Set(grant.getOIDCScopeEncountered().split(' '));
    const hadClaims = new Set(grant.getOIDCClaimsEncountered());
    const missing = { scopes: [...oidc.requestParamOIDCScopes].filter((s) => !had.has(s)), claims: [...oidc.requestParamClaims].filter((c) => !hadClaims.has(c)) };
    if (!missing.scopes.length && !missing.claims.length) return !fresh;
    if (oidc.prompts.has('consent') || client.applicationType === 'native' || oidc.params!.resource !== undefined || oidc.params!.authorization_details !== undefined) return false;
    const account = grant.accountId ? await accounts.findById(grant.accountId) : undefined;
    if (!keptConsentAllows(account?.consents[client.clientId], appIdentity(client), missing)) return false;
    if (missing.scopes.length) grant.addOIDCScope(missing.scopes.join(' '));
    if (missing.claims.length) grant.addOIDCClaims(missing.claims);
    await grant.save();
    return true;
  }

  const configuration: Configuration = {
    adapter: storage.adapter,
    jwks: { keys: jwks as NonNullable<Configuration['jwks']>['keys'] },
    cookies: {
      keys: config.cookieKeys,
      // the session cookie is host-only on Path=/ (__Host- on https); the interaction cookies keep
      // the provider's per-interaction paths (/interaction/<uid>, /auth/<uid>), so two tabs can
      // sign in to two relying parties at once (__Secure- on https: __Host- requires Path=/)
      names: {
        session: cookieName(config.issuer, 'session', 'host'),
        interaction: cookieName(config.issuer, 'interaction', 'path'),
        resume: cookieName(config.issuer, 'interaction_resume', 'path'),
      },
      long: { signed: true, httpOnly: true, sameSite: httpsIssuer ? 'none' : 'lax', path: '/', ...(httpsIssuer ? { secure: true } : {}) },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    acrValues: [...ACR_LEVELS],
    // the languages of the hosted pages (i18n/index.ts): an RP may ask for one with ui_locales
    discovery: { claim_types_supported: ['normal'], ui_locales_supported: [...LANGUAGES] },
    claims: {
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      // every OIDC Core §5.1 profile claim (accounts/profile.ts); one the account lacks is absent
      profile: ['name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at'],
      // the account's primary verified mobile number (verified by a code, or set verified by an admin)
      phone: ['phone_number', 'phone_number_verified'],
      address: ['address'],
    },
    // admin: the admin API (client_credentials of granted clients) and the admin console's users
    scopes: [...STANDARD_SCOPES, ADMIN_SCOPE],
    responseTypes: ['code'],
    // RFC 9700: always for public clients; a confidential client may be registered with pkce
    // optional (certification RPs and older confidential clients send none; OIDC Core allows it);
    // a FAPI 2.0 client always, whatever its stored pkce says (FAPI 2.0 §5.3.2.2)
    pkce: { required: (_ctx, client) => client.tokenEndpointAuthMethod === 'none' || client[PKCE] !== 'optional' || client[SECURITY_PROFILE] === 'fapi2' },
    // OIDC Core §3.1.2.1 and RP-Initiated Logout: GET and POST. A cross-site POST carries the
    // session cookie only if it is SameSite=None, which browsers accept only with Secure: so on an
    // https issuer POST is on and the session cookie is SameSite=None; Secure, on a plain-http
    // development issuer it stays Lax and the endpoints take GET only (README, Security notes).
    enableHttpPostMethods: httpsIssuer,
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    assertJwtClientAuthClaimsAndHeader: assertFapi2ClientAssertion,
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
      // a client whose metadata has no scope list may request only the standard scopes: the
      // provider refuses (invalid_scope) a listed scope a client's list lacks, and only the admin
      // console's client and admin-API clients (clients.ts grantAdminApi) list admin
      scope: STANDARD_SCOPES.join(' '),
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256', 'RS256'],
      userinfoSigningAlgValues: ['ES256', 'RS256'],
      introspectionSigningAlgValues: ['ES256', 'RS256'],
      authorizationSigningAlgValues: ['ES256', 'RS256'],
    },
    extraClientMetadata: {
      properties: [SKIP_CONSENT, PKCE, MINIMUM_ACR, ADMIN_API, PREVIOUS_SECRET, PREVIOUS_SECRET_EXPIRES_AT, BRAND_COLOR, SUPPORT_URI, SECURITY_PROFILE, REGISTRATION],
      validator(_ctx, key, value, metadata) {
        if (key === SECURITY_PROFILE && value !== undefined && value !== 'fapi2') throw new Error(`${SECURITY_PROFILE} may only be fapi2`);
        if (key === BRAND_COLOR && value !== undefined) {
          const problem = typeof value === 'string' ? brandColorProblem(value) : `${BRAND_COLOR} must be a string`;
          if (problem) throw new Error(problem);
        }
        if (key === SUPPORT_URI && value !== undefined) {
          const problem = typeof value === 'string' ? brandingUriProblem(value, 'support link') : `${SUPPORT_URI} must be a string`;
          if (problem) throw new Error(problem);
        }
        if (key === ADMIN_API && value !== undefined && typeof value !== 'boolean') throw new Error(`${ADMIN_API} must be a boolean`);
        if (key === REGISTRATION && value !== undefined && (typeof value !== 'string' || !value)) throw new Error(`${REGISTRATION} must be a string`);
        if (key === PREVIOUS_SECRET && value !== undefined && (typeof value !== 'string' || !value)) throw new Error(`${PREVIOUS_SECRET} must be a string`);
        if (key === PREVIOUS_SECRET_EXPIRES_AT && value !== undefined && (!Number.isSafeInteger(value) || (value as number) < 0)) {
          throw new Error(`${PREVIOUS_SECRET_EXPIRES_AT} must be a time in epoch seconds`);
        }
        if (key === SKIP_CONSENT && value !== undefined && typeof value !== 'boolean') {
          throw new Error(`${SKIP_CONSENT} must be a boolean`);
        }
        if (key === MINIMUM_ACR && value !== undefined && (typeof value !== 'string' || !isAcr(value))) {
          throw new Error(`${MINIMUM_ACR} must be one of ${ACR_LEVELS.join(', ')}`);
        }
        if (key === PKCE && value !== undefined) {
          if (value !== 'required' && value !== 'optional') throw new Error(`${PKCE} must be required or optional`);
          if (value === 'optional' && metadata.token_endpoint_auth_method === 'none') throw new Error('a public client always requires PKCE');
        }
      },
    },
    features: {
      devInteractions: { enabled: false },
      // FAPI 2.0 Security Profile only for clients registered with it (clients.ts SECURITY_PROFILE,
      // which also requires private_key_jwt, PAR and DPoP); the provider then insists on PKCE and a
      // redirect_uri in every request, and on exp/nbf/aud in request objects. Other clients: none.
      fapi: { enabled: true, profile: (_ctx, client) => (client?.[SECURITY_PROFILE] === 'fapi2' ? '2.0' : undefined) as '2.0' },
      // DPoP (RFC 9449) for any client that sends a proof, and the only way for a client registered
      // with dpop_bound_access_tokens. Every proof must carry a server nonce (§8, use_dpop_nonce
      // first); the nonce key is derived from ENCRYPTION_KEY, so every worker and instance accepts the
      // others' nonces. A proof's jti is accepted once (replay detection in the database).
      dPoP: { enabled: true, nonceSecret: deriveKey(config.encryptionKey, 'tessera:dpop-nonces'), requireNonce: () => true, allowReplay: false },
      claimsParameter: { enabled: true },
      clientCredentials: { enabled: true },
      // a client may introspect or revoke only tokens that were issued to it
      introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => !!client.clientId && token.clientId === client.clientId },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      userinfo: { enabled: true },
      backchannelLogout: { enabled: true },
      resourceIndicators: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => brandFor(ctx).then(() => render(ctx, 'logout/confirm', { title: 'Sign out', form, clientName: ctx.oidc.client?.clientName })),
        // also shown after "Stay signed in", which ends only the client's session: this route does
        // not load the browser's session, so look at it to say which case this is
        async postLogoutSuccessSource(ctx) {
          const signedIn = !!(await ctx.oidc.provider.Session.get(ctx)).accountId;
          await brandFor(ctx);
          await render(ctx, 'logout/done', { title: signedIn ? 'Still signed in' : 'Signed out', signedIn, clientName: ctx.oidc.client?.clientName });
        },
      },
    },
    // every use of a refresh token gives a new one and a reused one revokes the grant, except for
    // FAPI 2.0 clients (§5.3.2.1: no rotation; such a client is confidential, authenticated by
    // private_key_jwt and sender-constrained, and a lost answer must not cost it the grant)
    rotateRefreshToken: (ctx) => ctx.oidc.client?.[SECURITY_PROFILE] !== 'fapi2',
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    ttl: {
      Session: ttl.sessionSeconds,
      Interaction: ttl.interactionSeconds,
      // FAPI 2.0 §5.3.2.1: at most 60 s for a FAPI 2.0 client, whatever the setting says
      AuthorizationCode: (_ctx, _code, client) => (client[SECURITY_PROFILE] === 'fapi2' ? Math.min(ttl.authorizationCodeSeconds, FAPI2_CODE_SECONDS) : ttl.authorizationCodeSeconds),
      AccessToken: ttl.accessTokenSeconds,
      IdToken: ttl.idTokenSeconds,
      RefreshToken: ttl.refreshTokenSeconds,
      Grant: ttl.grantSeconds,
      ClientCredentials: ttl.clientCredentialsSeconds,
    },
    interactions: { policy: withAdminScopeCheck(buildInteractionPolicy(stepUp)), url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      const account = await accounts.findById(sub);
      if (!account || account.disabled) return undefined;
      return {
        accountId: account.id,
        async claims(_use, scope, claims) {
          // everything the account holds; the provider releases only what the scopes and the
          // claims parameter ask for, to the ID token or userinfo as requested (the phone list is
          // read only when its claims may be released)
          const phone = phoneOf && (scope.split(' ').includes('phone') || 'phone_number' in claims || 'phone_number_verified' in claims) ? await phoneOf(account.id) : undefined;
          return {
            sub: account.id, email: account.email, email_verified: account.emailVerified,
            ...(account.name ? { name: account.name } : {}),
            ...profileClaims(account.profile, account.updatedAt),
            ...(phone ? { phone_number: phone, phone_number_verified: true } : {}),
          };
        },
      };
    },
    /**
     * First-party clients (skip_consent) get their grant without a consent page; so does a request
     * that asks an application for no more than the person's kept consent to it allows
     * (interaction/consent.ts): a sign-in that did not show the page, a signed-in session's first
     * request to another application (prompt=none too), or one asking for more than its grant holds.
     */
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      if (grantId) {
        const grant = await ctx.oidc.provider.Grant.find(grantId);
        if (grant) await withKeptConsent(ctx, grant);
        return grant;
      }
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
      if (ctx.oidc.client![SKIP_CONSENT] !== true) return (await withKeptConsent(ctx, grant, true)) ? grant : undefined;
      // never admin without asking, except to the admin console (adminScopeCheck refuses the request anyway)
      const scopes = [...(ctx.oidc.requestParamScopes ?? ['openid'])].filter((s) => s !== ADMIN_SCOPE || ctx.oidc.client!.clientId === ADMIN_CLIENT);
      grant.addOIDCScope(scopes.length ? scopes.join(' ') : 'openid');
      grant.addOIDCClaims([...(ctx.oidc.requestParamClaims ?? [])]);
      await grant.save();
      return grant;
    },
    async renderError(ctx, out, error) {
      // a database fault is transient: 503 and say so (errors.ts turns the JSON answers the same way)
      if (databaseUnavailable(error)) {
        ctx.status = 503;
        ctx.set('Retry-After', '5');
        await render(ctx, 'error', { title: 'Temporarily unavailable', message: DATABASE_UNAVAILABLE_MESSAGE, code: 'temporarily_unavailable', requestId: ctx.state.requestId });
        return;
      }
      // a plain sentence and a way back (the application's own address when it has one); the
      // protocol's words are folded away as technical details
      // (the origin of its first registered redirect URI: an admin registered it, unlike the one asked for)
      const client = (ctx as { oidc?: { client?: { redirectUris?: string[]; clientName?: string } } }).oidc?.client;
      const appUrl = appOrigin(client?.redirectUris?.[0]);
      await render(ctx, 'error', {
        title: 'Sign-in error',
        message: out.error === 'server_error' ? 'Something went wrong on our side. Please try again.' : plainWords(out.error),
        code: out.error,
        ...(out.error !== 'server_error' && out.error_description ? { detail: out.error_description } : {}),
        ...(appUrl ? { appUrl, appName: client?.clientName ?? 'the application' } : {}),
        requestId: ctx.state.requestId,
      });
    },
    // every outgoing call keeps the provider's timeout and (unless allowed) its private-address
    // guard; the keys a client serves at its jwks_uri are checked like a registered JWKS
    fetch: checkedClientKeysFetch(allowPrivateFetch ? privateFetch : (url, options) => fetch(url, options), log),
  };
  const provider = new Provider(config.issuer, configuration);
  acceptPreviousSecret(provider, clock);
  atomicReplayDetection(provider, storage);
  refuseLogoutWithoutClient(provider);
  explainRefusedClientKeys(provider);
  return provider;
}

/** The provider's fetch without its private-address guard (allowPrivateFetch). */
const privateFetch: ProviderFetch = (url, options) => {
  if (options) delete options.dispatcher;
  return fetch(url, options);
};

/** What the switcher keeps of the logout error page's query: what decides it, and nothing secret. */
const LOGOUT_ERROR_QUERY = ['post_logout_redirect_uri', 'state', 'ui_locales'] as const;

/**
 * RP-Initiated Logout §2: a post_logout_redirect_uri must come with id_token_hint or client_id.
 * Without either, oidc-provider drops the address and offers to sign out anyway; Tessera says
 * instead that the request is incomplete and what to do (OpenID certification's
 * oidcc-rp-initiated-logout-no-id-token-hint expects an error, no redirect). Nothing was changed:
 * the end-session route only rendered its page, and this replaces it.
 */
function refuseLogoutWithoutClient(provider: Provider): void {
  provider.use(async (ctx, next) => {
    await next();
    const oidc = (ctx as unknown as KoaContextWithOIDC).oidc as KoaContextWithOIDC['oidc'] | undefined;
    if (oidc?.route !== 'end_session' || ctx.status !== 200 || oidc.client) return;
    const sent = (ctx.method === 'POST' ? oidc.body : ctx.query) as Record<string, unknown> | undefined;
    if (sent?.post_logout_redirect_uri === undefined) return;
    ctx.status = 400;
    // the language switcher comes back to this page, not to "Sign out?": the same request shows it
    // again and never redirects (no client), so the foreign address is safe in a link to it
    if (ctx.method === 'GET') keepQueryForSwitcher(ctx, LOGOUT_ERROR_QUERY);
    await render(ctx as unknown as KoaContextWithOIDC, 'logout/missing-client', { signedIn: !!oidc.session?.accountId, requestId: ctx.state.requestId });
  });
}

/** FAPI 2.0 §5.3.2.1: the longest an authorization code of a FAPI 2.0 client may live. */
const FAPI2_CODE_SECONDS = 60;
/**
 * FAPI 2.0 §5.4: the only JWS algorithms. EdDSA on Ed25519 only (Ed25519 is its fully specified
 * name); an EdDSA signature here is always Ed25519, as jose, which verifies it, has no Ed448.
 */
const FAPI2_ALGS: ReadonlySet<string> = new Set(['PS256', 'ES256', 'EdDSA', 'Ed25519']);

/**
 * Client assertions (private_key_jwt), after the provider verified their signature. The provider's
 * default stays: for a FAPI 2.0 client the audience is the issuer, as one string (§5.3.2.1).
 * A FAPI 2.0 client's assertion must also be signed with an algorithm §5.4 allows; other clients
 * keep every algorithm the provider accepts (RS256 included).
 */
async function assertFapi2ClientAssertion(ctx: KoaContextWithOIDC, claims: Record<string, unknown>, header: Record<string, unknown>): Promise<void> {
  if (!ctx.oidc.isFapi('2.0')) return;
  if (claims.aud !== ctx.oidc.issuer) throw new errors.InvalidClientAuth('audience (aud) must equal the issuer identifier url');
  const alg = String(header.alg);
  if (!FAPI2_ALGS.has(alg)) {
    // the one refusal whose reason is said to the client: it is about the client's own set-up
    const refused = new errors.InvalidClientAuth(`client assertion signed with ${alg}, not allowed by FAPI 2.0`);
    refused.error_description = `this client uses the FAPI 2.0 profile: sign the client assertion with PS256, ES256 or EdDSA (Ed25519), not ${alg}`;
    throw refused;
  }
}

/**
 * A DPoP proof's and a client assertion's jti are accepted once (RFC 9449 §11.1, RFC 7523 §3).
 * The provider's ReplayDetection.unique finds, then writes: two requests carrying one proof at
 * the same moment could both pass where the two steps interleave (always possible on MongoDB
 * between two commands; the embedded database has no atomic updates at all). Here the first use
 * is one insert that the _id index arbitrates on both servers (adapter.ts recordOnce): a
 * duplicate answers false, so the request is refused as a replay, never a 500. The id and the
 * lifetime are the provider's own.
 */
function atomicReplayDetection(provider: Provider, storage: OidcStorage): void {
  provider.ReplayDetection.unique = async (iss: string, jti: string, exp: number) => {
    const id = createHash('sha256').update(`${iss}${jti}`).digest('base64url');
    // the provider's times are epoch seconds of the real clock (its token lifetimes keep real time)
    const now = Math.floor(Date.now() / 1000);
    return storage.recordOnce('ReplayDetection', id, { iss, jti: id, kind: 'ReplayDetection', iat: now, exp }, exp - now);
  };
}

function withAdminScopeCheck(policy: ReturnType<typeof buildInteractionPolicy>) {
  // first of all: refused before any sign-in page
  policy.get('login')!.checks.add(adminScopeCheck, 0);
  return policy;
}

/**
 * After a rotation the previous secret also authenticates the client until its expiry (the
 * client's urn:tessera:previous_secret* metadata, clients.ts rotateSecret). The provider finds the
 * client anew on every request (its cache is keyed by a hash of the stored metadata), so a
 * rotation and the end of the grace period take effect at once.
 */
function acceptPreviousSecret(provider: Provider, clock: () => Date): void {
  type Compare = (this: InstanceType<Provider['Client']>, actual: string) => Promise<boolean>;
  const proto = provider.Client.prototype as unknown as { compareClientSecret: Compare } & Record<string, unknown>;
  const compare = proto.compareClientSecret;
  proto.compareClientSecret = async function compareClientSecret(actual) {
    if (await compare.call(this, actual)) return true;
    const client = this as unknown as Record<string, unknown>;
    const previous = client[PREVIOUS_SECRET];
    const until = client[PREVIOUS_SECRET_EXPIRES_AT];
    if (typeof previous !== 'string' || typeof until !== 'number' || typeof actual !== 'string') return false;
    if (clock().getTime() >= until * 1000) return false;
    return secretEquals(previous, actual);
  };
}
