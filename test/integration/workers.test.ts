// Several Tessera processes on one database: state lives only there, so a sign-in started on one
// process continues on another, as behind a load balancer; and `WORKERS=2 npm start` runs two
// workers on one port.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { ENV_VARS } from '../../src/config/schema.ts';
import { loadConfig } from '../../src/config/load.ts';
import { openServices } from '../../src/services.ts';
import { databaseServerUri } from '../support/hooks.ts';
import { freshDatabaseName } from '../support/tessera.ts';
import { RelyingParty, UserAgent, signIn, REDIRECT_URI } from '../support/flow.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

function startProcess(env: Record<string, string>): { child: ChildProcess; ready: Promise<string>; output: () => string } {
  const clean = { ...process.env };
  for (const name of Object.keys(ENV_VARS)) delete clean[name];
  const child = spawn(process.execPath, ['src/main.ts'], { cwd: ROOT, env: { ...clean, PASSWORD_MEMORY_COST_KIB: '4096', SHUTDOWN_DRAIN_SECONDS: '0', ...env } });
  let out = '';
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const wanted = Number(env.WORKERS ?? 1);
      const lines = out.match(/is listening: issuer \S+/g) ?? [];
      if (lines.length >= wanted) resolve(out);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited with ${code}:\n${out}`)));
  });
  return { child, ready, output: () => out };
}

const stopped = (child: ChildProcess) => new Promise<number | null>((resolve) => {
  if (child.exitCode !== null) resolve(child.exitCode);
  else child.once('exit', (code) => resolve(code));
});

/** A round-robin load balancer: request n goes to backend n mod 2; counts what each served. */
async function roundRobin(ports: number[]) {
  const served = ports.map(() => 0);
  let n = 0;
  const server = http.createServer((req, res) => {
    const i = n++ % ports.length;
    served[i]!++;
    const upstream = http.request({ host: '127.0.0.1', port: ports[i], method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode!, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, served, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

const freePort = () => new Promise<number>((resolve) => {
  const s = http.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as AddressInfo; s.close(() => resolve(port)); });
});

describe('several Tessera processes on one database', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  after(async () => {
    for (const c of children) if (c.exitCode === null) { c.kill('SIGTERM'); await stopped(c); }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const tmp = () => { const d = mkdtempSync(path.join(os.tmpdir(), 'tessera-workers-')); dirs.push(d); return d; };

  it('continues a sign-in on another process: every request alternates between two processes', async () => {
    const ports = [await freePort(), await freePort()];
    const balancer = await roundRobin(ports);
    const env = {
      NODE_ENV: 'test', ISSUER: `http://127.0.0.1:${balancer.port}`, MONGODB_URI: `${databaseServerUri()}${freshDatabaseName('workers')}`,
      COOKIE_KEYS: randomBytes(32).toString('base64url'), ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    };
    try {
      const procs = ports.map((port) => startProcess({ ...env, PORT: String(port), TESSERA_DATA_DIR: tmp() }));
      children.push(...procs.map((p) => p.child));
      await Promise.all(procs.map((p) => p.ready));

      // the operator's side: same database and ENCRYPTION_KEY, as the CLI would use
      const services = await openServices(loadConfig({ env: { ...env, TESSERA_DATA_DIR: tmp(), PASSWORD_MEMORY_COST_KIB: '4096' } }), { owner: 'test' });
      const user = { email: 'lb@example.com', password: 'Correct#Horse1' };
      const account = await services.accounts.create({ ...user, deviceVerification: false });
      const client = await services.clients.create({ clientId: 'lb-rp', redirectUris: [REDIRECT_URI], grants: ['refresh_token'] });
      await services.close();

      const rp = await RelyingParty.discover(env.ISSUER, client.clientId, client.clientSecret);
      const agent = new UserAgent();
      const auth = await rp.authorize({ scope: 'openid offline_access', prompt: 'consent' });
      const tokens = await rp.tokens(await signIn(agent, auth.url, user), auth);
      assert.equal(tokens.claims()!.sub, account.id);
      const refreshed = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!);
      assert.equal((await oidc.fetchUserInfo(rp.config, refreshed.access_token, account.id)).sub, account.id);
      // the browser's session, made on one process, lets the other answer prompt=none silently
      for (let i = 0; i < 2; i++) {
        const silent = await agent.visit((await rp.authorize({ prompt: 'none', scope: 'openid' })).url);
        assert.ok(new URL(silent.url).searchParams.get("code"), `silent sign-in ${i} succeeded: ${silent.status} ${silent.url} ${silent.body.slice(0, 300)}`);
      }
      assert.ok(balancer.served.every((n) => n >= 5), `both processes served the flow: ${balancer.served.join(' / ')}`);
    } finally {
      await balancer.close();
    }
  });

  it('runs WORKERS=2 on one port with the embedded database and stops them all on SIGTERM', async () => {
    const port = await freePort();
    const proc = startProcess({ NODE_ENV: 'development', WORKERS: '2', PORT: String(port), ISSUER: `http://127.0.0.1:${port}`, TESSERA_DATA_DIR: tmp() });
    children.push(proc.child);
    const out = await proc.ready;
    assert.match(out, /started 2 workers/);
    assert.equal((out.match(/worker \d+ \(pid \d+\) is listening/g) ?? []).length, 2);
    const discovery = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`);
    assert.equal(discovery.status, 200);
    proc.child.kill('SIGTERM');
    assert.equal(await stopped(proc.child), 0);
    assert.match(proc.output(), /shutting down 2 workers/);
  });
});
