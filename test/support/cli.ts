// Runs the `tessera` admin command as a child process against a test instance's database and
// secrets, the way an operator would beside a running server.
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { ENV_VARS } from '../../src/config/schema.ts';
import type { Tessera } from './tessera.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

// A test may start several commands at once: at most one per core runs, the rest wait their turn, so
// a busy machine (and the database they share) is not swamped by a burst of processes starting.
const MAX_RUNNING = Math.max(2, os.availableParallelism());
let running = 0;
const queue: (() => void)[] = [];
async function turn<T>(work: () => Promise<T>): Promise<T> {
  if (running >= MAX_RUNNING) await new Promise<void>((resolve) => queue.push(resolve));
  running++;
  try {
    return await work();
  } finally {
    running--;
    queue.shift()?.();
  }
}

/** Runs `tessera ...args` to its end (no time limit of its own: the test's timeout is the limit). */
export function tesseraCli(t: Tessera, dataDir: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(ENV_VARS)) delete env[name];
  Object.assign(env, {
    NODE_ENV: 'test', MONGODB_URI: t.config.mongodbUri, ENCRYPTION_KEY: t.config.encryptionKey,
    COOKIE_KEYS: t.config.cookieKeys.join(','), TESSERA_DATA_DIR: dataDir, PASSWORD_MEMORY_COST_KIB: '4096',
    // a busy machine may take longer than the 5 s default to answer a fresh connection: that is not the failure under test
    DB_SERVER_SELECTION_TIMEOUT_MS: '60000',
  });
  return turn(() => new Promise((resolve) => {
    const child = spawn(process.execPath, ['src/cli/main.ts', ...args], { cwd: ROOT, env });
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (d) => { out.stdout += d; });
    child.stderr.on('data', (d) => { out.stderr += d; });
    // 'close', not 'exit': the output is complete only once the streams have ended
    child.on('close', (code) => resolve({ code, ...out }));
    child.on('error', (err) => resolve({ code: null, stdout: out.stdout, stderr: `${out.stderr}could not run tessera: ${err.message}` }));
  }));
}
