// Faults survived (issue 12): the database stopped in the middle of a sign-in (503 page / JSON,
// no token for the half-finished flow, served again when it returns, nothing lost or doubled), and
// the email or text-message provider down or hanging (the user is told and picks another channel,
// the same sign-in continues, nothing waits past notify.timeoutMs).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { launchEmbedded, type EmbeddedDatabase } from '../../src/db/embedded.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, formOn, giveVerifiedPhone, RelyingParty, REDIRECT_URI, UserAgent, type Page } from '../support/flow.ts';
import { eventually, startSmtp, type Smtp } from '../support/mail.ts';
import { startFakeTwilio, type FakeTwilio } from '../support/fake-twilio.ts';
import { silentTcpServer, type SilentServer } from '../support/silent-server.ts';

const DOWN = /Tessera cannot reach its database right now; try again in a moment/;
/**
 * A wait bound that separates "the configured timeout applied" from "it did not" without racing a
 * busy machine: the defaults a missing timeout falls back to are 10 s (mongoose's command buffering,
 * NOTIFY_TIMEOUT_MS) or more (the driver's 30 s server selection, nodemailer's 30 s greeting).
 */
const UNBOUNDED_MS = 10_000;

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: Math.round(performance.now() - started) };
}

describe('faults survived', function () {
  this.timeout(60_000);

  describe('the database stops in the middle of a sign-in', () => {
    const SELECTION_MS = 600;
    let dataDir: string;
    let db: EmbeddedDatabase;
    let port: number;
    let t: Tessera;
    const logged: unknown[] = [];

    before(async () => {
      // a database server of this file's own: stopping it harms no other test
      dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-faults-'));
      db = await launchEmbedded({ dataDir, owner: 'test' });
      port = Number(new URL(db.uri).port);
      t = await startTessera({ env: { MONGODB_URI: db.uri.replace(/\/[^/]*$/, '/faults'), DB_SERVER_SELECTION_TIMEOUT_MS: String(SELECTION_MS) }, log: (err) => logged.push(err) });
    });
    after(async () => {
      await t?.close();
      await db?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('answers 503 (page and JSON) within the selection timeout, issues no token, and serves again when it returns', async () => {
      const rp = await RelyingParty.register(t, { skipConsent: true });
      const earlier = await createUser(t);
      const user = await createUser(t);
      // an earlier sign-in: its tokens are what the JSON endpoints are asked about during the outage
      const before = new UserAgent();
      const firstAuth = await rp.authorize({ scope: 'openid email offline_access', prompt: 'consent' });
      let page = await before.visit(firstAuth.url);
      page = await before.submit(page, /\/login$/, { email: earlier.email, password: earlier.password });
      if (!page.url.startsWith(REDIRECT_URI)) page = await before.submit(page, /\/confirm$/);
      const tokens = await rp.tokens(page.url, firstAuth);
      assert.ok(tokens.refresh_token, 'a refresh token to rotate');

      // the half-finished flow: the login page is shown, then the database goes away
      const agent = new UserAgent();
      const auth = await rp.authorize();
      const login = await agent.visit(auth.url);
      assert.match(login.body, /name="password"/);
      // a machine client of the admin API, with its token, from before the outage
      const ops = await t.services.clients.create({ clientId: `ops-${Date.now()}`, redirectUris: [], grants: ['client_credentials'] });
      await t.services.clients.grantAdminApi(ops.clientId);
      const opsToken = await (await fetch(`${t.issuer}/token`, {
        method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${ops.clientId}:${ops.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'admin' }),
      })).json() as { access_token: string };
      await db.stop();

      const submitted = await timed(() => agent.submit(login, /\/login$/, { email: user.email, password: user.password }));
      assert.equal(submitted.value.status, 503, submitted.value.body.slice(0, 300));
      assert.match(submitted.value.body, DOWN);
      assert.match(submitted.value.body, /Request id: <code>[0-9a-f-]{36}<\/code>/);
      assert.ok(submitted.ms < UNBOUNDED_MS, `page answered in ${submitted.ms} ms (selection timeout ${SELECTION_MS} ms): the wait was bounded by it`);

      const resumed = await timed(() => agent.request(auth.url));
      assert.equal(resumed.value.status, 503, 'the provider\'s own pages too');
      assert.match(resumed.value.body, DOWN);

      const token = await timed(() => fetch(`${t.issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${rp.clientId}:${rp.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
      }));
      assert.equal(token.value.status, 503);
      const tokenBody = await token.value.json() as { error: string; error_description: string; request_id: string };
      assert.equal(tokenBody.error, 'temporarily_unavailable');
      assert.match(tokenBody.error_description, DOWN);

      const userinfo = await timed(() => fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' } }));
      assert.equal(userinfo.value.status, 503);
      assert.equal((await userinfo.value.json() as { error: string }).error, 'temporarily_unavailable');

      const admin = await fetch(`${t.issuer}/admin/api/v1/users`, { headers: { authorization: `Bearer ${opsToken.access_token}` } });
      assert.equal(admin.status, 503, 'the admin API too');
      assert.equal((await admin.json() as { error: string }).error, 'temporarily_unavailable');

      console.log(`      database down: login page ${submitted.ms} ms, authorization ${resumed.ms} ms, token ${token.ms} ms, userinfo ${userinfo.ms} ms (selection timeout ${SELECTION_MS} ms)`);

      // the database returns where it was: the same process serves again, the same interaction continues
      db = await launchEmbedded({ dataDir, owner: 'test', port });
      const back = await timed(async () => {
        let again = await agent.submit(login, /\/login$/, { email: user.email, password: user.password });
        if (!again.url.startsWith(REDIRECT_URI)) again = await agent.submit(again, /\/confirm$/);
        return again;
      });
      assert.ok(back.value.url.startsWith(REDIRECT_URI), `${back.value.status} ${back.value.body.slice(0, 300)}`);
      const finished = await rp.tokens(back.value.url, auth);
      assert.equal(finished.claims()!.sub, user.id, 'the flow interrupted by the outage finishes');

      // nothing lost: the refresh refused during the outage did not consume the token, and what was
      // written before is there; nothing doubled: the interrupted flow made one code, used once
      const refreshed = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!);
      assert.ok(refreshed.access_token);
      assert.ok(await t.services.accounts.findById(earlier.id), 'accounts written before the outage are there');
      await assert.rejects(rp.tokens(back.value.url, auth), (e: { error?: string; message?: string }) => { assert.equal(e.error ?? e.message, 'invalid_grant', String(e.message)); return true; }, 'the code of the finished flow works once');
      console.log(`      database back: the interrupted sign-in finished in ${back.ms} ms`);
    });
  });

  describe('the email or text-message provider is down or hangs', () => {
    // short, to keep the hanging cases quick, yet long enough that a working server on a busy machine never reaches it
    const TIMEOUT_MS = 2000;
    let smtp: Smtp;
    let twilio: FakeTwilio;
    let silent: SilentServer;
    let closedPort: number;
    const started: Tessera[] = [];

    before(async () => {
      smtp = await startSmtp();
      twilio = await startFakeTwilio();
      silent = await silentTcpServer();
      closedPort = await new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
      });
    });
    afterEach(() => twilio.fail(undefined));
    after(async () => {
      for (const t of started) await t.close();
      await smtp.close(); await twilio.close(); await silent.close();
    });

    let skew = 0; // Tessera's clock runs ahead by this much (past the resend interval)
    async function tessera(smtpUrl: string): Promise<Tessera> {
      const t = await startTessera({ clock: () => new Date(Date.now() + skew), env: {
        SMTP_URL: smtpUrl, NOTIFY_TIMEOUT_MS: String(TIMEOUT_MS), SMS_PROVIDER: 'twilio', TWILIO_API_BASE: twilio.apiBase,
        TWILIO_ACCOUNT_SID: twilio.account.sid, TWILIO_AUTH_TOKEN: twilio.account.token, TWILIO_FROM: twilio.account.from,
      } });
      started.push(t);
      return t;
    }

    /**
     * A sign-in from a new device: the code goes by email (first) or text message (a verified
     * number), the step where both channels are accepted. (An account's routine second factor
     * accepts only itself and recovery codes: no other channel to fall back on there.)
     */
    async function toFactorPage(t: Tessera) {
      const rp = await RelyingParty.register(t, { skipConsent: true });
      const user = await createUser(t, { deviceVerification: true });
      await giveVerifiedPhone(t, user);
      const agent = new UserAgent();
      const auth = await rp.authorize();
      const login = await agent.visit(auth.url);
      const factor = await timed(() => agent.submit(login, /\/login$/, { email: user.email, password: user.password }));
      return { rp, user, agent, auth, factor };
    }

    const uidOf = (page: Page) => /\/interaction\/([\w-]+)\/device"/.exec(page.body)?.[1];
    /** The newest sign-in code texted (by content: not whatever Twilio accepted last). */
    const smsCode = () => /^(\d{6}) is your Tessera sign-in code/.exec(twilio.accepted.filter((r) => r.resource === 'Messages' && /^\d{6} is your Tessera sign-in code/.test(r.form.Body ?? '')).at(-1)!.form.Body!)![1]!;

    it('SMTP down (closed port): the page says so, the user takes a text message instead, and the same sign-in finishes', async () => {
      const t = await tessera(`smtp://127.0.0.1:${closedPort}`);
      const { rp, agent, auth, factor, user } = await toFactorPage(t);
      assert.equal(factor.value.status, 200, factor.value.body.slice(0, 300));
      assert.match(factor.value.body, /We could not send the code by email right now; choose another way below/);
      assert.match(factor.value.body, /href="\/interaction\/[\w-]+\?method=sms"/, 'the text message is offered');
      const uid = uidOf(factor.value)!;

      const sms = await agent.visit(new URL(`/interaction/${uid}?method=sms`, t.issuer).href);
      assert.equal(uidOf(sms), uid, 'the same interaction continues');
      assert.match(sms.body, /We texted a 6-digit code/);
      const done = await agent.submit(sms, /\/device$/, { code: smsCode() });
      assert.ok(done.url.startsWith(REDIRECT_URI), `${done.status} ${done.body.slice(0, 300)}`);
      const claims = (await rp.tokens(done.url, auth)).claims()!;
      assert.equal(claims.sub, user.id);
      assert.ok((claims.amr as string[]).includes('sms'));
      console.log(`      SMTP down: factor page in ${factor.ms} ms`);
    });

    it('SMTP hangs (accepts, never greets): the page answers within notify.timeoutMs and the sign-in is kept', async () => {
      const t = await tessera(`smtp://127.0.0.1:${silent.port}`);
      const held = silent.heldOpen();
      const { agent, factor } = await toFactorPage(t);
      assert.equal(factor.value.status, 200);
      assert.match(factor.value.body, /We could not send the code by email right now/);
      assert.ok(factor.ms >= TIMEOUT_MS - 50, `the page waited for the hanging server (${factor.ms} ms, timeout ${TIMEOUT_MS} ms)`);
      // measured at the hanging server, not around the whole sign-in: Tessera itself gave the connection up, on its timeout
      const heldMs = await held;
      assert.ok(heldMs < UNBOUNDED_MS, `the hanging SMTP server was given up after ${heldMs} ms (timeout ${TIMEOUT_MS} ms)`);
      const uid = uidOf(factor.value)!;
      const sms = await agent.visit(new URL(`/interaction/${uid}?method=sms`, t.issuer).href);
      assert.equal(uidOf(sms), uid);
      assert.match(sms.body, /We texted a 6-digit code/);
      console.log(`      SMTP hanging: factor page in ${factor.ms} ms, server held ${heldMs} ms (timeout ${TIMEOUT_MS} ms)`);
    });

    it('the SMS provider answers 500, then hangs: told each time, within the timeout, and email still works', async () => {
      const t = await tessera(smtp.url);
      const { rp, agent, auth, factor, user } = await toFactorPage(t);
      assert.doesNotMatch(factor.value.body, /could not send/, 'the email went out');
      const uid = uidOf(factor.value)!;
      const smsUrl = new URL(`/interaction/${uid}?method=sms`, t.issuer).href;

      twilio.fail(500);
      const refused = await timed(() => agent.visit(smsUrl));
      assert.equal(refused.value.status, 200);
      assert.match(refused.value.body, /We could not send the code by text message right now; choose another way below/);
      assert.match(refused.value.body, /href="\/interaction\/[\w-]+\?method=email"/, 'email is offered');

      twilio.fail('hang');
      skew += 61_000; // "Resend" is allowed once a minute, also after a failed delivery
      const resend = formOn(refused.value, /\/device\/resend$/);
      const abandoned = twilio.abandonedAfter.length;
      const hung = await timed(() => agent.request(resend.action, { form: resend.fields }));
      assert.equal(hung.value.status, 200, hung.value.body.slice(0, 300));
      assert.match(hung.value.body, /We could not send the code by text message right now/);
      assert.ok(hung.ms >= TIMEOUT_MS - 50, `the page waited for the hanging provider (${hung.ms} ms, timeout ${TIMEOUT_MS} ms)`);
      // measured at the hanging provider: Tessera itself gave the request up, on its timeout
      const [heldMs] = await eventually(() => twilio.abandonedAfter.length > abandoned && twilio.abandonedAfter.slice(abandoned), 'Tessera to give up the hanging request');
      assert.ok(heldMs! < UNBOUNDED_MS, `the hanging provider was given up after ${heldMs} ms (timeout ${TIMEOUT_MS} ms)`);

      twilio.fail(undefined);
      const email = await agent.visit(new URL(`/interaction/${uid}?method=email`, t.issuer).href);
      assert.equal(uidOf(email), uid);
      const code = /^Subject: (\d{6}) is your Tessera sign-in code/m.exec((await smtp.waitFor(user.email, /^Subject: \d{6} is your Tessera sign-in code/m)).text)![1]!;
      const done = await agent.submit(email, /\/device$/, { code });
      assert.ok(done.url.startsWith(REDIRECT_URI), `${done.status} ${done.body.slice(0, 300)}`);
      assert.equal((await rp.tokens(done.url, auth)).claims()!.sub, user.id);
      console.log(`      SMS provider 500: page in ${refused.ms} ms; SMS provider hanging: page in ${hung.ms} ms, provider held ${heldMs} ms (timeout ${TIMEOUT_MS} ms)`);
    });
  });
});
