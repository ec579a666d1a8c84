// A guarded write on the embedded database checks its guard against the request's own read of the
// document when nothing in this process wrote it since (db/read-versions.ts): one command, as on
// MongoDB, instead of a second read. Any write of the document after that read, by any path of
// this process, makes the guarded write read it again; outside a request, and with several
// processes (WORKERS), nothing is reused.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Schema, type Model } from 'mongoose';
import { withRequestMemo } from '../../src/db/request-memo.ts';
import { readById } from '../../src/db/read-versions.ts';
import { editDocument } from '../../src/db/edit.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { commandsDuring, recordCommands } from '../support/commands.ts';

interface Doc { _id: string; state?: string; n?: number; rev?: number; list?: string[] }

describe('reused reads: a guarded write checks the request\'s own current read (embedded database)', function () {
  this.timeout(60_000);
  let t: Tessera;
  let Docs: Model<Doc>;

  before(async function () {
    t = await startTessera();
    if (t.services.db.guardsInServer) {
      // MongoDB checks every guard in the update itself: nothing to reuse
      await t.close();
      this.skip();
    }
    Docs = t.services.db.model<Doc>('ReuseProbe', new Schema<Doc>({ _id: String, state: String, n: Number, rev: Number, list: [String] }, { collection: 'reuse_probe', versionKey: false }));
    await Docs.createCollection();
  });
  after(() => t?.close());

  const fresh = async (fields: Partial<Doc>) => {
    const _id = randomBytes(6).toString('hex');
    await Docs.create({ _id, ...fields });
    return _id;
  };
  /** The commands `work` sends, by name and collection. */
  async function counted(work: () => Promise<unknown>): Promise<string[]> {
    return (await commandsDuring(t, work)).filter((c) => c.collection === 'reuse_probe').map((c) => c.name);
  }

  it('a guarded write after the request read the document: the read and the write, nothing more', async () => {
    const id = await fresh({ state: 'ACTIVE', n: 0 });
    const sent = await counted(() => withRequestMemo(async () => {
      assert.equal((await readById(Docs, id))?.state, 'ACTIVE');
      assert.ok(await t.services.db.updateIf(Docs, id, { state: 'ACTIVE' }, { $inc: { n: 1 } }));
      // its own result is current too: a second guarded write reads nothing either
      assert.ok(await t.services.db.updateIf(Docs, id, { n: 1 }, { $inc: { n: 1 } }));
    }));
    assert.deepEqual(sent, ['find', 'findAndModify', 'findAndModify']);
    assert.equal((await Docs.findById(id).lean())?.n, 2);
  });

  it('a document the request found missing: the guarded write writes nothing and reads nothing more', async () => {
    const id = randomBytes(6).toString('hex');
    const sent = await counted(() => withRequestMemo(async () => {
      assert.equal(await readById(Docs, id), undefined);
      assert.equal(await t.services.db.updateIf(Docs, id, { state: 'ACTIVE' }, { $set: { n: 1 } }), false);
    }));
    assert.deepEqual(sent, ['find']);
  });

  it('a write of the document after the read, by any path (a plain update, a save, a delete): the guard is checked against a fresh read', async () => {
    for (const change of [
      (id: string) => Docs.updateOne({ _id: id }, { $set: { state: 'BLOCKED' } }),
      (id: string) => Docs.deleteOne({ _id: id }).then(() => Docs.create({ _id: id, state: 'BLOCKED' })),
      (id: string) => Docs.findOneAndUpdate({ _id: id }, { $set: { state: 'BLOCKED' } }),
      // a write by another filter than its _id moves every document's version
      (id: string) => Docs.updateMany({ state: 'ACTIVE', _id: id }, { $set: { state: 'BLOCKED' } }),
    ]) {
      const id = await fresh({ state: 'ACTIVE', n: 0 });
      const sent = await counted(() => withRequestMemo(async () => {
        assert.equal((await readById(Docs, id))?.state, 'ACTIVE');
        // another request of this process changes it meanwhile (outside this request's memo)
        await withRequestMemo(() => change(id));
        assert.equal(await t.services.db.updateIf(Docs, id, { state: 'ACTIVE' }, { $inc: { n: 1 } }), false, 'the stale read does not pass the guard');
      }));
      assert.equal(sent.filter((n) => n === 'find').length, 2, `read again: ${sent.join(' ')}`);
      assert.equal((await Docs.findById(id).lean())?.n ?? 0, 0, 'nothing counted');
    }
  });

  it('a document created after the request found it missing: read again', async () => {
    const id = randomBytes(6).toString('hex');
    await withRequestMemo(async () => {
      assert.equal(await readById(Docs, id), undefined);
      await withRequestMemo(() => Docs.create({ _id: id, state: 'ACTIVE', n: 0 }));
      assert.ok(await t.services.db.updateIf(Docs, id, { state: 'ACTIVE' }, { $inc: { n: 1 } }));
    });
    assert.equal((await Docs.findById(id).lean())?.n, 1);
  });

  it('a caller that changes the document it was given does not change what the guard sees', async () => {
    const id = await fresh({ state: 'ACTIVE', n: 0 });
    await withRequestMemo(async () => {
      const doc = (await readById(Docs, id))!;
      doc.state = 'BLOCKED';
      assert.ok(await t.services.db.updateIf(Docs, id, { state: 'ACTIVE' }, { $inc: { n: 1 } }));
    });
    assert.equal((await Docs.findById(id).lean())?.n, 1);
  });

  it('outside a request nothing is reused: the guard reads the document', async () => {
    const id = await fresh({ state: 'ACTIVE', n: 0 });
    const sent = await counted(async () => {
      await readById(Docs, id);
      assert.ok(await t.services.db.updateIf(Docs, id, { state: 'ACTIVE' }, { $inc: { n: 1 } }));
    });
    assert.deepEqual(sent, ['find', 'find', 'findAndModify']);
  });

  it('6 parallel edits of one list, each in its own request after its own read: none is lost', async () => {
    const id = await fresh({ list: [] });
    await Promise.all(Array.from({ length: 6 }, (_, i) => withRequestMemo(async () => {
      const seen = (await readById(Docs, id)) ?? null;
      await editDocument(t.services.db, Docs, id, (doc) => ({ set: { list: [...(doc?.list ?? []), `e${i}`] }, result: undefined }), seen);
    })));
    assert.equal((await Docs.findById(id).lean())?.list?.length, 6);
  });

  it('20 parallel "use once" writes, each after its own read: exactly one succeeds', async () => {
    const id = await fresh({ state: 'ACTIVE' });
    const won = await Promise.all(Array.from({ length: 20 }, () => withRequestMemo(async () => {
      await readById(Docs, id);
      return t.services.db.updateIf(Docs, id, { state: 'ACTIVE' }, { $set: { state: 'USED' } });
    })));
    assert.equal(won.filter(Boolean).length, 1);
  });
});

describe('reused reads with several processes (WORKERS > 1): none', function () {
  this.timeout(60_000);
  it('a guarded write reads the document again', async () => {
    const t = await startTessera({ env: { WORKERS: '2' } });
    try {
      if (t.services.db.guardsInServer) return;
      const Docs = t.services.db.model<Doc>('ReuseProbeWorkers', new Schema<Doc>({ _id: String, state: String }, { collection: 'reuse_probe_workers', versionKey: false }));
      await Docs.createCollection();
      await Docs.create({ _id: 'one', state: 'ACTIVE' });
      const rec = recordCommands(t);
      await withRequestMemo(async () => {
        await readById(Docs, 'one');
        assert.ok(await t.services.db.updateIf(Docs, 'one', { state: 'ACTIVE' }, { $set: { state: 'USED' } }));
      });
      rec.stop();
      assert.deepEqual(rec.commands.filter((c) => c.collection === 'reuse_probe_workers').map((c) => c.name), ['find', 'find', 'findAndModify']);
    } finally {
      await t.close();
    }
  });
});
