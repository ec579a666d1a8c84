// `npm run bench`: browser-less sign-in flows/s and token-endpoint requests/s, with p50/p99
// latency, for Tessera and for a bare oidc-provider baseline on the same database server and hash
// parameters. Loopback only; every loop is bounded by a request count.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/load.ts';
import { launchEmbedded } from '../src/db/embedded.ts';
import { openServices } from '../src/services.ts';
import { createApp } from '../src/app.ts';
import { UserAgent, REDIRECT_URI } from '../test/support/flow.ts';
import { startBaseline } from './baseline.ts';

const FLOWS = Number(process.env.BENCH_FLOWS ?? 150);
const TOKEN_REQUESTS = Number(process.env.BENCH_TOKEN_REQUESTS ?? 600);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const USER = { email: 'bench@example.com', password: 'Bench#Passw0rd' };
const CLIENT = { id: 'bench', secret: randomBytes(24).toString('base64url') };
const MACHINE = { id: 'bench-machine', secret: randomBytes(24).toString('base64url') };

interface Result { perSecond: number; p50: number; p99: number }

async function measure(total: number, concurrency: number, once: (worker: number) => Promise<void>): Promise<Result> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async (_, worker) => {
    while (next < total) {
      next++;
      const t0 = performance.now();
      await once(worker);
      latencies.push(performance.now() - t0);
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
  return { perSecond: total / seconds, p50: pct(0.5), p99: pct(0.99) };
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function token(issuer: string, auth: string, body: Record<string, string>): Promise<Record<string, string>> {
  const res = await fetch(`${issuer}/token`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
  const json = await res.json() as Record<string, string>;
  if (!res.ok) throw new Error(`token endpoint: ${JSON.stringify(json)}`);
  return json;
}

/** authorize → sign-in form → consent → code → token; returns the token response. */
async function signInFlow(issuer: string, scope = 'openid'): Promise<Record<string, string>> {
  const agent = new UserAgent();
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const url = new URL('/auth', issuer);
  for (const [k, v] of Object.entries({ client_id: CLIENT.id, response_type: 'code', scope, redirect_uri: REDIRECT_URI, code_challenge: challenge, code_challenge_method: 'S256', ...(scope.includes('offline_access') ? { prompt: 'consent' } : {}) })) url.searchParams.set(k, v);
  let page = await agent.visit(url.href);
  page = await agent.submit(page, /\/login$/, USER);
  if (!page.url.startsWith(REDIRECT_URI)) page = await agent.submit(page, /\/confirm$/);
  const code = new URL(page.url).searchParams.get('code');
  if (!code) throw new Error(`no code: ${page.url}`);
  return token(issuer, basic(CLIENT.id, CLIENT.secret), { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier });
}

async function run(issuer: string): Promise<Record<string, Result>> {
  await signInFlow(issuer); // warm-up
  const flows = await measure(FLOWS, CONCURRENCY, async () => { await signInFlow(issuer); });
  const cc = await measure(TOKEN_REQUESTS, CONCURRENCY, async () => {
    await token(issuer, basic(MACHINE.id, MACHINE.secret), { grant_type: 'client_credentials' });
  });
  const chains = await Promise.all(Array.from({ length: CONCURRENCY }, async () => (await signInFlow(issuer, 'openid offline_access')).refresh_token!));
  // one rotation chain per worker: reusing a refresh token would (rightly) revoke the grant
  const refresh = await measure(TOKEN_REQUESTS, CONCURRENCY, async (worker) => {
    const out = await token(issuer, basic(CLIENT.id, CLIENT.secret), { grant_type: 'refresh_token', refresh_token: chains[worker]! });
    chains[worker] = out.refresh_token!;
  });
  return { 'sign-in flows': flows, 'client_credentials': cc, 'refresh_token': refresh };
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-'));
  const embedded = process.env.BENCH_MONGODB_URI ? undefined : await launchEmbedded({ dataDir: tmp, owner: 'test' });
  const serverUri = (process.env.BENCH_MONGODB_URI ?? embedded!.uri).replace(/\/[^/]*$/, '/');
  const suffix = randomBytes(4).toString('hex');

  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const config = loadConfig({ env: { NODE_ENV: 'test', ISSUER: `http://127.0.0.1:${port}`, MONGODB_URI: `${serverUri}bench_tessera_${suffix}`, TESSERA_DATA_DIR: tmp, COOKIE_KEYS: randomBytes(32).toString('base64url'), ENCRYPTION_KEY: randomBytes(32).toString('base64') } });
  const services = await openServices(config, { owner: 'test' });
  server.on('request', createApp({ config, provider: services.provider, accounts: services.accounts }).callback());
  await services.accounts.create(USER);
  const rp = await services.clients.create({ clientId: CLIENT.id, redirectUris: [REDIRECT_URI], grants: ['refresh_token'], skipConsent: false });
  const machine = await services.clients.create({ clientId: MACHINE.id, redirectUris: [], grants: ['client_credentials'] });
  CLIENT.secret = rp.clientSecret!;
  MACHINE.secret = machine.clientSecret!;

  const baseline = await startBaseline({
    mongodbUri: `${serverUri}bench_baseline_${suffix}`, password: config.password, ttl: config.ttl, user: USER,
    clients: [
      { client_id: CLIENT.id, client_secret: CLIENT.secret, redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] },
      { client_id: MACHINE.id, client_secret: MACHINE.secret, redirect_uris: [], grant_types: ['client_credentials'], response_types: [] },
    ],
  });

  try {
    console.log(`Database: ${services.db.kind}; argon2id ${config.password.memoryCostKiB} KiB, t=${config.password.timeCost}; concurrency ${CONCURRENCY}; ${FLOWS} flows, ${TOKEN_REQUESTS} token requests per kind`);
    const tessera = await run(config.issuer);
    const base = await run(baseline.issuer);
    const rows = Object.keys(tessera).map((name) => {
      const a = tessera[name]!;
      const b = base[name]!;
      return [name, a.perSecond.toFixed(1), `${a.p50.toFixed(1)} / ${a.p99.toFixed(1)}`, b.perSecond.toFixed(1), `${b.p50.toFixed(1)} / ${b.p99.toFixed(1)}`, (a.perSecond / b.perSecond).toFixed(2)];
    });
    const header = ['', 'tessera /s', 'p50 / p99 ms', 'baseline /s', 'p50 / p99 ms', 'ratio'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const r of [header, ...rows]) console.log(r.map((c, i) => (i ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  '));
  } finally {
    server.closeAllConnections();
    server.close();
    await baseline.close();
    await services.close();
    await embedded?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
