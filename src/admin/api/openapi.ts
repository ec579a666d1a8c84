// Builds the OpenAPI 3.1 document of the admin JSON API from the route table (routes.ts) and its
// zod schemas: every path and method, parameter, request body and response (success and each
// error) appears because the router serves exactly the same rows.
import { z } from 'zod';
import { ADMIN_SCOPE } from '../../oidc/clients.ts';
import type { ApiRoute } from './routes.ts';
import { ErrorBody } from './schemas.ts';

type Json = Record<string, unknown>;

export const API_PREFIX = '/admin/api/v1';
export const OPENAPI_PATH = '/openapi.json';

const COMPONENT = '#/components/schemas/';
const ERROR_REF = { $ref: `${COMPONENT}Error` };

const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid request: malformed JSON (invalid_json) or a field that fails its schema (invalid_request, with details).',
  401: 'No access token (missing_token), or an unknown, expired or revoked one (invalid_token).',
  403: 'The token lacks the admin scope or its client is not granted the admin API (insufficient_scope), or its account is not an active admin (insufficient_role).',
  404: 'No such thing (not_found).',
  409: 'A conflict: the id or email is taken, or the change is not allowed in the current state.',
  413: 'The request body is larger than 64 KiB (too_large).',
  503: 'The database cannot be reached right now (temporarily_unavailable); retry after the Retry-After seconds.',
  415: 'The request body is not application/json (unsupported_media_type).',
};

/** JSON Schema of a zod schema; entities (`.meta({ id })`) become references to components/schemas. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output', components: Json): Json {
  const { $schema: _s, $defs, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io }) as Json & { $defs?: Record<string, Json> };
  for (const [name, def] of Object.entries($defs ?? {})) components[name] = relink(def);
  return relink(rest);
}

function relink<T>(value: T): T {
  if (Array.isArray(value)) return value.map(relink) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) =>
      [k, k === '$ref' && typeof v === 'string' ? v.replace('#/$defs/', COMPONENT) : relink(v)])) as T;
  }
  return value;
}

/** One OpenAPI parameter per property of a (strict) object schema. */
function parameters(schema: z.ZodType | undefined, where: 'path' | 'query', components: Json): Json[] {
  if (!schema) return [];
  const object = jsonSchema(schema, 'input', components) as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name, in: where, required: where === 'path' || (object.required ?? []).includes(name),
      ...(description ? { description } : {}), schema: rest,
    };
  });
}

function operation(route: ApiRoute, components: Json): Json {
  const responses: Json = {};
  const { success } = route;
  if ('schema' in success) {
    responses[success.status] = { description: success.description, content: { 'application/json': { schema: jsonSchema(success.schema, 'output', components) } } };
  } else if ('csv' in success) {
    responses[success.status] = {
      description: success.description,
      headers: { 'Content-Disposition': { description: 'attachment; filename="…"', schema: { type: 'string' } } },
      content: { 'text/csv': { schema: { type: 'string' } } },
    };
  } else {
    responses[success.status] = { description: success.description };
  }
  // every route validates at least its query (unknown parameters are refused): 400 everywhere
  const errors = [400, 401, 403, ...route.errors, ...(route.body ? [413, 415] : []), 503].sort((a, b) => a - b);
  for (const status of new Set(errors)) {
    responses[status] = {
      description: status === 413 && route.bodyLimit ? `The request body is larger than ${route.bodyLimit} (too_large).` : ERROR_TEXT[status],
      ...(status === 401 || status === 403 ? { headers: { 'WWW-Authenticate': { description: 'Bearer challenge (RFC 6750).', schema: { type: 'string' } } } } : {}),
      content: { 'application/json': { schema: ERROR_REF } },
    };
  }
  return {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    parameters: [...parameters(route.params, 'path', components), ...parameters(route.query, 'query', components)],
    ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input', components) } } } } : {}),
    responses,
    security: [{ bearer: [ADMIN_SCOPE] }],
  };
}

/** The whole document (built once per router: the table does not change at run time). */
export function buildOpenApiDocument(routes: readonly ApiRoute[]): Json {
  const components: Json = {};
  // a schema with an id comes back as a reference; its definition lands in components (as Error)
  jsonSchema(ErrorBody, 'output', components);
  const paths: Record<string, Json> = {};
  for (const route of routes) (paths[route.path] ??= {})[route.method] = operation(route, components);
  paths[OPENAPI_PATH] = {
    get: {
      operationId: 'getOpenApiDocument',
      summary: 'This OpenAPI document',
      tags: ['Meta'],
      security: [],
      responses: { 200: { description: 'The OpenAPI 3.1 document of this API.', content: { 'application/json': { schema: { type: 'object' } } } } },
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tessera admin API',
      version: '1.0.0',
      description: 'Manage clients, users, devices, organisations and webhook endpoints, and read the audit log. '
        + 'Authenticate with a Tessera access token that has the admin scope: a client_credentials token of a client '
        + 'granted the admin API (tessera client grant-admin-api --client-id <id>), or an admin\'s token from the console. '
        + 'Every error is JSON { error, error_description, details? }.',
    },
    servers: [{ url: API_PREFIX }],
    tags: ['Clients', 'Users', 'Devices', 'Organisations', 'Webhooks', 'Audit', 'Meta'].map((name) => ({ name })),
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: `A Tessera access token with the "${ADMIN_SCOPE}" scope, as a plain bearer token (a DPoP-bound token is refused: request it without a DPoP proof).` },
      },
    },
    security: [{ bearer: [ADMIN_SCOPE] }],
  };
}
