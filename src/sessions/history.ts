// An account's session history: its sign-in attempts newest first, in pages, without a scan. A head
// document (_id = account id) counts them: `latest * HISTORY_PAGE + size` attempts were ever
// appended. It holds the newest ones itself (`recent`: the positions from `total - recent.length`
// on, at most the page being filled and what one append brought); the older ones live in
// per-account buckets of one page each (`sign_in_history`, _id "<account>:<n>"), the attempt at
// position p in bucket floor(p / HISTORY_PAGE). So an append is one write of the head, and a page
// is moved into its bucket once it is full. Heads written by earlier versions reset `size` when they
// opened a bucket and kept no `recent`; this one only ever adds to `size` (one atomic `$inc`), and
// both read the same under that sum. Old buckets drop off beyond the kept number of entries.
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
  /** The newest attempts, oldest first: positions `total - recent.length` to `total - 1` (none: an earlier version's head). */
  recent?: StoredEntry[];
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

/**
 * An attempt as stored: one JSON string (its time in ISO form), which the embedded database reads
 * and writes as one value instead of a document of typed fields (the head is read on every
 * sign-in); an earlier version stored the attempt itself; null: a place an earlier version lost.
 */
type StoredEntry = SignInEvent | string | null;
const pack = (e: SignInEvent): string => JSON.stringify(e);
function unpack(e: StoredEntry | undefined): SignInEvent | undefined {
  if (typeof e !== 'string') return e ?? undefined;
  const read = JSON.parse(e) as SignInEvent & { at: string };
  return { ...read, at: new Date(read.at) };
}

/** Where the head's own entries begin: the positions before it are in buckets. */
const recentFrom = (head: HeadDoc | null | undefined) => appended(head) - (head?.recent?.length ?? 0);

/** The head update of an append: the entries (oldest first) added to its own, counted, and folded into the digest, by update operators only. */
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
    $push: { recent: { $each: entries.map(pack) }, ...(failures.length ? { 'risk.failures': { $each: failures, $slice: -DIGEST_FAILURES } } : {}) },
  };
}

/** Every country with its latest success: the map and the earlier shape's list. */
function countriesOf(risk: RiskDigest | undefined): Map<string, number> {
  const latest = new Map<string, number>();
  const see = (country: string, at: Date | string) => latest.set(country, Math.max(latest.get(country) ?? 0, time(at)));
  for (const c of risk?.countries ?? []) see(c.country, c.at);
  for (const [country, at] of Object.entries(risk?.seen ?? {})) see(country, at);
  return latest;
}

/** The DIGEST_COUNTRIES countries seen most recently, oldest first, and the ones beyond them. */
function keptCountries(latest: Map<string, number>): { kept: string[]; dropped: string[] } {
  const byTime = [...latest].sort((a, b) => a[1] - b[1]).map(([country]) => country);
  const cut = Math.max(0, byTime.length - DIGEST_COUNTRIES);
  return { kept: byTime.slice(cut), dropped: byTime.slice(0, cut) };
}

/**
 * At a rollover: the head update that brings the digest (as the head holds it now) back within its
 * bounds and folds the earlier shape's country list into the map, with `$set` (the entries kept in
 * the head) merged in. Operators on the paths concerned only.
 */
function trimOf(digest: RiskDigest | undefined, slices: boolean, $set: Record<string, unknown>): UpdateQuery<HeadDoc> {
  const $unset: Record<string, ''> = {};
  const $max: Record<string, Date> = {};
  const { kept, dropped } = keptCountries(countriesOf(digest));
  if (digest?.countries) {
    $unset['risk.countries'] = '';
    for (const c of digest.countries) if (COUNTRY_KEY.test(c.country) && kept.includes(c.country)) $max[`risk.seen.${c.country}`] = c.at;
  }
  for (const country of dropped) $unset[`risk.seen.${country}`] = '';
  // a server that ignores $slice (the embedded one) lets the list grow; the rewrite is exact there (a guarded write)
  const failures = digest?.failures ?? [];
  if (!slices && failures.length > DIGEST_FAILURES) $set['risk.failures'] = failures.slice(-DIGEST_FAILURES);
  return { $set, ...(Object.keys($unset).length ? { $unset } : {}), ...(Object.keys($max).length ? { $max } : {}) };
}

interface BucketDoc {
  _id: string;
  /** Position n * HISTORY_PAGE + i at index i. */
  entries: StoredEntry[];
}

export type SignInHistory = ReturnType<typeof createSignInHistory>;

export function createSignInHistory(db: Database, options: { keepEntries: number }) {
  const Heads = db.model<HeadDoc>('SignInHistoryHead', new Schema<HeadDoc>(
    { _id: String, latest: Number, size: Number, risk: Schema.Types.Mixed, recent: { type: [Schema.Types.Mixed], default: undefined } },
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
     * adds them to its own entries, counts them (`$inc`) and folds them into the risk digest — one
     * command. An append that opens a page (1 in 20) then moves each full page the head holds into
     * its bucket (one `$set` of the whole page: the same result however often it is done; a page an
     * earlier version began in its bucket is read and completed), deletes the bucket that falls out
     * of the kept ones, and takes the moved entries out of the head in one guarded write that also
     * brings the digest back within its bounds. Positions come from an atomic `$inc`, so appends of
     * several processes on MongoDB never share one (the guarded write goes round again after
     * another's append); on the embedded database (updates not atomic) the in-process lock keeps it
     * exact. Write order (README "The crash rule"): the head, the buckets, the fallen-out bucket, the
     * head's trim. A crash before the trim leaves the head holding the pages as well (pages read
     * the head's copy; the next append that fills a page moves them again); an undeleted bucket is
     * past the kept ones, never read.
     */
    async append(accountId: string, ...entries: SignInEvent[]): Promise<void> {
      if (!entries.length) return;
      await db.exclusive(`sign_in_history/${accountId}`, async () => {
        let head: HeadDoc | null = await Heads.findOneAndUpdate({ _id: accountId }, foldInto(entries), { upsert: true, returnDocument: 'after' }).lean<HeadDoc>();
        // the page of the newest attempt: the head keeps it; the full pages before it move out
        const filling = Math.floor((appended(head) - 1) / HISTORY_PAGE);
        if (!head || recentFrom(head) >= filling * HISTORY_PAGE) return;
        const from = recentFrom(head);
        for (let n = Math.floor(from / HISTORY_PAGE); n < filling; n++) {
          const page: StoredEntry[] = [];
          // the positions of this page before the head's own: in the bucket an earlier version began
          const before = from > n * HISTORY_PAGE ? (await Buckets.findById(bucketId(accountId, n)).lean<BucketDoc>())?.entries ?? [] : [];
          for (let p = n * HISTORY_PAGE; p < (n + 1) * HISTORY_PAGE; p++) page.push(p < from ? before[p - n * HISTORY_PAGE] ?? null : head.recent![p - from]!);
          await Buckets.updateOne({ _id: bucketId(accountId, n) }, { $set: { entries: page } }, { upsert: true });
          if (n + 1 >= keepBuckets) await Buckets.deleteOne({ _id: bucketId(accountId, n + 1 - keepBuckets) });
        }
        // the moved pages out of the head, guarded on its count (another process's append goes round again)
        for (let attempt = 0; attempt < 10 && head && recentFrom(head) < filling * HISTORY_PAGE; attempt++) {
          const trim = trimOf(head.risk, db.kind === 'mongodb', { recent: head.recent!.slice(filling * HISTORY_PAGE - recentFrom(head)) });
          if (await db.updateIf(Heads, accountId, { latest: head.latest ?? null, size: head.size }, trim)) return;
          head = await Heads.findById(accountId).lean<HeadDoc>();
        }
      });
    },

    /** What the risk policy reads of the account's history (one read of its head), at `now`. */
    async riskOf(accountId: string, now: Date): Promise<RiskHistory> {
      const digest = (await Heads.findById(accountId, { risk: 1 }).lean<HeadDoc>())?.risk;
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
      // the positions from `own` on are the head's; the ones before it are in their buckets
      const own = recentFrom(head);
      const buckets = new Map<number, StoredEntry[]>();
      for (const n of new Set([Math.floor(from / HISTORY_PAGE), Math.floor((to - 1) / HISTORY_PAGE)])) {
        if (n * HISTORY_PAGE < own) buckets.set(n, (await Buckets.findById(bucketId(accountId, n)).lean<BucketDoc>())?.entries ?? []);
      }
      const entries: SignInEvent[] = [];
      for (let p = to - 1; p >= from; p--) {
        const entry = unpack(p >= own ? head!.recent![p - own] : buckets.get(Math.floor(p / HISTORY_PAGE))![p % HISTORY_PAGE]);
        if (entry) entries.push(entry);
      }
      return { entries, older: from > kept };
    },
  };
}
