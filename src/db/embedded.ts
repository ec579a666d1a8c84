// The embedded development database: FerretDB v1 (SQLite backend) built from tools/ferretdb on first
// use into a cache outside git, with its data under <dataDir>/ferretdb. Used when no MONGODB_URI is set.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const SOURCE_DIR = path.resolve(import.meta.dirname, '../../tools/ferretdb');
/** Tessera's edits to FerretDB's own files, applied to a copy of its module at build time. */
const PATCHES_DIR = path.join(SOURCE_DIR, 'patches');
const DB_NAME = 'tessera';

export class EmbeddedDatabaseError extends Error {
  override name = 'EmbeddedDatabaseError';
}

export interface EmbeddedDatabase {
  uri: string;
  /** The FerretDB process id (the benchmark reads its CPU time). */
  pid: number;
  /** Stops the FerretDB process if this launcher started it; a shared instance is left running. */
  stop(): Promise<void>;
}

interface InstanceFile {
  pid: number;
  uri: string;
  owner: 'server' | 'cli' | 'test';
}

function cacheRoot(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'tessera');
}

/** Path of the FerretDB binary for the current source; builds it with Go if the cache lacks it. */
export function ensureFerretdbBinary(log: (line: string) => void = () => {}): string {
  const hash = createHash('sha256');
  const sources = readdirSync(SOURCE_DIR).filter((f) => f.endsWith('.go') || f === 'go.mod' || f === 'go.sum').sort();
  for (const f of sources) hash.update(f).update(readFileSync(path.join(SOURCE_DIR, f)));
  for (const f of readdirSync(PATCHES_DIR).sort()) hash.update(`patches/${f}`).update(readFileSync(path.join(PATCHES_DIR, f)));
  const dir = path.join(cacheRoot(), `ferretdb-v1.24.2-${hash.digest('hex').slice(0, 12)}`);
  const binary = path.join(dir, 'tessera-ferretdb');
  if (existsSync(binary)) return binary;

  const found = spawnSync('go', ['version'], { encoding: 'utf8' });
  const version = /go(\d+)\.(\d+)/.exec(found.stdout ?? '');
  if (found.error || !version || Number(version[1]) * 100 + Number(version[2]) < 124) {
    throw new EmbeddedDatabaseError(
      'The embedded database needs Go >= 1.24 to build FerretDB once (found: ' +
        (found.error ? 'no go command' : found.stdout.trim()) +
        '). Install Go >= 1.24, or set MONGODB_URI to a MongoDB server, or run `docker compose up`.',
    );
  }
  log(`Building the embedded database (FerretDB v1.24.2) into ${dir}; the first build takes a few minutes...`);
  mkdirSync(dir, { recursive: true });
  const tmp = `${binary}.${process.pid}.tmp`;
  const work = path.join(dir, `build.${process.pid}`);
  const env = { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-mod=mod' };
  const go = (cwd: string, args: string[]) => {
    const run = spawnSync('go', args, { cwd, env, encoding: 'utf8', maxBuffer: 16 << 20 });
    if (run.status !== 0) throw new EmbeddedDatabaseError(`Building FerretDB failed (go ${args.join(' ')}):\n${run.stderr}`);
    return run.stdout;
  };
  try {
    const module = JSON.parse(go(SOURCE_DIR, ['mod', 'download', '-json', 'github.com/FerretDB/FerretDB'])) as { Dir: string };
    const main = patchedSources(module.Dir, work);
    go(main, ['mod', 'edit', '-replace', 'github.com/FerretDB/FerretDB=../ferretdb']);
    go(main, ['build', '-o', tmp, '.']);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  renameSync(tmp, binary);
  return binary;
}

/**
 * Copies FerretDB's module to `<into>/ferretdb` with Tessera's edits (tools/ferretdb/patches/
 * patches.json) and the keeper's sources to `<into>/main`; returns the latter. An edit whose text
 * is not found exactly as often as it says stops the build.
 */
function patchedSources(moduleDir: string, into: string): string {
  const patches = JSON.parse(readFileSync(path.join(PATCHES_DIR, 'patches.json'), 'utf8')) as {
    add: Record<string, string>; edit: { file: string; find: string; replace: string; count: number }[];
  };
  const ferretdb = path.join(into, 'ferretdb');
  const main = path.join(into, 'main');
  cpSync(moduleDir, ferretdb, { recursive: true });
  // the module cache's copies are read-only (files and folders): made writable for the edits and the clean-up
  for (const entry of readdirSync(ferretdb, { recursive: true, withFileTypes: true })) {
    chmodSync(path.join(entry.parentPath, entry.name), entry.isDirectory() ? 0o755 : 0o644);
  }
  chmodSync(ferretdb, 0o755);
  mkdirSync(main, { recursive: true });
  for (const f of readdirSync(SOURCE_DIR)) if (f.endsWith('.go') || f === 'go.mod' || f === 'go.sum') copyFileSync(path.join(SOURCE_DIR, f), path.join(main, f));
  const write = (file: string, text: string) => writeFileSync(path.join(ferretdb, file), text);
  for (const [target, source] of Object.entries(patches.add)) write(target, readFileSync(path.join(PATCHES_DIR, source), 'utf8'));
  for (const { file, find, replace, count } of patches.edit) {
    const text = readFileSync(path.join(ferretdb, file), 'utf8');
    const found = text.split(find).length - 1;
    if (found !== count) throw new EmbeddedDatabaseError(`Building FerretDB failed: the edit of ${file} expects its text ${count} time(s), found ${found}`);
    write(file, text.split(find).join(replace));
  }
  return main;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function reachable(uri: string): Promise<boolean> {
  const { hostname, port } = new URL(uri);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    socket.setTimeout(1000);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
  });
}

async function liveInstance(file: string): Promise<InstanceFile | undefined> {
  if (!existsSync(file)) return undefined;
  try {
    const info = JSON.parse(readFileSync(file, 'utf8')) as InstanceFile;
    if (alive(info.pid) && (await reachable(info.uri))) return info;
  } catch { /* unreadable or stale: treated as absent */ }
  return undefined;
}

function startProcess(binary: string, dir: string, purgeSeconds: number, port: number): Promise<{ child: ChildProcess; uri: string }> {
  return new Promise((resolve, reject) => {
    // its standard input is a pipe this process holds until it ends, however it ends: the database
    // stops when the pipe closes (a crashed server leaves no orphan holding the data directory)
    const args = ['-dir', dir, '-listen', `127.0.0.1:${port}`, '-purge-interval', `${purgeSeconds}s`, '-exit-on-stdin-eof'];
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    // the pipe alone does not keep this process running
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    let stderr = '';
    let stdout = '';
    const timer = setTimeout(() => { child.kill(); reject(new EmbeddedDatabaseError('The embedded database did not start within 30 s')); }, 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.length > 65_536) stderr = stderr.slice(-16_384);
      if (process.env.TESSERA_FERRETDB_LOG) appendFileSync(process.env.TESSERA_FERRETDB_LOG, d);
    });
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /^READY (\S+)/m.exec(stdout);
      if (m) { clearTimeout(timer); resolve({ child, uri: m[1]!.replace(/\/?$/, `/${DB_NAME}`) }); }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new EmbeddedDatabaseError(`The embedded database exited (code ${code}): ${stderr.trim().split('\n').at(-1) ?? ''}`));
    });
  });
}

export interface LaunchOptions {
  dataDir: string;
  owner: InstanceFile['owner'];
  log?: (line: string) => void;
  /** How often the keeper deletes expired documents (config database.expiryPurgeIntervalSeconds). */
  purgeIntervalSeconds?: number;
  /** Listen on this port (default 0: any free one). Tests pin it to restart a stopped instance where clients expect it. */
  port?: number;
}

/**
 * Starts (or, for the CLI, joins) the embedded database for dataDir. A server never joins another
 * process's instance: it waits for a CLI's short-lived one to finish, and refuses to start twice.
 */
export async function launchEmbedded({ dataDir, owner, log = () => {}, purgeIntervalSeconds = 60, port = 0 }: LaunchOptions): Promise<EmbeddedDatabase> {
  const root = path.join(dataDir, 'ferretdb');
  const stateFile = path.join(root, 'instance.json');
  mkdirSync(root, { recursive: true });

  for (let waited = 0; ; waited += 250) {
    const existing = await liveInstance(stateFile);
    if (!existing) break;
    if (owner === 'cli') return { uri: existing.uri, pid: existing.pid, stop: async () => {} };
    if (existing.owner === 'server') {
      throw new EmbeddedDatabaseError(`Another Tessera server (pid ${existing.pid}) is already using the embedded database in ${root}`);
    }
    if (waited > 30_000) throw new EmbeddedDatabaseError(`The embedded database in ${root} stayed busy (pid ${existing.pid})`);
    await sleep(250);
  }

  const binary = ensureFerretdbBinary(log);
  const { child, uri } = await startProcess(binary, path.join(root, 'db'), purgeIntervalSeconds, port);
  writeFileSync(stateFile, JSON.stringify({ pid: child.pid!, uri, owner } satisfies InstanceFile));
  child.removeAllListeners('exit');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    uri,
    pid: child.pid!,
    async stop() {
      try {
        const info = JSON.parse(readFileSync(stateFile, 'utf8')) as InstanceFile;
        if (info.pid === child.pid) rmSync(stateFile, { force: true });
      } catch { /* already gone */ }
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
