// One log line per HTTP request (method, route template, status, duration, request id), and the
// request id itself: kept from X-Request-Id when it is short and plain, echoed in the response,
// and carried by every line logged while the request runs (ops/logger.ts).
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Context, Middleware, Next } from 'koa';
import { withRequestId, type Logger } from './logger.ts';
import { PROBE_PATHS } from './health.ts';

/** An incoming X-Request-Id is kept only when it looks like an id (no spaces, markup or log tricks). */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** Polled every few seconds by balancers and Prometheus: logged at debug level only. */
const QUIET_PATHS: ReadonlySet<string> = new Set([...PROBE_PATHS, '/metrics']);

/**
 * The route template the request matched (`/interaction/:uid`, the provider's `/token`), never the
 * raw path or its query, which may carry ids, codes, state or an email address; `unmatched`
 * when no route claimed it. A bounded value: safe for a log line or a metric label.
 */
export function routeOf(ctx: Context): string {
  const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  if (typeof matched === 'string') return matched;
  if (matched instanceof RegExp) return String(matched);
  if (typeof ctx.state.route === 'string') return ctx.state.route;
  if (QUIET_PATHS.has(ctx.path)) return ctx.path;
  return 'unmatched';
}

export function requestIdOf(header: string | undefined): string {
  return header !== undefined && SAFE_REQUEST_ID.test(header) ? header : randomUUID();
}

/** The first middleware: request id, the request's log context, and its one line once answered. */
export function requestLog(logger: Logger): Middleware {
  return async (ctx: Context, next: Next) => {
    const started = performance.now();
    const reqId = requestIdOf(ctx.get('X-Request-Id') || undefined);
    ctx.state.requestId = reqId;
    ctx.set('X-Request-Id', reqId);
    await withRequestId(reqId, async () => {
      let failed: unknown;
      try {
        await next();
      } catch (err) {
        failed = err;
        throw err;
      } finally {
        // an error thrown past every handler becomes Koa's own answer: its status, or 500
        const thrown = (failed as { status?: unknown } | undefined)?.status;
        const status = failed === undefined ? ctx.status : typeof thrown === 'number' ? thrown : 500;
        const line = { method: ctx.method, route: routeOf(ctx), status, ms: Math.round((performance.now() - started) * 10) / 10 };
        if (QUIET_PATHS.has(ctx.path)) logger.debug(line, 'request');
        else if (status >= 500) logger.warn(line, 'request');
        else logger.info(line, 'request');
      }
    });
  };
}
