// `node bench/profile-flows.ts`: where a sign-in flow's server CPU goes. Tessera runs as its own
// process (`src/main.ts` under --cpu-prof, the embedded database beside it), the flows come from
// this one, so the profile holds the server's work only. Prints the flows' rate, the CPU each
// process spent per flow in the measured window (from /proc), the packages by self time and
// Tessera's functions by inclusive time; the .cpuprofile stays in the printed directory (open it in
// Chrome's DevTools). BENCH_FLOWS sets the number of measured flows (default 150).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/load.ts';
import { openServices } from '../src/services.ts';
import { REDIRECT_URI } from '../test/support/flow.ts';
import { CONCURRENCY, measure, signInFlow } from './common.ts';

const FLOWS = Number(process.env.BENCH_FLOWS ?? 150);
const ROOT = path.resolve(import.meta.dirname, '..');

const port = await new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const { port: p } = s.address() as net.AddressInfo;
    s.close(() => resolve(p));
  });
});
const data = mkdtempSync(path.join(os.tmpdir(), 'tessera-profile-'));
const profiles = path.join(data, 'profile');
const env = {
  NODE_ENV: 'test', LOG_LEVEL: 'warn', ISSUER: `http://127.0.0.1:${port}`, PORT: String(port), TESSERA_DATA_DIR: data,
  COOKIE_KEYS: randomBytes(32).toString('base64url'), ENCRYPTION_KEY: randomBytes(32).toString('base64'),
};
const server = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profiles}`, 'src/main.ts'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
for (let ready = false; !ready;) {
  await new Promise((r) => setTimeout(r, 250));
  if (server.exitCode !== null) throw new Error('the server stopped before it was ready');
  ready = await fetch(`${env.ISSUER}/healthz`).then((r) => r.ok, () => false);
}

const services = await openServices(loadConfig({ env }), { owner: 'cli' });
const user = { email: 'profile@example.com', password: 'Lantern#Passw0rd' };
await services.accounts.create({ ...user, deviceVerification: false });
const rp = await services.clients.create({ clientId: 'profile', redirectUris: [REDIRECT_URI], grants: ['refresh_token'], skipConsent: false });
await services.close();
const client = { id: 'profile', secret: rp.clientSecret! };
const database = (JSON.parse(readFileSync(path.join(data, 'ferretdb', 'instance.json'), 'utf8')) as { pid: number }).pid;

/** CPU milliseconds a process has used so far (user + system, /proc). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

await measure(30, CONCURRENCY, async () => { await signInFlow(env.ISSUER, client, user); });
const before = [cpuMs(server.pid!), cpuMs(database)];
const result = await measure(FLOWS, CONCURRENCY, async () => { await signInFlow(env.ISSUER, client, user); });
const after = [cpuMs(server.pid!), cpuMs(database)];
server.kill('SIGINT');
await exited;

console.log(`${FLOWS} sign-in flows (new browser, consent page) at concurrency ${CONCURRENCY}: ${result.perSecond.toFixed(1)}/s, p50 ${result.p50.toFixed(0)} ms`);
console.log(`CPU per flow: Tessera ${((after[0]! - before[0]!) / FLOWS).toFixed(1)} ms, embedded database ${((after[1]! - before[1]!) / FLOWS).toFixed(1)} ms`);

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
const file = readdirSync(profiles).find((f) => f.endsWith('.cpuprofile'))!;
const profile = JSON.parse(readFileSync(path.join(profiles, file), 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
const where = (url: string) => url.replace(/^.*node_modules\//, '').replace(`file://${ROOT}/`, '');
const packageOf = (url: string) => {
  const u = where(url);
  if (!u) return '(native code, GC)';
  if (u.startsWith('node:') || u.startsWith('src/')) return u.split('/').slice(0, 2).join('/');
  return u.split('/').slice(0, u.startsWith('@') ? 2 : 1).join('/');
};
const byPackage = new Map<string, number>();
for (const [id, ms] of self) {
  const n = nodes.get(id)!;
  if (n.callFrame.functionName === '(idle)') continue;
  const k = packageOf(n.callFrame.url);
  byPackage.set(k, (byPackage.get(k) ?? 0) + ms);
}
// inclusive time of Tessera's functions (a function on the stack twice counts once)
const inclusive = new Map<string, number>();
const walk = (id: number, open: Set<string>): number => {
  const n = nodes.get(id)!;
  const key = `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const mine = where(n.callFrame.url).startsWith('src/') && !open.has(key);
  if (mine) open.add(key);
  let ms = self.get(id) ?? 0;
  for (const c of n.children ?? []) ms += walk(c, open);
  if (mine) {
    open.delete(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + ms);
  }
  return ms;
};
walk(profile.nodes[0]!.id, new Set());
const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, ms]) => `  ${ms.toFixed(0).padStart(6)} ms  ${k}`).join('\n');
console.log(`Self time by package (the whole run, start-up included; idle left out):\n${top(byPackage, 15)}`);
console.log(`Tessera's functions by inclusive time (middleware includes what runs after it):\n${top(inclusive, 20)}`);
console.log(`Profile: ${path.join(profiles, file)}`);
