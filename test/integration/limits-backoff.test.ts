// One document per limit dimension (limits/backoff-store.ts): a sign-in reads `limits` once per
// dimension, the count and the lock live together with the lock outliving the count, counting is
// exact in parallel on both guard lines, and the separate counts and locks an earlier version wrote
// are folded in at start-up so a deploy unlocks no one. Time moves on Tessera's injected clock.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTessera, freshDatabaseName, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, type TestUser } from '../support/flow.ts';
import { attempt, movableClock, passed, refused } from '../support/sign-in-attempts.ts';
import { isExactIdFilter, recordCommands } from '../support/commands.ts';
import { createBackoffStore } from '../../src/limits/backoff-store.ts';
import type { LimitDoc, LimitModel } from '../../src/limits/store.ts';

const LIMITS = { LOCKOUT_AFTER: '5', LOCKOUT_KNOWN_DEVICE_AFTER: '8', LOCKOUT_IP_AFTER: '1000', LOCKOUT_SECONDS: '600', LOCKOUT_MAX_SECONDS: '3600', LOCKOUT_MEMORY_SECONDS: '60', DEVICE_MAX_FAILURES: '100' };

const wrong = (u: TestUser) => ({ email: u.email, password: 'Wrong#Horse9' });

const limitDocs = async (t: Tessera, prefix: string) =>
  (await t.services.db.connection.collection<LimitDoc>('limits').find({}).toArray()).filter((d) => d._id.startsWith(prefix));

describe('limits: one document per dimension', () => {
  const time = movableClock();
  let t: Tessera;
  let rp: RelyingParty;

  before(async () => {
    t = await startTessera({ clock: time.clock, env: LIMITS });
    rp = await RelyingParty.register(t);
  });
  after(() => t.close());

  it('a password sign-in reads its three dimensions of `limits` (IP, account, account+browser) in one command, by a list of _ids, and writes nothing on a clean slate', async () => {
    const user = await createUser(t);
    const agent = new UserAgent();
    const page = await agent.visit((await rp.authorize({ prompt: 'login' })).url);
    const recorder = recordCommands(t);
    try {
      assert.ok(passed(await agent.submit(page, /\/login$/, { email: user.email, password: user.password })));
    } finally {
      recorder.stop();
    }
    const onLimits = recorder.commands.filter((c) => c.collection === 'limits');
    assert.deepEqual(onLimits.map((c) => c.name), ['find']);
    assert.ok(onLimits.every((c) => c.filters.every(isExactIdFilter)), JSON.stringify(onLimits.map((c) => c.filters)));
    assert.equal((onLimits[0]!.filters[0]!._id as { $in: string[] }).$in.length, 3);
  });

  it('a passkey success reads its two dimensions in one command and a code check its one; a clean slate clears nothing', async () => {
    const recorder = recordCommands(t);
    try {
      const party = { browserId: randomBytes(8).toString('hex'), ip: '192.0.2.77' };
      const state = await t.services.limits.passkeyState(party);
      assert.equal(state.locked, false);
      await state.succeeded();
      assert.equal(await t.services.limits.codesLockedFor({ accountId: randomBytes(8).toString('hex'), knownDevice: false }), 0);
    } finally {
      recorder.stop();
    }
    assert.deepEqual(recorder.commands.filter((c) => c.collection === 'limits').map((c) => c.name), ['find', 'find']);
  });

  it('keeps each dimension\'s count and lock in one document: the lock holds after the count is forgotten, then a new count starts', async () => {
    const user = await createUser(t);
    const agent = new UserAgent();
    const before = new Set((await limitDocs(t, 'backoff:')).map((d) => d._id));
    for (let i = 0; i < 5; i++) assert.ok(refused(await attempt(rp, wrong(user), agent)));
    const mine = (await limitDocs(t, 'backoff:')).filter((d) => !before.has(d._id));
    // the IP's, the account's (from new devices) and this browser's: the last two locked
    assert.equal(mine.length, 3, mine.map((d) => d._id).join(', '));
    const ip = mine.find((d) => !d.lockedUntil)!;
    assert.equal(ip.points, 5);
    assert.equal(ip.expiresAt!.getTime(), ip.countUntil!.getTime(), 'an unlocked document lives as long as its count');
    for (const doc of mine.filter((d) => d !== ip)) {
      assert.equal(doc.points, 5);
      assert.ok(doc.countUntil! < doc.lockedUntil!, 'the 600 s lock outlasts the 60 s count');
      assert.equal(doc.expiresAt!.getTime(), doc.lockedUntil!.getTime(), 'the document lives as long as its lock');
    }
    assert.deepEqual([...await limitDocs(t, 'fail:'), ...await limitDocs(t, 'lock:')], [], 'no separate counts or locks');

    time.advance(120);
    assert.ok(refused(await attempt(rp, user, agent)), 'locked 120 s in: the count is forgotten, the lock is not');
    time.advance(481);
    // the count lapsed: this wrong password is the first of a new count (no doubled lock)
    assert.ok(refused(await attempt(rp, wrong(user), agent)));
    assert.ok(passed(await attempt(rp, user, agent)), 'the lock is over and one failure locks nothing');
  });

  for (const guardsInServer of [false, true]) {
    it(`counts exactly in parallel, guards ${guardsInServer ? "in the update's filter (MongoDB's lines)" : 'under the key lock (the embedded lines)'}`, async () => {
      const probe = await startTessera({ testDatabase: { guardsInServer } });
      try {
        let now = new Date();
        const model = probe.services.db.connection.models.Limit as unknown as LimitModel;
        const store = createBackoffStore(probe.services.db, model, () => now, 60);
        const key = randomBytes(4).toString('hex');
        const counted = await Promise.all(Array.from({ length: 12 }, () => store.count(key)));
        assert.deepEqual(counted.sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i + 1));
        await Promise.all([store.lock(key, 600), store.lock(key, 300), store.lock(key, 600)]);
        assert.deepEqual(await store.read([key]), [{ held: true, failures: 12, lockedMs: 600_000 }], 'the longer lock stays');
        now = new Date(now.getTime() + 61_000);
        assert.equal((await store.read([key]))[0]!.failures, 0, 'the count is forgotten');
        const again = await Promise.all(Array.from({ length: 3 }, () => store.count(key)));
        assert.deepEqual(again.sort(), [1, 2, 3], 'a new count, the lock kept');
        assert.equal((await store.read([key]))[0]!.lockedMs, 539_000);
      } finally {
        await probe.close();
      }
    });
  }
});

describe('limits: an upgrade keeps the locks and counts an earlier version wrote', () => {
  const time = movableClock();
  const database = freshDatabaseName('limits-upgrade');
  const secrets = { cookieKeys: [randomBytes(32).toString('base64url')], encryptionKey: randomBytes(32).toString('base64') };

  /** Rewrites every backoff document as the version before wrote it: `fail:<key>` and `lock:<key>` apart. */
  async function asEarlierVersion(t: Tessera): Promise<number> {
    const raw = t.services.db.connection.collection<Record<string, unknown> & { _id: string }>('limits');
    const docs = await limitDocs(t, 'backoff:');
    for (const doc of docs) {
      const key = doc._id.slice('backoff:'.length);
      if (doc.countUntil! > time.clock()) await raw.insertOne({ _id: `fail:${key}`, points: doc.points, expiresAt: doc.countUntil });
      if (doc.lockedUntil) await raw.insertOne({ _id: `lock:${key}`, points: 2, expiresAt: doc.lockedUntil });
      await raw.deleteOne({ _id: doc._id });
    }
    return docs.length;
  }

  it('folds them in at start-up: a locked account stays locked after the deploy, and its count goes on', async () => {
    const first = await startTessera({ database, secrets, clock: time.clock, env: { ...LIMITS, LOCKOUT_SECONDS: '60', LOCKOUT_MEMORY_SECONDS: '86400' } });
    let user: TestUser;
    try {
      user = await createUser(first);
      const rp = await RelyingParty.register(first);
      // from five new browsers: the account's count from new devices locks
      for (let i = 0; i < 5; i++) assert.ok(refused(await attempt(rp, wrong(user))));
      assert.ok(refused(await attempt(rp, user)), 'locked before the deploy');
      assert.ok(await asEarlierVersion(first) >= 7, 'the IP, the account and five browsers');
    } finally {
      await first.close();
    }

    const second = await startTessera({ database, secrets, clock: time.clock, env: { ...LIMITS, LOCKOUT_SECONDS: '60', LOCKOUT_MEMORY_SECONDS: '86400' } });
    try {
      assert.deepEqual([...await limitDocs(second, 'fail:'), ...await limitDocs(second, 'lock:')], [], 'folded and deleted at start-up');
      const rp = await RelyingParty.register(second);
      assert.ok(refused(await attempt(rp, user!)), 'still locked after the deploy');
      time.advance(61);
      // the account's five failures were carried over: the sixth locks again, for twice as long
      assert.ok(refused(await attempt(rp, wrong(user!))));
      assert.ok(refused(await attempt(rp, user!)), 'the sixth failure locked the account again');
      time.advance(121);
      assert.ok(passed(await attempt(rp, user!)), 'open once the doubled lock is over');

      // a fold cut short (the backoff document written, the old ones not yet deleted) runs again
      // at the next start to the same result
      assert.ok(refused(await attempt(rp, wrong(user!))));
      time.advance(1);
      const raw = second.services.db.connection.collection<Record<string, unknown> & { _id: string }>('limits');
      const before = await limitDocs(second, 'backoff:');
      for (const doc of before) {
        const key = doc._id.slice('backoff:'.length);
        await raw.insertOne({ _id: `fail:${key}`, points: doc.points, expiresAt: doc.countUntil });
        if (doc.lockedUntil) await raw.insertOne({ _id: `lock:${key}`, points: 2, expiresAt: doc.lockedUntil });
      }
      assert.deepEqual(await second.services.limits.migrate(), { moved: before.length, failed: [] });
      assert.deepEqual(await limitDocs(second, 'backoff:'), before, 'folding again changes nothing');
      assert.deepEqual([...await limitDocs(second, 'fail:'), ...await limitDocs(second, 'lock:')], []);
    } finally {
      await second.close();
    }
  });
});
