// What administration can do, as one interface: the JSON API (/admin/api/v1), the console (/admin)
// and the `tessera` command line all call these functions and nothing else, so every admin action
// is checked, applied and audited the same way whichever door it came through. The implementation
// is service.ts.
import type { AccountView, Role } from '../accounts/store.ts';
import type { Profile } from '../accounts/profile.ts';
import type { EndedSessions } from '../oidc/account-sessions.ts';
import type { ClientView, NewClient } from '../oidc/clients.ts';
import type { Device } from '../devices/registry.ts';
import type { Organisation } from '../orgs/store.ts';
import type { AuditEvent, AuditFilter } from '../audit/events.ts';
import { DomainError } from '../domain-error.ts';
import type { SecretShown, WebhookAttempt, WebhookEndpoint, WebhookInput, WebhookPatch } from '../webhooks/endpoints.ts';

export type { SecretShown, WebhookAttempt, WebhookEndpoint, WebhookInput, WebhookPatch };

/** Who performs an admin action: a signed-in admin (console or their token), a machine client, or the command line. */
export type AdminActor =
  | { type: 'admin'; id: string; label: string; ip?: string }
  | { type: 'client'; id: string; label: string; ip?: string }
  | { type: 'cli'; id: string; label: string; ip?: undefined };

/** An operator on the server: the audit log and device histories name it as the admin "command line" (id cli). */
export const COMMAND_LINE = { type: 'cli', id: 'cli', label: 'command line' } as const satisfies AdminActor;

/**
 * Settings an admin passes to the client store as they are (documented on NewClient): branding,
 * private_key_jwt keys, PAR, DPoP and the security profile.
 */
type ClientSettings = 'logoUri' | 'policyUri' | 'tosUri' | 'supportUri' | 'brandColor' | 'jwks' | 'jwksUri'
  | 'requirePushedAuthorizationRequests' | 'dpopBoundAccessTokens' | 'securityProfile';

/** What an admin may set on a client (create: all of it; edit: any subset; clientId never changes). */
export interface ClientInput extends Pick<NewClient, ClientSettings> {
  clientId: string;
  name?: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  /** Beyond authorization_code (which a client with redirect URIs always has). */
  grants?: ('refresh_token' | 'client_credentials')[];
  /** 'none' makes a public client (PKCE, no secret); fixed at creation. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
  minimumAcr?: string;
  skipConsent?: boolean;
  backchannelLogoutUri?: string;
  pkce?: 'required' | 'optional';
}

type Branding = 'logoUri' | 'policyUri' | 'tosUri' | 'supportUri' | 'brandColor';

export type ClientPatch = Partial<Omit<ClientInput, 'clientId' | 'tokenEndpointAuthMethod' | 'minimumAcr' | 'backchannelLogoutUri' | 'name' | Branding | 'jwks' | 'jwksUri' | 'securityProfile'>> & {
  /** null clears a branding field. */
  [K in Branding]?: string | null;
} & {
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  jwks?: NewClient['jwks'] | null;
  jwksUri?: string | null;
  securityProfile?: 'fapi2' | null;
  /** null clears an optional field. */
  minimumAcr?: string | null;
  backchannelLogoutUri?: string | null;
  name?: string | null;
};

/** A client as administration shows it: never its secret (that is shown once, on create and rotate). */
export type AdminClient = Omit<ClientView, 'clientSecret'>;

export interface SecretIssued {
  client: AdminClient;
  clientSecret: string;
  /** After a rotation: the old secret keeps working until then (CLIENT_SECRET_GRACE_HOURS). */
  previousSecretValidUntil?: Date;
}

/** An account as administration shows it. */
export interface AdminUser {
  id: string;
  email: string;
  name: string;
  role: Role;
  disabled: boolean;
  /** Sign-in lockout (admin lock): sign-ins fail like a wrong password until unlocked. */
  locked: boolean;
  /** The password was reset by an admin (or never set: invited): only the set-password link signs in. */
  passwordResetRequired: boolean;
  organisationId?: string;
  secondFactor?: string;
  emailVerified: boolean;
  createdAt: Date;
}

export interface NewUser {
  email: string;
  name?: string;
  role?: Role;
  /** With a password the account is ready; without one an invitation email carries a set-password link. */
  password?: string;
  /** Standard claims (the command line sets them at creation; the console and the API through an update). */
  profile?: Profile;
}

/** What `user update` (command line, console, API) changes: any of the name, profile claims (an empty value clears one) and new-device verification. */
export interface UserChange {
  name?: string;
  profile?: Profile;
  deviceVerification?: boolean;
}

/** An account with what `UserChange` sets. */
export type AdminUserDetails = AdminUser & { profile: Profile; deviceVerification: boolean };

/** An already verified number an admin sets for an account (no code is sent): E.164 or national with a + prefix. */
export interface PhoneSetting {
  number: string;
  /** Make it the primary mobile number (text and voice codes, the phone_number claim); it is anyway when the account has none. */
  primary?: boolean;
}

/** A number of an account, as administration shows it. */
export interface AdminPhone {
  id: string;
  /** E.164. */
  number: string;
  type: string;
  status: 'unverified' | 'active';
  primary: boolean;
  addedAt: Date;
  verifiedAt?: Date;
}

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  next?: string;
}

export type UserAction = 'disable' | 'enable' | 'lock' | 'unlock' | 'reset-mfa' | 'reset-password';

export type DeviceAction = 'unblock' | 'remove';

/**
 * A failure an admin caused: invalid (with a message per problem), not found, or a conflict. Every
 * module error an action meets comes out of the service as one, with the module's kind and code;
 * the API and the console take its status from http/errors.ts.
 */
export class AdminError extends DomainError {
  override name = 'AdminError';
}

export interface AdminService {
  clients: {
    list(): Promise<AdminClient[]>;
    get(clientId: string): Promise<AdminClient>;
    create(actor: AdminActor, input: ClientInput): Promise<SecretIssued | { client: AdminClient }>;
    update(actor: AdminActor, clientId: string, patch: ClientPatch): Promise<AdminClient>;
    rotateSecret(actor: AdminActor, clientId: string): Promise<SecretIssued>;
    remove(actor: AdminActor, clientId: string): Promise<void>;
    /** The client may call the admin API (client_credentials, scope admin): confidential clients only. */
    grantAdminApi(actor: AdminActor, clientId: string): Promise<AdminClient>;
    /** Stores an uploaded logo (PNG, JPEG or WebP, size-limited) and makes it the client's logo_uri. */
    setLogo(actor: AdminActor, clientId: string, image: Buffer): Promise<AdminClient>;
  };
  users: {
    /** By email or name (case-insensitive substring), ordered by email, `limit` per page (1-100). */
    search(query: { q?: string; cursor?: string; limit?: number }): Promise<Page<AdminUser>>;
    get(accountId: string): Promise<AdminUser>;
    /** The account with its standard claims and new-device verification. */
    details(accountId: string): Promise<AdminUserDetails>;
    /** Every account, oldest first (the command line's `user list`). */
    list(): Promise<AdminUser[]>;
    /** 404 `no account with email …` when there is none. */
    byEmail(email: string): Promise<AdminUser>;
    create(actor: AdminActor, input: NewUser): Promise<{ user: AdminUser; invited: boolean }>;
    act(actor: AdminActor, accountId: string, action: UserAction): Promise<AdminUser>;
    /** `act`, with the sessions and grants the action ended (disable, lock, resets). */
    perform(actor: AdminActor, accountId: string, action: UserAction): Promise<{ user: AdminUser; ended?: EndedSessions }>;
    update(actor: AdminActor, accountId: string, change: UserChange): Promise<AdminUserDetails>;
    setRole(actor: AdminActor, accountId: string, role: Role): Promise<AdminUser>;
    devices(accountId: string): Promise<Device[]>;
    /** The account's phone numbers. */
    phones(accountId: string): Promise<AdminPhone[]>;
    /** Sets an already verified number (audited as admin.user.phone_set; the person is emailed); resolves to the number as stored. */
    setPhone(actor: AdminActor, accountId: string, setting: PhoneSetting): Promise<AdminPhone>;
  };
  devices: {
    get(deviceId: string): Promise<Device>;
    act(actor: AdminActor, deviceId: string, action: DeviceAction): Promise<Device>;
    rename(actor: AdminActor, deviceId: string, name: string): Promise<Device>;
    flag(actor: AdminActor, deviceId: string, change: { add: string } | { remove: string }): Promise<Device>;
  };
  organisations: {
    list(): Promise<Organisation[]>;
    get(organisationId: string): Promise<Organisation>;
    /** By id or exact name (the command line's --org); 404 when neither matches. */
    find(idOrName: string): Promise<Organisation>;
    create(actor: AdminActor, name: string): Promise<Organisation>;
    rename(actor: AdminActor, organisationId: string, name: string): Promise<Organisation>;
    /** Adds (or updates) a member; `admin` makes them an organisation admin (new-device notices). */
    setMember(actor: AdminActor, organisationId: string, accountId: string, admin: boolean): Promise<Organisation>;
    removeMember(actor: AdminActor, organisationId: string, accountId: string): Promise<Organisation>;
  };
  /** Webhook endpoints (README "Webhooks"): the signing secret comes back only from create and rotateSecret. */
  webhooks: {
    list(): Promise<WebhookEndpoint[]>;
    get(webhookId: string): Promise<WebhookEndpoint>;
    create(actor: AdminActor, input: WebhookInput): Promise<SecretShown>;
    update(actor: AdminActor, webhookId: string, patch: WebhookPatch): Promise<WebhookEndpoint>;
    rotateSecret(actor: AdminActor, webhookId: string): Promise<SecretShown>;
    remove(actor: AdminActor, webhookId: string): Promise<void>;
    /** The latest delivery attempts, newest first. */
    deliveries(webhookId: string): Promise<WebhookAttempt[]>;
  };
  audit: {
    query(filter: AuditFilter): Promise<Page<AuditEvent>>;
    /** CSV text (header row first) of every matching event, newest first, up to AUDIT_EXPORT_MAX_ROWS. */
    csv(filter: Omit<AuditFilter, 'cursor' | 'limit'>): Promise<string>;
  };
}

export function adminUser(account: AccountView & { locked?: boolean; passwordResetRequired?: boolean }): AdminUser {
  return {
    id: account.id, email: account.email, name: account.name, role: account.role, disabled: account.disabled,
    locked: account.locked === true, passwordResetRequired: account.passwordResetRequired === true,
    ...(account.organisationId ? { organisationId: account.organisationId } : {}),
    ...(account.secondFactor ? { secondFactor: account.secondFactor } : {}),
    emailVerified: account.emailVerified, createdAt: account.createdAt,
  };
}
