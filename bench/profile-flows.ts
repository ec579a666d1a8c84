// `node --cpu-prof --cpu-prof-dir=DIR bench/profile-flows.ts`: only Tessera's sign-in flows (no
// baseline, no token load), to profile where a flow's server CPU goes.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/load.ts';
import { openServices } from '../src/services.ts';
import { createApp } from '../src/app.ts';
import { REDIRECT_URI } from '../test/support/flow.ts';
import { CONCURRENCY, measure, signInFlow } from './common.ts';

const FLOWS = Number(process.env.BENCH_FLOWS ?? 100);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'tessera-profile-'));
const server = http.createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const config = loadConfig({ env: { NODE_ENV: 'test', LOG_LEVEL: 'warn', ISSUER: issuer, TESSERA_DATA_DIR: tmp, COOKIE_KEYS: randomBytes(32).toString('base64url'), ENCRYPTION_KEY: randomBytes(32).toString('base64') } });
const services = await openServices(config, { owner: 'test' });
server.on('request', createApp(services).callback());
const user = { email: 'profile@example.com', password: 'Lantern#Passw0rd' };
await services.accounts.create({ ...user, deviceVerification: false });
const rp = await services.clients.create({ clientId: 'profile', redirectUris: [REDIRECT_URI], grants: ['refresh_token'], skipConsent: false });
const client = { id: 'profile', secret: rp.clientSecret! };
await measure(20, CONCURRENCY, async () => { await signInFlow(issuer, client, user); });
const result = await measure(FLOWS, CONCURRENCY, async () => { await signInFlow(issuer, client, user); });
console.log(`${FLOWS} flows: ${result.perSecond.toFixed(1)}/s, p50 ${result.p50.toFixed(1)} ms`);
server.closeAllConnections();
server.close();
await services.close();
rmSync(tmp, { recursive: true, force: true });
