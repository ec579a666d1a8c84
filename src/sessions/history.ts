// An account's session history: its sign-in attempts newest first, in pages, without a scan. The
// entries live in per-account buckets of one page each (`sign_in_history`, _id "<account>:<n>"),
// found through a head document (_id = account id) that says which bucket is the newest and how
// full it is. Old buckets drop off beyond the kept number of entries.
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import type { SignInEvent } from '../devices/events.ts';
import type { RiskHistory } from '../policy/risk.ts';

export const HISTORY_PAGE = 20;

interface HeadDoc {
  _id: string;
  latest: number;
  size: number;
  /** What the risk policy needs from the history, kept with each append (one read at sign-in). */
  risk?: RiskDigest;
}

/** The account's successful sign-in countries, its latest success and its recent failures (bounded). */
interface RiskDigest {
  countries: { country: string; at: Date }[];
  last?: { at: Date; country?: string; city?: string; ll?: [number, number] };
  failures: Date[];
}

const DIGEST_COUNTRIES = 30;
const DIGEST_FAILURES = 100;
const HOUR_MS = 3_600_000;

/** The digest after some entries (oldest first): their successes and failures folded in. */
function digestWith(digest: RiskDigest | undefined, entries: SignInEvent[]): RiskDigest {
  let countries = digest?.countries ?? [];
  let last = digest?.last;
  let failures = digest?.failures ?? [];
  for (const e of entries) {
    if (e.result === 'success') {
      const country = e.location?.country;
      if (country) countries = [...countries.filter((c) => c.country !== country), { country, at: e.at }].slice(-DIGEST_COUNTRIES);
      last = { at: e.at, ...(country ? { country } : {}), ...(e.location?.city ? { city: e.location.city } : {}), ...(e.ll ? { ll: e.ll } : {}) };
    } else if (e.result === 'wrong_password' || e.result === 'wrong_code') {
      failures = [...failures, e.at];
    }
  }
  const newest = entries.at(-1)?.at;
  if (newest) failures = failures.filter((at) => new Date(at).getTime() > new Date(newest).getTime() - HOUR_MS).slice(-DIGEST_FAILURES);
  return { countries, ...(last ? { last } : {}), failures };
}

interface BucketDoc {
  _id: string;
  entries: SignInEvent[];
}

export type SignInHistory = ReturnType<typeof createSignInHistory>;

export function createSignInHistory(db: Database, options: { keepEntries: number }) {
  const Heads = db.model<HeadDoc>('SignInHistoryHead', new Schema<HeadDoc>(
    { _id: String, latest: Number, size: Number, risk: Schema.Types.Mixed },
    { collection: 'sign_in_history_heads', versionKey: false },
  ));
  const Buckets = db.model<BucketDoc>('SignInHistoryBucket', new Schema<BucketDoc>(
    { _id: String, entries: { type: Schema.Types.Mixed, default: [] } },
    { collection: 'sign_in_history', versionKey: false },
  ));
  const keepBuckets = Math.ceil(options.keepEntries / HISTORY_PAGE) + 1;
  const bucketId = (accountId: string, n: number) => `${accountId}:${n}`;

  return {
    /** Account deletion only: the head and every bucket of the account (the buckets by a scan of their ids). */
    async forgetAccount(accountId: string): Promise<void> {
      const prefix = new RegExp(`^${accountId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+$`);
      await Buckets.deleteMany({ _id: prefix } as never);
      await Heads.deleteOne({ _id: accountId });
    },
    /** Adds attempts (oldest first) to the account's history (one writer per account at a time). */
    async append(accountId: string, ...entries: SignInEvent[]): Promise<void> {
      if (!entries.length) return;
      await db.exclusive(`sign_in_history/${accountId}`, async () => {
        const head = (await Heads.findById(accountId).lean<HeadDoc>()) ?? { _id: accountId, latest: 0, size: 0 };
        // the entries that still fit the newest bucket go there; the rest open the next one
        const room = Math.max(0, HISTORY_PAGE - head.size);
        const here = entries.slice(0, room);
        const next = entries.slice(room);
        if (here.length) await Buckets.updateOne({ _id: bucketId(accountId, head.latest) }, { $push: { entries: { $each: here } } }, { upsert: true });
        const latest = next.length ? head.latest + 1 : head.latest;
        if (next.length) await Buckets.updateOne({ _id: bucketId(accountId, latest) }, { $push: { entries: { $each: next } } }, { upsert: true });
        await Heads.replaceOne({ _id: accountId }, { latest, size: next.length ? next.length : head.size + here.length, risk: digestWith(head.risk, entries) }, { upsert: true });
        if (next.length && latest >= keepBuckets) await Buckets.deleteOne({ _id: bucketId(accountId, latest - keepBuckets) });
      });
    },

    /** What the risk policy reads of the account's history (one read of its head), at `now`. */
    async riskOf(accountId: string, now: Date): Promise<RiskHistory> {
      const digest = (await Heads.findById(accountId).lean<HeadDoc>())?.risk;
      const last = digest?.last;
      return {
        countries: (digest?.countries ?? []).map((c) => c.country),
        ...(last ? { last: { at: Math.floor(new Date(last.at).getTime() / 1000), ...(last.country ? { country: last.country } : {}), ...(last.city ? { city: last.city } : {}), ...(last.ll ? { ll: last.ll } : {}) } } : {}),
        failuresLastHour: (digest?.failures ?? []).filter((at) => new Date(at).getTime() > now.getTime() - HOUR_MS).length,
      };
    },

    /** One page (0 = newest) of the account's attempts, newest first, and whether older ones exist. */
    async page(accountId: string, page: number): Promise<{ entries: SignInEvent[]; older: boolean }> {
      const head = await Heads.findById(accountId).lean<HeadDoc>();
      if (!head) return { entries: [], older: false };
      // the newest bucket holds `size` entries, every older one a full page
      let skip = page * HISTORY_PAGE;
      let bucket = head.latest;
      if (skip >= head.size) {
        skip -= head.size;
        bucket = head.latest - 1 - Math.floor(skip / HISTORY_PAGE);
        skip %= HISTORY_PAGE;
      }
      const read = async (n: number) => (n >= 0 && n > head.latest - keepBuckets
        ? ((await Buckets.findById(bucketId(accountId, n)).lean<BucketDoc>())?.entries ?? []).slice().reverse()
        : []);
      const span = [...(await read(bucket)), ...(await read(bucket - 1))];
      const entries = span.slice(skip, skip + HISTORY_PAGE);
      return { entries, older: span.length > skip + HISTORY_PAGE || (entries.length === HISTORY_PAGE && (await read(bucket - 2)).length > 0) };
    },
  };
}
