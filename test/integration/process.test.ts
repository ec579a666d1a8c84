// The two commands a newcomer runs, as real processes: `npm start` on a fresh embedded database,
// the CLI beside it, and clear failures for bad configuration.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ENV_VARS } from '../../src/config/schema.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(ENV_VARS)) delete env[name];
  // a generous database connection wait: on a busy machine a fresh connection can take longer than the 5 s default
  return { ...env, NODE_ENV: 'development', PASSWORD_MEMORY_COST_KIB: '4096', DB_SERVER_SELECTION_TIMEOUT_MS: '60000', SHUTDOWN_DRAIN_SECONDS: '0', ...extra };
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    // 'close', not 'exit': the output is complete only once the streams have ended
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Whether a process with this id runs (an exited one its new parent has not reaped yet does not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; output:\n${out}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) { clearTimeout(timer); resolve(m[0]); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited with ${code}:\n${out}`)); });
  });
}

describe('running Tessera as a process', function () {
  this.timeout(120_000);
  let dataDir: string;

  beforeEach(() => { dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-proc-')); });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('starts on a fresh embedded database, serves discovery, shares it with the CLI and stops cleanly', async () => {
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const env = cleanEnv({ TESSERA_DATA_DIR: dataDir, PORT: String(port), ISSUER: issuer });
    const server = spawn(process.execPath, ['src/main.ts'], { cwd: ROOT, env });
    try {
      const line = await waitForLine(server, /Tessera is listening: issuer \S+/, 60_000);
      assert.ok(line.includes(issuer), 'prints the issuer URL');
      const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
      assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
      assert.ok(existsSync(path.join(dataDir, 'secrets.json')), 'development secrets generated once');

      const created = await run(['src/cli/main.ts', 'user', 'create', '--email', 'cli@example.com', '--password', 'Tide#Harbour7Lantern', '--json'], env);
      assert.equal(created.code, 0, created.stderr);
      assert.equal(JSON.parse(created.stdout).email, 'cli@example.com');
      const updated = await run(['src/cli/main.ts', 'user', 'update', '--email', 'cli@example.com', '--given-name', 'Ada', '--locale', 'en-GB', '--country', 'GB', '--json'], env);
      assert.equal(updated.code, 0, updated.stderr);
      assert.deepEqual(JSON.parse(updated.stdout).profile, { givenName: 'Ada', locale: 'en-GB', address: { country: 'GB' } });
      const client = await run(['src/cli/main.ts', 'client', 'create', '--client-id', 'app', '--redirect-uri', 'http://127.0.0.1:9/cb', '--pkce', 'optional', '--json'], env);
      assert.equal(client.code, 0, client.stderr);
      const { client_id, client_secret } = JSON.parse(client.stdout) as { client_id: string; client_secret: string };
      assert.equal(client_id, 'app');
      assert.ok(client_secret.length >= 32);

      // the running server sees the client the CLI just created (pkce optional: no verifier needed)
      const res = await fetch(`${issuer}/token`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`app:${client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=authorization_code&code=x&redirect_uri=http://127.0.0.1:9/cb' });
      assert.equal(((await res.json()) as { error: string }).error, 'invalid_grant', 'client authenticated; only the code is wrong');
    } finally {
      server.kill('SIGTERM');
    }
    const code = await new Promise((resolve) => server.once('exit', resolve));
    assert.equal(code, 0);
    assert.ok(!existsSync(path.join(dataDir, 'ferretdb', 'instance.json')), 'embedded database stopped with the server');

    const list = await run(['src/cli/main.ts', 'user', 'list', '--json'], cleanEnv({ TESSERA_DATA_DIR: dataDir }));
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout).users.map((u: { email: string }) => u.email), ['cli@example.com'], 'data persisted; CLI starts the database itself');
  });

  it('a server killed without warning (SIGKILL, out of memory) leaves no database running: the next start works', async () => {
    const port = await freePort();
    const env = cleanEnv({ TESSERA_DATA_DIR: dataDir, PORT: String(port), ISSUER: `http://127.0.0.1:${port}` });
    const first = spawn(process.execPath, ['src/main.ts'], { cwd: ROOT, env });
    await waitForLine(first, /Tessera is listening/, 60_000);
    const { pid } = JSON.parse(readFileSync(path.join(dataDir, 'ferretdb', 'instance.json'), 'utf8')) as { pid: number };
    const killed = new Promise((resolve) => first.once('exit', resolve));
    first.kill('SIGKILL');
    await killed;
    // the embedded database stops by itself: its launcher's pipe closed (polled, up to a minute)
    for (let waited = 0; alive(pid) && waited < 60_000; waited += 200) await new Promise((r) => setTimeout(r, 200));
    assert.equal(alive(pid), false, 'the embedded database of the killed server stopped');
    const second = spawn(process.execPath, ['src/main.ts'], { cwd: ROOT, env });
    try {
      await waitForLine(second, /Tessera is listening/, 60_000);
      const discovery = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`);
      assert.equal(discovery.status, 200);
    } finally {
      second.kill('SIGTERM');
    }
    assert.equal(await new Promise((resolve) => second.once('exit', resolve)), 0);
  });

  it('exits non-zero with one clear line when MONGODB_URI cannot be reached', async () => {
    const result = await run(['src/main.ts'], cleanEnv({ TESSERA_DATA_DIR: dataDir, MONGODB_URI: 'mongodb://127.0.0.1:1/tessera', DB_SERVER_SELECTION_TIMEOUT_MS: '1000', PORT: '0' }));
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^tessera: Cannot connect to the database at mongodb:\/\/127\.0\.0\.1:1\/tessera \(MONGODB_URI\)/m);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });

  it('names the setting when the configuration is invalid', async () => {
    for (const [name, value, message] of [
      ['MONGODB_URI', 'http://db', /MONGODB_URI \(mongodbUri\): must start with mongodb:\/\//],
      ['PORT', 'eighty', /PORT must be a whole number/],
      ['ISSUER', 'not a url', /ISSUER \(issuer\)/],
    ] as const) {
      const result = await run(['src/main.ts'], cleanEnv({ TESSERA_DATA_DIR: dataDir, [name]: value }));
      assert.equal(result.code, 1, `${name}=${value} exits 1`);
      assert.match(result.stderr.trim(), message);
      assert.equal(result.stderr.trim().split('\n').length, 1, 'one line');
    }
    const prod = await run(['src/main.ts'], cleanEnv({ TESSERA_DATA_DIR: dataDir, NODE_ENV: 'production' }));
    assert.equal(prod.code, 1);
    assert.match(prod.stderr, /COOKIE_KEYS is required when NODE_ENV=production/);
  });

  it('answers CLI misuse with a usage line, exit 2, and writes nothing', async () => {
    const env = cleanEnv({ TESSERA_DATA_DIR: dataDir });
    for (const args of [['frobnicate'], ['user', 'create', '--email', 'x@example.com'], ['user', 'create', '--bogus'], ['client', 'create', '--client-id', 'x', '--grant', 'password'], ['client', 'create', '--client-id', 'x', '--redirect-uri', 'https://a.example/cb', '--pkce', 'maybe']]) {
      const result = await run(['src/cli/main.ts', ...args], env);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /usage: tessera/);
    }
    const weak = await run(['src/cli/main.ts', 'user', 'create', '--email', 'x@example.com', '--password', 'short'], env);
    assert.equal(weak.code, 1);
    assert.match(weak.stderr, /the password needs/);
    const common = await run(['src/cli/main.ts', 'user', 'create', '--email', 'x@example.com', '--password', 'Password1!'], env);
    assert.equal(common.code, 1, 'a password from the common/breached lists is refused');
    assert.match(common.stderr, /the password is too common or too easy to guess/);
    const badProfile = await run(['src/cli/main.ts', 'user', 'create', '--email', 'x@example.com', '--password', 'Tide#Harbour7Lantern', '--zoneinfo', 'Mars/Olympus'], env);
    assert.equal(badProfile.code, 1);
    assert.match(badProfile.stderr, /zoneinfo "Mars\/Olympus" is not a time zone/);
    const list = await run(['src/cli/main.ts', 'user', 'list', '--json'], env);
    assert.deepEqual(JSON.parse(list.stdout).users, []);
    const clients = await run(['src/cli/main.ts', 'client', 'list', '--json'], env);
    assert.deepEqual(JSON.parse(clients.stdout).clients, []);
  });
});
