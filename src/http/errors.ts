// Errors are values with a meaning: a route's UserFacingError carries its status, a store's or
// domain module's DomainError (domain-error.ts) its kind, mapped to a status here and nowhere else.
// One middleware renders every error as a page or JSON; stack traces go to the log, never to the user.
import type { Context, Next } from 'koa';
import { errors as oidcErrors } from 'oidc-provider';
import { DomainError, type ErrorKind } from '../domain-error.ts';

/** A translation of an error's sentence (locales/<language>/<ns>.json): the key and its values. */
export interface Translatable {
  key: string;
  vars?: Record<string, string | number>;
}

/**
 * An error a person reads: its status, a stable code, the English sentence (logs, JSON bodies and
 * the fallback), and optionally the translation key the page shows it with (i18n/index.ts).
 */
export class UserFacingError extends Error {
  override name = 'UserFacingError';
  readonly status: number;
  readonly code: string;
  readonly i18n: Translatable | undefined;
  constructor(status: number, code: string, message: string, i18n?: Translatable) {
    super(message);
    this.status = status;
    this.code = code;
    this.i18n = i18n;
  }
}

/** The one place a domain error's kind becomes an HTTP status (pages, the admin API and console). */
export const STATUS_OF_KIND: Readonly<Record<ErrorKind, 400 | 403 | 404 | 409 | 429>> = {
  not_found: 404, conflict: 409, invalid: 400, forbidden: 403, limited: 429,
};

export const statusOf = (err: DomainError): 400 | 403 | 404 | 409 | 429 => STATUS_OF_KIND[err.kind];

/** What a page says while the database is unreachable (HTTP 503; the request id follows on the page). */
export const DATABASE_UNAVAILABLE_MESSAGE = 'Tessera cannot reach its database right now; try again in a moment.';

// The driver's and mongoose's names for "the server is not there": no server selectable, the
// connection dropped or timed out, the pool was cleared, the client was closed under a request, or
// mongoose gave up waiting for a connection to buffer a command into.
const UNAVAILABLE_NAMES = /^Mongo(?:ose)?(?:ServerSelection|Network|NetworkTimeout|PoolCleared|TopologyClosed|NotConnected|ServerClosed)Error$/;

/**
 * True when `err` (or one of its causes) means the database cannot be reached right now: a
 * transient fault the caller answers with 503, not a bug. Duplicate keys, validation errors and
 * other server answers are not this: the database was reached.
 */
export function databaseUnavailable(err: unknown): boolean {
  for (let e = err as { name?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.name === 'string' && UNAVAILABLE_NAMES.test(e.name)) return true;
    if (e.name === 'MongooseError' && typeof e.message === 'string' && /buffering timed out|Connection was force closed|client was closed/i.test(e.message)) return true;
  }
  return false;
}

function describe(err: unknown): { status: number; code: string; message: string; i18n?: Translatable } {
  if (err instanceof UserFacingError) return err.i18n ? { status: err.status, code: err.code, message: err.message, i18n: err.i18n } : err;
  if (err instanceof DomainError) return { status: statusOf(err), code: err.code, message: err.message };
  if (databaseUnavailable(err)) return { status: 503, code: 'temporarily_unavailable', message: DATABASE_UNAVAILABLE_MESSAGE };
  if (err instanceof oidcErrors.SessionNotFound) {
    return { status: 400, code: 'session_expired', message: 'This sign-in has expired or was already completed. Go back to the application and start again.', i18n: { key: 'interaction:errors.sessionExpired' } };
  }
  if (err instanceof oidcErrors.OIDCProviderError) {
    return { status: err.statusCode, code: err.error, message: err.error_description ?? 'The request could not be completed.' };
  }
  const e = err as { status?: number; expose?: boolean; message?: string };
  if (e.status === 403) return { status: 403, code: 'invalid_csrf', message: 'This form has expired. Go back, reload the page and try again.' };
  if (e.status === 413) return { status: 413, code: 'too_large', message: 'What you sent is too large. Go back, shorten it and try again.' };
  if (e.status && e.status < 500 && e.expose) return { status: e.status, code: 'bad_request', message: e.message ?? 'Bad request' };
  return { status: 500, code: 'server_error', message: 'Something went wrong on our side. Please try again.' };
}

/** The provider's JSON server_error for a database fault, rewritten as the 503 it is. */
function providerUnavailable(ctx: Context): void {
  const body = ctx.body as { error?: unknown } | undefined;
  if (ctx.status !== 500 || !databaseUnavailable(ctx.state.providerError) || typeof body !== 'object' || body?.error !== 'server_error') return;
  ctx.status = 503;
  ctx.set('Retry-After', '5');
  ctx.body = { error: 'temporarily_unavailable', error_description: DATABASE_UNAVAILABLE_MESSAGE, request_id: ctx.state.requestId };
}

export function errorMiddleware(log: (err: unknown, ctx: Context) => void) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      // the provider answers its own 500s; app.ts keeps their cause on ctx.state.providerError
      if (ctx.state.providerError) providerUnavailable(ctx);
    } catch (err) {
      const { status, code, message, i18n } = describe(err);
      if (status >= 500) log(err, ctx);
      ctx.status = status;
      ctx.set('Cache-Control', 'no-store');
      if (status === 503) ctx.set('Retry-After', '5');
      if (ctx.accepts('html', 'json') === 'json') {
        ctx.body = { error: code, error_description: message, ...(status >= 500 ? { request_id: ctx.state.requestId } : {}) };
        return;
      }
      try {
        // the page shows the sentence in the page's language when the error names its translation
        await (ctx as unknown as { render: (v: string, l: object) => Promise<void> }).render('error', { message, ...(i18n ? { messageKey: i18n } : {}), code, requestId: ctx.state.requestId });
      } catch {
        ctx.type = 'text/plain';
        ctx.body = message;
      }
      ctx.status = status;
    }
  };
}
