// What both benchmarks share: a bounded load loop with latency percentiles, the token endpoint,
// one browser-less sign-in flow, and table printing. Loopback only; every loop has a fixed count.
import { createHash, randomBytes } from 'node:crypto';
import { UserAgent, REDIRECT_URI } from '../test/support/flow.ts';

export interface Result { perSecond: number; p50: number; p99: number }
export interface Party { id: string; secret: string }
export interface Credentials { email: string; password: string }

export const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);

export async function measure(total: number, concurrency: number, once: (worker: number) => Promise<void>): Promise<Result> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async (_, worker) => {
    while (next < total) {
      next++;
      const t0 = performance.now();
      await once(worker);
      latencies.push(performance.now() - t0);
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
  return { perSecond: total / seconds, p50: pct(0.5), p99: pct(0.99) };
}

export const basic = (p: Party) => `Basic ${Buffer.from(`${p.id}:${p.secret}`).toString('base64')}`;

export async function token(issuer: string, client: Party, body: Record<string, string>): Promise<Record<string, string>> {
  const res = await fetch(`${issuer}/token`, { method: 'POST', headers: { authorization: basic(client), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
  const json = await res.json() as Record<string, string>;
  if (!res.ok) throw new Error(`token endpoint: ${JSON.stringify(json)}`);
  return json;
}

export async function userinfo(issuer: string, accessToken: string): Promise<void> {
  const res = await fetch(`${issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  if (!res.ok) throw new Error(`userinfo: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

/** authorize → sign-in form → consent → code → token; returns the token response. */
export async function signInFlow(issuer: string, client: Party, user: Credentials, scope = 'openid', agent = new UserAgent(), extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const url = new URL('/auth', issuer);
  const params = { client_id: client.id, response_type: 'code', scope, redirect_uri: REDIRECT_URI, code_challenge: challenge, code_challenge_method: 'S256', ...(scope.includes('offline_access') ? { prompt: 'consent' } : {}), ...extra };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  let page = await agent.visit(url.href);
  page = await agent.submit(page, /\/login$/, { email: user.email, password: user.password });
  if (!page.url.startsWith(REDIRECT_URI)) page = await agent.submit(page, /\/confirm$/);
  const code = new URL(page.url).searchParams.get('code');
  if (!code) throw new Error(`no code: ${page.url}`);
  return token(issuer, client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier });
}

/** A browser that signed in before and signed out: it keeps only its device cookie. */
export async function signedOutBrowser(issuer: string, client: Party, user: Credentials): Promise<UserAgent> {
  const before = new UserAgent();
  await signInFlow(issuer, client, user, 'openid', before);
  const after = new UserAgent();
  for (const c of await before.jar.getCookies(issuer)) if (c.key.includes('tessera.device')) await after.jar.setCookie(c, issuer);
  return after;
}

/** Refresh requests on one rotation chain per worker (reusing a refresh token would revoke the grant). */
export async function refreshLoad(issuer: string, client: Party, user: Credentials, total: number): Promise<Result> {
  const chains = await Promise.all(Array.from({ length: CONCURRENCY }, async () => (await signInFlow(issuer, client, user, 'openid offline_access')).refresh_token!));
  return measure(total, CONCURRENCY, async (worker) => {
    const out = await token(issuer, client, { grant_type: 'refresh_token', refresh_token: chains[worker]! });
    chains[worker] = out.refresh_token!;
  });
}

export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [header, ...rows]) console.log(r.map((c, i) => (i ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  '));
}

export const fmt = (r: Result) => [r.perSecond.toFixed(1), `${r.p50.toFixed(1)} / ${r.p99.toFixed(1)}`];
