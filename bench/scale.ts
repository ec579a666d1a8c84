// `npm run bench -- --scale`: Tessera as its own process on an empty database, then on one seeded
// with 100,000 accounts and 100,000 live tokens (written directly, one shared password hash), and
// the figures side by side: throughput, p50/p99, server CPU per operation and the share spent in
// the database process, and the server's RSS. The seeded run signs in an account created last.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { loadConfig } from '../src/config/load.ts';
import { ENV_VARS } from '../src/config/schema.ts';
import { openServices, type Services } from '../src/services.ts';
import { createPasswordHasher } from '../src/accounts/password.ts';
import { REDIRECT_URI } from '../test/support/flow.ts';
import { CONCURRENCY, fmt, measure, printTable, refreshLoad, signInFlow, token, userinfo, type Credentials, type Party, type Result } from './common.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const ACCOUNTS = Number(process.env.BENCH_SEED_ACCOUNTS ?? 100_000);
const TOKENS = Number(process.env.BENCH_SEED_TOKENS ?? 100_000);
const FLOWS = Number(process.env.BENCH_FLOWS ?? 200);
const REQUESTS = Number(process.env.BENCH_TOKEN_REQUESTS ?? 600);

/** user + system CPU milliseconds of a process so far (Linux /proc; clock ticks of 10 ms). */
function cpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

interface Phase { result: Result; cpuPerOp: number; dbShare: number }

async function phase(pids: { server: number; db?: number }, count: number, load: () => Promise<Result>): Promise<Phase> {
  const s0 = cpuMs(pids.server);
  const d0 = cpuMs(pids.db);
  const result = await load();
  const server = cpuMs(pids.server) - s0;
  const db = cpuMs(pids.db) - d0;
  return { result, cpuPerOp: (server + db) / count, dbShare: server + db ? db / (server + db) : 0 };
}

async function startServer(env: Record<string, string>): Promise<ChildProcess> {
  const clean = { ...process.env };
  for (const name of Object.keys(ENV_VARS)) delete clean[name];
  const child = spawn(process.execPath, ['src/main.ts'], { cwd: ROOT, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => { out += d.toString(); if (out.includes('is listening')) resolve(); };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`Tessera exited (${code}):\n${out}`)));
  });
  return child;
}

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function measureAll(issuer: string, pids: { server: number; db?: number }, rp: Party, machine: Party, user: Credentials) {
  await signInFlow(issuer, rp, user); // warm-up
  const flows = await phase(pids, FLOWS, () => measure(FLOWS, CONCURRENCY, async () => { await signInFlow(issuer, rp, user); }));
  const cc = await phase(pids, REQUESTS, () => measure(REQUESTS, CONCURRENCY, async () => { await token(issuer, machine, { grant_type: 'client_credentials' }); }));
  const refresh = await phase(pids, REQUESTS, () => refreshLoad(issuer, rp, user, REQUESTS));
  const { access_token: at } = await signInFlow(issuer, rp, user);
  const info = await phase(pids, REQUESTS, () => measure(REQUESTS, CONCURRENCY, () => userinfo(issuer, at!)));
  return { 'sign-in flows': flows, client_credentials: cc, refresh_token: refresh, userinfo: info, rss: rssMiB(pids.server) };
}

async function seed(services: Services, passwordHash: string): Promise<void> {
  const { connection } = services.db;
  const now = new Date();
  const exp = new Date(now.getTime() + 3_600_000);
  const batch = 1000;
  for (let done = 0; done < ACCOUNTS; done += batch) {
    const accounts = [];
    const emails = [];
    for (let i = done; i < Math.min(ACCOUNTS, done + batch); i++) {
      const id = randomUUID();
      const email = `seed-${i}@example.com`;
      accounts.push({ _id: id, email, emailNormalized: email, emailVerified: false, name: `Seed ${i}`, passwordHash, role: 'user', disabled: false, createdAt: now, updatedAt: now });
      emails.push({ _id: email, accountId: id });
    }
    await connection.collection('accounts').insertMany(accounts as never[], { ordered: false });
    await connection.collection('account_emails').insertMany(emails as never[], { ordered: false });
  }
  const iat = Math.floor(now.getTime() / 1000);
  for (let done = 0; done < TOKENS; done += batch) {
    const cc = [];
    const at = [];
    for (let i = done; i < Math.min(TOKENS, done + batch); i += 2) {
      const a = randomBytes(32).toString('base64url');
      const b = randomBytes(32).toString('base64url');
      cc.push({ _id: a, payload: { jti: a, kind: 'ClientCredentials', clientId: 'bench-machine', iat, exp: iat + 3600 }, expiresAt: exp });
      at.push({ _id: b, payload: { jti: b, kind: 'AccessToken', clientId: 'bench', accountId: randomUUID(), grantId: randomBytes(32).toString('base64url'), scope: 'openid', iat, exp: iat + 3600 }, expiresAt: exp });
    }
    await connection.collection('oidc_client_credentials').insertMany(cc as never[], { ordered: false });
    await connection.collection('oidc_access_token').insertMany(at as never[], { ordered: false });
  }
}

export async function runScale({ serverUri, dataDir, databasePid }: { serverUri: string; dataDir: string; databasePid?: number }): Promise<void> {
  const port = await freePort();
  const env = {
    NODE_ENV: 'test', PORT: String(port), ISSUER: `http://127.0.0.1:${port}`, MONGODB_URI: `${serverUri}bench_scale_${randomBytes(4).toString('hex')}`,
    TESSERA_DATA_DIR: dataDir, COOKIE_KEYS: randomBytes(32).toString('base64url'), ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  };
  const config = loadConfig({ env });
  const services = await openServices(config, { owner: 'test' });
  const server = await startServer(env);
  try {
    const early = { email: 'early@example.com', password: 'Lantern#Passw0rd' };
    await services.accounts.create({ ...early, deviceVerification: false });
    const rp = await services.clients.create({ clientId: 'bench', redirectUris: [REDIRECT_URI], grants: ['refresh_token'] });
    const machine = await services.clients.create({ clientId: 'bench-machine', redirectUris: [], grants: ['client_credentials'] });
    const parties = { rp: { id: rp.clientId, secret: rp.clientSecret! }, machine: { id: machine.clientId, secret: machine.clientSecret! } };
    const pids = { server: server.pid!, db: databasePid };
    console.log(`Database: ${services.db.kind}; concurrency ${CONCURRENCY}; ${FLOWS} flows, ${REQUESTS} requests per token kind; seed ${ACCOUNTS} accounts + ${TOKENS} live tokens`);

    const empty = await measureAll(config.issuer, pids, parties.rp, parties.machine, early);
    const t0 = performance.now();
    await seed(services, await createPasswordHasher(config.password).hash('Seed#Passw0rd1'));
    console.log(`Seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const late = { email: 'late@example.com', password: 'Lantern#Passw0rd' };
    await services.accounts.create({ ...late, deviceVerification: false });
    const seeded = await measureAll(config.issuer, pids, parties.rp, parties.machine, late);

    const rows = (['sign-in flows', 'client_credentials', 'refresh_token', 'userinfo'] as const).map((name) => {
      const a = empty[name];
      const b = seeded[name];
      return [name, ...fmt(a.result), `${a.cpuPerOp.toFixed(1)} (${(a.dbShare * 100).toFixed(0)}%)`, ...fmt(b.result), `${b.cpuPerOp.toFixed(1)} (${(b.dbShare * 100).toFixed(0)}%)`,
        (b.result.perSecond / a.result.perSecond).toFixed(2), (b.result.p50 / a.result.p50).toFixed(2)];
    });
    printTable(['', 'empty /s', 'p50 / p99 ms', 'CPU ms/op (db)', 'seeded /s', 'p50 / p99 ms', 'CPU ms/op (db)', 'rate ratio', 'p50 ratio'], rows);
    console.log(`Server RSS: ${empty.rss.toFixed(0)} MiB empty, ${seeded.rss.toFixed(0)} MiB seeded`);
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    await services.close();
  }
}
