// The oidc-provider adapter against the real database: every method, and expiry honoured on read
// without relying on TTL indexes (FerretDB has none; MongoDB's monitor runs only once a minute).
import assert from 'node:assert/strict';
import { connectDatabase, type Database } from '../../src/db/database.ts';
import { createOidcStorage, type OidcStorage } from '../../src/oidc/adapter.ts';
import { withSealedClientSecrets } from '../../src/oidc/clients.ts';
import { createSealer, type Sealer } from '../../src/crypto/seal.ts';
import { databaseServerUri } from '../support/hooks.ts';
import { freshDatabaseName } from '../support/tessera.ts';

const TOKEN_KEY = Buffer.alloc(32, 7);

describe('MongoDB adapter for oidc-provider', () => {
  let db: Database;
  let storage: OidcStorage;
  let now = new Date('2030-01-01T00:00:00Z');

  before(async () => {
    db = await connectDatabase(`${databaseServerUri()}${freshDatabaseName('adapter')}`, { serverSelectionTimeoutMs: 5000, connectTimeoutMs: 5000 });
    storage = createOidcStorage(db, { clock: () => now, tokenKey: TOKEN_KEY });
    await db.init();
  });
  after(() => db.close());

  it('stores payloads verbatim, including empty objects and nested keys', async () => {
    const sessions = storage.adapter('Session');
    const payload = { jti: 's1', uid: 'u1', kind: 'Session', accountId: 'a1', authorizations: { 'client-a': { sid: 'x', grantId: 'g' } }, state: {}, amr: ['pwd'] };
    await sessions.upsert('s1', payload, 60);
    assert.deepEqual(await sessions.find('s1'), payload);
    assert.deepEqual(await sessions.findByUid!('u1'), payload);
    await sessions.upsert('s1', { ...payload, accountId: 'a2' }, 60);
    assert.equal((await sessions.find('s1'))!.accountId, 'a2', 'upsert replaces');
  });

  it('seals client secrets at rest and opens each sealed value once per process, however often the client is read', async () => {
    const real = createSealer(Buffer.alloc(32, 9).toString('base64'));
    const opens: string[] = [];
    const counting: Sealer = { seal: (v, c) => real.seal(v, c), open: (v, c) => { opens.push(c); return real.open(v, c); } };
    const clients = withSealedClientSecrets(storage, counting).adapter('Client');
    await clients.upsert('sealed-app', { client_id: 'sealed-app', client_secret: 'first-secret' });
    const stored = await storage.adapter('Client').find('sealed-app');
    assert.match(String(stored!.client_secret), /^v1\./, 'sealed in the database');
    for (let i = 0; i < 5; i++) assert.equal((await clients.find('sealed-app'))!.client_secret, 'first-secret');
    assert.deepEqual(opens, ['client-secret:sealed-app'], 'opened once');
    // a new secret is a new sealed value: opened once too, and the old one is not served
    await clients.upsert('sealed-app', { client_id: 'sealed-app', client_secret: 'second-secret' });
    for (let i = 0; i < 3; i++) assert.equal((await clients.find('sealed-app'))!.client_secret, 'second-secret');
    assert.equal(opens.length, 2);
    // a value sealed for another client cannot be opened as this one's
    await storage.adapter('Client').upsert('other-app', { client_id: 'other-app', client_secret: stored!.client_secret });
    await assert.rejects(clients.find('other-app'));
    for (const id of ['sealed-app', 'other-app']) await storage.adapter('Client').destroy(id);
  });

  it('marks a token consumed without deleting it', async () => {
    const codes = storage.adapter('AuthorizationCode');
    await codes.upsert('c1', { jti: 'c1', kind: 'AuthorizationCode', grantId: 'g1' }, 60);
    await codes.consume('c1');
    assert.equal((await codes.find('c1'))!.consumed, Math.floor(now.getTime() / 1000));
  });

  it('lets exactly one of 20 simultaneous consumes of a code win, and keeps the first time', async () => {
    const codes = storage.adapter('AuthorizationCode');
    await codes.upsert('c-race', { jti: 'c-race', kind: 'AuthorizationCode', grantId: 'g1' }, 60);
    const first = Math.floor(now.getTime() / 1000);
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => codes.consume('c-race')));
    assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
    now = new Date(now.getTime() + 5_000);
    await assert.rejects(codes.consume('c-race'), (err: Error & { error_detail?: string }) => /already consumed/.test(err.error_detail ?? ''));
    assert.equal((await codes.find('c-race'))!.consumed, first, 'a refused consume changes nothing');
    await assert.rejects(codes.consume('never-issued'), { name: 'InvalidGrant' });
    assert.equal(await codes.find('never-issued'), undefined, 'nor creates anything');
  });

  it('keeps a client it read for CLIENT_CACHE_SECONDS: its own changes show at once, another process\'s within that time', async () => {
    const name = freshDatabaseName('client-cache');
    const [dbA, dbB] = await Promise.all([0, 1].map(() => connectDatabase(`${databaseServerUri()}${name}`, { serverSelectionTimeoutMs: 5000, connectTimeoutMs: 5000 })));
    try {
      const here = createOidcStorage(dbA!, { clock: () => now, tokenKey: TOKEN_KEY, clientCacheSeconds: 5 }).adapter('Client');
      const elsewhere = createOidcStorage(dbB!, { clock: () => now, tokenKey: TOKEN_KEY }).adapter('Client');
      await dbA!.init();
      await here.upsert('app', { client_id: 'app', client_name: 'One' });
      assert.equal((await here.find('app'))!.client_name, 'One');
      await here.upsert('app', { client_id: 'app', client_name: 'Two' });
      assert.equal((await here.find('app'))!.client_name, 'Two', 'this process\'s write applies at once');
      await elsewhere.upsert('app', { client_id: 'app', client_name: 'Three' });
      assert.equal((await here.find('app'))!.client_name, 'Two', 'another process\'s write: kept for a while');
      now = new Date(now.getTime() + 5_001);
      assert.equal((await here.find('app'))!.client_name, 'Three', 'and read again after CLIENT_CACHE_SECONDS');
      await elsewhere.destroy('app');
      assert.equal(await elsewhere.find('app'), undefined);
      now = new Date(now.getTime() + 5_001);
      assert.equal(await here.find('app'), undefined, 'a deleted client is gone after CLIENT_CACHE_SECONDS');
      assert.equal(await here.find('unknown'), undefined);
      await elsewhere.upsert('unknown', { client_id: 'unknown', client_name: 'New' });
      assert.equal((await here.find('unknown'))!.client_name, 'New', 'an unknown client_id is not kept: a new client works at once');
      await here.destroy('unknown');
      assert.equal(await here.find('unknown'), undefined, 'this process\'s delete applies at once');
    } finally {
      await Promise.all([dbA!.close(), dbB!.close()]);
    }
  });

  it('destroys one document and revokes everything of a grant', async () => {
    const access = storage.adapter('AccessToken');
    await access.upsert('t1', { jti: 't1', kind: 'AccessToken', grantId: 'g2' }, 60);
    await access.upsert('t2', { jti: 't2', kind: 'AccessToken', grantId: 'g2' }, 60);
    await access.upsert('t3', { jti: 't3', kind: 'AccessToken', grantId: 'other' }, 60);
    await access.destroy('t3');
    assert.equal(await access.find('t3'), undefined);
    await access.revokeByGrantId!('g2');
    assert.equal(await access.find('t1'), undefined);
    assert.equal(await access.find('t2'), undefined);
  });

  it('hides expired documents on every read and purges them on demand', async () => {
    const interactions = storage.adapter('Interaction');
    const sessions = storage.adapter('Session');
    await interactions.upsert('i1', { jti: 'i1', kind: 'Interaction' }, 30);
    await sessions.upsert('s-exp', { jti: 's-exp', uid: 'u-exp', kind: 'Session' }, 30);
    now = new Date(now.getTime() + 29_000);
    assert.ok(await interactions.find('i1'), 'alive before its expiry');
    now = new Date(now.getTime() + 2_000);
    assert.equal(await interactions.find('i1'), undefined, 'gone after its expiry');
    assert.equal(await sessions.findByUid!('u-exp'), undefined);
    assert.ok(await db.purgeExpired(now) >= 2);
    const left = await db.connection.collection('oidc_interaction').countDocuments({ _id: 'i1' as never });
    assert.equal(left, 0, 'the purge removed the document');
  });

  it('keeps documents without a lifetime (clients, grants without expiry)', async () => {
    const clients = storage.adapter('Client');
    await clients.upsert('client-x', { client_id: 'client-x' } as never, 0);
    now = new Date(now.getTime() + 10 * 365 * 86_400_000);
    assert.deepEqual(await clients.find('client-x'), { client_id: 'client-x' });
    assert.deepEqual((await storage.list('Client')).map((c) => c.client_id), ['client-x']);
  });

  it('uses a TTL index on MongoDB, and the keeper\'s indexed purge on the embedded server', async function () {
    const expired = { _id: `purge-${Date.now()}`, payload: { kind: 'Interaction' }, expiresAt: new Date(Date.now() - 1000) };
    const interactions = db.connection.collection<{ _id: string }>('oidc_interaction');
    if (db.kind === 'mongodb') {
      const ttl = (await interactions.indexes()).find((i) => i.key.expiresAt === 1);
      assert.equal(ttl?.expireAfterSeconds, 0, 'a TTL index on expiresAt');
      return;
    }
    // the suite's embedded server purges every second (test/support/hooks.ts); real clock here
    await interactions.insertOne(expired);
    const live = { _id: `${expired._id}-live`, payload: {}, expiresAt: new Date(Date.now() + 3_600_000) };
    await interactions.insertOne(live);
    this.timeout(60_000);
    // a busy machine may take far longer than a second to get to it: not the failure under test
    for (const deadline = Date.now() + 30_000; await interactions.countDocuments({ _id: expired._id });) {
      assert.ok(Date.now() < deadline, 'the keeper removed the expired document');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await interactions.countDocuments({ _id: live._id }), 1, 'a live document stays');
  });

  it('finds a session by uid after sign-in gave it a new identifier', async () => {
    const sessions = storage.adapter('Session');
    const payload = { uid: 'uid-renew', kind: 'Session', accountId: 'acct-renew', exp: 1 };
    await sessions.upsert('jti-old', { ...payload, jti: 'jti-old' }, 600);
    assert.equal((await sessions.findByUid!('uid-renew'))!.jti, 'jti-old');
    await sessions.destroy('jti-old');
    await sessions.upsert('jti-new', { ...payload, jti: 'jti-new' }, 600);
    assert.equal((await sessions.findByUid!('uid-renew'))!.jti, 'jti-new');
    assert.equal(await sessions.find('jti-old'), undefined);
  });

  it('finds the current session by uid from another process after the identifier changed there', async () => {
    const other = await connectDatabase(`${databaseServerUri()}${db.connection.name}`, { serverSelectionTimeoutMs: 5000, connectTimeoutMs: 5000 });
    try {
      const there = createOidcStorage(other, { clock: () => now, tokenKey: TOKEN_KEY }).adapter('Session');
      await other.init();
      const here = storage.adapter('Session');
      const payload = { uid: 'uid-xproc', kind: 'Session', accountId: 'acct-xproc' };
      await here.upsert('xp-1', { ...payload, jti: 'xp-1' }, 600);
      assert.equal((await there.findByUid!('uid-xproc'))!.jti, 'xp-1', 'through the pointer');
      await here.destroy('xp-1');
      await here.upsert('xp-2', { ...payload, jti: 'xp-2' }, 600);
      assert.equal((await there.findByUid!('uid-xproc'))!.jti, 'xp-2', 'a stale remembered id is not trusted');
      await here.destroy('xp-2');
      assert.equal(await there.findByUid!('uid-xproc'), undefined, 'a signed-out session is gone everywhere');
    } finally {
      await other.close();
    }
  });

  /**
   * A second connection to this database that sees its own commands: `run` gets an adapter of
   * `model` on it, and the update commands it sent come back (name, collection, each statement's _id).
   */
  async function updatesSent(model: string, run: (adapter: ReturnType<OidcStorage['adapter']>) => Promise<void>) {
    const watched = await connectDatabase(`${databaseServerUri()}${db.connection.name}`, { serverSelectionTimeoutMs: 5000, connectTimeoutMs: 5000, monitorCommands: true });
    try {
      const adapter = createOidcStorage(watched, { clock: () => now, tokenKey: TOKEN_KEY }).adapter(model);
      await watched.init();
      const sent: { name: string; collection: unknown; ids: unknown[] }[] = [];
      const client = watched.connection.getClient();
      const listen = (e: { commandName: string; command: Record<string, unknown> }) => {
        const statements = (e.command.updates as { q: { _id: unknown } }[] | undefined) ?? [];
        sent.push({ name: e.commandName, collection: e.command[e.commandName], ids: statements.map((u) => u.q._id) });
      };
      client.on('commandStarted', listen);
      try {
        await run(adapter);
      } finally {
        client.off('commandStarted', listen);
      }
      return sent;
    } finally {
      await watched.close();
    }
  }

  it("writes a new session's pointer and the session in one command (the pointer first), beside the sessions", async () => {
    const sent = await updatesSent('Session', async (sessions) => {
      await sessions.upsert('one-cmd', { jti: 'one-cmd', uid: 'uid-one-cmd', kind: 'Session' }, 600);
      await sessions.upsert('one-cmd', { jti: 'one-cmd', uid: 'uid-one-cmd', kind: 'Session', amr: ['pwd'] }, 600);
      now = new Date(now.getTime() + 13 * 3600_000);
      await sessions.upsert('one-cmd', { jti: 'one-cmd', uid: 'uid-one-cmd', kind: 'Session', amr: ['pwd'] }, 600);
    });
    assert.deepEqual(sent, [
      { name: 'update', collection: 'oidc_session', ids: ['uid:uid-one-cmd', 'one-cmd'] },
      { name: 'update', collection: 'oidc_session', ids: ['one-cmd'] },
      { name: 'update', collection: 'oidc_session', ids: ['uid:uid-one-cmd', 'one-cmd'] },
    ], 'a new pointer goes with the session; a session saved again goes alone (its pointer outlives it); 13 hours on, the pointer goes again');
    assert.equal((await db.connection.collection('oidc_session').findOne({ _id: 'uid:uid-one-cmd' as never }))!.expiresAt.getTime(), now.getTime() + 600_000 + 86_400_000, 'a pointer that would outlive its session by less than half its margin is written again');
    const pointer = await db.connection.collection('oidc_session').findOne({ _id: 'uid:uid-one-cmd' as never });
    assert.equal(pointer?.jti, 'one-cmd');
    assert.deepEqual((await storage.list('Session')).filter((p) => p.uid === 'uid-one-cmd').length, 1, 'a listing of sessions shows no pointer');
  });

  it("writes a token and its grant's entry in one command (the entry first), beside the tokens of its model", async () => {
    const sent = await updatesSent('AuthorizationCode', (codes) => codes.upsert('code-one-cmd', { jti: 'code-one-cmd', kind: 'AuthorizationCode', grantId: 'g-one-cmd' }, 60));
    assert.equal(sent.length, 1, JSON.stringify(sent));
    assert.equal(sent[0]!.collection, 'oidc_authorization_code');
    assert.equal(sent[0]!.ids[0], 'grant:g-one-cmd', 'the entry first');
    assert.equal(sent[0]!.ids.length, 2);
    const entry = await db.connection.collection('oidc_authorization_code').findOne({ _id: 'grant:g-one-cmd' as never });
    assert.deepEqual(Object.keys(entry!.ids), [sent[0]!.ids[1]], 'it lists the code (by its stored, keyed id)');
    assert.equal(entry!.expiresAt.getTime(), now.getTime() + 60_000, 'and lives as long as it');
    assert.ok(await storage.lastIssued('g-one-cmd'), 'when the grant last issued something');
    assert.deepEqual((await storage.list('AuthorizationCode')).filter((p) => p.grantId === 'g-one-cmd').length, 1, 'a listing shows no entry');
    await storage.adapter('AuthorizationCode').revokeByGrantId!('g-one-cmd');
    assert.equal(await storage.adapter('AuthorizationCode').find('code-one-cmd'), undefined, 'revoking the grant finds the code');
    assert.equal(await db.connection.collection('oidc_authorization_code').countDocuments({ _id: 'grant:g-one-cmd' as never }), 0, 'and the entry goes');
  });

  it('revokes the tokens an earlier version listed in oidc_grant_tokens, and tells when they were issued', async () => {
    const access = storage.adapter('AccessToken');
    await access.upsert('at-earlier', { jti: 'at-earlier', kind: 'AccessToken', grantId: 'g-earlier' }, 600);
    const stored = (await db.connection.collection('oidc_access_token').findOne({ _id: 'grant:g-earlier' as never }))!;
    // as an earlier version left it: the list in oidc_grant_tokens, no entry beside the tokens
    await db.connection.collection('oidc_access_token').deleteOne({ _id: 'grant:g-earlier' as never });
    await db.connection.collection('oidc_grant_tokens').insertOne({ _id: 'g-earlier' as never, AccessToken: stored.ids, expiresAt: stored.expiresAt });
    assert.ok(await storage.lastIssued('g-earlier'));
    await access.revokeByGrantId!('g-earlier');
    assert.equal(await access.find('at-earlier'), undefined);
    assert.equal((await db.connection.collection('oidc_grant_tokens').findOne({ _id: 'g-earlier' as never }))?.AccessToken, undefined, 'its list goes');
  });

  it('finds a session by a pointer an earlier version wrote (oidc_session_uid)', async () => {
    await db.connection.collection('oidc_session').insertOne({ _id: 'jti-earlier' as never, payload: { jti: 'jti-earlier', uid: 'uid-earlier', kind: 'Session' }, expiresAt: new Date(now.getTime() + 600_000) });
    await db.connection.collection('oidc_session_uid').insertOne({ _id: 'uid-earlier' as never, jti: 'jti-earlier', expiresAt: new Date(now.getTime() + 600_000) });
    assert.equal((await storage.adapter('Session').findByUid!('uid-earlier'))!.jti, 'jti-earlier');
    assert.equal(await storage.adapter('Session').findByUid!('uid-never'), undefined);
  });

  it('consumes a code once: the second consume fails the request', async () => {
    const codes = storage.adapter('AuthorizationCode');
    await codes.upsert('once', { jti: 'once', kind: 'AuthorizationCode', grantId: 'g-once' }, 60);
    await codes.consume('once');
    await assert.rejects(codes.consume('once'), { error: 'invalid_grant', error_detail: 'AuthorizationCode already consumed' });
    await assert.rejects(codes.consume('never-issued'), { error: 'invalid_grant' });
  });

  it('revokes every token of a grant, per model, and nothing of another grant', async () => {
    const access = storage.adapter('AccessToken');
    const refresh = storage.adapter('RefreshToken');
    for (const i of [1, 2, 3]) await access.upsert(`at-g${i}`, { jti: `at-g${i}`, kind: 'AccessToken', grantId: 'g-rev' }, 600);
    await refresh.upsert('rt-g', { jti: 'rt-g', kind: 'RefreshToken', grantId: 'g-rev' }, 6000);
    await access.upsert('at-other', { jti: 'at-other', kind: 'AccessToken', grantId: 'g-keep' }, 600);
    await access.revokeByGrantId!('g-rev');
    for (const i of [1, 2, 3]) assert.equal(await access.find(`at-g${i}`), undefined);
    assert.ok(await refresh.find('rt-g'), 'only the access tokens were asked for');
    assert.ok(await access.find('at-other'));
    await refresh.revokeByGrantId!('g-rev');
    assert.equal(await refresh.find('rt-g'), undefined);
  });

  it('lists the live sessions and grants of one account and forgets those gone for good', async () => {
    const sessions = storage.adapter('Session');
    const grants = storage.adapter('Grant');
    await sessions.upsert('s-a1', { jti: 's-a1', uid: 'u-a1', kind: 'Session', accountId: 'acct-list' }, 600);
    await sessions.upsert('s-a2', { jti: 's-a2', uid: 'u-a2', kind: 'Session', accountId: 'acct-list' }, 600);
    await sessions.upsert('s-b', { jti: 's-b', uid: 'u-b', kind: 'Session', accountId: 'acct-other' }, 600);
    await grants.upsert('g-a', { jti: 'g-a', kind: 'Grant', accountId: 'acct-list', clientId: 'c' }, 600);
    await grants.upsert('g-b', { jti: 'g-b', kind: 'Grant', accountId: 'acct-other', clientId: 'c' }, 600);
    assert.deepEqual((await storage.sessionsOf('acct-list')).map((s) => s.uid).sort(), ['u-a1', 'u-a2']);
    assert.deepEqual((await storage.grantsOf('acct-list')).map((g) => g.jti), ['g-a']);
    await grants.destroy('g-a');
    await sessions.destroy('s-a1');
    assert.deepEqual((await storage.sessionsOf('acct-list')).map((s) => s.uid), ['u-a2']);
    assert.deepEqual(await storage.grantsOf('acct-list'), []);
    const refs = () => db.connection.collection<{ _id: string; grants?: object }>('oidc_account_refs').findOne({ _id: 'acct-list' });
    // a reference is written before its document (crash rule): for a minute a missing document may
    // be one still being written, so its reference stays; after that it is pruned
    assert.deepEqual(Object.keys((await refs())?.grants ?? {}), ['g-a'], 'kept within the first minute');
    now = new Date(now.getTime() + 61_000);
    assert.deepEqual(await storage.grantsOf('acct-list'), []);
    assert.deepEqual((await refs())?.grants, {}, 'the destroyed grant is no longer listed');
  });
});
