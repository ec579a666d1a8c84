// Liveness and readiness for load balancers and orchestrators: /healthz says the process serves,
// /readyz whether it should get traffic (database answers in time, signing keys loaded, not draining).
// Answered first, for any Host header, without session, CSRF, views or a database write.
import type { Context, Middleware, Next } from 'koa';

export const HEALTH_PATH = '/healthz';
export const READY_PATH = '/readyz';
/** The probe paths: request logging and metrics skip them (they are polled every few seconds). */
export const PROBE_PATHS: ReadonlySet<string> = new Set([HEALTH_PATH, READY_PATH]);

export type NotReadyReason = 'shutting_down' | 'signing_keys' | 'database';
export type ReadyState = { ready: true } | { ready: false; reason: NotReadyReason };

export interface Readiness {
  /** From now on /readyz answers 503 (graceful shutdown: the balancer stops sending new requests). */
  beginShutdown(): void;
  readonly shuttingDown: boolean;
  check(): Promise<ReadyState>;
}

export interface ReadinessDeps {
  /** One cheap round trip to the database (a `ping` command); rejects when it cannot answer. */
  ping: () => Promise<unknown>;
  /** Whether the provider was given a signing key for every algorithm it signs with. */
  signingKeysLoaded: () => boolean;
  /** How long the ping may take before the database counts as unavailable (READINESS_DB_TIMEOUT_MS). */
  timeoutMs: number;
}

export function createReadiness({ ping, signingKeysLoaded, timeoutMs }: ReadinessDeps): Readiness {
  let shuttingDown = false;
  // probes arriving together share one ping: a stuck database is not asked once per probe
  let inFlight: Promise<boolean> | undefined;

  function databaseAnswers(): Promise<boolean> {
    inFlight ??= Promise.resolve().then(ping).then(() => true, () => false).finally(() => { inFlight = undefined; });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); });
    return Promise.race([inFlight, late]).finally(() => clearTimeout(timer));
  }

  return {
    beginShutdown() { shuttingDown = true; },
    get shuttingDown() { return shuttingDown; },
    async check() {
      if (shuttingDown) return { ready: false, reason: 'shutting_down' };
      if (!signingKeysLoaded()) return { ready: false, reason: 'signing_keys' };
      if (!(await databaseAnswers())) return { ready: false, reason: 'database' };
      // the shutdown may have begun while the database answered
      return shuttingDown ? { ready: false, reason: 'shutting_down' } : { ready: true };
    },
  };
}

function answer(ctx: Context, status: number, body: Record<string, string>): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = body;
}

/** The probe endpoints; mount first, before the issuer-origin check, so any Host header is answered. */
export function probes(readiness: Readiness): Middleware {
  return async (ctx: Context, next: Next) => {
    if (!PROBE_PATHS.has(ctx.path)) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD');
      return answer(ctx, 405, { status: 'method_not_allowed' });
    }
    if (ctx.path === HEALTH_PATH) return answer(ctx, 200, { status: 'ok' });
    const state = await readiness.check();
    if (state.ready) answer(ctx, 200, { status: 'ok' });
    else answer(ctx, 503, { status: 'unavailable', reason: state.reason });
  };
}
