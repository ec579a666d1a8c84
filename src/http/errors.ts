// Errors are values with a meaning: a status and a message safe to show. One middleware renders
// every error as a page or JSON; stack traces go to the log, never to the user.
import type { Context, Next } from 'koa';
import { errors as oidcErrors } from 'oidc-provider';

export class UserFacingError extends Error {
  override name = 'UserFacingError';
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function describe(err: unknown): { status: number; code: string; message: string } {
  if (err instanceof UserFacingError) return err;
  if (err instanceof oidcErrors.SessionNotFound) {
    return { status: 400, code: 'session_expired', message: 'This sign-in has expired or was already completed. Go back to the application and start again.' };
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

export function errorMiddleware(log: (err: unknown, ctx: Context) => void) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      const { status, code, message } = describe(err);
      if (status >= 500) log(err, ctx);
      ctx.status = status;
      ctx.set('Cache-Control', 'no-store');
      if (ctx.accepts('html', 'json') === 'json') {
        ctx.body = { error: code, error_description: message, ...(status >= 500 ? { request_id: ctx.state.requestId } : {}) };
        return;
      }
      try {
        await (ctx as unknown as { render: (v: string, l: object) => Promise<void> }).render('error', { title: 'Error', message, code, requestId: ctx.state.requestId });
      } catch {
        ctx.type = 'text/plain';
        ctx.body = message;
      }
      ctx.status = status;
    }
  };
}
