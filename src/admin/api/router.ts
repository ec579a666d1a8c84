// The admin JSON API router (/admin/api/v1): registers every row of the route table behind the
// bearer check, validates path, query and JSON body with the row's schemas, calls the AdminService
// and answers JSON. Every failure, unknown routes and wrong methods included, is a JSON error
// `{ error, error_description, details? }`; user input never causes a 500.
import Router, { RouterEvents } from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { z } from 'zod';
import type { AdminService } from '../types.ts';
import { DomainError } from '../../domain-error.ts';
import { UserFacingError, databaseUnavailable, statusOf, DATABASE_UNAVAILABLE_MESSAGE } from '../../http/errors.ts';
import { ApiError, authenticate } from './auth.ts';
import { ROUTES, type ApiRoute, type CsvFile } from './routes.ts';
import { API_PREFIX, OPENAPI_PATH, buildOpenApiDocument } from './openapi.ts';

export interface AdminApiDeps {
  admin: AdminService;
  provider: Provider;
  clients: { find(clientId: string): Promise<{ adminApi?: boolean } | undefined> };
  accounts: { findById(accountId: string): Promise<{ role: string; disabled: boolean; email: string } | undefined> };
  /** Where a 5xx (a bug, never user input) is reported; default: console.error. */
  log?: (err: unknown, ctx: Context) => void;
}

const BODY_LIMIT = '64kb';

/** `/clients/{clientId}` → `/clients/:clientId` (the router's syntax). */
export const routerPath = (openApiPath: string) => openApiPath.replace(/\{(\w+)\}/g, ':$1');

/** Validates one part of the request; a failure is a 400 naming every bad field. */
function validate<T extends z.ZodType>(schema: T, value: unknown, part: 'path' | 'query' | 'body'): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details = result.error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
  const what = part === 'path' ? 'The path' : part === 'query' ? 'The query parameters' : 'The request body';
  throw new ApiError(400, 'invalid_request', `${what} failed validation: ${details.map((d) => (d.path ? `${d.path}: ${d.message}` : d.message)).join('; ')}.`, { details });
}

const jsonParserFor = (limit: string) => bodyParser({
  enableTypes: ['json'], jsonLimit: limit, parsedMethods: ['POST', 'PUT', 'PATCH', 'DELETE'],
  onError(err) {
    const e = err as { status?: number; type?: string };
    if (e.status === 413) throw new ApiError(413, 'too_large', `The request body is larger than ${limit}.`);
    if (e.status === 415) throw new ApiError(415, 'unsupported_media_type', 'Send the body as UTF-8 JSON (Content-Type: application/json).');
    if (err instanceof SyntaxError || e.type === undefined || e.type === 'entity.parse.failed') {
      throw new ApiError(400, 'invalid_json', 'The request body is not valid JSON (a JSON object is expected).');
    }
    throw new ApiError(400, 'invalid_request', 'The request body could not be read.');
  },
});
const jsonParser = jsonParserFor(BODY_LIMIT);
// a route that takes more (an uploaded logo) names its own limit
const largeParsers = new Map<string, ReturnType<typeof jsonParserFor>>();
const parserFor = (route: ApiRoute) => {
  if (!route.bodyLimit) return jsonParser;
  if (!largeParsers.has(route.bodyLimit)) largeParsers.set(route.bodyLimit, jsonParserFor(route.bodyLimit));
  return largeParsers.get(route.bodyLimit)!;
};

const hasBody = (ctx: Context) => (ctx.request.length ?? 0) > 0 || ctx.get('Transfer-Encoding') !== '';

/** The parsed JSON body: undefined when there is none; 415 when it is not JSON. */
async function readBody(ctx: Context, route: ApiRoute): Promise<unknown> {
  if (!hasBody(ctx)) return undefined;
  if (!ctx.request.is('application/json')) {
    if (!route.body) throw new ApiError(400, 'invalid_request', 'This request takes no body.');
    throw new ApiError(415, 'unsupported_media_type', 'Send the body as JSON (Content-Type: application/json).');
  }
  // JSON is UTF-8 (RFC 8259 §8.1): another declared charset would be read wrongly
  const charset = ctx.request.charset.toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') {
    throw new ApiError(415, 'unsupported_media_type', 'Send the body as UTF-8 JSON (Content-Type: application/json; charset=utf-8).');
  }
  await parserFor(route)(ctx, async () => {});
  const body = (ctx.request as { body?: unknown }).body;
  // a client that always sends a JSON object may send {} where no body is taken
  if (!route.body && !(body && typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0)) {
    throw new ApiError(400, 'invalid_request', 'This request takes no body.');
  }
  return route.body ? body : undefined;
}

function respond(ctx: Context, route: ApiRoute, result: unknown): void {
  const { success } = route;
  ctx.status = success.status;
  if ('csv' in success) {
    const file = result as CsvFile;
    ctx.attachment(file.filename);
    ctx.type = 'text/csv; charset=utf-8';
    ctx.body = file.csv;
  } else if ('schema' in success) {
    // the JSON form (dates as ISO strings), reduced to the documented fields: nothing undocumented leaks
    ctx.body = success.schema.parse(JSON.parse(JSON.stringify(result)));
  }
}

/** What an error means for the caller; undefined for a bug (a 500). */
function describe(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  // the service's AdminError, or any other domain error: its kind's status (http/errors.ts)
  if (err instanceof DomainError) return new ApiError(statusOf(err), err.code, err.message);
  if (err instanceof UserFacingError && err.status >= 400 && err.status < 500) return new ApiError(err.status, err.code, err.message);
  // the database is unreachable: a transient fault, not a bug (retry shortly)
  if (databaseUnavailable(err)) return new ApiError(503, 'temporarily_unavailable', DATABASE_UNAVAILABLE_MESSAGE, { headers: { 'Retry-After': '5' } });
  return undefined;
}

function sendError(ctx: Context, error: ApiError): void {
  ctx.status = error.status;
  for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value);
  ctx.body = { error: error.code, error_description: error.message, ...(error.details ? { details: error.details } : {}) };
}

export function adminApiRouter(deps: AdminApiDeps): Router {
  const log = deps.log ?? ((err: unknown, ctx: Context) => console.error(`[tessera] admin API ${ctx.method} ${ctx.path} failed:`, err));
  const router = new Router({ prefix: API_PREFIX });
  const document = buildOpenApiDocument(ROUTES);

  // first in the chain of every matched route: no caching, JSON errors
  router.use(async (ctx: Context, next: Next) => {
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (err) {
      const known = describe(err);
      if (known) return sendError(ctx, known);
      log(err, ctx);
      ctx.status = 500;
      ctx.body = { error: 'server_error', error_description: 'Something went wrong on our side. Please try again.', request_id: ctx.state.requestId };
    }
  });

  router.get(OPENAPI_PATH, (ctx) => {
    ctx.body = document;
  });

  for (const route of ROUTES) {
    router.register(routerPath(route.path), [route.method.toUpperCase()], async (ctx: Context) => {
      const actor = await authenticate(deps, ctx);
      const params = route.params ? validate(route.params, { ...ctx.params }, 'path') : {};
      const query = validate(route.query, { ...ctx.query }, 'query');
      const raw = await readBody(ctx, route);
      const body = route.body ? validate(route.body, raw, 'body') : undefined;
      respond(ctx, route, await route.handler({ admin: deps.admin }, actor, { params, query, body }));
    });
  }

  // nothing matched: under /admin/api a JSON 404, or 405 with Allow when only the method is wrong
  router.on(RouterEvents.NotFound, (ctx: Context, next: Next) => {
    if (ctx.path !== '/admin/api' && !ctx.path.startsWith('/admin/api/')) return next();
    ctx.set('Cache-Control', 'no-store');
    const allowed = [...new Set(router.match(ctx.path, ctx.method).path.flatMap((layer) => layer.methods))];
    // a method no route has (PROPFIND, TRACE): 405 here, so a following allowedMethods() never makes it a 501
    const known = router.methods.includes(ctx.method.toUpperCase());
    if (allowed.length === 0 && known) return sendError(ctx, new ApiError(404, 'not_found', `There is no ${ctx.path} in this API (see ${API_PREFIX}${OPENAPI_PATH}).`));
    ctx.set('Allow', allowed.join(', '));
    if (ctx.method === 'OPTIONS') {
      ctx.status = 204;
      return;
    }
    sendError(ctx, new ApiError(405, 'method_not_allowed', allowed.length
      ? `${ctx.method} is not allowed here; allowed: ${allowed.join(', ')}.`
      : `This API has no ${ctx.method} method.`));
  });

  return router;
}
