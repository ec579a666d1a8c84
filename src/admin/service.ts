// The administration service (AdminService, types.ts): what the console, the JSON API and the
// command line do, in one place. Each action checks that its subject exists (404), applies the
// change through the owning module's functions, ends sessions or emails the person where the action
// calls for it, and writes one audit event (success, or failure with the reason). Device actions
// are audited by the device registry itself, with the admin as actor in the device's own history.
import type { AccountStore, AccountView } from '../accounts/store.ts';
import type { PasswordLinks } from '../accounts/password-links.ts';
import { BRANDING_FIELDS, FIRST_PARTY_CLIENTS, type ClientStore, type ClientView } from '../oidc/clients.ts';
import type { DeviceRegistry } from '../devices/registry.ts';
import { DomainError } from '../domain-error.ts';
import { OrganisationError, type Organisations } from '../orgs/store.ts';
import type { AuditLog } from '../audit/store.ts';
import type { AuditInput, AuditSubject, AuditType } from '../audit/events.ts';
import type { CodeMessages } from '../notify/messages.ts';
import type { Transports } from '../notify/transports.ts';
import type { LogoStore } from '../branding/logos.ts';
import type { Phones } from '../phones/store.ts';
import { maskPhone } from '../factors/phone/index.ts';
import type { EndedSessions } from '../oidc/account-sessions.ts';
import { webhookAuditDetails, webhookAuditSubject, type WebhookEndpoints } from '../webhooks/endpoints.ts';
import { AdminError, adminUser, type AdminActor, type AdminUser, type AdminUserDetails, type AdminClient, type AdminService, type ClientInput, type ClientPatch, type UserAction } from './types.ts';

export interface AdminServiceDeps {
  issuer: string;
  accounts: AccountStore;
  clients: ClientStore;
  devices: DeviceRegistry;
  organisations: Organisations;
  audit: AuditLog;
  passwordLinks: PasswordLinks;
  /** The account's second factors, removed by an MFA reset. */
  factorStores: { removeAll(accountId: string): Promise<number> }[];
  messages: CodeMessages;
  transports: Transports;
  /** Ends every session, grant and token of the account (back-channel logout included). */
  endSessions(accountId: string): Promise<EndedSessions>;
  /** Ends the account's sessions signed in from one device (removed); resolves to how many. */
  endDeviceSessions(accountId: string, deviceId: string, why: string): Promise<number>;
  /** How long a rotated-out client secret keeps working (seconds). */
  secretGraceSeconds: number;
  linkHours: number;
  clock: () => Date;
  log: (line: string) => void;
  webhooks: WebhookEndpoints;
  logos: Pick<LogoStore, 'save'>;
  /** The accounts' phone numbers: an admin sets an already verified one. */
  phones: Pick<Phones, 'list' | 'setVerified'>;
}

const publicClient = ({ clientSecret: _secret, ...client }: ClientView): AdminClient => client;

/** A module's error an admin caused (client, account, organisation, device, audit query, edit conflict), with its kind and code. */
function asAdminError(err: unknown): unknown {
  if (err instanceof AdminError || !(err instanceof DomainError)) return err;
  // the form field a refusal is about travels with it (the console shows it beside that field)
  const field = (err as { field?: unknown }).field;
  return Object.assign(new AdminError(err.kind, err.code, err.message), typeof field === 'string' ? { field } : {});
}

/** The audit log's and device histories' actor: the command line acts as an admin. */
const actorType = (actor: AdminActor): 'admin' | 'client' => (actor.type === 'cli' ? 'admin' : actor.type);

export function createAdminService(deps: AdminServiceDeps): AdminService {
  const { accounts, clients, devices, organisations, audit } = deps;

  /** Runs an admin action and audits it: success, or failure with the error code; errors come out as AdminError. */
  async function audited<R>(actor: AdminActor, type: AuditType, subject: AuditSubject, work: () => Promise<{ result: R; details?: AuditInput['details']; accountId?: string }>): Promise<R> {
    const base = {
      type, actor: { type: actorType(actor), id: actor.id, label: actor.label }, subject,
      ...(actor.ip ? { ip: actor.ip } : {}), ...(subject.type === 'account' ? { accountId: subject.id } : {}),
    } as const;
    try {
      const { result, details, accountId } = await work();
      audit.record({ ...base, outcome: 'success', ...(accountId ? { accountId } : {}), ...(details ? { details } : {}) });
      return result;
    } catch (err) {
      const failure = asAdminError(err);
      audit.record({ ...base, outcome: 'failure', details: { error: failure instanceof AdminError ? failure.code : 'error', message: (failure as Error).message } });
      throw failure;
    }
  }

  async function account(accountId: string): Promise<AccountView> {
    const found = typeof accountId === 'string' ? await accounts.findById(accountId) : undefined;
    if (!found) throw new AdminError('not_found', 'not_found', 'There is no such user.');
    return found;
  }

  async function client(clientId: string): Promise<ClientView> {
    const found = typeof clientId === 'string' ? await clients.find(clientId) : undefined;
    if (!found) throw new AdminError('not_found', 'not_found', `There is no client ${clientId}.`);
    return found;
  }

  async function device(deviceId: string) {
    const found = await devices.byId(deviceId);
    if (!found) throw new AdminError('not_found', 'not_found', 'There is no such device.');
    return found;
  }

  async function organisation(organisationId: string) {
    const found = typeof organisationId === 'string' && /^org_[\w-]{6,40}$/.test(organisationId) ? await organisations.byId(organisationId) : undefined;
    if (!found) throw new AdminError('not_found', 'not_found', 'There is no such organisation.');
    return found;
  }

  /** A module's promise whose domain error comes out as an AdminError. */
  async function wrapped<R>(work: Promise<R>): Promise<R> {
    try {
      return await work;
    } catch (err) {
      throw asAdminError(err);
    }
  }

  /** An admin does not lock themself out: their own account is changed by another admin. */
  function notSelf(actor: AdminActor, accountId: string, what: string): void {
    if (actor.type === 'admin' && actor.id === accountId) throw new AdminError('conflict', 'own_account', `You cannot ${what} your own account: ask another administrator.`);
  }

  function email(send: Promise<unknown>, what: string): void {
    send.catch((err: unknown) => deps.log(`[tessera] could not email ${what}: ${(err as Error).message}`));
  }

  const link = (token: string) => `${deps.issuer}/account/set-password?token=${encodeURIComponent(token)}`;
  const who = (actor: AdminActor) => ({ id: actor.id, label: actor.label, type: actorType(actor), ...(actor.ip ? { ip: actor.ip } : {}) });
  const byWhom = (actor: AdminActor) => (actor.type === 'cli' ? 'with the command line' : `by administrator ${actor.label}`);
  const userDetails = (a: AccountView): AdminUserDetails => ({ ...adminUser(a), profile: a.profile, deviceVerification: a.deviceVerification });
  const clientSubject = (clientId: string): AuditSubject => ({ type: 'client', id: clientId });
  const accountSubject = (a: AccountView): AuditSubject => ({ type: 'account', id: a.id, label: a.email });

  type Performed = { account: AccountView; ended?: EndedSessions };
  const USER_ACTIONS: Record<UserAction, { type: AuditType; run(actor: AdminActor, a: AccountView): Promise<{ result: Performed; details?: AuditInput['details'] }> }> = {
    disable: {
      type: 'admin.user.disabled',
      async run(actor, a) {
        notSelf(actor, a.id, 'disable');
        const result = await accounts.setDisabledById(a.id, true);
        const ended = await deps.endSessions(a.id);
        return { result: { account: result, ended }, details: { sessionsEnded: ended.sessions, grantsRevoked: ended.grants } };
      },
    },
    enable: { type: 'admin.user.enabled', run: async (_actor, a) => ({ result: { account: await accounts.setDisabledById(a.id, false) } }) },
    lock: {
      type: 'admin.user.locked',
      async run(actor, a) {
        notSelf(actor, a.id, 'lock');
        // locked out now, not at the next sign-in: its sessions and tokens end too
        const result = await accounts.setLocked(a.id, true);
        const ended = await deps.endSessions(a.id);
        return { result: { account: result, ended }, details: { sessionsEnded: ended.sessions, grantsRevoked: ended.grants } };
      },
    },
    unlock: { type: 'admin.user.unlocked', run: async (_actor, a) => ({ result: { account: await accounts.setLocked(a.id, false) } }) },
    'reset-mfa': {
      type: 'admin.user.mfa_reset',
      async run(actor, a) {
        notSelf(actor, a.id, 'reset the two-factor methods of');
        const removed = (await Promise.all(deps.factorStores.map((s) => s.removeAll(a.id)))).reduce((n, c) => n + c, 0);
        await accounts.setSecondFactor(a.id, undefined);
        // the sessions those factors proved end too (back-channel logout included), as lock and reset do
        const ended = await deps.endSessions(a.id);
        email(deps.transports.email(await deps.messages.in(a.profile).mfaReset(a.email)), 'an MFA reset notice');
        return { result: { account: (await accounts.findById(a.id))!, ended }, details: { credentialsRemoved: removed, routineMethod: a.secondFactor ?? null, sessionsEnded: ended.sessions, grantsRevoked: ended.grants } };
      },
    },
    'reset-password': {
      type: 'admin.user.password_reset',
      async run(actor, a) {
        notSelf(actor, a.id, 'reset the password of');
        const result = await accounts.requirePasswordReset(a.id);
        const ended = await deps.endSessions(a.id);
        const token = await deps.passwordLinks.issue(a.id, 'reset');
        email(deps.transports.email(await deps.messages.in(a.profile).passwordResetByAdmin(a.email, link(token), deps.linkHours)), 'a password reset link');
        return { result: { account: result, ended }, details: { sessionsEnded: ended.sessions } };
      },
    },
  };

  async function perform(actor: AdminActor, accountId: string, action: UserAction): Promise<{ user: AdminUser; ended?: EndedSessions }> {
    const step = USER_ACTIONS[action];
    if (!step) throw new AdminError('invalid', 'invalid_request', `Unknown action ${String(action)}.`);
    const a = await account(accountId);
    const { account: changed, ended } = await audited(actor, step.type, accountSubject(a), () => step.run(actor, a));
    return { user: adminUser(changed), ...(ended ? { ended } : {}) };
  }

  return {
    clients: {
      async list() {
        return (await clients.list()).map(publicClient);
      },
      async get(clientId) {
        return publicClient(await client(clientId));
      },
      create(actor, input: ClientInput) {
        return audited(actor, 'admin.client.created', clientSubject(input.clientId), async () => {
          if (FIRST_PARTY_CLIENTS.includes(input.clientId)) throw new AdminError('invalid', 'protected', `${input.clientId} is one of Tessera's own clients: choose another client id.`);
          const created = await clients.create({
            clientId: input.clientId, redirectUris: input.redirectUris,
            ...(input.name ? { name: input.name } : {}),
            ...(input.postLogoutRedirectUris ? { postLogoutRedirectUris: input.postLogoutRedirectUris } : {}),
            ...(input.grants ? { grants: input.grants } : {}),
            ...(input.tokenEndpointAuthMethod === 'none' ? { public: true } : input.tokenEndpointAuthMethod ? { authMethod: input.tokenEndpointAuthMethod } : {}),
            ...(input.minimumAcr ? { minimumAcr: input.minimumAcr } : {}),
            ...(input.skipConsent !== undefined ? { skipConsent: input.skipConsent } : {}),
            ...(input.backchannelLogoutUri ? { backchannelLogoutUri: input.backchannelLogoutUri } : {}),
            ...(input.pkce ? { pkce: input.pkce } : {}),
            ...Object.fromEntries(BRANDING_FIELDS.flatMap((f) => (input[f] ? [[f, input[f]]] : []))),
            ...(input.jwks !== undefined ? { jwks: input.jwks } : {}),
            ...(input.jwksUri !== undefined ? { jwksUri: input.jwksUri } : {}),
            ...(input.requirePushedAuthorizationRequests !== undefined ? { requirePushedAuthorizationRequests: input.requirePushedAuthorizationRequests } : {}),
            ...(input.dpopBoundAccessTokens !== undefined ? { dpopBoundAccessTokens: input.dpopBoundAccessTokens } : {}),
            ...(input.securityProfile !== undefined ? { securityProfile: input.securityProfile } : {}),
          });
          const result = created.clientSecret ? { client: publicClient(created), clientSecret: created.clientSecret } : { client: publicClient(created) };
          return { result, details: { redirectUris: created.redirectUris, grantTypes: created.grantTypes, authMethod: created.authMethod } };
        });
      },
      update(actor, clientId, patch: ClientPatch) {
        return audited(actor, 'admin.client.updated', clientSubject(clientId), async () => {
          await client(clientId);
          const { tokenEndpointAuthMethod, ...rest } = patch;
          const updated = await clients.update(clientId, { ...rest, ...(tokenEndpointAuthMethod ? { authMethod: tokenEndpointAuthMethod } : {}) });
          return { result: publicClient(updated), details: { changed: Object.keys(patch) } };
        });
      },
      rotateSecret(actor, clientId) {
        return audited(actor, 'admin.client.secret_rotated', clientSubject(clientId), async () => {
          await client(clientId);
          const rotated = await clients.rotateSecret(clientId, { now: deps.clock(), graceSeconds: deps.secretGraceSeconds });
          return {
            result: { client: publicClient(rotated.client), clientSecret: rotated.clientSecret, ...(rotated.previousValidUntil ? { previousSecretValidUntil: rotated.previousValidUntil } : {}) },
            details: { previousSecretValidUntil: rotated.previousValidUntil?.toISOString() ?? null },
          };
        });
      },
      remove(actor, clientId) {
        return audited(actor, 'admin.client.deleted', clientSubject(clientId), async () => {
          await client(clientId);
          await clients.remove(clientId);
          return { result: undefined };
        });
      },
      setLogo(actor, clientId, image) {
        return audited(actor, 'admin.client.updated', clientSubject(clientId), async () => {
          await client(clientId);
          // the image first: a crash before the client points at it leaves only an unused image
          const logoUri = await deps.logos.save(image);
          const updated = await clients.update(clientId, { logoUri });
          return { result: publicClient(updated), details: { changed: ['logo'] } };
        });
      },
      grantAdminApi(actor, clientId) {
        return audited(actor, 'admin.client.api_granted', clientSubject(clientId), async () => {
          await client(clientId);
          const granted = await clients.grantAdminApi(clientId);
          return { result: publicClient(granted), details: { grantTypes: granted.grantTypes } };
        });
      },
    },

    users: {
      async search({ q, cursor, limit = 20 }) {
        try {
          const page = await accounts.search({ ...(q ? { q } : {}), ...(cursor ? { cursor } : {}), limit: Math.min(Math.max(limit, 1), 100) });
          return { items: page.accounts.map(adminUser), ...(page.next ? { next: page.next } : {}) };
        } catch (err) {
          throw asAdminError(err);
        }
      },
      async get(accountId) {
        return adminUser(await account(accountId));
      },
      async details(accountId) {
        return userDetails(await account(accountId));
      },
      async list() {
        return (await accounts.list()).map(adminUser);
      },
      async byEmail(email) {
        const found = typeof email === 'string' ? await accounts.findByEmail(email) : undefined;
        if (!found) throw new AdminError('not_found', 'not_found', `no account with email ${email}`);
        return adminUser(found);
      },
      create(actor, input) {
        return audited<{ user: AdminUser; invited: boolean }>(actor, 'admin.user.created', { type: 'account', id: '-', label: input.email }, async () => {
          const role = input.role ?? 'user';
          if (input.password !== undefined) {
            const created = await accounts.create({ email: input.email, password: input.password, role, ...(input.name ? { name: input.name } : {}), ...(input.profile ? { profile: input.profile } : {}) });
            return { result: { user: adminUser(created), invited: false }, accountId: created.id, details: { role, invited: false } };
          }
          const created = await accounts.createInvited({ email: input.email, role, ...(input.name ? { name: input.name } : {}) });
          const token = await deps.passwordLinks.issue(created.id, 'invite');
          email(deps.transports.email(await deps.messages.in(created.profile).invitation(created.email, link(token), deps.linkHours)), 'an invitation');
          return { result: { user: adminUser(created), invited: true }, accountId: created.id, details: { role, invited: true } };
        });
      },
      async act(actor, accountId, action) {
        return (await perform(actor, accountId, action)).user;
      },
      perform,
      async update(actor, accountId, change) {
        const a = await account(accountId);
        return audited(actor, 'admin.user.updated', accountSubject(a), async () => {
          const fields = { ...change.profile, ...(change.name !== undefined ? { name: change.name } : {}) };
          let updated = a;
          if (Object.keys(fields).length || change.deviceVerification === undefined) updated = await accounts.updateProfile(a.email, fields);
          if (change.deviceVerification !== undefined) updated = await accounts.setDeviceVerification(a.email, change.deviceVerification);
          const changed = [...Object.keys(fields), ...(change.deviceVerification !== undefined ? ['deviceVerification'] : [])];
          return { result: userDetails(updated), details: { changed, ...(change.deviceVerification !== undefined ? { deviceVerification: change.deviceVerification } : {}) } };
        });
      },
      async setRole(actor, accountId, role) {
        const a = await account(accountId);
        return adminUser(await audited(actor, 'admin.user.role_set', accountSubject(a), async () => {
          if (role !== 'user' && role !== 'admin') throw new AdminError('invalid', 'invalid_request', 'A role is user or admin.');
          if (role !== 'admin') notSelf(actor, a.id, 'remove the admin role from');
          return { result: await accounts.setRole(a.id, role), details: { from: a.role, to: role } };
        }));
      },
      async devices(accountId) {
        const a = await account(accountId);
        return devices.listFor(a.id);
      },
      async phones(accountId) {
        const a = await account(accountId);
        return deps.phones.list(a.id);
      },
      async setPhone(actor, accountId, setting) {
        const a = await account(accountId);
        return audited(actor, 'admin.user.phone_set', accountSubject(a), async () => {
          if (typeof setting.number !== 'string' || !setting.number.trim()) throw new AdminError('invalid', 'invalid_number', 'Give the phone number, with its country code (+41 79 123 45 67).');
          const saved = await wrapped(deps.phones.setVerified(a.id, setting.number, setting.primary === true));
          // the person learns of every change to their numbers, an administrator's included
          if (saved.changed) email(deps.transports.email(await deps.messages.in(a.profile).phoneSetByAdmin(a.email, maskPhone(saved.phone.number), saved.phone.primary)), 'a phone number notice');
          return {
            result: saved.phone,
            details: { number: maskPhone(saved.phone.number), primary: saved.phone.primary, added: saved.added, changed: saved.changed, ...(saved.previousPrimary ? { previousPrimary: maskPhone(saved.previousPrimary.number) } : {}) },
          };
        });
      },
    },

    devices: {
      get: device,
      async act(actor, deviceId, action) {
        await device(deviceId);
        const why = `${action === 'unblock' ? 'unblocked' : 'removed'} ${byWhom(actor)}`;
        try {
          if (action === 'unblock') return await devices.unblock(deviceId, 'admin', why, who(actor));
          const removed = await devices.remove(deviceId, 'admin', why, who(actor));
          // a removed device keeps no session: the browser signs in anew (as a new device)
          await deps.endDeviceSessions(removed.accountId, removed.id, why);
          return removed;
        } catch (err) {
          throw asAdminError(err);
        }
      },
      async rename(actor, deviceId, name) {
        await device(deviceId);
        try {
          return await devices.rename(deviceId, name, 'admin', who(actor));
        } catch (err) {
          throw asAdminError(err);
        }
      },
      async flag(actor, deviceId, change) {
        await device(deviceId);
        try {
          return await devices.flag(deviceId, change, 'admin', who(actor));
        } catch (err) {
          throw asAdminError(err);
        }
      },
    },

    organisations: {
      list: () => organisations.list(),
      get: organisation,
      async find(idOrName) {
        try {
          return await organisations.find(idOrName);
        } catch (err) {
          throw err instanceof OrganisationError ? new AdminError('not_found', 'not_found', err.message) : err;
        }
      },
      create(actor, name) {
        return audited(actor, 'admin.organisation.created', { type: 'organisation', id: '-', label: String(name) }, async () => {
          const created = await organisations.create(name);
          return { result: created, details: { id: created.id, name: created.name } };
        });
      },
      async rename(actor, organisationId, name) {
        const org = await organisation(organisationId);
        return audited(actor, 'admin.organisation.renamed', { type: 'organisation', id: org.id, label: org.name }, async () => ({
          result: await organisations.rename(org.id, name), details: { from: org.name, to: name },
        }));
      },
      async setMember(actor, organisationId, accountId, admin) {
        const org = await organisation(organisationId);
        const a = await account(accountId);
        return audited(actor, 'admin.organisation.member_set', { type: 'organisation', id: org.id, label: org.name }, async () => ({
          result: await organisations.setMember(org.id, a.id, admin), accountId: a.id, details: { account: a.email, admin },
        }));
      },
      async removeMember(actor, organisationId, accountId) {
        const org = await organisation(organisationId);
        const a = await account(accountId);
        return audited(actor, 'admin.organisation.member_removed', { type: 'organisation', id: org.id, label: org.name }, async () => ({
          result: await organisations.removeMember(org.id, a.id), accountId: a.id, details: { account: a.email },
        }));
      },
    },

    webhooks: {
      list: () => deps.webhooks.list(),
      get: (webhookId) => wrapped(deps.webhooks.get(webhookId)),
      create(actor, input) {
        return audited(actor, 'admin.webhook.created', { type: 'webhook', id: '-', label: String(input.url) }, async () => {
          const shown = await deps.webhooks.create(input);
          return { result: shown, details: webhookAuditDetails(shown.endpoint) };
        });
      },
      async update(actor, webhookId, patch) {
        const before = await wrapped(deps.webhooks.get(webhookId));
        return audited(actor, 'admin.webhook.updated', webhookAuditSubject(before), async () => {
          const { endpoint, changed } = await deps.webhooks.update(before.id, patch);
          return { result: endpoint, details: { changed, ...webhookAuditDetails(endpoint) } };
        });
      },
      async rotateSecret(actor, webhookId) {
        const before = await wrapped(deps.webhooks.get(webhookId));
        // the secret itself is never part of the audit event
        return audited(actor, 'admin.webhook.secret_rotated', webhookAuditSubject(before), async () => ({ result: await deps.webhooks.rotateSecret(before.id) }));
      },
      async remove(actor, webhookId) {
        const before = await wrapped(deps.webhooks.get(webhookId));
        await audited(actor, 'admin.webhook.deleted', webhookAuditSubject(before), async () => ({ result: await deps.webhooks.remove(before.id), details: webhookAuditDetails(before) }));
      },
      deliveries: (webhookId) => wrapped(deps.webhooks.deliveries(webhookId)),
    },

    audit: {
      async query(filter) {
        try {
          const page = await audit.query(filter);
          return { items: page.events, ...(page.next ? { next: page.next } : {}) };
        } catch (err) {
          throw asAdminError(err);
        }
      },
      csv: (filter) => audit.csv(filter),
    },
  };
}
