// The oidc-provider adapter against the real database: every method, and expiry honoured on read
// without relying on TTL indexes (FerretDB has none; MongoDB's monitor runs only once a minute).
import assert from 'node:assert/strict';
import { connectDatabase, type Database } from '../../src/db/database.ts';
import { createOidcStorage, type OidcStorage } from '../../src/oidc/adapter.ts';
import { databaseServerUri } from '../support/hooks.ts';
import { freshDatabaseName } from '../support/tessera.ts';

describe('MongoDB adapter for oidc-provider', () => {
  let db: Database;
  let storage: OidcStorage;
  let now = new Date('2030-01-01T00:00:00Z');

  before(async () => {
    db = await connectDatabase(`${databaseServerUri()}${freshDatabaseName('adapter')}`, { serverSelectionTimeoutMs: 5000, connectTimeoutMs: 5000 });
    storage = createOidcStorage(db, () => now);
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

  it('marks a token consumed without deleting it', async () => {
    const codes = storage.adapter('AuthorizationCode');
    await codes.upsert('c1', { jti: 'c1', kind: 'AuthorizationCode', grantId: 'g1' }, 60);
    await codes.consume('c1');
    assert.equal((await codes.find('c1'))!.consumed, Math.floor(now.getTime() / 1000));
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

  it('uses a TTL index where the server has them, and the purge where it does not', async () => {
    const indexes = await db.connection.collection('oidc_session').indexes();
    const expiry = indexes.find((i) => i.key.expiresAt === 1);
    assert.ok(expiry, 'expiresAt is indexed');
    if (db.kind === 'mongodb') assert.equal(expiry.expireAfterSeconds, 0);
    else {
      console.log('      (FerretDB: no TTL index support; expiry is enforced by read filters and the periodic purge)');
      assert.equal(expiry.expireAfterSeconds, undefined);
    }
    assert.ok(indexes.some((i) => i.key['payload.uid'] === 1 && i.unique), 'session uid is unique');
    assert.ok(indexes.some((i) => i.key['payload.accountId'] === 1), 'sessions are findable by account');
  });
});
