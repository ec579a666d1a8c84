// Health and readiness (issue 23): /healthz and /readyz answer a probe with any Host header, cheaply
// and uncached; /readyz is 503 while the database is stopped and 200 again when it returns (same
// process), and 503 from the start of a graceful shutdown while /healthz stays 200.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ENV_VARS } from '../../src/config/schema.ts';
import { launchEmbedded, type EmbeddedDatabase } from '../../src/db/embedded.ts';
import { shutDown } from '../../src/ops/shutdown.ts';
import { databaseServerUri } from '../support/hooks.ts';
import { eventually } from '../support/mail.ts';
import { freshDatabaseName, startTessera, type Tessera } from '../support/tessera.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** The Host a kubelet or balancer sends when it probes the pod's own address. */
const POD_HOST = '10.42.7.19:3000';

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: string; ms: number }

/** One request on its own connection, with the Host header given (fetch would not let us set it). */
function probe(base: string, pathname: string, { host, method = 'GET' }: { host?: string; method?: string } = {}): Promise<Answer> {
  const url = new URL(pathname, base);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, headers: host ? { host } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, ms: Math.round(performance.now() - started) }));
    });
    req.once('error', reject);
    req.end();
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as net.AddressInfo; s.close(() => resolve(port)); });
  });
}

describe('health and readiness', function () {
  this.timeout(60_000);

  describe('the probes', () => {
    let t: Tessera;
    before(async () => { t = await startTessera(); });
    after(async () => { await t?.close(); });

    it('answers /healthz and /readyz for the pod\'s address as Host, uncached, without cookies', async () => {
      for (const pathname of ['/healthz', '/readyz']) {
        const res = await probe(t.issuer, pathname, { host: POD_HOST });
        assert.equal(res.status, 200, `${pathname}: ${res.body}`);
        assert.deepEqual(JSON.parse(res.body), { status: 'ok' });
        assert.match(String(res.headers['content-type']), /^application\/json/);
        assert.equal(res.headers['cache-control'], 'no-store');
        assert.equal(res.headers['set-cookie'], undefined, 'no session is made for a probe');
        const head = await probe(t.issuer, pathname, { host: POD_HOST, method: 'HEAD' });
        assert.equal(head.status, 200);
        assert.equal(head.body, '');
      }
      // the issuer-origin check still guards everything else
      assert.equal((await probe(t.issuer, '/.well-known/openid-configuration', { host: POD_HOST })).status, 421);
    });

    it('refuses other methods with 405 and Allow', async () => {
      const res = await probe(t.issuer, '/readyz', { method: 'POST' });
      assert.equal(res.status, 405);
      assert.equal(res.headers.allow, 'GET, HEAD');
    });
  });

  describe('the database stops and returns', () => {
    // a long selection timeout: only the readiness timeout can make /readyz answer quickly
    const SELECTION_MS = 20_000;
    const READINESS_MS = 300;
    let dataDir: string;
    let db: EmbeddedDatabase;
    let t: Tessera;

    before(async () => {
      // a database server of this file's own: stopping it harms no other test
      dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-health-'));
      db = await launchEmbedded({ dataDir, owner: 'test' });
      t = await startTessera({ env: {
        MONGODB_URI: db.uri.replace(/\/[^/]*$/, '/health'), DB_SERVER_SELECTION_TIMEOUT_MS: String(SELECTION_MS), READINESS_DB_TIMEOUT_MS: String(READINESS_MS),
      } });
    });
    after(async () => {
      await t?.close();
      await db?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('/readyz is 503 (database) within its timeout while the database is stopped, and 200 again when it returns, without a restart', async () => {
      assert.equal((await probe(t.issuer, '/readyz')).status, 200);
      const port = Number(new URL(db.uri).port);
      await db.stop();

      const down = await probe(t.issuer, '/readyz', { host: POD_HOST });
      assert.equal(down.status, 503, down.body);
      assert.deepEqual(JSON.parse(down.body), { status: 'unavailable', reason: 'database' });
      assert.equal(down.headers['cache-control'], 'no-store');
      assert.ok(down.ms < SELECTION_MS / 2, `answered in ${down.ms} ms: bounded by READINESS_DB_TIMEOUT_MS (${READINESS_MS}), not the ${SELECTION_MS} ms selection timeout`);
      // probes arriving together while it is down: each answers, none hangs
      const together = await Promise.all([1, 2, 3].map(() => probe(t.issuer, '/readyz')));
      assert.deepEqual(together.map((r) => r.status), [503, 503, 503]);
      for (const r of together) assert.ok(r.ms < SELECTION_MS / 2, `answered in ${r.ms} ms`);
      assert.equal((await probe(t.issuer, '/healthz')).status, 200, 'the process itself still serves');

      db = await launchEmbedded({ dataDir, owner: 'test', port });
      const back = await eventually(async () => { const r = await probe(t.issuer, '/readyz'); return r.status === 200 && r; }, '/readyz to answer 200 once the database is back', 30_000);
      assert.deepEqual(JSON.parse(back.body), { status: 'ok' });
      console.log(`      database down: /readyz answered 503 in ${down.ms} ms, then ${together.map((r) => r.ms).join(', ')} ms (READINESS_DB_TIMEOUT_MS ${READINESS_MS})`);
    });
  });

  describe('graceful shutdown', () => {
    it('turns /readyz 503 first while /healthz and the pages keep answering, then stops accepting', async () => {
      const t = await startTessera();
      let release!: () => void;
      const held = new Promise<void>((resolve) => { release = resolve; });
      let drainAsked: number | undefined;
      // the same function SIGTERM runs (main.ts), held in its drain delay until the test lets go
      const stopped = shutDown({
        server: t.server, readiness: t.services.readiness, drainSeconds: 7, graceMs: 5_000, close: () => t.services.close(),
        wait: (ms) => { drainAsked = ms; return held; },
      });
      try {
        assert.equal(drainAsked, 7_000, 'waits SHUTDOWN_DRAIN_SECONDS');
        const ready = await probe(t.issuer, '/readyz', { host: POD_HOST });
        assert.equal(ready.status, 503);
        assert.deepEqual(JSON.parse(ready.body), { status: 'unavailable', reason: 'shutting_down' });
        const live = await probe(t.issuer, '/healthz', { host: POD_HOST });
        assert.equal(live.status, 200);
        assert.equal((await probe(t.issuer, '/.well-known/openid-configuration')).status, 200, 'requests still routed here are served during the drain');
      } finally {
        release();
      }
      await stopped;
      await assert.rejects(probe(t.issuer, '/healthz'), /ECONNREFUSED/, 'the listener is closed once the drain is over');
    });

    it('SIGTERM takes that path: /readyz 503 and /healthz 200 during the drain', async () => {
      const port = await freePort();
      const issuer = `http://127.0.0.1:${port}`;
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-health-proc-'));
      const env: NodeJS.ProcessEnv = { ...process.env };
      for (const name of Object.keys(ENV_VARS)) delete env[name];
      const child = spawn(process.execPath, ['src/main.ts'], { cwd: ROOT, env: {
        ...env, NODE_ENV: 'development', PORT: String(port), ISSUER: issuer, TESSERA_DATA_DIR: dataDir,
        MONGODB_URI: `${databaseServerUri()}${freshDatabaseName('health')}`, DB_SERVER_SELECTION_TIMEOUT_MS: '30000',
        // long enough that the test, not the clock, ends it
        SHUTDOWN_DRAIN_SECONDS: '120',
      } });
      let out = '';
      const listening = new Promise<void>((resolve, reject) => {
        const onData = (d: Buffer) => { out += d.toString(); if (/Tessera is listening/.test(out)) resolve(); };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        child.once('exit', (code) => reject(new Error(`exited with ${code} before listening:\n${out}`)));
      });
      try {
        await listening;
        assert.equal((await probe(issuer, '/readyz')).status, 200);
        child.kill('SIGTERM');
        const ready = await eventually(async () => { const r = await probe(issuer, '/readyz'); return r.status !== 200 && r; }, '/readyz to turn 503 after SIGTERM');
        assert.equal(ready.status, 503);
        assert.deepEqual(JSON.parse(ready.body), { status: 'unavailable', reason: 'shutting_down' });
        assert.equal((await probe(issuer, '/healthz')).status, 200, 'still alive while draining');
      } finally {
        // the drain would last SHUTDOWN_DRAIN_SECONDS; the database is the run's shared server, nothing to clean up in it
        child.kill('SIGKILL');
        await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once('exit', resolve)));
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
});
