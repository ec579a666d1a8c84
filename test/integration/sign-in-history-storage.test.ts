// The session history's storage (sessions/history.ts): an append is one database command (the
// head's findOneAndUpdate; a full page moves into its bucket 1 in 20), pages stay right across bucket rollovers and the
// kept-entries bound, the risk digest keeps its bounds however many attempts come, and a head in
// the earlier shape (size reset at each bucket, countries as a list) keeps working.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser } from '../support/flow.ts';
import { commandsDuring, isExactIdFilter } from '../support/commands.ts';
import { SimulatedCrash } from '../../src/db/database.ts';
import { DIGEST_COUNTRIES, DIGEST_FAILURES, HISTORY_PAGE } from '../../src/sessions/history.ts';
import type { SignInEvent, SignInResult } from '../../src/devices/events.ts';

const START = Date.now() - 30 * 60_000;
let seq = 0;

/** One attempt, each a second after the one before (ids in that order too). */
function attempt(result: SignInResult, country?: string): SignInEvent {
  seq++;
  return { id: `e${String(seq).padStart(7, '0')}`, at: new Date(START + seq * 1000), result, factors: ['pwd'], ...(country ? { location: { country } } : {}) };
}

const freshAccount = () => `acct-${randomBytes(6).toString('hex')}`;

/** A server that keeps 40 entries (buckets fall off after a few pages), with these test-database options. */
const keeping40 = (testDatabase: { faults?: boolean; guardsInServer?: boolean } = {}) =>
  startTessera({ testDatabase, settings: (config) => { config.account.historyEntries = 40; } });

/** The history's two collections, read directly. */
const storeOf = (t: Tessera) => ({
  heads: t.services.db.connection.collection<{ _id: string } & Record<string, unknown>>('sign_in_history_heads'),
  buckets: t.services.db.connection.collection<{ _id: string; entries: unknown[] }>('sign_in_history'),
});

/** The id of an attempt as stored: a JSON string (this version) or the attempt itself (an earlier one). */
const storedId = (e: unknown) => (typeof e === 'string' ? (JSON.parse(e) as SignInEvent).id : (e as SignInEvent).id);

describe('sign-in history storage', () => {
  let t: Tessera;
  before(async () => {
    t = await keeping40();
  });
  after(() => t.close());

  const heads = () => storeOf(t).heads;
  const buckets = () => storeOf(t).buckets;

  /** The commands (name and collection) `work` sends, every filter checked to be exactly { _id }. */
  async function commandsOf(work: () => Promise<unknown>): Promise<string[]> {
    const commands = await commandsDuring(t, work);
    for (const c of commands) for (const f of c.filters) assert.ok(isExactIdFilter(f), `${c.name} ${c.collection}: ${JSON.stringify(f)}`);
    return commands.map((c) => `${c.name} ${c.collection}`);
  }

  /** Every kept entry's id, newest first, page by page; and the `older` flag of each page. */
  async function allPages(accountId: string) {
    const pages: { ids: string[]; older: boolean }[] = [];
    for (let n = 0; n < 10; n++) {
      const page = await t.services.history.page(accountId, n);
      pages.push({ ids: page.entries.map((e) => e.id), older: page.older });
      if (!page.older) break;
    }
    return pages;
  }

  describe('an append', () => {
    it('is one command: the head adds the attempts, counts them and folds them into the digest in one findOneAndUpdate', async () => {
      const id = freshAccount();
      const expected = ['findAndModify sign_in_history_heads'];
      assert.deepEqual(await commandsOf(() => t.services.history.append(id, attempt('success', 'CH'))), expected, 'the first (the head made)');
      assert.deepEqual(await commandsOf(() => t.services.history.append(id, attempt('wrong_password'))), expected, 'the next');
      assert.deepEqual(await commandsOf(() => t.services.history.append(id, attempt('new_device'), attempt('success', 'DE'))), expected, 'two attempts at once');
      assert.deepEqual((await t.services.history.page(id, 0)).entries.map((e) => e.result), ['success', 'new_device', 'wrong_password', 'success']);
    });

    it('of a wrong password through the sign-in page writes the history with that one command', async () => {
      const user = await createUser(t);
      const rp = await RelyingParty.register(t, { skipConsent: true });
      const browser = new UserAgent();
      const form = await browser.visit((await rp.authorize()).url);
      const sent = await commandsOf(async () => {
        const answer = await browser.submit(form, /\/login$/, { email: user.email, password: 'Wrong#Guess1' });
        assert.match(answer.body, /Incorrect email or password/);
      });
      assert.deepEqual(sent.filter((c) => / sign_in_history/.test(c) && !c.startsWith('find ')), ['findAndModify sign_in_history_heads']);
      assert.deepEqual((await t.services.history.page(user.id, 0)).entries.map((e) => e.result), ['wrong_password']);
    });

    it('that straddles two pages moves the full one into its bucket, keeps the newest in the head, and pages them in order', async () => {
      const id = freshAccount();
      const written: string[] = [];
      for (let i = 0; i < HISTORY_PAGE - 1; i++) {
        const e = attempt('success');
        written.push(e.id);
        await t.services.history.append(id, e);
      }
      const pair = [attempt('new_device'), attempt('success')];
      written.push(...pair.map((e) => e.id));
      assert.equal(await buckets().findOne({ _id: `${id}:0` }), null, 'a page being filled lives in the head');
      const sent = await commandsOf(() => t.services.history.append(id, ...pair));
      // (the embedded database reads the head for the guard first: a find)
      assert.deepEqual(sent.filter((c) => !c.startsWith('find ')), ['findAndModify sign_in_history_heads', 'update sign_in_history', 'findAndModify sign_in_history_heads'],
        'the opening of a page moves the full one into its bucket, then takes it out of the head in one guarded write');
      assert.deepEqual((await buckets().findOne({ _id: `${id}:0` }))!.entries.map(storedId), written.slice(0, HISTORY_PAGE));
      assert.equal(await buckets().findOne({ _id: `${id}:1` }), null);
      assert.deepEqual(((await heads().findOne({ _id: id }))!.recent as unknown[]).map(storedId), [pair[1]!.id]);
      const newestFirst = written.slice().reverse();
      assert.deepEqual(await allPages(id), [
        { ids: newestFirst.slice(0, HISTORY_PAGE), older: true },
        { ids: newestFirst.slice(HISTORY_PAGE), older: false },
      ]);
    });

    it('stores each attempt as one JSON string and gives it back whole, its time a Date', async () => {
      const id = freshAccount();
      const full: SignInEvent = { ...attempt('success', 'CH'), ip: '203.0.113.9', location: { country: 'CH', city: 'Zürich' }, ll: [47.37, 8.54], browser: 'Firefox 140', os: 'Linux', deviceId: 'dev_abcdefghijklmnop', application: 'Ärzte-Portal "Süd"', risk: 'none' };
      await t.services.history.append(id, full);
      const stored = ((await heads().findOne({ _id: id }))!.recent as unknown[]);
      assert.equal(typeof stored[0], 'string');
      const [back] = (await t.services.history.page(id, 0)).entries;
      assert.ok(back!.at instanceof Date);
      assert.deepEqual(back, full);
    });

    it('run in parallel lose nothing and share no position', async () => {
      const id = freshAccount();
      const entries = Array.from({ length: 45 }, () => attempt('wrong_password'));
      await Promise.all(entries.map((e) => t.services.history.append(id, e)));
      const seen = (await allPages(id)).flatMap((p) => p.ids);
      assert.equal(seen.length, 45, 'all of them (the newest bucket is not full: none fell out)');
      assert.deepEqual(seen.slice().sort(), entries.map((e) => e.id).sort());
      const head = await heads().findOne({ _id: id });
      assert.equal((head!.latest as number | undefined ?? 0) * HISTORY_PAGE + (head!.size as number), 45, 'every attempt counted once');
    });
  });

  describe('rollover', () => {
    it('keeps every entry of the kept buckets in order, pages right, and drops the buckets beyond the kept entries', async () => {
      const id = freshAccount();
      const written: string[] = [];
      for (let i = 0; i < 95; i++) {
        // every seventh append brings two attempts (a new device that proved itself, then its sign-in)
        const batch = i % 7 === 3 ? [attempt('new_device'), attempt('success')] : [attempt(i % 2 ? 'success' : 'wrong_password')];
        written.push(...batch.map((e) => e.id));
        await t.services.history.append(id, ...batch);
      }
      // 109 attempts: positions 0..108, newest bucket 5, kept buckets 3..5 (the 40 kept entries and the newest bucket's)
      assert.equal(written.length, 109);
      const kept = written.slice(3 * HISTORY_PAGE).reverse();
      const pages = await allPages(id);
      assert.deepEqual(pages.map((p) => p.ids), [kept.slice(0, 20), kept.slice(20, 40), kept.slice(40)]);
      assert.deepEqual(pages.map((p) => p.older), [true, true, false]);
      assert.deepEqual((await t.services.history.page(id, 3)).entries, [], 'past the kept ones: nothing');
      const left = (await buckets().find({ _id: { $in: [0, 1, 2, 3, 4, 5].map((n) => `${id}:${n}`) } }).toArray()).map((b) => b._id).sort();
      assert.deepEqual(left, [`${id}:3`, `${id}:4`], 'the buckets beyond the kept ones are deleted; the newest page is in the head');
      assert.deepEqual(((await heads().findOne({ _id: id }))!.recent as unknown[]).map(storedId), written.slice(5 * HISTORY_PAGE));
    });
  });

  describe('the risk digest', () => {
    it('keeps its bounds after many appends: the latest 30 countries, the last 100 failures, the latest success', async () => {
      const id = freshAccount();
      const countries: string[] = [];
      let lastSuccess: SignInEvent | undefined;
      // 45 countries signed in from, each once, then 130 wrong passwords (bucket rollovers among them)
      for (let i = 0; i < 45; i++) {
        const country = `C${String(i).padStart(2, '0')}`;
        countries.push(country);
        lastSuccess = attempt('success', country);
        await t.services.history.append(id, lastSuccess);
      }
      let lastFailure = new Date(0);
      for (let i = 0; i < 130; i++) {
        const e = attempt('wrong_password');
        lastFailure = e.at;
        await t.services.history.append(id, e);
        const risk = (await heads().findOne({ _id: id }))!.risk as { seen: Record<string, Date>; failures: Date[] };
        // within the bound plus one bucket's appends at most (the embedded database ignores $slice), within the bound right after a rollover
        assert.ok(Object.keys(risk.seen).length <= DIGEST_COUNTRIES + HISTORY_PAGE, `${Object.keys(risk.seen).length} countries kept`);
        assert.ok(risk.failures.length <= DIGEST_FAILURES + HISTORY_PAGE, `${risk.failures.length} failures kept`);
        if ((45 + i) % HISTORY_PAGE === 0) {
          assert.ok(Object.keys(risk.seen).length <= DIGEST_COUNTRIES, `after a rollover: ${Object.keys(risk.seen).length} countries`);
          assert.ok(risk.failures.length <= DIGEST_FAILURES, `after a rollover: ${risk.failures.length} failures`);
        }
      }
      const risk = await t.services.history.riskOf(id, new Date(lastFailure.getTime() + 1000));
      assert.deepEqual(risk.countries, countries.slice(-DIGEST_COUNTRIES), 'the 30 seen most recently, oldest first');
      assert.equal(risk.failuresLastHour, DIGEST_FAILURES);
      assert.equal(risk.last?.country, 'C44');
      assert.equal(risk.last?.at, Math.floor(lastSuccess!.at.getTime() / 1000));
      // an hour after the last failure none of them counts
      assert.equal((await t.services.history.riskOf(id, new Date(lastFailure.getTime() + 3_600_000))).failuresLastHour, 0);
    });

    it('keeps the latest time of a country seen again, and the latest success wherever it was', async () => {
      const id = freshAccount();
      await t.services.history.append(id, attempt('success', 'CH'));
      await t.services.history.append(id, attempt('success', 'DE'));
      const again = attempt('success', 'CH');
      await t.services.history.append(id, again, attempt('wrong_code'));
      const risk = (await heads().findOne({ _id: id }))!.risk as { seen: Record<string, Date> };
      assert.equal(new Date(risk.seen.CH!).getTime(), again.at.getTime());
      const read = await t.services.history.riskOf(id, new Date(again.at.getTime() + 1000));
      assert.deepEqual(read.countries, ['DE', 'CH'], 'oldest first');
      assert.equal(read.last?.country, 'CH');
      assert.equal(read.failuresLastHour, 1);
    });
  });

  describe('a head in the earlier shape', () => {
    it('keeps working for riskOf, page and append, and its countries move into the map at its next rollover', async () => {
      const id = freshAccount();
      // what the earlier version wrote: buckets 0 and 1 full, bucket 2 holding 5; size counts the newest bucket only
      const old = Array.from({ length: 45 }, () => attempt('success'));
      const at = (n: number) => new Date(START + n * 1000);
      await buckets().insertMany([0, 1, 2].map((n) => ({ _id: `${id}:${n}`, entries: old.slice(n * HISTORY_PAGE, (n + 1) * HISTORY_PAGE) })));
      await heads().insertOne({
        _id: id, latest: 2, size: 5,
        risk: { countries: [{ country: 'CH', at: at(1) }, { country: 'DE', at: at(2) }], last: { at: at(2), country: 'DE', city: 'Berlin' }, failures: [at(3), at(4)] },
      });
      const now = new Date(START + seq * 1000);
      const risk = await t.services.history.riskOf(id, now);
      assert.deepEqual(risk, { countries: ['CH', 'DE'], last: { at: Math.floor(at(2).getTime() / 1000), country: 'DE', city: 'Berlin' }, failuresLastHour: 2 });
      const oldNewestFirst = old.map((e) => e.id).reverse();
      // 40 kept entries: buckets 0..2 are all still kept (the newest is not full)
      assert.deepEqual(await allPages(id), [
        { ids: oldNewestFirst.slice(0, 20), older: true },
        { ids: oldNewestFirst.slice(20, 40), older: true },
        { ids: oldNewestFirst.slice(40), older: false },
      ]);

      // appends on it: one command each, into the head after the old entries, until one opens page 3
      const added: SignInEvent[] = [];
      for (let i = 0; i < 15; i++) {
        const e = attempt(i === 0 ? 'wrong_password' : 'success', i === 0 ? undefined : 'FR');
        added.push(e);
        assert.deepEqual(await commandsOf(() => t.services.history.append(id, e)), ['findAndModify sign_in_history_heads']);
      }
      assert.equal((await buckets().findOne({ _id: `${id}:2` }))!.entries.length, 5, 'bucket 2 as the earlier version left it');
      assert.deepEqual(await allPages(id).then((pages) => pages[0]!.ids), [...added.map((e) => e.id).reverse(), ...oldNewestFirst.slice(0, 5)], 'page 2: the head\'s 15, then the bucket\'s 5');
      assert.ok(((await heads().findOne({ _id: id }))!.risk as Record<string, unknown>).countries, 'the list stays until a rollover');
      const opening = attempt('success', 'FR');
      added.push(opening);
      await t.services.history.append(id, opening);
      assert.deepEqual((await buckets().findOne({ _id: `${id}:2` }))!.entries.map(storedId), [...old.slice(40), ...added.slice(0, 15)].map((e) => e.id), 'bucket 2 completed from the head');
      assert.equal(await buckets().findOne({ _id: `${id}:3` }), null);
      assert.deepEqual(((await heads().findOne({ _id: id }))!.recent as unknown[]).map(storedId), [opening.id]);
      assert.equal((await buckets().findOne({ _id: `${id}:0` })), null, 'bucket 0 fell out of the kept entries');
      const head = (await heads().findOne({ _id: id }))!;
      const digest = head.risk as { countries?: unknown; seen: Record<string, Date> };
      assert.equal(digest.countries, undefined, 'the earlier list is folded in at the rollover');
      assert.deepEqual(Object.keys(digest.seen).sort(), ['CH', 'DE', 'FR']);

      const after = await t.services.history.riskOf(id, new Date(opening.at.getTime() + 1000));
      assert.deepEqual(after.countries, ['CH', 'DE', 'FR']);
      assert.equal(after.last?.country, 'FR');
      assert.equal(after.failuresLastHour, 3);
      const all = [...old, ...added].map((e) => e.id).reverse();
      assert.deepEqual(await allPages(id), [
        { ids: all.slice(0, 20), older: true },
        { ids: all.slice(20, 40), older: true },
        { ids: all.slice(40, 41), older: false },
      ], 'the newest 41 (buckets 1..3) in order');
    });
  });
});

describe('sign-in history storage after a crash', () => {
  let t: Tessera;
  before(async () => {
    t = await keeping40({ faults: true });
  });
  after(() => t.close());

  it('pages, reads its digest and appends on after a crash between any two writes of an append that opens a bucket', async () => {
    const { heads, buckets } = storeOf(t);
    const faults = t.services.db.faults!;
    // the append with every write: a pair straddling pages 2 and 3 (page 2 completed in its bucket), bucket 0 falling out, the head trimmed with the earlier shape's countries folded in
    for (let crashAfter = 1; crashAfter <= 3; crashAfter++) {
      const id = freshAccount();
      const old = Array.from({ length: 59 }, () => attempt('success'));
      await buckets.insertMany([0, 1, 2].map((n) => ({ _id: `${id}:${n}`, entries: old.slice(n * HISTORY_PAGE, (n + 1) * HISTORY_PAGE) })));
      await heads.insertOne({ _id: id, latest: 2, size: 19, risk: { countries: [{ country: 'CH', at: old[0]!.at }], failures: [] } });
      const before = faults.writes;
      faults.crashAfter(crashAfter);
      await assert.rejects(t.services.history.append(id, attempt('new_device'), attempt('success', 'DE')), SimulatedCrash);
      faults.crashAfter(Number.POSITIVE_INFINITY);
      assert.equal(faults.writes - before, crashAfter, 'the writes before the crash went through');
      const next = attempt('wrong_password');
      await t.services.history.append(id, next);
      const first = await t.services.history.page(id, 0);
      assert.equal(first.entries[0]!.id, next.id, `crash after ${crashAfter}: the next attempt is the newest`);
      const ids: string[] = [];
      for (let n = 0; n < 4; n++) ids.push(...(await t.services.history.page(id, n)).entries.map((e) => e.id));
      assert.deepEqual(ids, ids.slice().sort().reverse(), `crash after ${crashAfter}: newest first`);
      assert.equal(new Set(ids).size, ids.length, `crash after ${crashAfter}: no attempt twice`);
      const risk = await t.services.history.riskOf(id, next.at);
      assert.ok(risk.countries.includes('CH') && risk.countries.includes('DE'), `crash after ${crashAfter}: ${risk.countries.join(', ')}`);
      assert.equal(risk.failuresLastHour, 1);
    }
  });
});

describe("sign-in history storage with guards in the update's filter (MongoDB's lines)", () => {
  let t: Tessera;
  before(async () => {
    t = await keeping40({ guardsInServer: true });
  });
  after(() => t.close());

  it('moves each full page into its bucket and out of the head, a new head (no `latest`) and an earlier one alike', async () => {
    const { heads, buckets } = storeOf(t);
    for (const earlier of [false, true]) {
      const id = freshAccount();
      const written: string[] = [];
      if (earlier) {
        const old = Array.from({ length: 7 }, () => attempt('success'));
        await buckets.insertOne({ _id: `${id}:0`, entries: old });
        await heads.insertOne({ _id: id, latest: 0, size: 7, risk: {} });
        written.push(...old.map((e) => e.id));
      }
      for (let i = 0; written.length < 47; i++) {
        const batch = i % 5 === 2 ? [attempt('new_device'), attempt('success')] : [attempt('success')];
        written.push(...batch.map((e) => e.id));
        await t.services.history.append(id, ...batch);
      }
      const head = (await heads.findOne({ _id: id }))!;
      assert.deepEqual((head.recent as unknown[]).map(storedId), written.slice(2 * HISTORY_PAGE), `${earlier ? 'earlier' : 'new'} head: the newest page only`);
      for (const n of [0, 1]) {
        assert.deepEqual((await buckets.findOne({ _id: `${id}:${n}` }))!.entries.map(storedId), written.slice(n * HISTORY_PAGE, (n + 1) * HISTORY_PAGE), `bucket ${n}`);
      }
      const pages: string[] = [];
      for (let n = 0; n < 3; n++) pages.push(...(await t.services.history.page(id, n)).entries.map((e) => e.id));
      assert.deepEqual(pages, written.slice().reverse());
    }
  });
});
