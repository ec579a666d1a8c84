// A session's record (sessions/store.ts) lives beside the provider's sessions (`oidc_session`,
// `rec:<uid>`): a new session's record goes in the command that writes the session (after its
// pointer, before the session), a record an earlier version kept in `session_records` is still
// found and moves on its first read, and a write that waited for a session's save and found none
// still happens (db/ride-along.ts).
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, signIn } from '../support/flow.ts';
import { recordCommands } from '../support/commands.ts';
import { withRequestMemo } from '../../src/db/request-memo.ts';
import { flushRiders, rideWith, ridersOf } from '../../src/db/ride-along.ts';

describe('session record storage', () => {
  let t: Tessera;
  let rp: RelyingParty;
  before(async () => {
    t = await startTessera();
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(() => t.close());

  const sessionDocs = () => t.services.db.connection.collection<{ _id: string } & Record<string, unknown>>('oidc_session');
  const earlierRecords = () => t.services.db.connection.collection<{ _id: string } & Record<string, unknown>>('session_records');

  async function signedIn() {
    const user = await createUser(t);
    const recorder = recordCommands(t);
    try {
      await signIn(new UserAgent(), (await rp.authorize()).url, user);
    } finally {
      recorder.stop();
    }
    const [uid] = (await t.services.storage.sessionsOf(user.id)).map((p) => p.uid as string);
    return { user, uid: uid!, commands: recorder.commands };
  }

  it("writes a new session's record in the session's own command: its pointer, the record, then the session", async () => {
    const { user, uid, commands } = await signedIn();
    assert.deepEqual(commands.filter((c) => c.collection === 'session_records'), [], 'nothing in the earlier collection');
    const writes = commands.filter((c) => c.collection === 'oidc_session' && c.name === 'update');
    const withRecord = writes.filter((c) => c.filters.some((f) => f._id === `rec:${uid}`));
    assert.equal(withRecord.length, 1, 'one command carries the record');
    const ids = withRecord[0]!.filters.map((f) => String(f._id));
    assert.equal(ids.length, 3);
    assert.deepEqual(ids.slice(0, 2), [`uid:${uid}`, `rec:${uid}`], 'the pointer, then the record');
    assert.ok(!ids[2]!.includes(':'), 'then the session itself');
    const record = await sessionDocs().findOne({ _id: `rec:${uid}` });
    assert.equal(record?.accountId, user.id);
    assert.ok(record?.expiresAt instanceof Date, 'it expires (TTL index on MongoDB, the keeper here)');
    assert.deepEqual((await t.services.sessions.proofsOf(uid, user.id))?.map((p) => p.factor), ['password']);
  });

  it('keeps the record out of the session listings', async () => {
    const { uid } = await signedIn();
    const listed = await t.services.storage.list('Session');
    assert.ok(listed.some((p) => p.uid === uid), 'the session is listed');
    assert.ok(listed.every((p) => typeof p.uid === 'string'), 'no record (nor pointer) among them');
  });

  it('finds a record an earlier version kept in session_records, and moves it beside the sessions on that read', async () => {
    const { user, uid } = await signedIn();
    const current = (await sessionDocs().findOne({ _id: `rec:${uid}` }))!;
    const { _id: _current, ...fields } = current;
    await sessionDocs().deleteOne({ _id: `rec:${uid}` });
    await earlierRecords().insertOne({ _id: uid, ...fields, locked: true });
    assert.deepEqual((await t.services.sessions.proofsOf(uid, user.id))?.map((p) => p.factor), ['password'], 'found');
    assert.equal((await sessionDocs().findOne({ _id: `rec:${uid}` }))?.locked, true, 'moved, as it was (a locked session stays locked)');
    assert.equal(await earlierRecords().countDocuments({ _id: uid }), 0, 'gone from the earlier collection');
  });

  it('writes a waiting write on its own when no write took it by the end of the request, and never twice', async () => {
    const sent: string[] = [];
    const rider = (name: string) => ({ statement: { name }, alone: async () => { sent.push(name); } });
    assert.equal(rideWith('k', rider('outside')), false, 'outside a request nothing waits');
    await withRequestMemo(async () => {
      assert.equal(rideWith('session:a', rider('taken')), true);
      assert.equal(rideWith('session:b', rider('left')), true);
      assert.deepEqual(ridersOf('session:a').map((r) => r.statement.name), ['taken'], 'the write it waited for takes it');
      assert.deepEqual(ridersOf('session:a'), [], 'once');
      await flushRiders();
      await flushRiders();
    });
    assert.deepEqual(sent, ['left'], 'only the one nothing took, once');
  });
});
