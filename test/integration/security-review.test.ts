// Findings of the security review of the account and admin surfaces (issue 26) that are not about
// sign-ins in progress (those are in account-changes.test.ts): unusual HTTP methods on pages.
import assert from 'node:assert/strict';
import http from 'node:http';
import request from 'supertest';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, signIn } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';

/** A request with any method (fetch refuses some, such as CONNECT-like or WebDAV ones, in its own way). */
function send(base: string, method: string, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method, headers: { accept: 'text/html' } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('security review of the account and admin surfaces', () => {
  let t: Tessera;
  const serverErrors: unknown[] = [];

  before(async () => { t = await startTessera({ log: (err) => serverErrors.push(err) }); });
  after(() => t.close());

  describe('passwords typed to confirm a change (item 1)', () => {
    it('go through the limits: wrong ones are audited, and the fifth signs the session out, emails the owner and stops the guessing', async () => {
      const rp = await RelyingParty.register(t, { skipConsent: true });
      const user = await createUser(t);
      const agent = new UserAgent();
      await signIn(agent, (await rp.authorize()).url, user);
      const form = await agent.visit(`${t.issuer}/account/security/password`);
      assert.equal(form.status, 200);
      const change = (current: string) => agent.submit(form, /\/security\/password$/, { current, password: 'Brand#NewHorse7', confirm: 'Brand#NewHorse7' });
      for (let i = 1; i <= 4; i++) {
        const wrong = await change(`Wrong#Guess${i}`);
        assert.equal(wrong.status, 400, `guess ${i}`);
        assert.match(wrong.body, /Your current password is not right/);
      }
      const fifth = await change('Wrong#Guess5');
      assert.equal(fifth.status, 401);
      assert.match(fifth.body, /Too many wrong passwords were typed in this session, so it was signed out/);
      // the session is gone: the right password now reaches no form, and silent sign-in fails
      const after = await agent.visit(`${t.issuer}/account/security/password`);
      assert.doesNotMatch(after.body, /name="current"/, 'no password form without signing in again');
      assert.match((await agent.visit((await rp.authorize({ prompt: 'none' })).url)).url, /error=login_required/);
      assert.ok(await t.services.accounts.authenticate(user.email, user.password), 'the password was never changed');
      await t.services.audit.flush();
      const events = await t.services.audit.query({ accountId: user.id, type: 'session.*', limit: 50 });
      assert.equal(events.events.filter((e) => e.type === 'session.reauth_failed').length, 5);
      assert.ok(events.events.some((e) => e.type === 'session.ended'));
      // the owner is told (the notice goes out in the background)
      await eventually(() => t.services.outbox.list().some((m) => m.to === user.email && /signed out after 5 wrong passwords/.test(m.text ?? '')), 'the notice to the owner');
    });
  });

  describe('emails with invisible characters', () => {
    it('are refused by the admin API (400, the reason), making no account that looks like another', async () => {
      const created = await t.services.clients.create({ clientId: 'review-bot', redirectUris: [], grants: ['client_credentials'] });
      await t.services.clients.grantAdminApi('review-bot');
      const token = (await request(t.issuer).post('/token').auth('review-bot', created.clientSecret!).type('form').send({ grant_type: 'client_credentials', scope: 'admin' })).body.access_token as string;
      const before = (await t.services.accounts.search({ limit: 100 })).accounts.length;
      for (const email of ['ali\u200bce@example.com', 'alice\u200e@example.com', 'ali\u202ece@example.com', 'al\u00a0ice@example.com', 'alice\u0007@example.com']) {
        const res = await request(t.issuer).post('/admin/api/v1/users').set('Authorization', `Bearer ${token}`).send({ email, name: 'Look Alike' });
        assert.equal(res.status, 400, `${JSON.stringify(email)} → ${res.status} ${JSON.stringify(res.body)}`);
        assert.match(res.body.error_description, /invisible or control character|email/);
      }
      assert.equal((await t.services.accounts.search({ limit: 100 })).accounts.length, before, 'no account was made');
      const fine = await request(t.issuer).post('/admin/api/v1/users').set('Authorization', `Bearer ${token}`).send({ email: 'alice@example.com', name: 'Alice' });
      assert.equal(fine.status, 201, JSON.stringify(fine.body));
    });

    it('are refused by the account store for every caller (console, API, command line)', async () => {
      await assert.rejects(t.services.accounts.create({ email: 'bo\u200bb@example.com', password: 'Correct#Horse1' }), /invisible or control character/);
      await assert.rejects(t.services.accounts.createInvited({ email: 'bob\u2060@example.com' }), /invisible or control character/);
    });
  });

  describe('unusual HTTP methods on pages', () => {
    for (const path of ['/account/security', '/account/security/password', '/admin', '/admin/users', '/interaction/abcdefghijklmnopqrstuvwxyz']) {
      it(`answers 405 with Allow: GET, HEAD, POST for DELETE, PUT, PROPFIND, LOCK and PURGE on ${path}, and logs no error`, async () => {
        for (const method of ['DELETE', 'PUT', 'PROPFIND', 'LOCK', 'PURGE']) {
          const res = await send(t.issuer, method, path);
          assert.equal(res.status, 405, `${method} ${path}`);
          assert.equal(res.headers.allow, 'GET, HEAD, POST');
          assert.match(res.body, /can only be opened or its form sent/);
          assert.doesNotMatch(res.body, /at \w+ \(|node_modules/, 'no stack trace');
        }
        assert.deepEqual(serverErrors, []);
      });
    }
  });
});
