// The admin JSON API's shapes as zod schemas: every path parameter, query, request body and response.
// Requests are validated with them (strict: unknown fields are refused, every string is capped) and
// the OpenAPI document is generated from the same schemas, so what is checked is what is documented.
// Responses are sent through their schema too: a field that is not documented is never sent.
import { z } from 'zod';
import { uriProblem, brandColorProblem, brandingUriProblem, securityProblem } from '../../oidc/clients.ts';
import { clientJwksProblem, MAX_CLIENT_KEYS } from '../../oidc/client-jwks.ts';
import { MAX_LOGO_BYTES } from '../../branding/logos.ts';
import { ACR_LEVELS } from '../../policy/assurance.ts';
import { MAX_FLAG, MAX_NAME } from '../../devices/registry.ts';
import { WEBHOOK_EVENT_TYPES } from '../../webhooks/events.ts';
import { MAX_DESCRIPTION } from '../../webhooks/endpoints.ts';
import { profileProblems, type Profile } from '../../accounts/profile.ts';
import { MAX_NUMBER_INPUT } from '../../phones/numbers.ts';

const MAX_ID = 128;
const MAX_LABEL = 200;
const MAX_URI = 2000;
const MAX_ITEMS = 20;
const MAX_CURSOR = 512;

// ---- building blocks -------------------------------------------------------------------------

/** Ids are printable: letters, digits and _ - . : @ (account UUIDs, dev_…, org_…, client ids). */
const id = (what: string) => z.string().min(1).max(MAX_ID).regex(/^[\w.:@-]+$/, 'an id has only letters, digits and _ - . : @')
  .meta({ description: `The ${what}.` });
const label = (what: string) => z.string().trim().min(1).max(MAX_LABEL).meta({ description: what });

/** A redirect-like URI: https, or http on a loopback host; no wildcard, fragment or credentials. */
const uri = (kind: string) =>
  z.string().max(MAX_URI).superRefine((value, ctx) => {
    const problem = uriProblem(value, kind);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }).meta({ format: 'uri', description: `A ${kind}: https, or http only on a loopback host; no wildcard, fragment or credentials.` });

const uris = (kind: string) => z.array(uri(kind)).max(MAX_ITEMS);

/** An ISO 8601 date (2025-01-31) or date-time with an offset (2025-01-31T12:00:00Z), as a Date. */
const isoDate = (what: string) =>
  z.union([z.iso.datetime({ offset: true }), z.iso.date()])
    .transform((s) => new Date(s))
    .meta({ description: `${what}: an ISO 8601 date or date-time (2025-01-31 or 2025-01-31T12:00:00Z).` });

/** A whole number in a query string: digits only (no "1e2", "0x10", "" or repeats), then range-checked. */
const queryInt = (min: number, max: number, what: string) =>
  z.preprocess((v) => (typeof v === 'string' && /^\d{1,6}$/.test(v) ? Number(v) : v), z.number().int().min(min).max(max))
    .meta({ description: `${what} (${min}-${max}).` });

const dateTime = z.iso.datetime();
const acr = z.enum(ACR_LEVELS as unknown as [string, ...string[]]);
const grant = z.enum(['refresh_token', 'client_credentials']);
const role = z.enum(['user', 'admin']);

// ---- path parameters -------------------------------------------------------------------------

export const ClientParams = z.strictObject({ clientId: id('client id') });
export const UserParams = z.strictObject({ userId: id('user (account) id') });
export const DeviceParams = z.strictObject({ deviceId: id('device id') });
const flag = z.string().trim().min(1).max(MAX_FLAG).regex(/^[\w .:@/-]+$/, 'a flag has only letters, digits, spaces and _ . : @ / -');
export const FlagParams = z.strictObject({ deviceId: id('device id'), flag: flag.meta({ description: 'The flag (URL-encoded).' }) });
export const OrganisationParams = z.strictObject({ organisationId: id('organisation id') });
export const WebhookParams = z.strictObject({ webhookId: id('webhook endpoint id (whk_…)') });
export const MemberParams = z.strictObject({ organisationId: id('organisation id'), userId: id('user (account) id') });

// ---- queries ---------------------------------------------------------------------------------

/** Routes that take no query parameters refuse any (a typo is an error, not silently ignored). */
export const NoQuery = z.strictObject({});

export const UserSearchQuery = z.strictObject({
  q: z.string().max(MAX_LABEL).optional().meta({ description: 'Part of the email or name (case-insensitive).' }),
  cursor: z.string().min(1).max(MAX_CURSOR).optional().meta({ description: 'The `next` of the previous page.' }),
  limit: queryInt(1, 100, 'Users per page').optional(),
});

const auditFilterFields = {
  from: isoDate('Events at or after').optional(),
  to: isoDate('Events before or at').optional(),
  accountId: id('account the events concern').optional(),
  type: z.string().max(100).regex(/^[a-z0-9_.]+\*?$/i, 'an event type, or a family ending in "." or ".*" (admin.*)').optional()
    .meta({ description: 'An exact event type (sign_in.failure) or a family ending in "." or ".*" (admin.*).' }),
  outcome: z.enum(['success', 'failure']).optional(),
};

const fromBeforeTo = (q: { from?: Date | undefined; to?: Date | undefined }) => !q.from || !q.to || q.from <= q.to;
const fromBeforeToMessage = { message: '"from" must not be after "to"', path: ['from'] };

export const AuditQuery = z.strictObject({
  ...auditFilterFields,
  cursor: z.string().min(1).max(MAX_CURSOR).optional().meta({ description: 'The `next` of the previous page.' }),
  limit: queryInt(1, 200, 'Events per page').optional(),
}).refine(fromBeforeTo, fromBeforeToMessage);

export const AuditExportQuery = z.strictObject(auditFilterFields).refine(fromBeforeTo, fromBeforeToMessage);

// ---- request bodies --------------------------------------------------------------------------

/** A branding link (privacy policy, terms, support, logo): https, or http only on a loopback host. */
const brandingUri = (kind: string) =>
  z.string().max(MAX_URI).superRefine((value, ctx) => {
    const problem = brandingUriProblem(value, kind);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }).meta({ format: 'uri', description: `The ${kind}: https (http only on a loopback host). Shown on the sign-in and consent pages.` });

/** A #rrggbb colour on which white text reaches WCAG AA (4.5:1) — and so does the colour on white. */
const brandColor = z.string().max(7).superRefine((value, ctx) => {
  const problem = brandColorProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}).meta({ description: 'The pages\' primary colour (#rrggbb): buttons, links and focus rings. White on it must reach 4.5:1 (WCAG AA).', example: '#3b5bdb' });

const brandingFields = {
  logoUri: brandingUri('logo'),
  policyUri: brandingUri('privacy policy link'),
  tosUri: brandingUri('terms link'),
  supportUri: brandingUri('support link'),
  brandColor,
};

/** A client's public keys for private_key_jwt: public RSA (2048+), EC P-256/P-384 or Ed25519 keys, each with its own kid. */
const clientJwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1).max(MAX_CLIENT_KEYS) }).superRefine((value, ctx) => {
  const problem = clientJwksProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}).meta({ description: 'With private_key_jwt: the client\'s public keys (a JWKS). Never a private member (d, p, q, dp, dq, qi, k); RSA of 2048 bits or more, EC P-256 or P-384, or Ed25519; unique kids.' });
const securityFields = {
  jwks: clientJwks,
  jwksUri: uri('JWKS URI').meta({ format: 'uri', description: 'With private_key_jwt: where the client publishes its public keys (https). Instead of jwks.' }),
  requirePushedAuthorizationRequests: z.boolean().meta({ description: 'Authorization requests only through PAR (RFC 9126).' }),
  dpopBoundAccessTokens: z.boolean().meta({ description: 'Access tokens only DPoP-bound (RFC 9449).' }),
  securityProfile: z.enum(['fapi2']).meta({ description: '"fapi2": FAPI 2.0 Security Profile; needs private_key_jwt, requirePushedAuthorizationRequests and dpopBoundAccessTokens.' }),
};

export const ClientInput = z.strictObject({
  clientId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_:-]{0,127}$/, 'a client id is 1-128 letters, digits, "_", ":" or "-" (no dots), starting with a letter or digit')
    .meta({ description: 'The client id (1-128 letters, digits, "_", ":" or "-"). Never changes.' }),
  name: label('A display name.').optional(),
  redirectUris: uris('redirect URI'),
  postLogoutRedirectUris: uris('post-logout redirect URI').optional(),
  grants: z.array(grant).max(2).optional().meta({ description: 'Grants beyond authorization_code.' }),
  tokenEndpointAuthMethod: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']).optional()
    .meta({ description: '"none" makes a public client (PKCE, no secret); fixed at creation. "private_key_jwt": no secret, jwks or jwksUri instead.' }),
  minimumAcr: acr.optional(),
  skipConsent: z.boolean().optional(),
  backchannelLogoutUri: uri('back-channel logout URI').optional(),
  pkce: z.enum(['required', 'optional']).optional(),
  logoUri: brandingFields.logoUri.optional(),
  policyUri: brandingFields.policyUri.optional(),
  tosUri: brandingFields.tosUri.optional(),
  supportUri: brandingFields.supportUri.optional(),
  brandColor: brandingFields.brandColor.optional(),
  jwks: securityFields.jwks.optional(),
  jwksUri: securityFields.jwksUri.optional(),
  requirePushedAuthorizationRequests: securityFields.requirePushedAuthorizationRequests.optional(),
  dpopBoundAccessTokens: securityFields.dpopBoundAccessTokens.optional(),
  securityProfile: securityFields.securityProfile.optional(),
}).superRefine((input, ctx) => {
  // the keys and the profile against the authentication method: refused here, before anything is written or audited
  const method = input.tokenEndpointAuthMethod;
  const problem = securityProblem({ ...input, ...(method === 'none' ? { public: true } : method ? { authMethod: method } : {}) });
  if (problem) ctx.addIssue({ code: 'custom', path: [problem.field === 'authMethod' ? 'tokenEndpointAuthMethod' : problem.field], message: problem.message });
});

export const ClientPatch = z.strictObject({
  name: label('A display name (null clears it).').nullable().optional(),
  redirectUris: uris('redirect URI').optional(),
  postLogoutRedirectUris: uris('post-logout redirect URI').optional(),
  grants: z.array(grant).max(2).optional(),
  tokenEndpointAuthMethod: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt']).optional(),
  minimumAcr: acr.nullable().optional(),
  skipConsent: z.boolean().optional(),
  backchannelLogoutUri: uri('back-channel logout URI').nullable().optional(),
  pkce: z.enum(['required', 'optional']).optional(),
  logoUri: brandingFields.logoUri.nullable().optional(),
  policyUri: brandingFields.policyUri.nullable().optional(),
  tosUri: brandingFields.tosUri.nullable().optional(),
  supportUri: brandingFields.supportUri.nullable().optional(),
  brandColor: brandingFields.brandColor.nullable().optional(),
  jwks: securityFields.jwks.nullable().optional(),
  jwksUri: securityFields.jwksUri.nullable().optional(),
  requirePushedAuthorizationRequests: securityFields.requirePushedAuthorizationRequests.optional(),
  dpopBoundAccessTokens: securityFields.dpopBoundAccessTokens.optional(),
  securityProfile: securityFields.securityProfile.nullable().optional(),
}).refine((p) => Object.keys(p).length > 0, { message: 'Nothing to change: send at least one field.' });

/** An uploaded logo: PNG, JPEG or WebP (never SVG), base64, at most MAX_LOGO_BYTES once decoded. */
export const LogoBody = z.strictObject({
  image: z.string().min(1).max(Math.ceil(MAX_LOGO_BYTES / 3) * 4 + 4, `the logo is too large: the limit is ${MAX_LOGO_BYTES / 1024} KB. Make it smaller and upload it again`).regex(/^[A-Za-z0-9+/]+={0,2}$/, 'the image must be base64 (RFC 4648, no line breaks)')
    .meta({ description: `The image file, base64-encoded: PNG, JPEG or WebP (no SVG), at most ${MAX_LOGO_BYTES / 1024} KB decoded. Its type is read from its bytes.` }),
});

export const NewUser = z.strictObject({
  // the domain is host names (letters, digits, inner hyphens; IDNs as punycode): what `format: email` promises
  email: z.string().trim().min(3).max(254)
    .regex(/^[^\s@]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/, 'an email address')
    .meta({ format: 'email' }),
  name: label('The person\'s name.').optional(),
  role: role.optional(),
  password: z.string().min(1).max(256).optional()
    .meta({ description: 'With a password the account is ready; without one an invitation email carries a set-password link.' }),
});

/** One standard claim of the profile, judged by the account store's rules (accounts/profile.ts); "" clears it. */
const claim = (field: Exclude<keyof Profile, 'address'>, max: number, description: string) =>
  z.string().max(max).superRefine((value, ctx) => {
    const [problem] = value === '' ? [] : profileProblems({ [field]: value });
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }).optional().meta({ description: `${description} An empty string clears it.` });
const addressLine = (description: string) => z.string().max(MAX_LABEL).optional().meta({ description });
const profileFields = {
  givenName: claim('givenName', 100, 'given_name.'),
  familyName: claim('familyName', 100, 'family_name.'),
  middleName: claim('middleName', 100, 'middle_name.'),
  nickname: claim('nickname', 100, 'nickname.'),
  preferredUsername: claim('preferredUsername', 64, 'preferred_username: no spaces.'),
  profileUrl: claim('profileUrl', 2048, 'profile: the http(s) address of the person\'s profile page.'),
  picture: claim('picture', 2048, 'picture: an https address.'),
  website: claim('website', 2048, 'website: an http(s) address.'),
  gender: claim('gender', 50, 'gender: female, male, or another value.'),
  birthdate: claim('birthdate', 10, 'birthdate: YYYY-MM-DD, 0000-MM-DD without the year, or YYYY.'),
  zoneinfo: claim('zoneinfo', 64, 'zoneinfo: an IANA time zone such as Europe/Paris.'),
  locale: claim('locale', 35, 'locale: a BCP 47 language tag such as en-GB.'),
};
const addressFields = {
  formatted: addressLine('formatted.'), streetAddress: addressLine('street_address.'), locality: addressLine('locality.'),
  region: addressLine('region.'), postalCode: addressLine('postal_code.'), country: addressLine('country.'),
};

/** What an admin changes on an account: the name, OIDC Core §5.1 profile claims, new-device verification. */
export const UserPatch = z.strictObject({
  name: z.string().trim().min(1).max(MAX_LABEL).optional().meta({ description: 'The person\'s name (the name claim).' }),
  profile: z.strictObject({ ...profileFields, address: z.strictObject(addressFields).optional() }).optional()
    .meta({ description: 'Standard claims (OIDC Core §5.1), released by the profile and address scopes; a field left out stays as it is.' }),
  deviceVerification: z.boolean().optional().meta({ description: 'Ask for a code on the first sign-in from a new device.' }),
}).refine((p) => Object.keys(p).length > 0, { message: 'Nothing to change: send at least one field.' });

/** An already verified phone number an admin sets for an account (no code is sent; the person is emailed). */
export const PhoneBody = z.strictObject({
  number: z.string().trim().min(1).max(MAX_NUMBER_INPUT).meta({ description: 'International form: + and the country code, e.g. +41 79 123 45 67.' }),
  primary: z.boolean().optional().meta({ description: 'Make it the primary mobile number (text and voice codes, the phone_number claim). It is anyway when the account has no primary number.' }),
});

const webhookType = z.enum(WEBHOOK_EVENT_TYPES);
const webhookFields = {
  url: z.string().min(1).max(MAX_URI)
    .meta({ format: 'uri', description: 'Where events are POSTed: https (http only when WEBHOOK_ALLOW_HTTP is on); never a private, loopback or link-local address unless WEBHOOK_ALLOW_PRIVATE is on.' }),
  description: z.string().max(MAX_DESCRIPTION).optional().meta({ description: 'What the endpoint is for.' }),
  types: z.array(webhookType).min(1).max(WEBHOOK_EVENT_TYPES.length).meta({ description: 'The event types sent to it.' }),
  enabled: z.boolean().optional().meta({ description: 'Whether events are sent (default true).' }),
};
export const WebhookInput = z.strictObject({
  ...webhookFields,
  organisationId: id('organisation whose members\' events alone are sent').optional(),
});
export const WebhookPatch = z.strictObject({
  url: webhookFields.url.optional(),
  description: webhookFields.description,
  types: webhookFields.types.optional(),
  enabled: webhookFields.enabled,
  organisationId: id('organisation whose members\' events alone are sent (null: every event)').nullable().optional(),
}).refine((p) => Object.keys(p).length > 0, { message: 'Nothing to change: send at least one field.' });

export const RoleBody = z.strictObject({ role });
export const DeviceNameBody = z.strictObject({ name: z.string().trim().min(1).max(MAX_NAME) });
export const FlagBody = z.strictObject({ flag });
export const OrganisationBody = z.strictObject({ name: label('The organisation\'s name.') });
export const MemberBody = z.strictObject({ admin: z.boolean().meta({ description: 'Organisation admin (receives members\' new-device notices).' }) });

// ---- responses (the JSON form: dates are ISO strings) ----------------------------------------

export const AdminClient = z.object({
  clientId: z.string(),
  name: z.string().optional(),
  redirectUris: z.array(z.string()),
  postLogoutRedirectUris: z.array(z.string()),
  grantTypes: z.array(z.string()),
  authMethod: z.string(),
  skipConsent: z.boolean(),
  pkce: z.enum(['required', 'optional']),
  minimumAcr: z.string().optional(),
  backchannelLogoutUri: z.string().optional(),
  adminApi: z.boolean().meta({ description: 'May call this API with a client_credentials token (scope admin).' }),
  previousSecretValidUntil: dateTime.optional().meta({ description: 'After a rotation, while the grace period runs: until when the previous secret still works.' }),
  logoUri: z.string().optional().meta({ description: 'The logo (published as logo_uri).' }),
  policyUri: z.string().optional().meta({ description: 'The privacy policy (published as policy_uri).' }),
  tosUri: z.string().optional().meta({ description: 'The terms of use (published as tos_uri).' }),
  supportUri: z.string().optional(),
  brandColor: z.string().optional(),
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).optional().meta({ description: 'private_key_jwt: the client\'s public keys.' }),
  jwksUri: z.string().optional().meta({ description: 'private_key_jwt: where the client publishes its public keys.' }),
  requirePushedAuthorizationRequests: z.boolean(),
  dpopBoundAccessTokens: z.boolean(),
  securityProfile: z.enum(['fapi2']).optional(),
}).meta({ id: 'AdminClient', description: 'A client as administration shows it (never its secret).' });

export const AdminUser = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  role,
  disabled: z.boolean(),
  locked: z.boolean(),
  passwordResetRequired: z.boolean(),
  organisationId: z.string().optional(),
  secondFactor: z.string().optional(),
  emailVerified: z.boolean(),
  createdAt: dateTime,
}).meta({ id: 'AdminUser', description: 'An account as administration shows it.' });

const profileOut = z.object({
  ...Object.fromEntries(Object.keys(profileFields).map((k) => [k, z.string().optional()])) as Record<keyof typeof profileFields, z.ZodOptional<z.ZodString>>,
  address: z.object(Object.fromEntries(Object.keys(addressFields).map((k) => [k, z.string().optional()])) as Record<keyof typeof addressFields, z.ZodOptional<z.ZodString>>).optional(),
});

export const AdminUserDetails = AdminUser.extend({
  profile: profileOut,
  deviceVerification: z.boolean(),
}).meta({ id: 'AdminUserDetails', description: 'An account with its standard claims and new-device verification.' });

export const AdminPhone = z.object({
  id: z.string(),
  number: z.string().meta({ description: 'E.164.' }),
  type: z.enum(['mobile', 'landline', 'other']),
  status: z.enum(['unverified', 'active']),
  primary: z.boolean(),
  addedAt: dateTime,
  verifiedAt: dateTime.optional(),
}).meta({ id: 'Phone', description: 'A phone number of an account.' });

const deviceState = z.enum(['ACTIVE', 'BLOCKED', 'REMOVED']);

export const Device = z.object({
  id: z.string(),
  accountId: z.string(),
  name: z.string().optional(),
  state: deviceState,
  flags: z.array(z.string()),
  firstSeenAt: dateTime,
  verifiedAt: dateTime.optional(),
  activatedAt: dateTime.optional(),
  trustedUntil: dateTime.optional(),
  lastUsedAt: dateTime.optional(),
  lastIp: z.string().optional(),
  location: z.object({ country: z.string(), region: z.string().optional(), city: z.string().optional() }).optional(),
  browser: z.string().optional(),
  os: z.string().optional(),
  failures: z.number(),
  history: z.array(z.object({
    from: deviceState.nullable(),
    to: deviceState,
    by: z.enum(['user', 'admin', 'system']),
    why: z.string(),
    at: dateTime,
    actor: z.string().optional().meta({ description: 'Who did it, when an admin or client did (an email or client id).' }),
  })),
  pending: z.object({ action: z.enum(['trust', 'remove']), channel: z.enum(['email', 'sms']) }).optional(),
  keyBound: z.boolean().meta({ description: 'Whether the device\'s trust is bound to a device key (device-bound trust: skipping the routine second factor needs a signature by a key that cannot leave the browser); false for trust by the device cookie alone and for a device without a key. The key itself is never shown.' }),
}).meta({ id: 'Device', description: 'A browser or device of an account, with its state history.' });

export const Organisation = z.object({
  id: z.string(),
  name: z.string(),
  members: z.array(z.string()),
  admins: z.array(z.string()),
  createdAt: dateTime,
}).meta({ id: 'Organisation', description: 'An organisation: members and organisation admins (account ids).' });

export const AuditEvent = z.object({
  id: z.string().meta({ description: 'Time-ordered: a later event has a greater id.' }),
  at: dateTime,
  type: z.string(),
  outcome: z.enum(['success', 'failure']),
  actor: z.object({ type: z.enum(['user', 'admin', 'client', 'system']), id: z.string().optional(), label: z.string().optional() }),
  subject: z.object({ type: z.enum(['account', 'client', 'device', 'organisation', 'session', 'webhook']), id: z.string(), label: z.string().optional() }).optional(),
  accountId: z.string().optional(),
  ip: z.string().optional(),
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.string())])),
}).meta({ id: 'AuditEvent', description: 'One security event. Events are never changed or deleted through the API.' });

export const WebhookEndpoint = z.object({
  id: z.string(),
  url: z.string(),
  description: z.string(),
  types: z.array(webhookType),
  organisationId: z.string().optional().meta({ description: 'Only this organisation\'s members\' events are sent.' }),
  enabled: z.boolean(),
  createdAt: dateTime,
  updatedAt: dateTime,
  lastSuccessAt: dateTime.optional(),
  disabledAt: dateTime.optional(),
  disabledReason: z.string().optional().meta({ description: 'Why Tessera turned it off (every attempt failed for 24 hours).' }),
}).meta({ id: 'WebhookEndpoint', description: 'A webhook endpoint (never its signing secret: that is shown once, on create and rotate).' });

export const WebhookAttempt = z.object({
  messageId: z.string().meta({ description: 'The webhook-id header: the same on every retry.' }),
  type: webhookType,
  attempt: z.number().int(),
  at: dateTime,
  outcome: z.enum(['delivered', 'failed', 'interrupted', 'in_progress']),
  status: z.number().int().optional().meta({ description: 'The receiver\'s HTTP status.' }),
  error: z.string().optional(),
  durationMs: z.number().optional(),
}).meta({ id: 'WebhookAttempt', description: 'One delivery attempt.' });

export const ErrorBody = z.object({
  error: z.string().meta({ description: 'A stable code: invalid_request, invalid_json, missing_token, not_found, …' }),
  error_description: z.string().meta({ description: 'A sentence for people.' }),
  details: z.array(z.object({ path: z.string(), message: z.string() })).optional()
    .meta({ description: 'One entry per invalid field (path: dot-separated, from the body, query or path).' }),
}).meta({ id: 'Error', description: 'Every error response.' });

const next = z.string().optional().meta({ description: 'Pass as `cursor` for the next page; absent on the last page.' });

export const ClientsResponse = z.object({ clients: z.array(AdminClient) });
export const ClientResponse = z.object({ client: AdminClient });
export const ClientCreatedResponse = z.object({
  client: AdminClient,
  clientSecret: z.string().optional().meta({ description: 'Shown once (confidential clients only).' }),
});
export const SecretRotatedResponse = z.object({
  client: AdminClient,
  clientSecret: z.string().meta({ description: 'The new secret, shown once.' }),
  previousSecretValidUntil: dateTime.optional().meta({ description: 'The old secret keeps working until then.' }),
});
export const UsersResponse = z.object({ users: z.array(AdminUser), next });
export const UserResponse = z.object({ user: AdminUser });
export const UserDetailsResponse = z.object({ user: AdminUserDetails });
export const PhoneResponse = z.object({ phone: AdminPhone });
export const UserCreatedResponse = z.object({ user: AdminUser, invited: z.boolean() });
export const DevicesResponse = z.object({ devices: z.array(Device) });
export const DeviceResponse = z.object({ device: Device });
export const OrganisationsResponse = z.object({ organisations: z.array(Organisation) });
export const OrganisationResponse = z.object({ organisation: Organisation });
export const AuditEventsResponse = z.object({ events: z.array(AuditEvent), next });
export const WebhooksResponse = z.object({ webhooks: z.array(WebhookEndpoint) });
export const WebhookResponse = z.object({ webhook: WebhookEndpoint });
export const WebhookSecretResponse = z.object({
  webhook: WebhookEndpoint,
  secret: z.string().meta({ description: 'The signing secret (whsec_…, Standard Webhooks), shown this once.' }),
});
export const WebhookDeliveriesResponse = z.object({ deliveries: z.array(WebhookAttempt) });
