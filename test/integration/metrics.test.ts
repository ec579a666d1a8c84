// Prometheus metrics (issue 23): /metrics needs its bearer token on the main port (any Host
// header), or is served without one on a listener of its own; with neither it does not exist. Real
// sign-ins through the real OIDC client move the counters by the right amounts with the right
// labels, and no label value is an email, an id, an IP or a raw path.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, rawRequest, REDIRECT_URI, type Page, type TestUser } from '../support/flow.ts';
import { listenForMetrics, ownMetrics, type MetricsListener } from '../../src/ops/metrics-http.ts';

const TOKEN = randomBytes(24).toString('hex');
const MFA = 'urn:tessera:acr:mfa';

/** Every sample of a Prometheus text page: `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Every label value on the page. */
function labelValues(text: string): string[] {
  return [...text.matchAll(/\w+="((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
}

describe('Prometheus metrics', () => {
  let t: Tessera;
  let rp: RelyingParty;
  const failures: unknown[] = [];
  const users: TestUser[] = [];
  let lastStep = 0;
  // Tessera's clock: moved on by whole TOTP steps when a test needs a fresh code
  let offset = 0;
  const clock = () => new Date(Date.now() + offset);

  before(async () => {
    t = await startTessera({
      clock,
      env: { METRICS_TOKEN: TOKEN, LOCKOUT_AFTER: '5', LOCKOUT_KNOWN_DEVICE_AFTER: '5', MFA_OFFER_ENROLMENT: 'false', RISK_MODE: 'off' },
      log: (err) => { failures.push(err); console.error('    [tessera 500]', err); },
    });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(async () => { await t.close(); });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  const scrape = async (auth = `Bearer ${TOKEN}`) => fetch(`${t.issuer}/metrics`, { headers: { authorization: auth } });
  async function read(): Promise<{ text: string; at: Map<string, number> }> {
    await t.services.audit.flush();
    await t.services.limits.settled();
    const text = await (await scrape()).text();
    return { text, at: samples(text) };
  }
  /** How much each sample moved between two readings (absent: 0). */
  const moved = (before: Map<string, number>, after: Map<string, number>, key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);

  /** A TOTP code for a later 30-second step than the last one used (a code is used once): Tessera's clock moves on when it must. */
  function totp(secret: string): Promise<string> {
    let step = Math.floor(clock().getTime() / 30_000) + 1;
    if (step <= lastStep) { offset += (lastStep + 1 - step) * 30_000; step = lastStep + 1; }
    lastStep = step;
    return generate({ secret, epoch: step * 30 });
  }

  async function userWithApp(routine: boolean): Promise<TestUser & { secret: string }> {
    const user = await createUser(t);
    users.push(user);
    const { secret } = await t.services.totp.begin(user.id, user.email);
    assert.ok(await t.services.totp.confirm(user.id, await totp(secret)));
    if (routine) await t.services.accounts.setSecondFactor(user.id, 'totp');
    return { ...user, secret };
  }

  const passwordPage = async (agent: UserAgent, params: Record<string, string> = {}) => agent.visit((await rp.authorize(params)).url);
  const submitPassword = (agent: UserAgent, page: Page, user: TestUser, password = user.password) => agent.submit(page, /\/login$/, { email: user.email, password });

  describe('the endpoint', () => {
    it('answers 401 without the token or with a wrong one, and the metrics with the right one', async () => {
      const none = await fetch(`${t.issuer}/metrics`);
      assert.equal(none.status, 401);
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer /);
      assert.doesNotMatch(await none.text(), /tessera_/);
      const wrong = await scrape(`Bearer ${TOKEN.slice(0, -1)}x`);
      assert.equal(wrong.status, 401);
      assert.equal((await scrape(`Basic ${TOKEN}`)).status, 401);
      assert.equal((await scrape(`Bearer ${TOKEN}${TOKEN}`)).status, 401);
      const right = await scrape();
      assert.equal(right.status, 200);
      assert.match(right.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      assert.equal(right.headers.get('cache-control'), 'no-store');
      const text = await right.text();
      for (const name of ['tessera_sign_ins_total', 'tessera_http_request_duration_seconds', 'tessera_db_command_duration_seconds',
        'tessera_process_resident_memory_bytes', 'tessera_nodejs_eventloop_lag_seconds', 'tessera_webhook_deliveries_total']) {
        assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
      }
    });

    it('answers for any Host header (a scraper addresses the pod), and only to GET', async () => {
      const other = await rawRequest(t.issuer, '/metrics', { host: '10.1.2.3:9999', authorization: `Bearer ${TOKEN}` });
      assert.equal(other.status, 200);
      assert.match(other.body, /tessera_sign_ins_total/);
      assert.equal((await rawRequest(t.issuer, '/metrics', { host: '10.1.2.3:9999' })).status, 401);
      const post = await fetch(`${t.issuer}/metrics`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(post.status, 405);
    });

    it('times database commands by operation and requests by route template', async () => {
      const { at } = await read();
      assert.ok((at.get('tessera_db_command_duration_seconds_count{operation="find",outcome="success"}') ?? 0) > 0, 'finds were timed');
      assert.ok((at.get('tessera_http_request_duration_seconds_count{method="GET",route="/metrics",status_class="4xx"}') ?? 0) >= 1, 'the 401s above');
    });
  });

  describe('counters after real sign-ins', () => {
    it('a sign-in with a wrong app code, then the right one: the outcomes, the acr, the method', async () => {
      const user = await userWithApp(true);
      const { at: before } = await read();
      const agent = new UserAgent();
      const factor = await submitPassword(agent, await passwordPage(agent), user);
      assert.match(factor.url, /\/interaction\//);
      const wrongCode = await generate({ secret: user.secret, epoch: (Math.floor(clock().getTime() / 30_000) + 1000) * 30 });
      const again = await agent.submit(factor, /\/factor$/, { method: 'totp', code: wrongCode });
      assert.equal(again.status, 400);
      const done = await agent.submit(again, /\/factor$/, { method: 'totp', code: await totp(user.secret) });
      assert.ok(done.url.startsWith(REDIRECT_URI), `${done.status} ${done.body.slice(0, 300)}`);
      const { at: after } = await read();

      assert.equal(moved(before, after, `tessera_sign_ins_total{outcome="success",acr="${MFA}"}`), 1);
      assert.equal(moved(before, after, 'tessera_sign_ins_total{outcome="wrong_code",acr="none"}'), 1);
      assert.equal(moved(before, after, 'tessera_second_factor_prompts_total{method="totp"}'), 1, 'shown once (not again after the wrong code)');
      assert.equal(moved(before, after, 'tessera_second_factor_verifications_total{method="totp",outcome="failure"}'), 1);
      assert.equal(moved(before, after, 'tessera_second_factor_verifications_total{method="totp",outcome="success"}'), 1);
      assert.equal(moved(before, after, 'tessera_new_devices_total'), 1, 'a first sign-in from this browser');
      assert.equal(moved(before, after, 'tessera_step_ups_total{result="met"}'), 0, 'no step-up');
      assert.equal(moved(before, after, 'tessera_http_request_duration_seconds_count{method="POST",route="/interaction/:uid/factor",status_class="4xx"}'), 1);
      assert.equal(moved(before, after, 'tessera_http_request_duration_seconds_count{method="POST",route="/interaction/:uid/factor",status_class="3xx"}'), 1);
    });

    it('a wrong password, then a lockout and a refused attempt while locked', async () => {
      const user = await createUser(t);
      users.push(user);
      const { at: before } = await read();
      // a fresh browser each time: the per-browser block stays out of it; the account's count locks at 5
      for (let i = 0; i < 5; i++) {
        const agent = new UserAgent();
        const page = await submitPassword(agent, await passwordPage(agent), user, 'Wrong#Horse1');
        assert.ok(!page.url.startsWith(REDIRECT_URI), `attempt ${i + 1}`);
      }
      const agent = new UserAgent();
      const refused = await submitPassword(agent, await passwordPage(agent), user);
      assert.ok(!refused.url.startsWith(REDIRECT_URI), 'locked: even the right password is refused');
      const { at: after } = await read();
      assert.equal(moved(before, after, 'tessera_sign_ins_total{outcome="wrong_password",acr="none"}'), 6, 'five wrong, one refused while locked');
      assert.equal(moved(before, after, 'tessera_lockouts_total{kind="sign_in"}'), 1);
      assert.equal(moved(before, after, 'tessera_limit_refusals_total{kind="sign_in_locked"}'), 1);
      assert.equal(moved(before, after, 'tessera_messages_sent_total{channel="email"}'), 1, 'the lockout email (development outbox)');
      assert.equal(moved(before, after, 'tessera_sign_ins_total{outcome="success",acr="urn:tessera:acr:pwd"}'), 0);
    });

    it('a step-up of a signed-in session: asked and met; one that cannot be met: asked and unmet', async () => {
      const user = await userWithApp(false);
      const agent = new UserAgent();
      const signedIn = await submitPassword(agent, await passwordPage(agent), user);
      assert.ok(signedIn.url.startsWith(REDIRECT_URI), 'a password sign-in');
      const { at: before } = await read();
      const factor = await passwordPage(agent, { acr_values: MFA });
      assert.match(factor.body, /action="[^"]*\/factor"/, 'asked for the app');
      const done = await agent.submit(factor, /\/factor$/, { method: 'totp', code: await totp(user.secret) });
      assert.ok(done.url.startsWith(REDIRECT_URI), `${done.status} ${done.body.slice(0, 300)}`);
      const { at: middle } = await read();
      assert.equal(moved(before, middle, 'tessera_step_ups_total{result="asked"}'), 1);
      assert.equal(moved(before, middle, 'tessera_step_ups_total{result="met"}'), 1);
      assert.equal(moved(before, middle, `tessera_sign_ins_total{outcome="success",acr="${MFA}"}`), 1);

      // an account without any factor that reaches mfa (and no enrolment offered): unmet
      const plain = await createUser(t);
      users.push(plain);
      const other = new UserAgent();
      assert.ok((await submitPassword(other, await passwordPage(other), plain)).url.startsWith(REDIRECT_URI));
      const { at: before2 } = await read();
      const answer = await passwordPage(other, { acr_values: MFA, claims: JSON.stringify({ id_token: { acr: { essential: true, values: [MFA] } } }) });
      assert.ok(answer.url.startsWith(REDIRECT_URI), `${answer.status} ${answer.url}`);
      assert.equal(new URL(answer.url).searchParams.get('error'), 'unmet_authentication_requirements');
      const { at: after } = await read();
      assert.equal(moved(before2, after, 'tessera_step_ups_total{result="asked"}'), 1);
      assert.equal(moved(before2, after, 'tessera_step_ups_total{result="unmet"}'), 1);
      assert.equal(moved(before2, after, 'tessera_step_ups_total{result="met"}'), 0);
    });

    it('no label value is an email, an id, an IP or a raw path', async () => {
      const { text } = await read();
      const values = labelValues(text);
      assert.ok(values.length > 20);
      for (const value of values) {
        assert.doesNotMatch(value, /@/, value);
        assert.doesNotMatch(value, /^\d{1,3}(\.\d{1,3}){3}$|::/, value);
        for (const u of users) assert.ok(!value.includes(u.id), `${value} names an account`);
        // a route is a template: no interaction uid or other random segment
        if (value.startsWith('/')) assert.doesNotMatch(value, /\/(?=[A-Za-z_-]*\d)(?=[\d_-]*[A-Za-z])[\w-]{16,}/, value);
      }
    });
  });
});

describe('Prometheus metrics on a port of their own', () => {
  let t: Tessera;
  let listener: MetricsListener;

  before(async () => {
    // an SMTP server that is not there: the code's email fails, and that is counted
    t = await startTessera({ env: { METRICS_PORT: '0', SMTP_URL: 'smtp://127.0.0.1:9', NOTIFY_TIMEOUT_MS: '2000', RISK_MODE: 'off' } });
    // what main.ts does with METRICS_PORT (bound to METRICS_HOST, loopback by default)
    assert.equal(t.config.metrics.host, '127.0.0.1');
    listener = await listenForMetrics(ownMetrics(t.services.metrics), t.config.metrics.port!, t.config.metrics.host);
  });
  after(async () => { await listener.close(); await t.close(); });

  const metricsUrl = () => `http://127.0.0.1:${listener.port}/metrics`;

  it('serves /metrics there without a token, and nothing else', async () => {
    const res = await fetch(metricsUrl());
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^# TYPE tessera_sign_ins_total counter/m);
    assert.equal((await fetch(`http://127.0.0.1:${listener.port}/`)).status, 404);
    assert.equal((await fetch(metricsUrl(), { method: 'POST' })).status, 405);
  });

  it('the main port has no /metrics without METRICS_TOKEN', async () => {
    assert.equal((await fetch(`${t.issuer}/metrics`, { headers: { accept: 'application/json' } })).status, 404);
  });

  it('counts a code issued and its failed delivery by channel', async () => {
    const user = await createUser(t);
    await t.services.accounts.setSecondFactor(user.id, 'email');
    const before = samples(await (await fetch(metricsUrl())).text());
    const rp = await RelyingParty.register(t, { skipConsent: true });
    const agent = new UserAgent();
    const page = await agent.submit(await agent.visit((await rp.authorize()).url), /\/login$/, { email: user.email, password: user.password });
    assert.match(page.url, /\/interaction\//);
    await t.services.audit.flush();
    const after = samples(await (await fetch(metricsUrl())).text());
    const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
    assert.equal(delta('tessera_codes_issued_total{channel="email"}'), 1);
    assert.equal(delta('tessera_message_delivery_failures_total{channel="email"}'), 1);
    assert.equal(delta('tessera_messages_sent_total{channel="email"}'), 0);
    assert.equal(delta('tessera_second_factor_prompts_total{method="email"}'), 1);
  });
});
