// `node bench/trace.ts`: the database commands of one sign-in flow, request by request (which
// collection, which command), to see where a flow's database work goes.
import { randomBytes, createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/load.ts';
import { openServices } from '../src/services.ts';
import { createApp } from '../src/app.ts';
import { REDIRECT_URI, UserAgent } from '../test/support/flow.ts';
import { basic } from './common.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tessera-trace-'));
const server = http.createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const config = loadConfig({ env: { NODE_ENV: 'test', LOG_LEVEL: 'warn', ISSUER: issuer, TESSERA_DATA_DIR: tmp, COOKIE_KEYS: randomBytes(32).toString('base64url'), ENCRYPTION_KEY: randomBytes(32).toString('base64') } });
const services = await openServices(config, { owner: 'test', monitorCommands: true });
server.on('request', createApp(services).callback());
const USER = { email: 'trace@example.com', password: 'Lantern#Passw0rd' };
await services.accounts.create({ ...USER, deviceVerification: process.argv.includes('--verify') });
const rp = await services.clients.create({ clientId: 'trace', redirectUris: [REDIRECT_URI], grants: ['refresh_token'], skipConsent: false });

let seen: string[] = [];
const started = new Map<number, string>();
const CRUD = ['find', 'update', 'delete', 'findAndModify', 'insert', 'count', 'aggregate'];
services.db.connection.getClient().on('commandStarted', (e: { commandName: string; requestId: number; command: Record<string, unknown> }) => {
  if (CRUD.includes(e.commandName)) started.set(e.requestId, `${e.commandName} ${String(e.command[e.commandName])}`);
});
// each command with the time the server took to answer it (as the driver saw it)
services.db.connection.getClient().on('commandSucceeded', (e: { requestId: number; duration: number }) => {
  const name = started.get(e.requestId);
  if (name) seen.push(`${name} (${e.duration.toFixed(1)} ms)`);
  started.delete(e.requestId);
});
class Traced extends UserAgent {
  override async request(url: string, init: { method?: string; form?: Record<string, string> } = {}) {
    seen = [];
    const page = await super.request(url, init);
    await new Promise((r) => setTimeout(r, 150));
    console.log(`${init.form ? 'POST' : 'GET '} ${new URL(url).pathname} → ${page.status}: ${seen.length}\n    ${seen.join('\n    ')}`);
    total += seen.length;
    return page;
  }
}
let total = 0;
async function flow(agent: UserAgent, extra: Record<string, string> = {}) {
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL('/auth', issuer);
  for (const [k, v] of Object.entries({ client_id: 'trace', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT_URI, code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', ...extra })) url.searchParams.set(k, v);
  let page = await agent.visit(url.href);
  // the sign-in page's script in a browser with WebAuthn asks for passkey options (signed, not stored: 0 commands)
  const passkeyOptions = /data-options-url="([^"]+)"/.exec(page.body)?.[1];
  if (passkeyOptions) await agent.request(new URL(passkeyOptions, issuer).href, { form: { _csrf: /name="_csrf" value="([^"]+)"/.exec(page.body)![1]! } });
  page = await agent.submit(page, /\/login$/, USER);
  if (!page.url.startsWith(REDIRECT_URI) && /\/confirm"/.test(page.body)) page = await agent.submit(page, /\/confirm$/);
  const code = new URL(page.url).searchParams.get('code');
  if (!code) { console.log(page.body.slice(0, 300)); return; }
  seen = [];
  await fetch(`${issuer}/token`, { method: 'POST', headers: { authorization: basic({ id: 'trace', secret: rp.clientSecret! }), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }) });
  await new Promise((r) => setTimeout(r, 150));
  console.log(`POST /token: ${seen.length}\n    ${seen.join('\n    ')}`);
  total += seen.length;
}
const warm = new UserAgent();
for (let i = 0; i < Number(process.env.TRACE_WARM ?? 1); i++) await flow(i ? new UserAgent() : warm);
// prompt=consent: the consent page, as at a first sign-in to the application
console.log('=== new browser, consent page ===');
total = 0;
await flow(new Traced(), { prompt: 'consent' });
console.log(`TOTAL ${total}`);
console.log('=== new browser, consent kept ===');
total = 0;
await flow(new Traced());
console.log(`TOTAL ${total}`);
console.log('=== known browser, signed out ===');
total = 0;
// the same browser signed out: its device cookie only
const known = new Traced();
for (const c of await warm.jar.getCookies(issuer)) if (c.key.includes('tessera.device')) await known.jar.setCookie(c, issuer);
await flow(known);
console.log(`TOTAL ${total}`);
server.closeAllConnections();
server.close();
await services.close();
rmSync(tmp, { recursive: true, force: true });
