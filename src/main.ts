// Process entry: config → database → app → listen, and a graceful shutdown on SIGINT/SIGTERM.
import type { Server } from 'node:http';
import { loadConfig } from './config/load.ts';
import { openServices, type Services } from './services.ts';
import { createApp } from './app.ts';

function fail(err: unknown): never {
  const known = err instanceof Error && /Error$/.test(err.name) && err.name !== 'Error' && err.name !== 'TypeError';
  console.error(`tessera: ${known ? (err as Error).message : String((err as Error)?.stack ?? err)}`);
  process.exit(1);
}

async function main(): Promise<void> {
  const config = loadConfig();
  const services: Services = await openServices(config, { owner: 'server', log: (line) => console.log(line) });
  const app = createApp({ config, provider: services.provider, accounts: services.accounts });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.port, () => resolve(s)).once('error', reject);
  });
  console.log(`Tessera is listening: issuer ${config.issuer} (database: ${services.db.kind}${config.mongodbUri ? '' : ', embedded'})`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`tessera: ${signal} received, shutting down`);
    server.close();
    server.closeAllConnections();
    await services.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch(fail);
