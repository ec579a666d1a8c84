// Graceful shutdown, the one path SIGTERM/SIGINT take (main.ts) and the tests drive: /readyz turns
// 503, the balancer gets SHUTDOWN_DRAIN_SECONDS to notice and send new requests elsewhere, then the
// server stops accepting, requests in flight finish (up to SHUTDOWN_GRACE_MS), and only then the
// services (database, embedded server) close. /healthz keeps answering 200 until the listener closes.
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readiness } from './health.ts';

export interface ShutdownDeps {
  server: Server;
  readiness: Readiness;
  /** How long the process keeps serving, not ready, before it stops accepting (SHUTDOWN_DRAIN_SECONDS). */
  drainSeconds: number;
  /** How long requests in flight may take once it stops accepting (SHUTDOWN_GRACE_MS). */
  graceMs: number;
  /** Closes what the requests used; runs after the last request. */
  close: () => Promise<void>;
  log?: (line: string) => void;
  /** Waits out the drain delay (tests hand in their own, to hold the process in it). */
  wait?: (ms: number) => Promise<void>;
}

export async function shutDown({ server, readiness, drainSeconds, graceMs, close, log = (line) => console.error(line), wait = (ms) => sleep(ms) }: ShutdownDeps): Promise<void> {
  readiness.beginShutdown();
  if (drainSeconds > 0) await wait(drainSeconds * 1000);
  await drain(server, graceMs, log);
  // only now, with no request left that could still read or write it
  await close();
}

/**
 * Stops accepting connections, closes idle keep-alive ones, and lets requests in flight finish
 * (their connections close after the response); after `graceMs` whatever is left is cut.
 */
async function drain(server: Server, graceMs: number, log: (line: string) => void): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([
    closed.then(() => false),
    new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), graceMs); }),
  ]);
  clearTimeout(timer);
  if (late) {
    log(`tessera: requests still running after ${graceMs} ms (SHUTDOWN_GRACE_MS); closing their connections`);
    server.closeAllConnections();
    await closed;
  }
}
