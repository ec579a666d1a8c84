// One-time code rules against the real database, with a clock the test moves: lifetime, reload
// keeps the code, resend throttle and same code, 3 wrong → locked, resend unlocks with a new code,
// failures never reset, accepted once (also in parallel), never stored in clear.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connectDatabase, type Database } from '../../src/db/database.ts';
import { createSealer } from '../../src/crypto/seal.ts';
import { createChallenges, type Challenges } from '../../src/factors/challenges.ts';
import { databaseServerUri } from '../support/hooks.ts';
import { freshDatabaseName } from '../support/tessera.ts';

describe('one-time code challenges', () => {
  let db: Database;
  let challenges: Challenges;
  let now = new Date('2030-06-01T12:00:00Z');
  const advance = (seconds: number) => { now = new Date(now.getTime() + seconds * 1000); };
  let scope = '';
  const A = 'account-a';

  before(async () => {
    db = await connectDatabase(`${databaseServerUri()}${freshDatabaseName('codes')}`, { serverSelectionTimeoutMs: 5000, connectTimeoutMs: 5000 });
    challenges = createChallenges(db, createSealer(randomBytes(32).toString('base64')), { lifetimeSeconds: 900, resendIntervalSeconds: 60, maxAttempts: 3 }, () => now);
    await db.init();
  });
  after(() => db.close());
  beforeEach(() => { scope = `uid-${randomBytes(6).toString('hex')}`; });

  const wrongFor = (code: string) => (code === '000000' ? '111111' : '000000');

  it('issues a 6-digit code once; reopening (a reload) returns the same challenge and no new code', async () => {
    const first = await challenges.open(scope, 'sign-in', 'email', A);
    assert.match(first.code!, /^\d{6}$/);
    const again = await challenges.open(scope, 'sign-in', 'email', A);
    assert.equal(again.code, undefined, 'nothing new to send');
    assert.equal(again.state.id, first.state.id);
    assert.deepEqual(await challenges.verify(scope, 'sign-in', 'email', A, first.code!), { ok: true });
  });

  it('accepts a code once, and only within its 15 minutes', async () => {
    const { code } = await challenges.open(scope, 'sign-in', 'email', A);
    assert.deepEqual(await challenges.verify(scope, 'sign-in', 'email', A, code!), { ok: true });
    assert.equal((await challenges.verify(scope, 'sign-in', 'email', A, code!)).ok, false, 'replay refused');
    const other = `${scope}-2`;
    const second = await challenges.open(other, 'sign-in', 'email', A);
    advance(901);
    const late = await challenges.verify(other, 'sign-in', 'email', A, second.code!);
    assert.deepEqual([late.ok, !late.ok && late.reason], [false, 'expired']);
  });

  it('binds a code to its account, interaction, purpose and channel', async () => {
    const { code } = await challenges.open(scope, 'sign-in', 'email', A);
    for (const [s, purpose, channel, account] of [[`${scope}x`, 'sign-in', 'email', A], [scope, 'device', 'email', A], [scope, 'sign-in', 'sms', A], [scope, 'sign-in', 'email', 'account-b']] as const) {
      assert.equal((await challenges.verify(s, purpose, channel, account, code!)).ok, false, `${s} ${purpose} ${channel} ${account}`);
    }
    assert.deepEqual(await challenges.verify(scope, 'sign-in', 'email', A, code!), { ok: true });
  });

  it('allows Resend once a minute and resends the same valid code', async () => {
    const { code } = await challenges.open(scope, 'sign-in', 'sms', A);
    await assert.rejects(challenges.resend(scope, 'sign-in', 'sms', A), { code: 'resend_too_soon' });
    advance(61);
    const resent = await challenges.resend(scope, 'sign-in', 'sms', A);
    assert.equal(resent.code, code, 'the same code');
    await assert.rejects(challenges.resend(scope, 'sign-in', 'sms', A), { code: 'resend_too_soon' });
  });

  it('locks after 3 wrong entries; only Resend unlocks it, with a new code; failures are never reset', async () => {
    const { code } = await challenges.open(scope, 'sign-in', 'email', A);
    for (const n of [1, 2]) assert.equal((await challenges.verify(scope, 'sign-in', 'email', A, wrongFor(code!))) .ok, false, `wrong ${n}`);
    const third = await challenges.verify(scope, 'sign-in', 'email', A, wrongFor(code!));
    assert.deepEqual([third.ok, !third.ok && third.reason], [false, 'locked']);
    const right = await challenges.verify(scope, 'sign-in', 'email', A, code!);
    assert.deepEqual([right.ok, !right.ok && right.reason], [false, 'locked'], 'even the right code, once locked');
    advance(61);
    const resent = await challenges.resend(scope, 'sign-in', 'email', A);
    assert.notEqual(resent.code, code, 'a new code');
    assert.equal(resent.state.locked, false);
    const wrongAgain = await challenges.verify(scope, 'sign-in', 'email', A, wrongFor(resent.code));
    assert.equal(!wrongAgain.ok && wrongAgain.state?.failures, 4, 'failures keep counting across codes');
    assert.deepEqual(await challenges.verify(scope, 'sign-in', 'email', A, resent.code), { ok: true });
  });

  it('refuses non-numeric, short and long entries as wrong codes without a crash', async () => {
    await challenges.open(scope, 'sign-in', 'email', A);
    for (const entry of ['abcdef', '12345', '1234567', '', '12 456', '١٢٣٤٥٦']) {
      const r = await challenges.verify(scope, 'sign-in', 'email', A, entry);
      assert.equal(r.ok, false, entry);
    }
  });

  it('accepts the right code once among 20 parallel submissions, and counts 20 parallel wrong ones exactly', async () => {
    const { code } = await challenges.open(scope, 'sign-in', 'email', A);
    const results = await Promise.all(Array.from({ length: 20 }, () => challenges.verify(scope, 'sign-in', 'email', A, code!)));
    assert.equal(results.filter((r) => r.ok).length, 1);
    const other = `${scope}-wrong`;
    const issued = await challenges.open(other, 'sign-in', 'email', A);
    await Promise.all(Array.from({ length: 20 }, () => challenges.verify(other, 'sign-in', 'email', A, wrongFor(issued.code!))));
    const doc = await db.connection.collection('challenges').findOne({ _id: `sign-in:email:${other}` as never });
    assert.equal(doc?.failures, 3, 'a locked challenge stops counting: 3 attempts, no lost increments');
  });

  it('never stores the code in clear', async () => {
    const { code } = await challenges.open(scope, 'sign-in', 'email', A);
    const doc = await db.connection.collection('challenges').findOne({ _id: `sign-in:email:${scope}` as never });
    assert.ok(doc);
    assert.ok(!JSON.stringify(doc).includes(code!));
  });
});
