// Starts a real Tessera on a real port against the run's database, the way main.ts does, so tests
// exercise the whole stack. Each instance gets its own database unless one is passed in.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { openServices, type Services } from '../../src/services.ts';
import { createApp } from '../../src/app.ts';
import { createLogger, lineLog, type DestinationStream } from '../../src/ops/logger.ts';
import { databaseServerUri } from './hooks.ts';

export interface Tessera {
  issuer: string;
  config: Config;
  services: Services;
  server: http.Server;
  /** The Koa callback, for supertest. */
  callback: http.RequestListener;
  close(): Promise<void>;
}

export interface TesseraOptions {
  database?: string;
  /** Same secrets as an earlier instance (restart scenarios). */
  secrets?: { cookieKeys: string[]; encryptionKey: string };
  port?: number;
  env?: Record<string, string>;
  /** Issuer http://localhost:<port> (WebAuthn refuses an IP address as relying-party id). */
  localhost?: boolean;
  /** Issuer https://127.0.0.1:<port> behind a (simulated) TLS proxy: TRUST_PROXY on, requests send X-Forwarded-Proto. */
  httpsIssuer?: boolean;
  /** Tessera's own clock (codes, device trust, progress); the provider's token lifetimes keep real time. */
  clock?: () => Date;
  /** Receives the services' own log lines (failed notices, events); default: dropped. */
  serviceLog?: (line: string) => void;
  /** Waits between attempts to send a device notice (default: the real 2 s, 10 s). */
  noticeRetryDelayMs?: (attempt: number) => number;
  /** Receives every logged 5xx (default: printed). */
  log?: (err: unknown, ctx: import('koa').Context) => void;
  /**
   * Receives the server's whole log (ops/logger.ts: request lines, 5xx, the services' lines unless
   * serviceLog is given) instead of stdout; its level is LOG_LEVEL (here: error unless env sets it).
   */
  logDestination?: DestinationStream;
  /** The database layer's test hooks: write faults (db.faults), MongoDB's guard lines on the embedded server. */
  testDatabase?: { faults?: boolean; guardsInServer?: boolean };
  /** Changes settings that have no environment variable (the settings file's, e.g. ttl.*) before the services start. */
  settings?: (config: Config) => void;
}

export function freshDatabaseName(prefix = 't'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export async function startTessera(options: TesseraOptions = {}): Promise<Tessera> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const secrets = options.secrets ?? { cookieKeys: [randomBytes(32).toString('base64url')], encryptionKey: randomBytes(32).toString('base64') };
  const config = loadConfig({
    env: {
      NODE_ENV: 'test',
      ISSUER: `${options.httpsIssuer ? 'https' : 'http'}://${options.localhost ? 'localhost' : '127.0.0.1'}:${port}`,
      ...(options.httpsIssuer ? { TRUST_PROXY: 'true' } : {}),
      PORT: String(port),
      MONGODB_URI: `${databaseServerUri()}${options.database ?? freshDatabaseName()}`,
      TESSERA_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'tessera-data-')),
      COOKIE_KEYS: secrets.cookieKeys.join(','),
      ENCRYPTION_KEY: secrets.encryptionKey,
      PASSWORD_MEMORY_COST_KIB: '4096',
      // the suite's output stays what it was: failures only, no line per request
      LOG_LEVEL: 'error',
      ...options.env,
    },
  });
  options.settings?.(config);
  // with a log destination the services' lines and the 5xx go to that log too; otherwise as before
  const logger = options.logDestination ? createLogger(config, options.logDestination) : undefined;
  const serviceLog = options.serviceLog ?? (logger ? lineLog(logger) : undefined);
  const log = options.log ?? (logger ? undefined : (err: unknown) => console.error('    [tessera 500]', err));
  const services = await openServices(config, { owner: 'test', allowPrivateFetch: true, monitorCommands: true, ...(options.clock ? { clock: options.clock } : {}),
    ...(serviceLog ? { log: serviceLog } : {}), ...(options.noticeRetryDelayMs ? { noticeRetryDelayMs: options.noticeRetryDelayMs } : {}),
    ...(options.testDatabase ? { testDatabase: options.testDatabase } : {}) }).catch((err: unknown) => {
    server.close();
    throw err;
  });
  const app = createApp({ ...services, ...(logger ? { logger } : {}), ...(log ? { log } : {}) });
  const callback = app.callback();
  server.on('request', callback);
  return {
    issuer: config.issuer, config, services, server, callback,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await services.close();
    },
  };
}
