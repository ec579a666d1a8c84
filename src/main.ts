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
import { clusterMetrics, listenForMetrics, ownMetrics, shareWithPrimary } from './ops/metrics-http.ts';
import { shutDown } from './ops/shutdown.ts';
import { createLogger, lineLog, type Logger } from './ops/logger.ts';

// a start that fails (configuration, database) says so in one plain line on stderr, before or without the log
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

async function serve(config: Config, logger: Logger): Promise<void> {
  const services: Services = await openServices(config, { owner: 'server', log: lineLog(logger) });
  const app = createApp({ ...services, logger });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.port, () => resolve(s)).once('error', reject);
  });
  const who = cluster.isWorker ? `worker ${cluster.worker!.id} (pid ${process.pid})` : 'Tessera';
  logger.info(`${who} is listening: issuer ${config.issuer} (database: ${services.db.kind}${config.mongodbUri ? '' : ', embedded'})`);
  // METRICS_PORT: a listener of its own; a worker's metrics are served by the primary's, added up
  if (config.metrics.port !== undefined && cluster.isWorker) shareWithPrimary(services.metrics);
  const metricsListener = config.metrics.port !== undefined && !cluster.isWorker
    ? await listenForMetrics(ownMetrics(services.metrics), config.metrics.port, config.metrics.host) : undefined;
  if (metricsListener) logger.info(`metrics at http://${config.metrics.host}:${metricsListener.port}/metrics`);
  onStop(async (signal) => {
    if (!cluster.isWorker) logger.info(`${signal} received, shutting down`);
    // /readyz turns 503, the balancer drains the process, then requests in flight finish (ops/shutdown.ts)
    await shutDown({ server, readiness: services.readiness, drainSeconds: config.shutdownDrainSeconds, graceMs: config.shutdownGraceMs, close: () => services.close(),
      log: (line) => logger.warn(line.replace(/^tessera: /, '')) });
    await metricsListener?.close();
  });
}

async function primary(config: Config, logger: Logger): Promise<void> {
  const embedded = config.mongodbUri ? undefined : await launchEmbedded({
    dataDir: config.dataDir, owner: 'server', log: lineLog(logger), purgeIntervalSeconds: config.database.expiryPurgeIntervalSeconds,
  });
  if (embedded) {
    logger.warn('several workers on the embedded database: single-use checks are exact within one process only; use MongoDB for production');
  }
  const env = embedded ? { MONGODB_URI: embedded.uri } : {};
  let stopping = false;
  const fork = () => cluster.fork(env);
  cluster.on('exit', (worker, code) => {
    if (stopping) return;
    logger.error(`worker ${worker.id} exited (code ${code}); starting another`);
    fork();
  });
  for (let i = 0; i < config.workers; i++) fork();
  logger.info(`Tessera primary (pid ${process.pid}) started ${config.workers} workers`);
  const metricsListener = config.metrics.port !== undefined ? await listenForMetrics(clusterMetrics(), config.metrics.port, config.metrics.host) : undefined;
  if (metricsListener) logger.info(`metrics of every worker at http://${config.metrics.host}:${metricsListener.port}/metrics`);
  onStop(async (signal) => {
    stopping = true;
    logger.info(`${signal} received, shutting down ${config.workers} workers`);
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    await Promise.all(workers.map((w) => new Promise<void>((resolve) => { w.once('exit', () => resolve()); w.process.kill('SIGTERM'); })));
    await metricsListener?.close();
    await embedded?.stop();
  });
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config);
  if (cluster.isPrimary && config.workers > 1) await primary(config, logger);
  else await serve(config, logger);
}

main().catch(fail);
