// Process entry: config → database → app → listen, and a graceful shutdown on SIGINT/SIGTERM.
// With WORKERS > 1 this process is the cluster primary: it starts the embedded database (when no
// MONGODB_URI is set) and forks the workers, which share the port and keep state only in the database.
import cluster from 'node:cluster';
import type { Server } from 'node:http';
import { loadConfig } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { openServices, type Services } from './services.ts';
import { launchEmbedded } from './db/embedded.ts';
import { createApp } from './app.ts';

function fail(err: unknown): never {
  const known = err instanceof Error && /Error$/.test(err.name) && err.name !== 'Error' && err.name !== 'TypeError';
  console.error(`tessera: ${known ? (err as Error).message : String((err as Error)?.stack ?? err)}`);
  process.exit(1);
}

function onStop(stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const once = (signal: string) => {
    if (stopping) return;
    stopping = true;
    void stop(signal).then(() => process.exit(0), fail);
  };
  process.once('SIGINT', () => once('SIGINT'));
  process.once('SIGTERM', () => once('SIGTERM'));
}

/**
 * Stops accepting connections, closes idle keep-alive ones, and lets requests in flight finish
 * (their connections close after the response); after `graceMs` whatever is left is cut.
 */
async function drain(server: Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([
    closed.then(() => false),
    new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), graceMs); }),
  ]);
  clearTimeout(timer);
  if (late) {
    console.error(`tessera: requests still running after ${graceMs} ms (SHUTDOWN_GRACE_MS); closing their connections`);
    server.closeAllConnections();
    await closed;
  }
}

async function serve(config: Config): Promise<void> {
  const services: Services = await openServices(config, { owner: 'server', log: (line) => console.log(line) });
  const app = createApp(services);
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.port, () => resolve(s)).once('error', reject);
  });
  const who = cluster.isWorker ? `worker ${cluster.worker!.id} (pid ${process.pid})` : 'Tessera';
  console.log(`${who} is listening: issuer ${config.issuer} (database: ${services.db.kind}${config.mongodbUri ? '' : ', embedded'})`);
  onStop(async (signal) => {
    if (!cluster.isWorker) console.log(`tessera: ${signal} received, shutting down`);
    await drain(server, config.shutdownGraceMs);
    // only now, with no request left that could still read or write it
    await services.close();
  });
}

async function primary(config: Config): Promise<void> {
  const embedded = config.mongodbUri ? undefined : await launchEmbedded({
    dataDir: config.dataDir, owner: 'server', log: (line) => console.log(line), purgeIntervalSeconds: config.database.expiryPurgeIntervalSeconds,
  });
  if (embedded) {
    console.log('tessera: several workers on the embedded database: single-use checks are exact within one process only; use MongoDB for production');
  }
  const env = embedded ? { MONGODB_URI: embedded.uri } : {};
  let stopping = false;
  const fork = () => cluster.fork(env);
  cluster.on('exit', (worker, code) => {
    if (stopping) return;
    console.error(`tessera: worker ${worker.id} exited (code ${code}); starting another`);
    fork();
  });
  for (let i = 0; i < config.workers; i++) fork();
  console.log(`Tessera primary (pid ${process.pid}) started ${config.workers} workers`);
  onStop(async (signal) => {
    stopping = true;
    console.log(`tessera: ${signal} received, shutting down ${config.workers} workers`);
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    await Promise.all(workers.map((w) => new Promise<void>((resolve) => { w.once('exit', () => resolve()); w.process.kill('SIGTERM'); })));
    await embedded?.stop();
  });
}

async function main(): Promise<void> {
  const config = loadConfig();
  if (cluster.isPrimary && config.workers > 1) await primary(config);
  else await serve(config);
}

main().catch(fail);
