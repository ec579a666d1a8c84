// `npm run bench`: browser-less sign-in flows/s and token-endpoint requests/s, with p50/p99
// latency, for Tessera and for a bare oidc-provider baseline on the same database server and hash
// parameters, plus the database operations one flow and one token request cost.
// `npm run bench -- --scale`: the same figures on an empty and on a seeded database (bench/scale.ts).
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/load.ts';
import { launchEmbedded } from '../src/db/embedded.ts';
import { openServices } from '../src/services.ts';
import { createApp } from '../src/app.ts';
import { REDIRECT_URI } from '../test/support/flow.ts';
import { startBaseline } from './baseline.ts';
import { CONCURRENCY, fmt, measure, printTable, refreshLoad, signedOutBrowser, signInFlow, token, type Result } from './common.ts';
import { compareWrongPasswords } from './wrong-passwords.ts';
import { floodComparison } from './flood.ts';
import { runScale } from './scale.ts';

const FLOWS = Number(process.env.BENCH_FLOWS ?? 150);
const TOKEN_REQUESTS = Number(process.env.BENCH_TOKEN_REQUESTS ?? 600);
const USER = { email: 'bench@example.com', password: 'Lantern#Passw0rd' };
const CLIENT = { id: 'bench', secret: randomBytes(24).toString('base64url') };
const MACHINE = { id: 'bench-machine', secret: randomBytes(24).toString('base64url') };

// Two kinds of sign-in flow from a new browser: with the consent page on both sides
// (prompt=consent), and a repeat sign-in with the consent kept on both sides (Tessera keeps it on
// the account, the bare provider in its memory): no consent page.
const CONSENT_PAGE = { prompt: 'consent' };

async function run(issuer: string, share = 1): Promise<Record<string, Result>> {
  const flows = await measure(Math.ceil(FLOWS * share), CONCURRENCY, async () => { await signInFlow(issuer, CLIENT, USER, 'openid', undefined, CONSENT_PAGE); });
  const repeat = await measure(Math.ceil(FLOWS * share), CONCURRENCY, async () => { await signInFlow(issuer, CLIENT, USER); });
  const cc = await measure(Math.ceil(TOKEN_REQUESTS * share), CONCURRENCY, async () => { await token(issuer, MACHINE, { grant_type: 'client_credentials' }); });
  const refresh = await refreshLoad(issuer, CLIENT, USER, Math.ceil(TOKEN_REQUESTS * share));
  return { 'sign-in flows, consent page on both': flows, 'repeat sign-ins, consent kept on both': repeat, 'client_credentials': cc, 'refresh_token': refresh };
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-'));
  const embedded = process.env.BENCH_MONGODB_URI ? undefined : await launchEmbedded({ dataDir: tmp, owner: 'test' });
  const serverUri = (process.env.BENCH_MONGODB_URI ?? embedded!.uri).replace(/\/[^/]*$/, '/');
  try {
    if (process.argv.includes('--scale')) {
      await runScale({ serverUri, dataDir: tmp, databasePid: embedded?.pid });
      return;
    }
    await compareWithBaseline(serverUri, tmp);
  } finally {
    await embedded?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function compareWithBaseline(serverUri: string, tmp: string): Promise<void> {
  // RISK_FAILURE_VELOCITY none: after the flood (flood.ts) the owner's own sign-in is timed as it
  // was before it; with the default, the adaptive sign-in rightly asks for a code then (an extra step, not a slower one)
  const suffix = randomBytes(4).toString('hex');
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const config = loadConfig({ env: { NODE_ENV: 'test', LOG_LEVEL: 'warn', ISSUER: `http://127.0.0.1:${port}`, MONGODB_URI: `${serverUri}bench_tessera_${suffix}`, TESSERA_DATA_DIR: tmp, COOKIE_KEYS: randomBytes(32).toString('base64url'), ENCRYPTION_KEY: randomBytes(32).toString('base64'), LOCKOUT_IP_AFTER: '100000', RISK_FAILURE_VELOCITY: 'none' } });
  const services = await openServices(config, { owner: 'test', monitorCommands: process.env.BENCH_NO_MONITOR ? false : true });
  server.on('request', createApp(services).callback());
  await services.accounts.create({ ...USER, deviceVerification: false }); // every flow is a new browser: a service account
  const rp = await services.clients.create({ clientId: CLIENT.id, redirectUris: [REDIRECT_URI], grants: ['refresh_token'], skipConsent: false });
  const machine = await services.clients.create({ clientId: MACHINE.id, redirectUris: [], grants: ['client_credentials'] });
  CLIENT.secret = rp.clientSecret!;
  MACHINE.secret = machine.clientSecret!;

  const baseline = await startBaseline({
    mongodbUri: `${serverUri}bench_baseline_${suffix}`, password: config.password, ttl: config.ttl, user: USER, clientCacheSeconds: config.clients.cacheSeconds,
    clients: [
      { client_id: CLIENT.id, client_secret: CLIENT.secret, redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] },
      { client_id: MACHINE.id, client_secret: MACHINE.secret, redirect_uris: [], grant_types: ['client_credentials'], response_types: [] },
    ],
  });

  try {
    console.log(`Database: ${services.db.kind}; argon2id ${config.password.memoryCostKiB} KiB, t=${config.password.timeCost}; concurrency ${CONCURRENCY}; ${FLOWS} flows, ${TOKEN_REQUESTS} token requests per kind`);
    if (!process.env.BENCH_NO_MONITOR) await printOperationCounts(services, config.issuer, baseline);
    await compareWrongPasswords(services, config.issuer, CLIENT.id, USER);
    await floodComparison(services, config.issuer, CLIENT);
    // BENCH_ONLY=work: the database commands and the wrong-password medians, no throughput runs
    if (process.env.BENCH_ONLY === 'work') return;
    // both run in this process and share oidc-provider's code: warm both before measuring either
    await run(config.issuer, 0.2);
    await run(baseline.issuer, 0.2);
    const tessera = await run(config.issuer);
    const base = await run(baseline.issuer);
    printTable(['', 'tessera /s', 'p50 / p99 ms', 'baseline /s', 'p50 / p99 ms', 'ratio'], Object.keys(tessera).map((name) => {
      const a = tessera[name]!;
      const b = base[name]!;
      return [name, ...fmt(a), ...fmt(b), (a.perSecond / b.perSecond).toFixed(2)];
    }));
  } finally {
    server.closeAllConnections();
    server.close();
    await baseline.close();
    await services.close();
  }
}

/** Database commands per operation, by kind (find, update, insert, delete). */
async function printOperationCounts(services: Awaited<ReturnType<typeof openServices>>, issuer: string, baseline: Awaited<ReturnType<typeof startBaseline>>): Promise<void> {
  let client = services.db.connection.getClient();
  const count = async (label: string, work: () => Promise<unknown>) => {
    const seen: Record<string, number> = {};
    const listener = (e: { commandName: string }) => { seen[e.commandName] = (seen[e.commandName] ?? 0) + 1; };
    client.on('commandStarted', listener);
    try { await work(); } finally { client.off('commandStarted', listener); }
    const total = Object.values(seen).reduce((a, b) => a + b, 0);
    console.log(`  ${label}: ${total} database commands (${Object.entries(seen).map(([k, v]) => `${k} ${v}`).join(', ')})`);
  };
  await signInFlow(issuer, CLIENT, USER); // warm caches, as in steady state
  console.log('Database commands per operation:');
  await count('sign-in flow with consent from a new browser (authorize → password → consent → code → token; prompt=consent, as a first sign-in to the application)', () => signInFlow(issuer, CLIENT, USER, 'openid', undefined, CONSENT_PAGE));
  // an application the person never allowed (its client read once beforehand, as in steady state)
  const app = await services.clients.create({ clientId: 'bench-new-app', redirectUris: [REDIRECT_URI], grants: [], skipConsent: false });
  await fetch(`${issuer}/auth?client_id=${app.clientId}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT_URI)}`, { redirect: 'manual' });
  await count('a first sign-in to an application from a new browser (the consent page, then the consent kept)', () => signInFlow(issuer, { id: app.clientId, secret: app.clientSecret! }, USER));
  await count('a repeat sign-in from a new browser (the consent kept: authorize → password → code → token)', () => signInFlow(issuer, CLIENT, USER));
  const known = await signedOutBrowser(issuer, CLIENT, USER);
  await count('a sign-in from a known browser (signed out, its device cookie kept; the consent kept)', () => signInFlow(issuer, CLIENT, USER, 'openid', known));
  await count('client_credentials token', () => token(issuer, MACHINE, { grant_type: 'client_credentials' }));
  const { refresh_token: rt, access_token: at } = await signInFlow(issuer, CLIENT, USER, 'openid offline_access');
  await count('refresh_token rotation', () => token(issuer, CLIENT, { grant_type: 'refresh_token', refresh_token: rt! }));
  await count('userinfo', () => fetch(`${issuer}/me`, { headers: { authorization: `Bearer ${at}` } }).then((r) => r.arrayBuffer()));
  client = baseline.db.connection.getClient();
  await signInFlow(baseline.issuer, CLIENT, USER);
  await count('for reference, the bare provider: the same sign-in flow with consent', () => signInFlow(baseline.issuer, CLIENT, USER, 'openid', undefined, CONSENT_PAGE));
  await count('for reference, the bare provider: a repeat sign-in, the consent kept (its least for any sign-in: it has no devices)', () => signInFlow(baseline.issuer, CLIENT, USER));
}

await main();
