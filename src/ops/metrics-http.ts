// How Prometheus reads the metrics (metrics.ts): `/metrics` on the main port behind a bearer token
// (METRICS_TOKEN), or on its own listener (METRICS_PORT, bound to METRICS_HOST, loopback by
// default) that needs none; with neither set nothing serves them. Both answer for any Host header
// (a scraper addresses the pod, not the issuer). With WORKERS > 1 the primary's listener adds up
// every worker's registry (prom-client's AggregatorRegistry). Also: the HTTP duration middleware.
import { createHash, timingSafeEqual } from 'node:crypto';
import cluster from 'node:cluster';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context, Next } from 'koa';
import client from 'prom-client';
import type { Metrics } from './metrics.ts';
import { routeOf } from './request-log.ts';

export const METRICS_PATH = '/metrics';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Whether the Authorization header carries exactly `Bearer <token>` (constant time: equal-length digests). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/i.exec(header ?? '');
  return timingSafeEqual(digest(match?.[1] ?? ''), digest(token)) && !!match;
}

/**
 * Times every request (outermost, so an error thrown past every handler still counts as the
 * status it becomes), labelled by the route template the log line names (request-log.ts routeOf:
 * "/interaction/:uid", the provider's "/token", "unmatched"), never the raw path.
 */
export function httpMetrics(metrics: Metrics) {
  return async (ctx: Context, next: Next) => {
    const start = process.hrtime.bigint();
    let status: number | undefined;
    try {
      await next();
    } catch (err) {
      const thrown = (err as { status?: unknown }).status;
      status = typeof thrown === 'number' ? thrown : 500;
      throw err;
    } finally {
      metrics.httpRequest(ctx.method, routeOf(ctx), status ?? ctx.status, Number(process.hrtime.bigint() - start) / 1e9);
    }
  };
}

/**
 * `/metrics` on the main port: only with a token (without one it passes on, and nothing answers
 * it: 404). Placed before the issuer-origin check, so any Host header is answered.
 */
export function metricsEndpoint(metrics: Metrics, token: string | undefined) {
  return async (ctx: Context, next: Next) => {
    if (ctx.path !== METRICS_PATH || !token) return next();
    ctx.set('Cache-Control', 'no-store');
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD');
      ctx.status = 405;
      ctx.body = 'Method not allowed: read the metrics with GET.\n';
      return;
    }
    if (!bearerMatches(ctx.get('authorization'), token)) {
      ctx.set('WWW-Authenticate', 'Bearer realm="tessera-metrics"');
      ctx.status = 401;
      ctx.body = 'The metrics need the bearer token set in METRICS_TOKEN (Authorization: Bearer <token>).\n';
      return;
    }
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  };
}

export interface MetricsListener {
  port: number;
  close(): Promise<void>;
}

/** A listener of its own that serves only GET /metrics (no token: it is bound to a private address). */
export async function listenForMetrics(read: () => Promise<{ type: string; body: string }>, port: number, host: string): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== METRICS_PATH) { res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not found: the metrics are at /metrics.\n'); return; }
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('Method not allowed.\n'); return; }
    read().then(
      ({ type, body }) => { res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body); },
      (err: Error) => { res.writeHead(503, { 'Content-Type': 'text/plain' }).end(`The metrics could not be read (${err.name}).\n`); },
    );
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** This process's own registry, as the separate listener serves it. */
export const ownMetrics = (metrics: Metrics) => async () => ({ type: metrics.registry.contentType, body: await metrics.registry.metrics() });

/** A cluster worker: answer the primary's requests for this registry (prom-client's IPC protocol). */
export function shareWithPrimary(metrics: Metrics): void {
  if (!cluster.isWorker) return;
  new client.AggregatorRegistry();
  client.AggregatorRegistry.setRegistries([metrics.registry]);
}

/** The cluster primary: every worker's metrics, added up (counters summed, histograms merged). */
export function clusterMetrics() {
  const aggregator = new client.AggregatorRegistry();
  return async () => ({ type: aggregator.contentType, body: await aggregator.clusterMetrics() });
}
