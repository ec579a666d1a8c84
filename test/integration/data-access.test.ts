// The data-access rule, checked on whichever server the suite runs against: every database
// lookup a request makes is a filter of exactly one key, `_id`, and explain() shows each
// collection answering such a lookup from an index once it holds thousands of documents.
import assert from 'node:assert/strict';
import path from 'node:path';
import * as oidc from 'openid-client';
import type { Model } from 'mongoose';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, signIn, signInAndGetTokens, type TestUser } from '../support/flow.ts';
import { recordCommands, isExactIdFilter, type Command } from '../support/commands.ts';
import { embeddedSqliteDir } from '../support/hooks.ts';

describe('data-access rule: every request-path lookup is an indexed _id lookup', () => {
  let t: Tessera;
  let rp: RelyingParty;
  let user: TestUser;
  let machine: { id: string; secret: string };

  before(async () => {
    t = await startTessera();
    rp = await RelyingParty.register(t, { grants: ['refresh_token'] });
    user = await createUser(t);
    const m = await t.services.clients.create({ clientId: 'machine-rule', redirectUris: [], grants: ['client_credentials'] });
    machine = { id: m.clientId, secret: m.clientSecret! };
  });
  after(() => t.close());

  // MongoDB's conditional update (db.updateIf) is `{ $and: [{ _id }, condition] }`: still an _id seek
  const servedByIdIndex = (filter: Record<string, unknown>) =>
    isExactIdFilter(filter) || (t.services.db.kind === 'mongodb' && Array.isArray(filter.$and) && isExactIdFilter(filter.$and[0] as Record<string, unknown>));

  const offenders = (commands: Command[]) => commands.flatMap((c) =>
    c.filters.filter((f) => !servedByIdIndex(f)).map((f) => `${c.name} ${c.collection} ${JSON.stringify(f)}`));

  it('holds through sign-in, consent, tokens, refresh, userinfo, introspection, revocation, SSO and logout', async () => {
    const recorder = recordCommands(t);
    try {
      const { agent, tokens } = await signInAndGetTokens(rp, user, { scope: 'openid email profile offline_access', prompt: 'consent' });
      const refreshed = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!);
      await oidc.fetchUserInfo(rp.config, refreshed.access_token, user.id);
      const introspected = await oidc.tokenIntrospection(rp.config, refreshed.access_token);
      assert.equal(introspected.active, true);
      // single sign-on: the session carries a second authorization without the password
      const again = await rp.authorize();
      assert.ok((await agent.visit(again.url)).url.includes('code='));
      await oidc.tokenRevocation(rp.config, refreshed.refresh_token!);
      const logout = await agent.visit(oidc.buildEndSessionUrl(rp.config, { id_token_hint: tokens.id_token! }).href);
      assert.equal(logout.status, 200);
      const cc = await fetch(`${t.issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${machine.id}:${machine.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      assert.equal(cc.status, 200);
      const failed = new UserAgent();
      await signIn(failed, (await rp.authorize()).url, { email: user.email, password: 'Wrong#Password1' }).catch(() => {});
    } finally {
      recorder.stop();
    }
    const lookups = recorder.commands.filter((c) => c.filters.length);
    assert.ok(lookups.length > 30, `the flows made database lookups (${lookups.length})`);
    assert.deepEqual(offenders(recorder.commands), [], 'every filter is exactly { _id }');
  });

  it('holds through a new device (code, trust), a trusted-device sign-in, the devices and trusted-IP pages and a blocked device', async () => {
    const careful = await createUser(t, { deviceVerification: true });
    await t.services.accounts.setSecondFactor(careful.id, 'email');
    const codeFor = (to: string) => /(\d{6}) is your Tessera sign-in code/.exec(t.services.outbox.list().find((m) => m.to === to && /sign-in code/.test(m.subject ?? ''))!.subject!)![1]!;
    const recorder = recordCommands(t);
    try {
      const agent = new UserAgent();
      let page = await agent.visit((await rp.authorize()).url);
      page = await agent.submit(page, /\/login$/, { email: careful.email, password: careful.password });
      assert.match(page.body, /New device/);
      page = await agent.submit(page, /\/device$/, { code: codeFor(careful.email), trust: 'yes' });
      page = await agent.submit(page, /\/confirm$/);
      assert.ok(page.url.includes('code='), 'signed in after the device code');
      // trusted now: the routine emailed code is skipped
      const again = await agent.visit((await rp.authorize({ prompt: 'login' })).url);
      assert.ok((await agent.submit(again, /\/login$/, { email: careful.email, password: careful.password })).url.includes('code='));
      assert.equal((await agent.visit(`${t.issuer}/account/security/devices`)).status, 200);
      assert.equal((await agent.visit(`${t.issuer}/account/security/ips`)).status, 200);
      const intruder = new UserAgent();
      let last = 0;
      for (let i = 0; i < 5; i++) {
        const login = await intruder.visit((await rp.authorize()).url);
        last = (await intruder.submit(login, /\/login$/, { email: careful.email, password: `Wrong#Password${i}` })).status;
      }
      assert.equal(last, 403, 'the fifth failure blocks the device');
    } finally {
      recorder.stop();
    }
    assert.deepEqual(offenders(recorder.commands), [], 'every filter is exactly { _id }');
    for (const name of ['devices', 'account_devices', 'sign_in_history_heads', 'trusted_ips']) {
      assert.ok(recorder.commands.some((c) => c.collection === name), `the flows used ${name}`);
    }
  });

  it('holds through the security center: password, PIN after sign-in, screen lock and unlock, phones, sessions, history', async () => {
    let offset = 0;
    const center = await startTessera({ clock: () => new Date(Date.now() + offset) });
    const recorder = recordCommands(center);
    try {
      const app = await RelyingParty.register(center, { skipConsent: true });
      const person = await createUser(center);
      await center.services.accounts.setPin(person.id, '4826');
      await center.services.accounts.setSessionSettings(person.id, { pinAfterSignIn: true, screenLockMinutes: 5 });
      // a history longer than a page: its page reads a bucket (the head holds only the newest page)
      const earlier = Date.now() - 3_600_000;
      await center.services.history.append(person.id, ...Array.from({ length: 25 }, (_, i) => ({ id: `earlier-${i}`, at: new Date(earlier + i * 1000), result: 'success' as const, factors: ['pwd'] })));
      const agent = new UserAgent();
      const pin = await agent.submit(await agent.visit((await app.authorize()).url), /\/login$/, { email: person.email, password: person.password });
      assert.ok((await agent.submit(pin, /\/pin$/, { pin: '4826' })).url.includes('code='));
      for (const path of ['/account/security', '/account/security/password', '/account/security/pin', '/account/security/phones', '/account/security/sessions', '/account/security/history']) {
        assert.equal((await agent.visit(`${center.issuer}${path}`)).status, 200, path);
      }
      const phones = await agent.visit(`${center.issuer}/account/security/phones`);
      assert.equal((await agent.submit(phones, /\/phones$/, { number: '+41 79 123 45 67', password: person.password })).status, 200);
      const sessions = await agent.visit(`${center.issuer}/account/security/sessions`);
      assert.equal((await agent.submit(sessions, /\/end-others$/, { password: person.password })).status, 200);
      offset += 6 * 60_000;
      const locked = await agent.visit(`${center.issuer}/account/security`);
      assert.match(locked.body, /Unlock/);
      assert.match((await agent.submit(locked, /\/unlock$/, { pin: '4826' })).body, /Signed in as/);
    } finally {
      recorder.stop();
      await center.close();
    }
    assert.deepEqual(offenders(recorder.commands), [], 'every filter is exactly { _id }');
    for (const name of ['sign_in_history', 'sign_in_history_heads', 'account_phones']) {
      assert.ok(recorder.commands.some((c) => c.collection === name), `the flows used ${name}`);
    }
    assert.ok(recorder.commands.some((c) => c.collection === 'oidc_session' && c.filters.some((f) => String(f._id).startsWith('rec:'))), 'the flows used session records');
  });

  it('explain() shows an index seek on every collection at a few thousand documents', async function () {
    this.timeout(120_000);
    const { db } = t.services;
    const models = Object.values(db.connection.models) as Model<unknown>[];
    assert.ok(models.length >= 18, `every store registered its models (${models.length})`);
    const expiresAt = new Date(Date.now() + 3_600_000);
    // a collection two stores share (the interaction and its flow record) is filled once
    const byCollection = new Map(models.map((m) => [m.collection.name, m]));
    for (const model of byCollection.values()) {
      const docs = Array.from({ length: 2000 }, (_, i) => ({ _id: `explain-${model.collection.name}-${i}`, payload: {}, expiresAt }));
      await model.collection.insertMany(docs as never[], { ordered: false });
    }
    // the embedded server's keeper looks for new collections every 100 ms
    let unindexed: string[] = [];
    for (const deadline = Date.now() + 30_000; ; await new Promise((r) => setTimeout(r, 100))) {
      unindexed = [];
      for (const model of models) if (!(await db.idLookupIndexed(model))) unindexed.push(model.collection.name);
      if (!unindexed.length || Date.now() > deadline) break;
    }
    assert.deepEqual(unindexed, [], `${db.kind}: find({ _id }) seeks an index`);
  });

  it('purges expired documents on the embedded server through an index, reading only what expired', async function () {
    const dir = embeddedSqliteDir();
    if (!dir) this.skip(); // MongoDB: TTL indexes (adapter test)
    const { DatabaseSync } = await import('node:sqlite');
    const file = path.join(dir!, `${t.services.db.connection.name}.sqlite`);
    const sqlite = new DatabaseSync(file, { readOnly: true });
    try {
      const tables = sqlite.prepare('SELECT table_name AS t FROM _ferretdb_collections').all() as { t: string }[];
      assert.ok(tables.length >= 18);
      for (const { t: table } of tables) {
        // the statement tools/ferretdb/keeper.go runs
        const plan = sqlite.prepare(`EXPLAIN QUERY PLAN DELETE FROM "${table}" WHERE _ferretdb_sjson->>'$.expiresAt' <= ?`).all(Date.now()) as { detail: string }[];
        const details = plan.map((p) => p.detail).join('; ');
        assert.match(details, new RegExp(`USING INDEX ${table}_tessera_expires`), `${table}: ${details}`);
      }
    } finally {
      sqlite.close();
    }
  });
});
