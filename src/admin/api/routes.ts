// The admin JSON API as one table: each row is a route (method, path, schemas, documented responses)
// and a thin handler that calls the AdminService. The router registers exactly these rows and the
// OpenAPI document is built from exactly these rows, so the two cannot drift apart.
import type { z } from 'zod';
// ClientPatch's intersection type narrows `string | null` back to `string`: the null (clear) is meant
import type { AdminActor, AdminService, ClientPatch } from '../types.ts';
import * as s from './schemas.ts';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** What a handler receives: the validated (and coerced) path parameters, query and body. */
export interface Input<P, Q, B> {
  params: P;
  query: Q;
  body: B;
}

export type Success =
  | { status: 200 | 201; description: string; schema: z.ZodType }
  | { status: 204; description: string }
  | { status: 200; description: string; csv: true };

/** A CSV handler's answer: the file and its suggested name. */
export interface CsvFile {
  csv: string;
  filename: string;
}

export interface ApiRoute {
  method: Method;
  /** OpenAPI style, relative to /admin/api/v1: /clients/{clientId}. */
  path: string;
  operationId: string;
  summary: string;
  tag: 'Clients' | 'Users' | 'Devices' | 'Organisations' | 'Webhooks' | 'Audit';
  params?: z.ZodObject;
  query: z.ZodType;
  body?: z.ZodType;
  /** A larger JSON body than the default 64kb (an uploaded logo). */
  bodyLimit?: string;
  success: Success;
  /** Error statuses the service may answer besides 400/401/403 (and 413/415 with a body). */
  errors: (404 | 409)[];
  handler(ctx: { admin: AdminService }, actor: AdminActor, input: Input<unknown, unknown, unknown>): Promise<unknown>;
}

type Out<T> = T extends z.ZodType ? z.output<T> : undefined;

/** One row, with the handler's input typed from its schemas. */
function route<P extends z.ZodObject | undefined, Q extends z.ZodType, B extends z.ZodType | undefined>(spec: {
  method: Method; path: string; operationId: string; summary: string; tag: ApiRoute['tag'];
  params?: P; query?: Q; body?: B; bodyLimit?: string; success: Success; errors?: (404 | 409)[];
  handler(ctx: { admin: AdminService }, actor: AdminActor, input: Input<Out<P>, Out<Q>, Out<B>>): Promise<unknown>;
}): ApiRoute {
  const errors = spec.errors ?? [...(spec.params ? [404 as const] : []), ...(spec.method === 'get' ? [] : [409 as const])];
  return { ...spec, query: spec.query ?? s.NoQuery, errors, handler: spec.handler as ApiRoute['handler'] };
}

const ok = (description: string, schema: z.ZodType) => ({ status: 200 as const, description, schema });
const created = (description: string, schema: z.ZodType) => ({ status: 201 as const, description, schema });

const USER_ACTIONS = [
  ['disable', 'disableUser', 'Disable a user', 'Signs them out everywhere and refuses every sign-in until enabled.'],
  ['enable', 'enableUser', 'Enable a user', ''],
  ['lock', 'lockUser', 'Lock a user\'s sign-in', 'Sign-ins fail like a wrong password until unlocked.'],
  ['unlock', 'unlockUser', 'Unlock a user\'s sign-in', ''],
  ['reset-mfa', 'resetUserMfa', 'Reset a user\'s second factors', 'Removes every second factor and emails the person.'],
  ['reset-password', 'resetUserPassword', 'Force a password reset', 'Ends their sessions and emails a set-password link.'],
] as const;

const DEVICE_ACTIONS = [
  ['unblock', 'unblockDevice', 'Unblock a device'],
  ['remove', 'removeDevice', 'Remove a device'],
] as const;

export const ROUTES: ApiRoute[] = [
  // ---- clients
  route({
    method: 'get', path: '/clients', operationId: 'listClients', summary: 'List clients', tag: 'Clients',
    success: ok('Every client.', s.ClientsResponse),
    handler: async ({ admin }) => ({ clients: await admin.clients.list() }),
  }),
  route({
    method: 'post', path: '/clients', operationId: 'createClient', summary: 'Create a client', tag: 'Clients',
    body: s.ClientInput, errors: [409],
    success: created('The client; a confidential client\'s secret is shown this once.', s.ClientCreatedResponse),
    handler: ({ admin }, actor, { body }) => admin.clients.create(actor, body),
  }),
  route({
    method: 'get', path: '/clients/{clientId}', operationId: 'getClient', summary: 'Get a client', tag: 'Clients',
    params: s.ClientParams, success: ok('The client.', s.ClientResponse),
    handler: async ({ admin }, _actor, { params }) => ({ client: await admin.clients.get(params.clientId) }),
  }),
  route({
    method: 'patch', path: '/clients/{clientId}', operationId: 'updateClient', summary: 'Edit a client', tag: 'Clients',
    params: s.ClientParams, body: s.ClientPatch, success: ok('The updated client.', s.ClientResponse),
    handler: async ({ admin }, actor, { params, body }) => ({ client: await admin.clients.update(actor, params.clientId, body as ClientPatch) }),
  }),
  route({
    method: 'put', path: '/clients/{clientId}/logo', operationId: 'uploadClientLogo', summary: 'Upload a client\'s logo', tag: 'Clients',
    params: s.ClientParams, body: s.LogoBody, bodyLimit: '160kb',
    success: ok('The client, its logoUri now the uploaded image served by Tessera.', s.ClientResponse),
    handler: async ({ admin }, actor, { params, body }) => ({ client: await admin.clients.setLogo(actor, params.clientId, Buffer.from(body.image, 'base64')) }),
  }),
  route({
    method: 'post', path: '/clients/{clientId}/secret', operationId: 'rotateClientSecret', summary: 'Rotate a client\'s secret', tag: 'Clients',
    params: s.ClientParams, success: ok('The new secret (shown once); the old one keeps working for the grace period.', s.SecretRotatedResponse),
    handler: ({ admin }, actor, { params }) => admin.clients.rotateSecret(actor, params.clientId),
  }),
  route({
    method: 'delete', path: '/clients/{clientId}', operationId: 'deleteClient', summary: 'Delete a client', tag: 'Clients',
    params: s.ClientParams, success: { status: 204, description: 'Deleted.' },
    handler: ({ admin }, actor, { params }) => admin.clients.remove(actor, params.clientId),
  }),

  // ---- users
  route({
    method: 'get', path: '/users', operationId: 'searchUsers', summary: 'Search users by email or name', tag: 'Users',
    query: s.UserSearchQuery, success: ok('One page of users, ordered by email.', s.UsersResponse),
    handler: async ({ admin }, _actor, { query }) => {
      const page = await admin.users.search(query);
      return { users: page.items, ...(page.next ? { next: page.next } : {}) };
    },
  }),
  route({
    method: 'post', path: '/users', operationId: 'createUser', summary: 'Create (or invite) a user', tag: 'Users',
    body: s.NewUser, errors: [409], success: created('The user; invited when no password was given.', s.UserCreatedResponse),
    handler: ({ admin }, actor, { body }) => admin.users.create(actor, body),
  }),
  route({
    method: 'get', path: '/users/{userId}', operationId: 'getUser', summary: 'Get a user', tag: 'Users',
    params: s.UserParams, success: ok('The user.', s.UserResponse),
    handler: async ({ admin }, _actor, { params }) => ({ user: await admin.users.get(params.userId) }),
  }),
  ...USER_ACTIONS.map(([action, operationId, summary]) => route({
    method: 'post', path: `/users/{userId}/${action}`, operationId, summary, tag: 'Users',
    params: s.UserParams, success: ok('The user after the change.', s.UserResponse),
    handler: async ({ admin }, actor, { params }) => ({ user: await admin.users.act(actor, params.userId, action) }),
  })),
  route({
    method: 'put', path: '/users/{userId}/role', operationId: 'setUserRole', summary: 'Set a user\'s role', tag: 'Users',
    params: s.UserParams, body: s.RoleBody, success: ok('The user after the change.', s.UserResponse),
    handler: async ({ admin }, actor, { params, body }) => ({ user: await admin.users.setRole(actor, params.userId, body.role) }),
  }),
  route({
    method: 'patch', path: '/users/{userId}', operationId: 'updateUser', summary: 'Edit a user\'s name, standard claims or new-device verification', tag: 'Users',
    params: s.UserParams, body: s.UserPatch, success: ok('The user after the change, with the standard claims.', s.UserDetailsResponse),
    handler: async ({ admin }, actor, { params, body }) => ({ user: await admin.users.update(actor, params.userId, body) }),
  }),
  route({
    method: 'put', path: '/users/{userId}/phone', operationId: 'setUserPhone', summary: 'Set an already verified phone number', tag: 'Users',
    params: s.UserParams, body: s.PhoneBody,
    success: ok('The number as stored: active (verified) without a code; the person is emailed, the change audited as admin.user.phone_set.', s.PhoneResponse),
    handler: async ({ admin }, actor, { params, body }) => ({ phone: await admin.users.setPhone(actor, params.userId, body) }),
  }),
  route({
    method: 'get', path: '/users/{userId}/devices', operationId: 'listUserDevices', summary: 'A user\'s devices', tag: 'Devices',
    params: s.UserParams, success: ok('Every device of the user, with its state history.', s.DevicesResponse),
    handler: async ({ admin }, _actor, { params }) => ({ devices: await admin.users.devices(params.userId) }),
  }),

  // ---- devices
  route({
    method: 'get', path: '/devices/{deviceId}', operationId: 'getDevice', summary: 'Get a device', tag: 'Devices',
    params: s.DeviceParams, success: ok('The device.', s.DeviceResponse),
    handler: async ({ admin }, _actor, { params }) => ({ device: await admin.devices.get(params.deviceId) }),
  }),
  route({
    method: 'patch', path: '/devices/{deviceId}', operationId: 'renameDevice', summary: 'Rename a device', tag: 'Devices',
    params: s.DeviceParams, body: s.DeviceNameBody, success: ok('The device.', s.DeviceResponse),
    handler: async ({ admin }, actor, { params, body }) => ({ device: await admin.devices.rename(actor, params.deviceId, body.name) }),
  }),
  ...DEVICE_ACTIONS.map(([action, operationId, summary]) => route({
    method: 'post', path: `/devices/{deviceId}/${action}`, operationId, summary, tag: 'Devices',
    params: s.DeviceParams, success: ok('The device after the change.', s.DeviceResponse),
    handler: async ({ admin }, actor, { params }) => ({ device: await admin.devices.act(actor, params.deviceId, action) }),
  })),
  route({
    method: 'post', path: '/devices/{deviceId}/flags', operationId: 'flagDevice', summary: 'Add a flag to a device', tag: 'Devices',
    params: s.DeviceParams, body: s.FlagBody, success: ok('The device.', s.DeviceResponse),
    handler: async ({ admin }, actor, { params, body }) => ({ device: await admin.devices.flag(actor, params.deviceId, { add: body.flag }) }),
  }),
  route({
    method: 'delete', path: '/devices/{deviceId}/flags/{flag}', operationId: 'unflagDevice', summary: 'Remove a flag from a device', tag: 'Devices',
    params: s.FlagParams, success: ok('The device.', s.DeviceResponse),
    handler: async ({ admin }, actor, { params }) => ({ device: await admin.devices.flag(actor, params.deviceId, { remove: params.flag }) }),
  }),

  // ---- organisations
  route({
    method: 'get', path: '/organisations', operationId: 'listOrganisations', summary: 'List organisations', tag: 'Organisations',
    success: ok('Every organisation.', s.OrganisationsResponse),
    handler: async ({ admin }) => ({ organisations: await admin.organisations.list() }),
  }),
  route({
    method: 'post', path: '/organisations', operationId: 'createOrganisation', summary: 'Create an organisation', tag: 'Organisations',
    body: s.OrganisationBody, errors: [409], success: created('The organisation.', s.OrganisationResponse),
    handler: async ({ admin }, actor, { body }) => ({ organisation: await admin.organisations.create(actor, body.name) }),
  }),
  route({
    method: 'get', path: '/organisations/{organisationId}', operationId: 'getOrganisation', summary: 'Get an organisation', tag: 'Organisations',
    params: s.OrganisationParams, success: ok('The organisation.', s.OrganisationResponse),
    handler: async ({ admin }, _actor, { params }) => ({ organisation: await admin.organisations.get(params.organisationId) }),
  }),
  route({
    method: 'patch', path: '/organisations/{organisationId}', operationId: 'renameOrganisation', summary: 'Rename an organisation', tag: 'Organisations',
    params: s.OrganisationParams, body: s.OrganisationBody, success: ok('The organisation.', s.OrganisationResponse),
    handler: async ({ admin }, actor, { params, body }) => ({ organisation: await admin.organisations.rename(actor, params.organisationId, body.name) }),
  }),
  route({
    method: 'put', path: '/organisations/{organisationId}/members/{userId}', operationId: 'setOrganisationMember',
    summary: 'Add a member (or change whether they are an organisation admin)', tag: 'Organisations',
    params: s.MemberParams, body: s.MemberBody, success: ok('The organisation.', s.OrganisationResponse),
    handler: async ({ admin }, actor, { params, body }) => ({ organisation: await admin.organisations.setMember(actor, params.organisationId, params.userId, body.admin) }),
  }),
  route({
    method: 'delete', path: '/organisations/{organisationId}/members/{userId}', operationId: 'removeOrganisationMember', summary: 'Remove a member', tag: 'Organisations',
    params: s.MemberParams, success: ok('The organisation.', s.OrganisationResponse),
    handler: async ({ admin }, actor, { params }) => ({ organisation: await admin.organisations.removeMember(actor, params.organisationId, params.userId) }),
  }),

  // ---- webhook endpoints (README "Webhooks")
  route({
    method: 'get', path: '/webhooks', operationId: 'listWebhooks', summary: 'List webhook endpoints', tag: 'Webhooks',
    success: ok('Every webhook endpoint.', s.WebhooksResponse),
    handler: async ({ admin }) => ({ webhooks: await admin.webhooks.list() }),
  }),
  route({
    method: 'post', path: '/webhooks', operationId: 'createWebhook', summary: 'Register a webhook endpoint', tag: 'Webhooks',
    body: s.WebhookInput, errors: [], success: created('The endpoint and its signing secret, shown this once.', s.WebhookSecretResponse),
    handler: async ({ admin }, actor, { body }) => {
      const shown = await admin.webhooks.create(actor, body);
      return { webhook: shown.endpoint, secret: shown.secret };
    },
  }),
  route({
    method: 'get', path: '/webhooks/{webhookId}', operationId: 'getWebhook', summary: 'Get a webhook endpoint', tag: 'Webhooks',
    params: s.WebhookParams, success: ok('The endpoint.', s.WebhookResponse),
    handler: async ({ admin }, _actor, { params }) => ({ webhook: await admin.webhooks.get(params.webhookId) }),
  }),
  route({
    method: 'patch', path: '/webhooks/{webhookId}', operationId: 'updateWebhook', summary: 'Edit, enable or disable a webhook endpoint', tag: 'Webhooks',
    params: s.WebhookParams, body: s.WebhookPatch, errors: [404], success: ok('The endpoint after the change.', s.WebhookResponse),
    handler: async ({ admin }, actor, { params, body }) => ({ webhook: await admin.webhooks.update(actor, params.webhookId, body) }),
  }),
  route({
    method: 'post', path: '/webhooks/{webhookId}/secret', operationId: 'rotateWebhookSecret', summary: 'Rotate a webhook endpoint\'s signing secret', tag: 'Webhooks',
    params: s.WebhookParams, errors: [404], success: ok('The new secret (shown once); the old one signs nothing from now on.', s.WebhookSecretResponse),
    handler: async ({ admin }, actor, { params }) => {
      const shown = await admin.webhooks.rotateSecret(actor, params.webhookId);
      return { webhook: shown.endpoint, secret: shown.secret };
    },
  }),
  route({
    method: 'delete', path: '/webhooks/{webhookId}', operationId: 'deleteWebhook', summary: 'Delete a webhook endpoint', tag: 'Webhooks',
    params: s.WebhookParams, errors: [404], success: { status: 204, description: 'Deleted; its pending deliveries are dropped.' },
    handler: ({ admin }, actor, { params }) => admin.webhooks.remove(actor, params.webhookId),
  }),
  route({
    method: 'get', path: '/webhooks/{webhookId}/deliveries', operationId: 'listWebhookDeliveries', summary: 'A webhook endpoint\'s delivery log', tag: 'Webhooks',
    params: s.WebhookParams, success: ok('The latest delivery attempts (at most 50), newest first.', s.WebhookDeliveriesResponse),
    handler: async ({ admin }, _actor, { params }) => ({ deliveries: await admin.webhooks.deliveries(params.webhookId) }),
  }),

  // ---- audit log (read only: events are never changed or deleted)
  route({
    method: 'get', path: '/audit-events', operationId: 'queryAuditEvents', summary: 'Query the audit log', tag: 'Audit',
    query: s.AuditQuery, errors: [], success: ok('One page of events, newest first.', s.AuditEventsResponse),
    handler: async ({ admin }, _actor, { query }) => {
      const page = await admin.audit.query(query);
      return { events: page.items, ...(page.next ? { next: page.next } : {}) };
    },
  }),
  route({
    method: 'get', path: '/audit-events/export', operationId: 'exportAuditEvents', summary: 'Export the audit log as CSV', tag: 'Audit',
    query: s.AuditExportQuery, errors: [], success: { status: 200, description: 'Every matching event (up to AUDIT_EXPORT_MAX_ROWS), newest first, header row first.', csv: true },
    handler: async ({ admin }, _actor, { query }): Promise<CsvFile> => ({ csv: await admin.audit.csv(query), filename: 'tessera-audit-events.csv' }),
  }),
];
