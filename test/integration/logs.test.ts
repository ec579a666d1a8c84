// The server's log (README "Logs"): captured while a real sign-in with a second factor runs through
// HTTP, the real OIDC client, the code exchange, userinfo and a refresh, it holds one line per
// request (request id, route template, status, duration) and not one password, code, token,
// cookie value, client secret or email address; an incoming X-Request-Id is echoed and carried by
// the lines written for its request; LOG_LEVEL and LOG_FORMAT are honoured.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { generate } from 'otplib';
import * as oidc from 'openid-client';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, REDIRECT_URI } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/ops/logger.ts';

interface Line { level: number; msg: string; reqId?: string; method?: string; route?: string; status?: number; ms?: number; [key: string]: unknown }

/** A log destination that keeps what Tessera writes: the raw text and the parsed lines. */
function capture(): Writable & { text: () => string; lines: () => Line[] } {
  const chunks: string[] = [];
  const stream = new Writable({ write(chunk: Buffer | string, _encoding, done) { chunks.push(chunk.toString()); done(); } });
  return Object.assign(stream, {
    text: () => chunks.join(''),
    lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line),
  });
}

/** Records the X-Request-Id and status of every response Tessera gives while `work` runs (the agent's and openid-client's fetches alike). */
async function responsesDuring<T>(issuer: string, work: () => Promise<T>): Promise<{ result: T; responses: { id: string; status: number; path: string }[] }> {
  const responses: { id: string; status: number; path: string }[] = [];
  const original = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const res = await original(input, init);
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin === issuer) responses.push({ id: res.headers.get('x-request-id') ?? '', status: res.status, path: url.pathname });
    return res;
  };
  try {
    return { result: await work(), responses };
  } finally {
    globalThis.fetch = original;
  }
}

/** Asks for a password reset code for `email` from a fresh sign-in page, sending `requestId` with the request that asks. */
async function askResetCode(t: Tessera, email: string, requestId: string) {
  const rp = await RelyingParty.register(t, { skipConsent: true });
  const agent = new UserAgent();
  const login = await agent.visit((await rp.authorize()).url);
  const forgot = await agent.visit(new URL(/href="(\/interaction\/[^"]+\/forgot)"/.exec(login.body)![1]!, t.issuer).href);
  agent.headers['x-request-id'] = requestId;
  return agent.submit(forgot, /\/forgot$/, { email });
}

describe('the server log', () => {
  const log = capture();
  let t: Tessera;

  before(async () => {
    // a mail server that refuses connections: a code that cannot be sent is logged (and carries its request's id)
    t = await startTessera({ logDestination: log, env: { LOG_LEVEL: 'info', SMTP_URL: 'smtp://127.0.0.1:9' } });
  });
  after(() => t?.close());

  it('has one line per request and no secret of a sign-in with an authenticator app, the code exchange, userinfo and a refresh', async () => {
    const user = await createUser(t, { email: `logs-${Date.now()}@example.com`, password: 'Quiet#Harbour42' });
    const { secret } = await t.services.totp.begin(user.id, user.email);
    const step = Math.floor(Date.now() / 30_000);
    assert.ok(await t.services.totp.confirm(user.id, await generate({ secret, epoch: step * 30 })));
    const rp = await RelyingParty.register(t);
    const agent = new UserAgent();
    const from = log.text().length;

    const { result, responses } = await responsesDuring(t.issuer, async () => {
      // the email also goes into the authorization URL's query, as login_hint: it must not reach the log from there
      const auth = await rp.authorize({ acr_values: 'urn:tessera:acr:mfa', scope: 'openid email profile offline_access', prompt: 'consent', login_hint: user.email });
      let page = await agent.visit(auth.url);
      page = await agent.submit(page, /\/login$/, { email: user.email, password: user.password });
      assert.match(page.body, /authenticator app/, 'the second factor is asked for');
      const code = await generate({ secret, epoch: (step + 1) * 30 });
      page = await agent.submit(page, /\/factor$/, { code });
      if (!page.url.startsWith(REDIRECT_URI)) page = await agent.submit(page, /\/confirm$/);
      assert.ok(page.url.startsWith(REDIRECT_URI), `reached the application: ${page.status} ${page.url}`);
      const tokens = await rp.tokens(page.url, auth);
      const claims = tokens.claims()!;
      const info = await oidc.fetchUserInfo(rp.config, tokens.access_token, claims.sub);
      assert.equal(info.email, user.email);
      const refreshed = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!);
      return { auth, callback: page.url, code, tokens, refreshed };
    });

    const text = log.text().slice(from);
    if (process.env.LOGS_DEBUG) console.log(text);
    const cookies = (await agent.jar.getCookies(t.issuer)).map((c) => c.value).filter((v) => v.length >= 8);
    assert.ok(cookies.length >= 2, 'the browser holds session cookies');
    const secrets: Record<string, string> = {
      password: user.password,
      'app code': result.code,
      'authorization code': new URL(result.callback).searchParams.get('code')!,
      'access token': result.tokens.access_token,
      'id token': result.tokens.id_token!,
      'refresh token': result.tokens.refresh_token!,
      'refreshed access token': result.refreshed.access_token,
      'refreshed refresh token': result.refreshed.refresh_token!,
      'client secret': rp.clientSecret!,
      'PKCE verifier': result.auth.verifier,
      state: result.auth.state,
      nonce: result.auth.nonce,
      email: user.email,
      'encoded email': encodeURIComponent(user.email),
      ...Object.fromEntries(cookies.map((value, i) => [`cookie ${i + 1}`, value])),
    };
    for (const [what, value] of Object.entries(secrets)) {
      assert.ok(value && value.length >= 6, `${what} is known to the test`);
      assert.ok(!text.includes(value), `the log holds no ${what}`);
    }

    const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
    const requestLines = lines.filter((l) => l.msg === 'request');
    assert.ok(responses.length >= 10, `a whole sign-in (${responses.length} responses)`);
    for (const response of responses) {
      const mine = requestLines.filter((l) => l.reqId === response.id);
      assert.equal(mine.length, 1, `one line for ${response.path} (${response.id})`);
      const [line] = mine;
      assert.equal(line!.status, response.status, `the status of ${response.path}`);
      assert.equal(typeof line!.method, 'string');
      assert.ok(typeof line!.ms === 'number' && line!.ms >= 0, 'a duration in ms');
      assert.equal(line!.level, 30, 'info');
    }
    assert.equal(requestLines.length, responses.length, 'no line for a request nobody made');
    const routes = new Set(requestLines.map((l) => l.route));
    for (const route of ['/auth', '/interaction/:uid', '/token', '/me']) assert.ok(routes.has(route), `${route} is named by its template (${[...routes].join(', ')})`);
    for (const route of routes) assert.ok(typeof route === 'string' && !route.includes('?') && (route === 'unmatched' || !/\/[A-Za-z0-9_-]{16,}/.test(route)), `${route}: a template, never a path with an id or a query`);
  });

  it('keeps a short plain X-Request-Id, echoes it, and puts it on every line written for that request', async () => {
    const user = await createUser(t);
    const page = await askResetCode(t, user.email, 'reset-7f3a.run_1');
    assert.equal(page.headers.get('x-request-id'), 'reset-7f3a.run_1');
    // the code goes out in the background, after the answer: its failure is still logged under the request's id
    const failed = await eventually(() => log.lines().find((l) => /could not send a password reset code/.test(l.msg)), 'the failed send in the log');
    assert.equal(failed.reqId, 'reset-7f3a.run_1');
    assert.equal(failed.level, 50, 'a failure is an error');
    const request = log.lines().filter((l) => l.msg === 'request' && l.reqId === 'reset-7f3a.run_1');
    // the form's POST and the page it redirects to (the browser sends the same id again)
    assert.deepEqual(request.map((l) => [l.method, l.route, l.status]), [['POST', '/interaction/:uid/forgot', 303], ['GET', '/interaction/:uid/forgot', 200]]);
  });

  it('replaces an X-Request-Id that is long or not plain with its own', async () => {
    for (const sent of ['x'.repeat(65), 'two words', 'id{"level":60}', '<script>', 'ünïcode', '']) {
      const res = await fetch(`${t.issuer}/.well-known/openid-configuration`, { headers: sent ? { 'x-request-id': sent } : {} });
      const id = res.headers.get('x-request-id')!;
      assert.match(id, /^[0-9a-f-]{36}$/, `a fresh id instead of ${JSON.stringify(sent)}`);
      const line = await eventually(() => log.lines().find((l) => l.msg === 'request' && l.reqId === id), 'its request line');
      assert.equal(line.route, '/.well-known/openid-configuration');
      assert.ok(!log.text().includes('{"level":60}'), 'nothing of the header reached the log');
    }
  });

  it('logs a request that no route claims under a bounded name, not its path', async () => {
    const res = await fetch(`${t.issuer}/no/such/page/eyJhbGciOi.secret-looking?code=123456`, { headers: { accept: 'application/json' } });
    const line = log.lines().find((l) => l.msg === 'request' && l.reqId === res.headers.get('x-request-id'))!;
    assert.equal(line.route, 'unmatched');
    assert.equal(line.status, 404);
    assert.ok(!log.text().includes('eyJhbGciOi') && !log.text().includes('123456'));
  });

  it('never logs an error\'s extra properties (a parser\'s request body, a driver\'s values): name, message, stack and causes only', () => {
    const out = capture();
    const logger = createLogger({ env: 'test', log: { level: 'info' } }, out);
    const cause = Object.assign(new Error('E11000 duplicate key'), { code: 11000, keyValue: { email: 'leak@example.com' } });
    const err = Object.assign(new Error('could not parse', { cause }), { body: 'password=Hunter2!Hunter2', status: 500 });
    logger.error({ err, user: { password: 'p4ssw0rd-x', code: '314159' }, headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=zzz-cookie' } }, 'request failed');
    const text = out.text();
    for (const secret of ['Hunter2', 'leak@example.com', 'p4ssw0rd-x', '314159', 'abc.def.ghi', 'zzz-cookie']) assert.ok(!text.includes(secret), `no ${secret}`);
    const [line] = out.lines();
    assert.equal((line!.err as { message: string }).message, 'could not parse');
    assert.equal((line!.err as { cause: { errorCode: number } }).cause.errorCode, 11000);
    assert.match((line!.err as { stack: string }).stack, /could not parse\n\s+at /);
  });
});

describe('log settings', () => {
  it('LOG_LEVEL=warn leaves out the request lines; a failure is still written', async () => {
    const log = capture();
    const t = await startTessera({ logDestination: log, env: { LOG_LEVEL: 'warn', SMTP_URL: 'smtp://127.0.0.1:9' } });
    try {
      const ok = await fetch(`${t.issuer}/.well-known/openid-configuration`);
      assert.equal(ok.status, 200);
      const missing = await fetch(`${t.issuer}/nothing-here`);
      assert.equal(missing.status, 404);
      assert.equal(log.text(), '', 'no line below warn');
      await askResetCode(t, (await createUser(t)).email, 'warn-level');
      const failed = await eventually(() => log.lines().find((l) => /could not send a password reset code/.test(l.msg)), 'the failed send in the log');
      assert.equal(failed.reqId, 'warn-level');
      assert.deepEqual(log.lines().filter((l) => l.msg === 'request'), [], 'still no request line');
    } finally {
      await t.close();
    }
    assert.equal(loadConfig({ env: { NODE_ENV: 'test', LOG_LEVEL: 'debug' } }).log.level, 'debug');
    assert.throws(() => loadConfig({ env: { NODE_ENV: 'test', LOG_LEVEL: 'loud' } }), (err: Error) => err instanceof ConfigError && /LOG_LEVEL \(log\.level\)/.test(err.message));
  });

  it('writes JSON lines outside development and human-readable lines in development or with LOG_FORMAT=pretty', () => {
    const line = (config: Parameters<typeof createLogger>[0]) => {
      const out = capture();
      createLogger(config, out).info({ method: 'POST', route: '/token', status: 200, ms: 12.5 }, 'request');
      return out.text();
    };
    const json = JSON.parse(line({ env: 'production', log: { level: 'info' } })) as Line;
    assert.deepEqual([json.msg, json.route, json.status, json.level], ['request', '/token', 200, 30]);
    for (const pretty of [line({ env: 'development', log: { level: 'info' } }), line({ env: 'production', log: { level: 'info', format: 'pretty' } })]) {
      assert.throws(() => JSON.parse(pretty));
      assert.match(pretty, /INFO.*: POST \/token 200 12\.5 ms\n$/, 'one line a person reads');
    }
    assert.doesNotThrow(() => JSON.parse(line({ env: 'development', log: { level: 'info', format: 'json' } })));
  });
});
