// Signing keys: generated on first start, kept in MongoDB sealed with ENCRYPTION_KEY, and rotated
// without downtime. Per algorithm there is one `current` key (signs), one `next` key (published in
// the JWKS ahead of time so relying parties already trust it when it starts signing) and any number
// of `previous` keys (still published so tokens they signed keep verifying until retired).
import { generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import type { Sealer } from '../crypto/seal.ts';

export const SIGNING_ALGS = ['ES256', 'RS256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];
type Status = 'current' | 'next' | 'previous';

interface KeyDoc {
  _id: string; // kid
  alg: SigningAlg;
  status: Status;
  /** `${alg}:${status}` for current/next; absent for previous keys, so the unique index allows many. */
  slot?: string;
  sealedJwk: string;
  createdAt: Date;
  activatedAt?: Date;
}

export interface KeyInfo {
  kid: string;
  alg: SigningAlg;
  status: Status;
  createdAt: Date;
  activatedAt?: Date;
}

export class KeyError extends Error {
  override name = 'KeyError';
}

function generate(alg: SigningAlg): { kid: string; jwk: JsonWebKey } {
  const kid = `${alg.toLowerCase()}-${randomBytes(9).toString('base64url')}`;
  const { privateKey } = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, jwk: { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } };
}

const ORDER: Record<Status, number> = { current: 0, next: 1, previous: 2 };

export type KeyStore = ReturnType<typeof createKeyStore>;

export function createKeyStore(db: Database, sealer: Sealer, clock: () => Date = () => new Date()) {
  const schema = new Schema<KeyDoc>(
    {
      _id: { type: String, required: true },
      alg: { type: String, required: true },
      status: { type: String, required: true },
      slot: { type: String, unique: true, sparse: true },
      sealedJwk: { type: String, required: true },
      createdAt: { type: Date, required: true },
      activatedAt: Date,
    },
    { collection: 'signing_keys', versionKey: false },
  );
  const Keys = db.model<KeyDoc>('SigningKey', schema);
  const context = (kid: string) => `signing-key:${kid}`;

  async function insert(alg: SigningAlg, status: 'current' | 'next'): Promise<void> {
    const { kid, jwk } = generate(alg);
    const now = clock();
    try {
      await Keys.create({
        _id: kid, alg, status, slot: `${alg}:${status}`, sealedJwk: sealer.seal(JSON.stringify(jwk), context(kid)),
        createdAt: now, ...(status === 'current' ? { activatedAt: now } : {}),
      });
    } catch (err) {
      // another process filled the slot first: its key is as good as ours
      if ((err as { code?: number }).code !== 11000) throw err;
    }
  }

  async function promoteNext(alg: SigningAlg): Promise<boolean> {
    try {
      const res = await Keys.updateOne(
        { slot: `${alg}:next` },
        { $set: { status: 'current', slot: `${alg}:current`, activatedAt: clock() } },
      );
      return res.matchedCount === 1;
    } catch (err) {
      // another process promoted its next key first: the slot's unique index refuses ours (MongoDB
      // says 11000; the embedded server reports an update's collision as SQLite's constraint error)
      if ((err as { code?: number }).code === 11000 || /UNIQUE constraint failed/.test((err as Error).message)) return false;
      throw err;
    }
  }

  return {
    /** Makes sure every algorithm has a current and a next key; safe to run from many processes. */
    async ensure(): Promise<void> {
      for (const alg of SIGNING_ALGS) {
        if (!(await Keys.exists({ slot: `${alg}:current` }))) {
          if (!(await promoteNext(alg))) await insert(alg, 'current');
        }
        if (!(await Keys.exists({ slot: `${alg}:next` }))) await insert(alg, 'next');
      }
    },

    /** Private JWKs in the order oidc-provider wants: the first key of an algorithm signs. */
    async jwks(): Promise<JsonWebKey[]> {
      const docs = await Keys.find().lean<KeyDoc[]>();
      docs.sort((a, b) => ORDER[a.status] - ORDER[b.status] || b.createdAt.getTime() - a.createdAt.getTime());
      return docs.map((d) => {
        try {
          return JSON.parse(sealer.open(d.sealedJwk, context(d._id))) as JsonWebKey;
        } catch {
          throw new KeyError(`Signing key ${d._id} cannot be decrypted: ENCRYPTION_KEY differs from the one it was stored with`);
        }
      });
    },

    async list(): Promise<KeyInfo[]> {
      const docs = await Keys.find().sort({ createdAt: 1 }).lean<KeyDoc[]>();
      return docs.map((d) => ({
        kid: d._id, alg: d.alg, status: d.status, createdAt: d.createdAt,
        ...(d.activatedAt ? { activatedAt: d.activatedAt } : {}),
      }));
    },

    /**
     * current → previous, next → current, and a fresh next. Processes pick the change up on their
     * next (rolling) restart; tokens signed by the old key keep verifying while it is published.
     */
    async rotate(alg: SigningAlg): Promise<{ retiredKid?: string; currentKid: string }> {
      await this.ensure();
      const old = await Keys.findOneAndUpdate(
        { slot: `${alg}:current` },
        { $set: { status: 'previous' }, $unset: { slot: '' } },
      ).lean<KeyDoc>();
      await promoteNext(alg);
      await this.ensure();
      const current = await Keys.findOne({ slot: `${alg}:current` }).lean<KeyDoc>();
      return { ...(old ? { retiredKid: old._id } : {}), currentKid: current!._id };
    },

    /** Removes a previous key from the JWKS; tokens it signed stop verifying. */
    async remove(kid: string): Promise<void> {
      const doc = await Keys.findById(kid).lean<KeyDoc>();
      if (!doc) throw new KeyError(`no signing key with kid ${kid}`);
      if (doc.status !== 'previous') throw new KeyError(`key ${kid} is ${doc.status}; only previous keys can be removed (rotate first)`);
      await Keys.deleteOne({ _id: kid, status: 'previous' });
    },
  };
}
