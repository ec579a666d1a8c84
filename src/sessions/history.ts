// An account's session history: its sign-in attempts newest first, in pages, without a scan. The
// entries live in per-account buckets of one page each (`sign_in_history`, _id "<account>:<n>"),
// found through a head document (_id = account id) that counts them: `latest * HISTORY_PAGE + size`
// attempts were ever appended, the attempt at position p sits in bucket floor(p / HISTORY_PAGE).
// Heads written by earlier versions reset `size` when they opened a bucket; this one only ever adds
// to it (one atomic `$inc`), and both read the same under that sum. Old buckets drop off beyond the
// kept number of entries.
import { Schema, type UpdateQuery } from 'mongoose';
import type { Database } from '../db/database.ts';
import type { SignInEvent } from '../devices/events.ts';
import type { RiskHistory } from '../policy/risk.ts';

export const HISTORY_PAGE = 20;

interface HeadDoc {
  _id: string;
  /** A head made by this version has none (0). */
  latest?: number;
  size?: number;
  /** What the risk policy needs from the history, kept with each append (one read at sign-in). */
  risk?: RiskDigest;
}

/** The account's successful sign-in countries, its latest success and its recent failures (bounded). */
interface RiskDigest {
  /** Country code → its latest success; beyond DIGEST_COUNTRIES the ones seen longest ago go at a rollover (and on read). */
  seen?: Record<string, Date>;
  /** The earlier shape of the countries (oldest first), read as it is and folded into `seen` at the head's next rollover. */
  countries?: { country: string; at: Date }[];
  last?: { at: Date; country?: string; city?: string; ll?: [number, number] };
  /** Oldest first; at most DIGEST_FAILURES on MongoDB (`$slice`), trimmed at a rollover on the embedded database (which ignores `$slice`). */
  failures?: Date[];
}

export const DIGEST_COUNTRIES = 30;
export const DIGEST_FAILURES = 100;
const HOUR_MS = 3_600_000;
/** A country code usable as a field name (geoip's are two letters; FerretDB refuses `.` and a leading `$`). */
const COUNTRY_KEY = /^[A-Za-z0-9_-]{1,16}$/;

const isFailure = (e: SignInEvent) => e.result === 'wrong_password' || e.result === 'wrong_code';
const time = (at: Date | string) => new Date(at).getTime();

/** Attempts ever appended to a head (0 without one). */
const appended = (head: HeadDoc | null | undefined) => (head?.latest ?? 0) * HISTORY_PAGE + (head?.size ?? 0);

/** The head update of an append: the room reserved and the entries (oldest first) folded into the digest, by update operators only. */
function foldInto(entries: SignInEvent[]): UpdateQuery<HeadDoc> {
  const seen: Record<string, Date> = {};
  let last: RiskDigest['last'];
  const failures: Date[] = [];
  for (const e of entries) {
    if (e.result === 'success') {
      const country = e.location?.country;
      if (country && COUNTRY_KEY.test(country)) seen[`risk.seen.${country}`] = e.at;
      last = { at: e.at, ...(country ? { country } : {}), ...(e.location?.city ? { city: e.location.city } : {}), ...(e.ll ? { ll: e.ll } : {}) };
    } else if (isFailure(e)) {
      failures.push(e.at);
    }
  }
  return {
    $inc: { size: entries.length },
    ...(Object.keys(seen).length ? { $max: seen } : {}),
    ...(last ? { $set: { 'risk.last': last } } : {}),
    ...(failures.length ? { $push: { 'risk.failures': { $each: failures, $slice: -DIGEST_FAILURES } } } : {}),
  };
}

/** Every country with its latest success: the map, the earlier shape's list, and `entries` (not yet in `risk`). */
function countriesOf(risk: RiskDigest | undefined, entries: SignInEvent[] = []): Map<string, number> {
  const latest = new Map<string, number>();
  const see = (country: string, at: Date | string) => latest.set(country, Math.max(latest.get(country) ?? 0, time(at)));
  for (const c of risk?.countries ?? []) see(c.country, c.at);
  for (const [country, at] of Object.entries(risk?.seen ?? {})) see(country, at);
  for (const e of entries) if (e.result === 'success' && e.location?.country && COUNTRY_KEY.test(e.location.country)) see(e.location.country, e.at);
  return latest;
}

/** The DIGEST_COUNTRIES countries seen most recently, oldest first, and the ones beyond them. */
function keptCountries(latest: Map<string, number>): { kept: string[]; dropped: string[] } {
  const byTime = [...latest].sort((a, b) => a[1] - b[1]).map(([country]) => country);
  const cut = Math.max(0, byTime.length - DIGEST_COUNTRIES);
  return { kept: byTime.slice(cut), dropped: byTime.slice(0, cut) };
}

/**
 * At a rollover: the head update that brings the digest (as `before` said, plus `entries`) back
 * within its bounds and folds the earlier shape's country list into the map; none when it is
 * within them. Operators on the paths concerned only, so an append of another process is kept.
 */
function trimOf(before: RiskDigest | undefined, entries: SignInEvent[], slices: boolean): UpdateQuery<HeadDoc> | undefined {
  const $unset: Record<string, ''> = {};
  const $max: Record<string, Date> = {};
  const { kept, dropped } = keptCountries(countriesOf(before, entries));
  if (before?.countries) {
    $unset['risk.countries'] = '';
    for (const c of before.countries) if (COUNTRY_KEY.test(c.country) && kept.includes(c.country)) $max[`risk.seen.${c.country}`] = c.at;
  }
  for (const country of dropped) $unset[`risk.seen.${country}`] = '';
  // a server that ignores $slice (the embedded one) lets the list grow; the rewrite is exact there under the lock
  const failures = [...before?.failures ?? [], ...entries.filter(isFailure).map((e) => e.at)];
  const $set = !slices && failures.length > DIGEST_FAILURES ? { 'risk.failures': failures.slice(-DIGEST_FAILURES) } : undefined;
  if (!Object.keys($unset).length && !$set) return undefined;
  return { ...(Object.keys($unset).length ? { $unset } : {}), ...(Object.keys($max).length ? { $max } : {}), ...($set ? { $set } : {}) };
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
    /**
     * Adds attempts (oldest first) to the account's history: one `findOneAndUpdate` of the head that
     * reserves their positions (`$inc`) and folds them into the risk digest, then one `$push` into the
     * bucket its before-image places them in — two commands. An append that opens a bucket (1 in 20)
     * may write more: a second `$push` when its entries straddle two buckets, the deletion of the
     * bucket that falls out of the kept ones, and a head update when the digest outgrew its bounds.
     * Positions come from an atomic `$inc`, so appends of several processes on MongoDB never share
     * one; on the embedded database (updates not atomic) the in-process lock keeps it exact.
     * Write order (README "The crash rule"): the head, the bucket, the fallen-out bucket, the trim. A
     * crash after the head leaves its place empty (that bucket holds one attempt fewer; pages show
     * what it holds); an undeleted bucket is past the kept ones, never read; an untrimmed digest is
     * read within its bounds and trimmed at the next rollover.
     */
    async append(accountId: string, ...entries: SignInEvent[]): Promise<void> {
      if (!entries.length) return;
      await db.exclusive(`sign_in_history/${accountId}`, async () => {
        const before = await Heads.findOneAndUpdate({ _id: accountId }, foldInto(entries), { upsert: true, returnDocument: 'before' }).lean<HeadDoc>();
        const first = appended(before);
        const byBucket = new Map<number, SignInEvent[]>();
        entries.forEach((e, i) => {
          const n = Math.floor((first + i) / HISTORY_PAGE);
          byBucket.set(n, [...(byBucket.get(n) ?? []), e]);
        });
        for (const [n, here] of byBucket) await Buckets.updateOne({ _id: bucketId(accountId, n) }, { $push: { entries: { $each: here } } }, { upsert: true });
        const opened = [...byBucket.keys()].filter((n) => n * HISTORY_PAGE >= first);
        if (!opened.length) return;
        for (const n of opened) if (n >= keepBuckets) await Buckets.deleteOne({ _id: bucketId(accountId, n - keepBuckets) });
        const trim = trimOf(before?.risk, entries, db.kind === 'mongodb');
        if (trim) await Heads.updateOne({ _id: accountId }, trim);
      });
    },

    /** What the risk policy reads of the account's history (one read of its head), at `now`. */
    async riskOf(accountId: string, now: Date): Promise<RiskHistory> {
      const digest = (await Heads.findById(accountId).lean<HeadDoc>())?.risk;
      const last = digest?.last;
      return {
        countries: keptCountries(countriesOf(digest)).kept,
        ...(last ? { last: { at: Math.floor(time(last.at) / 1000), ...(last.country ? { country: last.country } : {}), ...(last.city ? { city: last.city } : {}), ...(last.ll ? { ll: last.ll } : {}) } } : {}),
        failuresLastHour: (digest?.failures ?? []).slice(-DIGEST_FAILURES).filter((at) => time(at) > now.getTime() - HOUR_MS).length,
      };
    },

    /** One page (0 = newest) of the account's attempts, newest first, and whether older ones exist. */
    async page(accountId: string, page: number): Promise<{ entries: SignInEvent[]; older: boolean }> {
      const head = await Heads.findById(accountId).lean<HeadDoc>();
      const total = appended(head);
      // positions [kept, total) are in the kept buckets; this page shows [from, to), newest first
      const kept = Math.max(0, (Math.floor((total - 1) / HISTORY_PAGE) - keepBuckets + 1) * HISTORY_PAGE);
      const to = total - page * HISTORY_PAGE;
      const from = Math.max(kept, to - HISTORY_PAGE);
      if (to <= from) return { entries: [], older: false };
      const buckets = new Map<number, SignInEvent[]>();
      for (const n of new Set([Math.floor(from / HISTORY_PAGE), Math.floor((to - 1) / HISTORY_PAGE)])) {
        buckets.set(n, (await Buckets.findById(bucketId(accountId, n)).lean<BucketDoc>())?.entries ?? []);
      }
      const entries: SignInEvent[] = [];
      for (let p = to - 1; p >= from; p--) {
        const entry = buckets.get(Math.floor(p / HISTORY_PAGE))![p % HISTORY_PAGE];
        if (entry) entries.push(entry);
      }
      return { entries, older: from > kept };
    },
  };
}
