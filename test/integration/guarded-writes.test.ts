// One code path on both database servers (issue 19): a guarded write (db.updateIf / modifyIf) is
// judged the same way everywhere — a document came back — and the lines only MongoDB runs (the
// guard in the update's filter) run here too: the embedded server takes them when a test asks
// (testDatabase.guardsInServer), so each test below runs in both modes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Schema, type Model } from 'mongoose';
import { editDocument } from '../../src/db/edit.ts';
import { createDbLimiter, type LimitModel } from '../../src/limits/store.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, RelyingParty, signInAndGetTokens } from '../support/flow.ts';

interface Doc { _id: string; used?: boolean; n?: number; rev?: number; list?: string[] }

for (const guardsInServer of [false, true]) {
  describe(`guarded writes, guards checked ${guardsInServer ? "in the update's filter (MongoDB's lines)" : 'in this process under the key lock (the embedded lines)'}`, function () {
    this.timeout(60_000);
    let t: Tessera;
    let Docs: Model<Doc>;

    before(async () => {
      t = await startTessera({ testDatabase: { guardsInServer } });
      assert.equal(t.services.db.guardsInServer, guardsInServer || t.services.db.kind === 'mongodb');
      Docs = t.services.db.connection.model<Doc>(`GuardProbe${guardsInServer}`, new Schema<Doc>(
        { _id: String, used: Boolean, n: Number, rev: Number, list: [String] }, { collection: `guard_probe_${guardsInServer}`, versionKey: false }));
      await Docs.createCollection();
    });
    after(() => t.close());

    const fresh = async (fields: Partial<Doc> = {}) => {
      const _id = randomBytes(6).toString('hex');
      await Docs.create({ _id, ...fields });
      return _id;
    };

    it('20 parallel "use once" writes: exactly one succeeds', async () => {
      const id = await fresh();
      const won = await Promise.all(Array.from({ length: 20 }, () => t.services.db.updateIf(Docs, id, { used: { $exists: false } }, { $set: { used: true } })));
      assert.equal(won.filter(Boolean).length, 1);
    });

    it('a guard that holds succeeds even when the update changes nothing (no modifiedCount trap); one that fails, or a missing document, does not', async () => {
      const id = await fresh({ n: 1 });
      assert.equal(await t.services.db.updateIf(Docs, id, { n: 1 }, { $set: { n: 1 } }), true);
      assert.equal(await t.services.db.updateIf(Docs, id, { n: 2 }, { $set: { n: 3 } }), false);
      assert.equal((await Docs.findById(id).lean())?.n, 1);
      assert.equal(await t.services.db.updateIf(Docs, 'no-such-doc', { n: { $exists: false } }, { $set: { n: 1 } }), false);
      assert.equal(await Docs.findById('no-such-doc').lean(), null, 'nothing created');
      assert.deepEqual(await t.services.db.modifyIf(Docs, id, { n: 1 }, { $inc: { n: 1 } }), { _id: id, n: 2, list: [] });
    });

    it('6 parallel edits of one list (editDocument): none is lost', async () => {
      const id = await fresh({ list: [] });
      await Promise.all(Array.from({ length: 6 }, (_, i) => editDocument(t.services.db, Docs, id, (doc) => ({ set: { list: [...(doc?.list ?? []), `e${i}`] }, result: undefined }))));
      assert.equal((await Docs.findById(id).lean())?.list?.length, 6);
    });

    it('a limit counter counts exactly in parallel, restarts once its window has passed, and honours an earlier version\'s expiry field', async () => {
      let now = new Date();
      const model = t.services.db.connection.models.Limit as unknown as LimitModel;
      const limiter = createDbLimiter(t.services.db, model, () => now, { keyPrefix: `probe-${guardsInServer}`, points: 1000, duration: 60 });
      const key = randomBytes(4).toString('hex');
      await Promise.all(Array.from({ length: 12 }, () => limiter.consume(key)));
      assert.equal((await limiter.get(key))?.consumedPoints, 12);
      now = new Date(now.getTime() + 61_000);
      assert.equal(await limiter.get(key), null, 'expired');
      await Promise.all(Array.from({ length: 3 }, () => limiter.consume(key)));
      assert.equal((await limiter.get(key))?.consumedPoints, 3, 'a new window');
      // written by an earlier version: `expire`, still counted while alive, replaced once dead
      const legacy = randomBytes(4).toString('hex');
      await model.collection.insertOne({ _id: `probe-${guardsInServer}:${legacy}`, points: 4, expire: new Date(now.getTime() + 30_000) } as never);
      assert.equal((await limiter.consume(legacy)).consumedPoints, 5);
      now = new Date(now.getTime() + 31_000);
      assert.equal((await limiter.consume(legacy)).consumedPoints, 1);
    });

    it('a whole sign-in, token exchange and refresh run on these lines', async () => {
      const rp = await RelyingParty.register(t, { skipConsent: true });
      const user = await createUser(t);
      const { tokens } = await signInAndGetTokens(rp, user, { scope: 'openid offline_access', prompt: 'consent' });
      assert.ok(tokens.refresh_token);
      const { refreshTokenGrant } = await import('openid-client');
      const refreshed = await refreshTokenGrant(rp.config, tokens.refresh_token);
      assert.ok(refreshed.access_token);
      // the spent refresh token is spent
      await assert.rejects(refreshTokenGrant(rp.config, tokens.refresh_token));
    });
  });
}
