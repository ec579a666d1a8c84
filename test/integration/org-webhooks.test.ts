// Organisation admins' own webhook endpoints in the security center (issue 23): registered through
// the pages over real HTTP, scoped to the admin's organisation, delivered to a real HTTPS listener
// with only the members' events, another organisation's and the all-accounts endpoints out of reach
// (404, nothing changed), re-authentication, errors beside their fields, audit records, and the
// section gone at once for a person who is no longer an organisation admin.
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, formOn, UserAgent, type Page, type TestUser } from '../support/flow.ts';
import { certificate, listener, type Received } from '../support/webhook-receiver.ts';
import { startSmtp, type Smtp } from '../support/mail.ts';
import { COMMAND_LINE } from '../../src/admin/types.ts';
import type { Organisation } from '../../src/orgs/store.ts';

const BASE = '/account/security/organisation/webhooks';

describe('organisation admins\' webhooks in the security center', function () {
  this.timeout(60_000);
  const tls = certificate();
  let offset = 0;
  let t: Tessera;
  let hook: Awaited<ReturnType<typeof listener>>;
  let smtp: Smtp;

  before(async () => {
    smtp = await startSmtp();
    t = await startTessera({ clock: () => new Date(Date.now() + offset), env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_CA_FILE: tls.certFile, WEBHOOK_TIMEOUT_MS: '3000', SMTP_URL: smtp.url } });
  });
  after(async () => {
    await t.close();
    await smtp.close();
  });
  beforeEach(async () => { hook = await listener(tls); });
  afterEach(() => hook.close());

  const url = (path: string) => `${t.issuer}${path}`;
  const orgName = () => `Org ${Math.random().toString(36).slice(2, 8)}`;

  async function signedIn(user: TestUser): Promise<UserAgent> {
    const agent = new UserAgent();
    const login = await agent.visit(url('/account/security'));
    await agent.visit((await agent.submit(login, /\/login$/, { email: user.email, password: user.password }, url('/account/'))).url);
    return agent;
  }

  /** An organisation with an admin signed in to the security center, and a plain member. */
  async function organisation(): Promise<{ org: Organisation; admin: TestUser; member: TestUser; agent: UserAgent }> {
    const org = await t.services.organisations.create(orgName());
    const admin = await createUser(t);
    const member = await createUser(t);
    await t.services.organisations.setMember(org.id, admin.id, true);
    await t.services.organisations.setMember(org.id, member.id, false);
    return { org, admin, member, agent: await signedIn(admin) };
  }

  /** The form on `page` sent with these fields (the event types as their checkbox names). */
  function send(agent: UserAgent, page: Page, action: RegExp, fields: Record<string, string>): Promise<Page> {
    const form = formOn(page, action);
    return agent.request(form.action, { form: { ...form.fields, ...fields } });
  }
  async function register(agent: UserAgent, fields: Record<string, string> = {}): Promise<Page> {
    const page = await agent.visit(url(`${BASE}/new`));
    assert.equal(page.status, 200, page.body.slice(0, 300));
    return send(agent, page, /\/organisation\/webhooks$/, { url: hook.url, description: 'Acme SIEM', type_password_changed: 'on', ...fields });
  }
  const secretOn = (page: Page) => /id="webhook-secret">(whsec_[^<]+)</.exec(page.body)?.[1];
  const verified = (secret: string, r: Received) => new Webhook(secret).verify(r.body, r.headers) as { type: string; data: Record<string, unknown> };
  async function happens(accountId: string) {
    t.services.audit.record({ type: 'password.changed', outcome: 'success', actor: { type: 'user', id: accountId }, subject: { type: 'account', id: accountId }, accountId, details: { change: 'Your password was changed.' } });
    await t.services.audit.flush();
  }
  const stored = (id: string) => t.services.db.connection.collection('webhook_endpoints').findOne({ _id: id as never });

  it('lets an organisation admin register an endpoint, scoped to their organisation, that receives only the members\' events', async () => {
    const { org, admin, member, agent } = await organisation();
    const overview = await agent.visit(url('/account/security'));
    assert.match(overview.body, /<a href="\/account\/security\/organisation\/webhooks">Organisation<\/a>/, 'the section is in the frame');
    const list = await agent.visit(url(BASE));
    assert.equal(list.status, 200);
    assert.match(list.body, /Your organisation has no webhook endpoints yet/);

    const made = await register(agent, { type_admin_action: 'on' });
    assert.equal(made.status, 201, made.body.slice(0, 500));
    const secret = secretOn(made);
    assert.match(secret!, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.match(made.body, /Copy the secret now/);
    const [endpoint] = await t.services.admin.webhooks.list().then((all) => all.filter((e) => e.url === hook.url));
    assert.equal(endpoint!.organisationId, org.id, 'scoped to the admin\'s organisation');
    assert.deepEqual(endpoint!.types, ['password.changed', 'admin.action']);
    // shown once: the endpoint's page does not show it
    const page = await agent.visit(url(`${BASE}/${endpoint!.id}`));
    assert.equal(page.status, 200);
    assert.ok(!page.body.includes(secret!.slice(6)));

    const outsider = await createUser(t);
    await happens(outsider.id);
    await happens(member.id);
    await t.services.webhooks.runOnce();
    const events = hook.received.map((r) => verified(secret!, r)).sort((a, b) => a.type.localeCompare(b.type));
    assert.deepEqual(events.map((e) => [e.type, e.data.accountId]), [['admin.action', admin.id], ['password.changed', member.id]],
      'its own registration (the admin is a member) and the member\'s password change; nothing of the outsider');
    assert.equal(events[0]!.data.auditType, 'admin.webhook.created');
    // the delivery log on the endpoint's page
    const logged = await agent.visit(url(`${BASE}/${endpoint!.id}`));
    assert.match(logged.body, /<h2>Latest deliveries<\/h2>[\s\S]*<code>password\.changed<\/code>[\s\S]*Delivered \(200\)/);

    await t.services.audit.flush();
    const { items } = await t.services.admin.audit.query({ type: 'admin.webhook.created', accountId: admin.id });
    assert.equal(items.length, 1);
    assert.deepEqual(items[0]!.actor, { type: 'user', id: admin.id, label: admin.email });
    assert.equal(items[0]!.details.organisationId, org.id);
    assert.ok(!JSON.stringify(items).includes(secret!.slice(6)), 'no secret in the audit log');
  });

  it('edits, turns off, rotates the secret of and deletes the endpoint, each audited with the person as actor', async () => {
    const { admin, agent } = await organisation();
    const made = await register(agent);
    const first = secretOn(made)!;
    const id = /\/organisation\/webhooks\/(whk_[\w-]+)"/.exec(made.body)![1]!;

    const page = await agent.visit(url(`${BASE}/${id}`));
    const saved = await send(agent, page, new RegExp(`/webhooks/${id}$`), { url: hook.url, description: 'Paused for maintenance', type_password_changed: 'on', type_device_blocked: 'on' });
    assert.equal(saved.status, 200, saved.body.slice(0, 500));
    assert.match(saved.body, /The endpoint was saved\. It is off/);
    const after = await t.services.admin.webhooks.get(id);
    assert.deepEqual([after.description, after.enabled, after.types], ['Paused for maintenance', false, ['device.blocked', 'password.changed']]);

    const confirm = await agent.visit(url(`${BASE}/${id}/rotate`));
    assert.equal(confirm.status, 200);
    assert.match(confirm.body, /<p class="back"><a href="\/account\/security\/organisation\/webhooks\/whk_/, 'a way back');
    const rotated = await send(agent, confirm, /\/rotate$/, {});
    assert.equal(rotated.status, 200);
    const second = secretOn(rotated)!;
    assert.ok(second && second !== first);
    assert.match(rotated.body, /The old secret signs nothing from now on/);

    const deletion = await agent.visit(url(`${BASE}/${id}/delete`));
    const deleted = await send(agent, deletion, /\/delete$/, {});
    assert.equal(deleted.status, 200);
    assert.match(deleted.body, /was deleted: nothing more is sent to it/);
    assert.equal(await stored(id), null);

    await t.services.audit.flush();
    const { items } = await t.services.admin.audit.query({ type: 'admin.webhook.', accountId: admin.id });
    assert.deepEqual(items.map((e) => [e.type, e.outcome, e.actor.type, e.actor.id, e.subject?.id ?? '']).reverse(), [
      ['admin.webhook.created', 'success', 'user', admin.id, '-'],
      ['admin.webhook.updated', 'success', 'user', admin.id, id],
      ['admin.webhook.secret_rotated', 'success', 'user', admin.id, id],
      ['admin.webhook.deleted', 'success', 'user', admin.id, id],
    ]);
    assert.ok(!JSON.stringify(items).includes(second.slice(6)));
  });

  it('never shows, changes or deletes another organisation\'s endpoint or an all-accounts one (404, nothing changed)', async () => {
    const { agent } = await organisation();
    const other = await t.services.organisations.create(orgName());
    const theirs = (await t.services.admin.webhooks.create(COMMAND_LINE, { url: 'https://127.0.0.1:9/theirs', types: ['password.changed'], description: 'theirs', organisationId: other.id })).endpoint;
    const everyone = (await t.services.admin.webhooks.create(COMMAND_LINE, { url: 'https://127.0.0.1:9/all', types: ['password.changed'], description: 'all' })).endpoint;
    const own = await register(agent);
    const ownId = /\/organisation\/webhooks\/(whk_[\w-]+)"/.exec(own.body)![1]!;
    const ownPage = await agent.visit(url(`${BASE}/${ownId}`));
    const csrf = formOn(ownPage, new RegExp(`/webhooks/${ownId}$`)).fields._csrf!;

    const list = await agent.visit(url(BASE));
    assert.ok(!list.body.includes(theirs.id) && !list.body.includes(everyone.id) && list.body.includes(ownId));
    for (const endpoint of [theirs, everyone]) {
      const before = await stored(endpoint.id);
      for (const path of ['', '/rotate', '/delete']) {
        const seen = await agent.visit(url(`${BASE}/${endpoint.id}${path}`));
        assert.equal(seen.status, 404, path);
        assert.match(seen.body, /There is no such webhook endpoint of Org [\w]+ \(it may have been deleted\): nothing was changed/);
        assert.match(seen.body, /href="\/account\/security\/organisation\/webhooks\/whk_/, 'a way forward: the organisation\'s own endpoints');
      }
      const edit = await agent.request(url(`${BASE}/${endpoint.id}`), { form: { _csrf: csrf, url: 'https://127.0.0.1:9/mine-now', description: 'taken', type_admin_action: 'on', enabled: 'on' } });
      const rotate = await agent.request(url(`${BASE}/${endpoint.id}/rotate`), { form: { _csrf: csrf } });
      const remove = await agent.request(url(`${BASE}/${endpoint.id}/delete`), { form: { _csrf: csrf } });
      assert.deepEqual([edit.status, rotate.status, remove.status], [404, 404, 404]);
      assert.deepEqual(await stored(endpoint.id), before, 'nothing changed: URL, types, scope and sealed secret');
    }
    // an id that is not an endpoint id at all
    assert.equal((await agent.visit(url(`${BASE}/nonsense%20id`))).status, 404);
  });

  it('asks for the current password once the re-authentication window is over, and shows refusals beside their fields', async () => {
    const { org, admin, agent } = await organisation();
    const bad = await register(agent, { url: 'http://example.com/hook' });
    assert.equal(bad.status, 400);
    assert.match(bad.body, /id="url"[^>]*aria-describedby="url-hint url-error" aria-invalid="true">\s*<p class="error" id="url-error">The URL must start with https:\/\/[^<]*Nothing was saved\.<\/p>/);
    assert.match(bad.body, /value="http:\/\/example.com\/hook"/, 'what was typed is kept');
    assert.match(bad.body, /<li><a href="#url">URL<\/a><\/li>/, 'the summary at the top links to the field');
    const none = await register(agent, { type_password_changed: '' });
    assert.equal(none.status, 400);
    assert.match(none.body, /<fieldset aria-describedby="types-error">\s*<legend id="types-legend" tabindex="-1">Events to send<\/legend>\s*<p class="error" id="types-error">Choose at least one event type\.<\/p>/);
    const nested = await register(agent, { url: '', 'url[a]': hook.url, 'description[0]': 'x' });
    assert.equal(nested.status, 400, 'a field sent as anything but text is refused, never a 500');
    assert.match(nested.body, /<p class="error" id="url-error">Give one value\.<\/p>[\s\S]*<p class="error" id="description-error">Give one value\.<\/p>/);
    const refused = await register(agent, { url: 'https://10.0.0.1:notaport/x' });
    assert.equal(refused.status, 400);
    assert.match(refused.body, /<p class="error" id="url-error">The URL is not valid/);

    offset += (t.config.account.reauthMinutes + 1) * 60_000;
    const stale = await register(agent);
    assert.equal(stale.status, 400);
    assert.match(stale.body, /id="webhook-password-error" role="alert">Your current password is not right, or needed again/);
    assert.equal((await t.services.admin.webhooks.list()).filter((e) => e.organisationId === org.id).length, 0, 'nothing was registered');
    const made = await register(agent, { password: admin.password });
    assert.equal(made.status, 201);
    // no CSRF token: refused, nothing registered
    const before = (await t.services.admin.webhooks.list()).length;
    const forged = await agent.request(url(BASE), { form: { url: hook.url, type_password_changed: 'on', password: admin.password } });
    assert.equal(forged.status, 403);
    assert.equal((await t.services.admin.webhooks.list()).length, before);
  });

  it('gives a plain member and a person without an organisation no section, with a way forward', async () => {
    const { org, member } = await organisation();
    const loner = await createUser(t);
    const theirs = (await t.services.admin.webhooks.create(COMMAND_LINE, { url: 'https://127.0.0.1:9/org', types: ['password.changed'], organisationId: org.id })).endpoint;
    for (const [user, status, words] of [[member, 403, /Only your organisation&#39;s admins manage its webhooks\. Ask one of them/], [loner, 404, /your account does not belong to an organisation/]] as const) {
      const agent = await signedIn(user);
      const overview = await agent.visit(url('/account/security'));
      assert.ok(!overview.body.includes('/organisation/webhooks'), 'no section in the frame');
      for (const path of [BASE, `${BASE}/new`, `${BASE}/${theirs.id}`]) {
        const page = await agent.visit(url(path));
        assert.equal(page.status, status, path);
        assert.match(page.body, words);
        assert.match(page.body, /<a href="\/account\/security">Go to your security center<\/a>/);
      }
      const csrf = formOn(overview, /./).fields._csrf!;
      const posted = await agent.request(url(BASE), { form: { _csrf: csrf, url: hook.url, type_password_changed: 'on', password: user.password } });
      assert.equal(posted.status, status);
      const removed = await agent.request(url(`${BASE}/${theirs.id}/delete`), { form: { _csrf: csrf, password: user.password } });
      assert.equal(removed.status, status);
    }
    assert.ok(await stored(theirs.id), 'nothing deleted');
    assert.equal((await t.services.admin.webhooks.list()).filter((e) => e.url === hook.url).length, 0, 'nothing registered');
  });

  it('takes the section away at once from a person who stops being an organisation admin', async () => {
    const { org, admin, agent } = await organisation();
    const made = await register(agent);
    const id = /\/organisation\/webhooks\/(whk_[\w-]+)"/.exec(made.body)![1]!;
    const page = await agent.visit(url(`${BASE}/${id}`));
    await t.services.organisations.setMember(org.id, admin.id, false);
    const before = await stored(id);
    const edit = await send(agent, page, new RegExp(`/webhooks/${id}$`), { url: hook.url, description: 'changed after demotion', type_password_changed: 'on', enabled: 'on' });
    assert.equal(edit.status, 403);
    assert.deepEqual(await stored(id), before);
    assert.equal((await agent.visit(url(BASE))).status, 403);
    assert.ok(!(await agent.visit(url('/account/security'))).body.includes('/organisation/webhooks'));
    // and leaving the organisation altogether
    await t.services.organisations.setMember(org.id, admin.id, true);
    assert.equal((await agent.visit(url(BASE))).status, 200);
    await t.services.organisations.removeMember(org.id, admin.id);
    assert.equal((await agent.visit(url(BASE))).status, 404);
  });

  it('emails the organisation admins a link to their own page when Tessera turns their failing endpoint off', async () => {
    const { admin, agent } = await organisation();
    const made = await register(agent);
    const id = /\/organisation\/webhooks\/(whk_[\w-]+)"/.exec(made.body)![1]!;
    hook.answer([503]);
    const since = smtp.received.length;
    await happens(admin.id);
    for (let passes = 0; (await t.services.admin.webhooks.get(id)).enabled && passes < 40; passes++) {
      await t.services.webhooks.runOnce();
      offset += 3600_000;
    }
    const mail = await smtp.waitFor(admin.email, /webhook endpoint was turned off/, since);
    assert.ok(mail.text.includes(`${t.issuer}${BASE}/${id}`), mail.text);
    const page = await signedIn(admin).then((a) => a.visit(url(`${BASE}/${id}`)));
    assert.match(page.body, /Tessera turned this endpoint off: every delivery attempt failed for 24 hours/);
  });
});
