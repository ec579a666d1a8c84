// Security events delivered to webhooks (README "Webhooks"): a real HTTPS listener with a
// certificate made for this run (openssl) that Tessera trusts through WEBHOOK_CA_FILE, signatures
// checked with the standardwebhooks package, the outbox written with the audit batch, retries on
// the injected clock, a restart in between, two instances racing on one database, the private
// address rule, an endpoint that keeps failing, the secret shown once and rotated, organisation
// scope, and the admin API.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { Webhook } from 'standardwebhooks';
import { startTessera, freshDatabaseName, type Tessera, type TesseraOptions } from '../support/tessera.ts';
import { startSmtp, type Smtp } from '../support/mail.ts';
import { createUser } from '../support/flow.ts';
import { certificate, listener, type Received } from '../support/webhook-receiver.ts';
import { COMMAND_LINE } from '../../src/admin/types.ts';
import type { AuditInput } from '../../src/audit/events.ts';

describe('security events delivered to webhooks', function () {
  this.timeout(60_000);
  const tls = certificate();
  let now = Date.now();
  const clock = () => new Date(now);
  let smtp: Smtp;
  let hook: Awaited<ReturnType<typeof listener>>;
  const open: Tessera[] = [];

  const env = (extra: Record<string, string> = {}) => ({
    WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_CA_FILE: tls.certFile, WEBHOOK_TIMEOUT_MS: '3000', SMTP_URL: smtp.url, ...extra,
  });
  async function tessera(options: TesseraOptions = {}): Promise<Tessera> {
    const t = await startTessera({ clock, ...options, env: { ...env(), ...options.env } });
    open.push(t);
    return t;
  }
  async function stop(t: Tessera) {
    open.splice(open.indexOf(t), 1);
    await t.close();
  }
  /** An audit event as a module records it, written (with its outbox deliveries) before this resolves. */
  async function happens(t: Tessera, event: Partial<AuditInput> & Pick<AuditInput, 'type'>) {
    const accountId = event.accountId ?? 'acc-1';
    t.services.audit.record({ outcome: 'success', actor: { type: 'user', id: accountId }, subject: { type: 'account', id: accountId }, accountId, details: { change: 'Your password was changed.' }, ...event });
    await t.services.audit.flush();
  }
  const register = (t: Tessera, input: Partial<Parameters<Tessera['services']['admin']['webhooks']['create']>[1]> = {}) =>
    t.services.admin.webhooks.create(COMMAND_LINE, { url: hook.url, types: ['password.changed'], description: 'SIEM', ...input });
  const verified = (secret: string, r: Received) => new Webhook(secret).verify(r.body, r.headers) as { type: string; data: Record<string, unknown> };

  before(async () => {
    smtp = await startSmtp();
  });
  beforeEach(async () => {
    now = Date.now();
    hook = await listener(tls);
  });
  afterEach(async () => {
    for (const t of open.splice(0)) await t.close();
    await hook.close();
  });
  after(async () => {
    await smtp.close();
  });

  it('delivers a chosen event to an HTTPS endpoint, signed the Standard Webhooks way, and nothing it did not choose', async () => {
    const t = await tessera();
    const { secret, endpoint } = await register(t);
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    await happens(t, { type: 'password.changed' });
    await happens(t, { type: 'device.blocked' });
    assert.equal(await t.services.webhooks.runOnce(), 1);
    assert.equal(hook.received.length, 1);
    const [got] = hook.received;
    const event = verified(secret, got!);
    assert.equal(event.type, 'password.changed');
    assert.equal(event.data.auditType, 'password.changed');
    assert.equal(event.data.accountId, 'acc-1');
    assert.match(got!.headers['webhook-id']!, /^msg_.+_password\.changed$/);
    assert.match(got!.headers['webhook-signature']!, /^v1,[A-Za-z0-9+/]+=*$/);
    // a wrong secret does not verify
    assert.throws(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(got!.body, got!.headers));
    const log = await t.services.admin.webhooks.deliveries(endpoint.id);
    assert.deepEqual(log.map((l) => [l.outcome, l.status, l.attempt]), [['delivered', 200, 1]]);
    // delivered once: another pass sends nothing
    await t.services.webhooks.runOnce();
    assert.equal(hook.received.length, 1);
  });

  it('retries after the backoff when the receiver answers 500, with the same webhook-id', async () => {
    const t = await tessera();
    const { secret, endpoint } = await register(t);
    hook.answer([500, 200]);
    await happens(t, { type: 'password.changed' });
    await t.services.webhooks.runOnce();
    assert.equal(hook.received.length, 1);
    // not due yet: nothing is sent before the backoff is over
    now += 20_000;
    await t.services.webhooks.runOnce();
    assert.equal(hook.received.length, 1);
    now += 11_000;
    await t.services.webhooks.runOnce();
    assert.equal(hook.received.length, 2);
    assert.equal(hook.received[1]!.headers['webhook-id'], hook.received[0]!.headers['webhook-id']);
    assert.equal(hook.received[1]!.body, hook.received[0]!.body);
    const log = await t.services.admin.webhooks.deliveries(endpoint.id);
    assert.deepEqual(log.map((l) => [l.attempt, l.outcome, l.status]), [[2, 'delivered', 200], [1, 'failed', 500]]);
    // the clock moved: compare the signature with the package's own for that timestamp
    const r = hook.received[1]!;
    assert.equal(r.headers['webhook-signature'], new Webhook(secret).sign(r.headers['webhook-id']!, new Date(Number(r.headers['webhook-timestamp']) * 1000), r.body));
    await t.services.webhooks.runOnce();
    assert.equal(hook.received.length, 2);
  });

  it('resumes pending deliveries after a restart on the same database', async () => {
    const database = freshDatabaseName();
    const secrets = { cookieKeys: [randomBytes(32).toString('base64url')], encryptionKey: randomBytes(32).toString('base64') };
    const first = await tessera({ database, secrets });
    const { secret } = await register(first);
    await happens(first, { type: 'password.changed' });
    await stop(first);
    assert.equal(hook.received.length, 0);
    const second = await tessera({ database, secrets });
    await second.services.webhooks.runOnce();
    assert.equal(hook.received.length, 1);
    assert.equal(verified(secret, hook.received[0]!).type, 'password.changed');
  });

  it('never sends one event twice to one endpoint, with two instances and two passes racing', async () => {
    const database = freshDatabaseName();
    const secrets = { cookieKeys: [randomBytes(32).toString('base64url')], encryptionKey: randomBytes(32).toString('base64') };
    const a = await tessera({ database, secrets });
    const b = await tessera({ database, secrets });
    await register(a);
    await a.services.webhooks.refresh();
    for (let i = 0; i < 5; i++) await happens(a, { type: 'password.changed', accountId: `acc-${i}` });
    await Promise.all([a.services.webhooks.runOnce(), b.services.webhooks.runOnce(), a.services.webhooks.runOnce(), b.services.webhooks.runOnce()]);
    await Promise.all([a.services.webhooks.runOnce(), b.services.webhooks.runOnce()]);
    const ids = hook.received.map((r) => r.headers['webhook-id']);
    assert.equal(ids.length, 5, `received ${ids.length}: ${ids.join(', ')}`);
    assert.equal(new Set(ids).size, 5);
  });

  it('refuses a private address without WEBHOOK_ALLOW_PRIVATE, at registration and at delivery', async () => {
    const database = freshDatabaseName();
    const secrets = { cookieKeys: [randomBytes(32).toString('base64url')], encryptionKey: randomBytes(32).toString('base64') };
    const strict = await tessera({ env: { WEBHOOK_ALLOW_PRIVATE: 'false' } });
    for (const url of [hook.url, 'https://localhost/hook', 'https://[::1]/hook', 'https://169.254.169.254/latest', 'https://10.0.0.8/hook', 'http://example.com/hook']) {
      await assert.rejects(register(strict, { url }), (err: Error & { kind?: string }) => err.kind === 'invalid', url);
    }
    assert.deepEqual(await strict.services.admin.webhooks.list(), []);
    // registered where it was allowed, delivered where it is not: refused when resolved, nothing sent
    const lax = await tessera({ database, secrets });
    const { endpoint } = await register(lax);
    await happens(lax, { type: 'password.changed' });
    await stop(lax);
    const later = await tessera({ database, secrets, env: { WEBHOOK_ALLOW_PRIVATE: 'false' } });
    await later.services.webhooks.runOnce();
    assert.equal(hook.received.length, 0);
    const [line] = await later.services.admin.webhooks.deliveries(endpoint.id);
    assert.equal(line!.outcome, 'failed');
    assert.match(line!.error!, /private, loopback or link-local/);
  });

  it('turns off an endpoint that failed every attempt for 24 hours and emails the admins', async () => {
    const t = await tessera();
    const admin = await createUser(t, { email: `admin-${randomBytes(3).toString('hex')}@example.com` });
    await t.services.accounts.setRole(admin.id, 'admin');
    // each admin reads it in their own account's language
    const german = await createUser(t, { email: `admin-${randomBytes(3).toString('hex')}@example.com` });
    await t.services.accounts.setRole(german.id, 'admin');
    await t.services.accounts.updateProfile(german.email, { locale: 'de' });
    const { endpoint } = await register(t);
    hook.answer([503]);
    const since = smtp.received.length;
    await happens(t, { type: 'password.changed' });
    const start = now;
    let passes = 0;
    while ((await t.services.admin.webhooks.get(endpoint.id)).enabled && passes < 40) {
      await t.services.webhooks.runOnce();
      now += 3600_000;
      passes++;
    }
    const off = await t.services.admin.webhooks.get(endpoint.id);
    assert.equal(off.enabled, false);
    assert.match(off.disabledReason!, /24 hours/);
    assert.ok(now - start >= 24 * 3600_000, 'not before the 24 hours are over');
    // exponential: far fewer attempts than passes of an hour each would allow at a fixed rate
    assert.ok(hook.received.length >= 10 && hook.received.length <= 16, `${hook.received.length} attempts`);
    await smtp.waitFor(admin.email, /webhook endpoint was turned off/, since);
    const inGerman = Buffer.from((await smtp.waitFor(german.email, /Webhook-Endpunkt ausgeschaltet:/, since)).text, 'latin1').toString('utf8');
    assert.match(inGerman, /Grund: jeder Zustellversuch ist 24 Stunden lang fehlgeschlagen \(Ereignis /);
    assert.doesNotMatch(inGerman, /turned off a webhook|Why:/);
    await t.services.audit.flush();
    const { items } = await t.services.admin.audit.query({ type: 'webhook.disabled' });
    assert.equal(items.length, 1);
    // turned off: a new event is not sent to it
    const count = hook.received.length;
    await happens(t, { type: 'password.changed' });
    await t.services.webhooks.runOnce();
    assert.equal(hook.received.length, count);
  });

  it('delivers only the members\' events to an organisation\'s endpoint', async () => {
    const t = await tessera();
    const org = await t.services.organisations.create('Acme');
    const member = await createUser(t);
    const outsider = await createUser(t);
    await t.services.organisations.setMember(org.id, member.id, false);
    const { secret } = await register(t, { organisationId: org.id });
    await happens(t, { type: 'password.changed', accountId: outsider.id });
    await happens(t, { type: 'password.changed', accountId: member.id });
    await t.services.webhooks.runOnce();
    assert.equal(hook.received.length, 1);
    assert.equal(verified(secret, hook.received[0]!).data.accountId, member.id);
  });

  describe('the admin API', () => {
    let t: Tessera;
    let token: string;
    const PREFIX = '/admin/api/v1';
    const api = (method: 'get' | 'post' | 'patch' | 'delete', p: string) => request(t.issuer)[method](PREFIX + p).set('Authorization', `Bearer ${token}`);

    beforeEach(async () => {
      t = await tessera();
      const bot = await t.services.clients.create({ clientId: 'hook-bot', redirectUris: [], grants: ['client_credentials'] });
      await t.services.clients.grantAdminApi('hook-bot');
      const res = await request(t.issuer).post('/token').auth('hook-bot', bot.clientSecret!).type('form').send({ grant_type: 'client_credentials', scope: 'admin' });
      token = res.body.access_token as string;
    });

    it('shows the secret once, keeps it sealed, rotates it, and audits every change', async () => {
      const made = await api('post', '/webhooks').send({ url: hook.url, types: ['admin.action', 'password.changed'], description: 'SIEM' });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const { webhook, secret } = made.body as { webhook: { id: string }; secret: string };
      assert.match(secret, /^whsec_/);
      const listed = await api('get', '/webhooks');
      const one = await api('get', `/webhooks/${webhook.id}`);
      for (const res of [listed, one]) {
        assert.equal(res.status, 200);
        assert.ok(!JSON.stringify(res.body).includes('whsec_'), 'the secret is never shown again');
      }
      const stored = await t.services.db.connection.collection('webhook_endpoints').findOne({ _id: webhook.id as never });
      assert.ok(stored && !JSON.stringify(stored).includes(secret.slice(6)), 'stored sealed');
      // the creation was an admin action: delivered, signed with the first secret
      await t.services.audit.flush();
      await t.services.webhooks.runOnce();
      assert.equal(verified(secret, hook.received[0]!).data.auditType, 'admin.webhook.created');

      const rotated = await api('post', `/webhooks/${webhook.id}/secret`);
      assert.equal(rotated.status, 200);
      const fresh = rotated.body.secret as string;
      assert.notEqual(fresh, secret);
      await t.services.audit.flush();
      await t.services.webhooks.runOnce();
      const after = hook.received.at(-1)!;
      assert.equal(verified(fresh, after).data.auditType, 'admin.webhook.secret_rotated');
      assert.throws(() => new Webhook(secret).verify(after.body, after.headers), 'the old secret signs nothing after a rotation');
      assert.ok(!after.body.includes(fresh.slice(6)) && !after.body.includes(secret.slice(6)));

      const log = await api('get', `/webhooks/${webhook.id}/deliveries`);
      assert.equal(log.status, 200);
      assert.deepEqual(log.body.deliveries.map((d: { outcome: string }) => d.outcome), ['delivered', 'delivered']);
      const { items } = await t.services.admin.audit.query({ type: 'admin.webhook.' });
      assert.deepEqual(items.map((e) => e.type).sort(), ['admin.webhook.created', 'admin.webhook.secret_rotated']);
      assert.ok(!JSON.stringify(items).includes(fresh.slice(6)) && !JSON.stringify(items).includes(secret.slice(6)), 'no secret in the audit log');
    });

    it('refuses bad input with a 400 and changes nothing; edits, disables and deletes', async () => {
      for (const body of [{ url: 'ftp://x.example/', types: ['password.changed'] }, { url: hook.url, types: [] }, { url: hook.url, types: ['sign_in.everything'] },
        { url: 'https://user:pw@example.com/', types: ['password.changed'] }, { url: hook.url, types: ['password.changed'], organisationId: 'org_nosuchorganisation' }]) {
        const res = await api('post', '/webhooks').send(body);
        assert.equal(res.status, 400, JSON.stringify(body));
      }
      assert.deepEqual((await api('get', '/webhooks')).body, { webhooks: [] });
      const made = await api('post', '/webhooks').send({ url: hook.url, types: ['password.changed'] });
      const id = made.body.webhook.id as string;
      const off = await api('patch', `/webhooks/${id}`).send({ enabled: false, description: 'paused' });
      assert.equal(off.status, 200);
      assert.equal(off.body.webhook.enabled, false);
      await t.services.audit.flush();
      await happens(t, { type: 'password.changed' });
      await t.services.webhooks.runOnce();
      assert.equal(hook.received.length, 0, 'a disabled endpoint receives nothing');
      assert.equal((await api('get', '/webhooks/whk_nosuchendpoint0')).status, 404);
      assert.equal((await api('delete', `/webhooks/${id}`)).status, 204);
      assert.equal((await api('get', `/webhooks/${id}`)).status, 404);
    });

    it('documents the webhook operations in the OpenAPI document', async () => {
      const doc = (await request(t.issuer).get(`${PREFIX}/openapi.json`)).body as { paths: Record<string, Record<string, { operationId: string }>> };
      const ops = Object.values(doc.paths).flatMap((p) => Object.values(p).map((o) => o.operationId));
      for (const op of ['listWebhooks', 'createWebhook', 'getWebhook', 'updateWebhook', 'rotateWebhookSecret', 'deleteWebhook', 'listWebhookDeliveries']) assert.ok(ops.includes(op), op);
    });
  });
});
