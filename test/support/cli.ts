// Runs the `tessera` admin command as a child process against a test instance's database and
// secrets, the way an operator would beside a running server.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ENV_VARS } from '../../src/config/schema.ts';
import type { Tessera } from './tessera.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

export function tesseraCli(t: Tessera, dataDir: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(ENV_VARS)) delete env[name];
  Object.assign(env, {
    NODE_ENV: 'test', MONGODB_URI: t.config.mongodbUri, ENCRYPTION_KEY: t.config.encryptionKey,
    COOKIE_KEYS: t.config.cookieKeys.join(','), TESSERA_DATA_DIR: dataDir, PASSWORD_MEMORY_COST_KIB: '4096',
  });
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['src/cli/main.ts', ...args], { cwd: ROOT, env });
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (d) => { out.stdout += d; });
    child.stderr.on('data', (d) => { out.stderr += d; });
    child.on('exit', (code) => resolve({ code, ...out }));
  });
}
