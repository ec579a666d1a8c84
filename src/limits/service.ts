// Brute-force and abuse limits (README "Limits and lockout"). Failed sign-ins count per IP, per
// account (split: failures from the account's known devices and from new ones count apart, and
// known devices get a softer limit, so guessing from new devices never locks the owner out of a
// device they use) and per account+device, each backing off exponentially (policy/limits.ts).
// Wrong codes count per account the same way; "Resend" is capped per account per hour. Texts and
// calls are capped per day in two separate ways (phoneSend): to a number the sending account has
// verified (its own sign-in codes and confirmations) on that account's own allowance for that
// number, which nobody else's sends touch; to any other number (verifying it: the toll-fraud
// path) per sending account, per IP and per number. Keys are HMACs of the email, account,
// browser, IP and number: nothing readable is stored. A sign-in, passkey or code dimension keeps
// its count and its lock in one document (limits/backoff-store.ts); the other counters are
// rate-limiter-flexible's on limits/store.ts.
import { createHmac } from 'node:crypto';
import type { RateLimiterStoreAbstract } from 'rate-limiter-flexible';
import type { Database } from '../db/database.ts';
import { lockSeconds, startsLockout, type Backoff } from '../policy/limits.ts';
import { createDbLimiter, limitModel, migrateLegacyExpiry } from './store.ts';
import { createBackoffStore, foldLegacyBackoff } from './backoff-store.ts';
import type { CodeMessages, Reader, Whereabouts } from '../notify/messages.ts';
import type { Transports } from '../notify/transports.ts';

/** Sends the lockout email (in the background: never delays or fails a sign-in). */
export interface LockoutNotifier {
  messages: CodeMessages;
  transports: Transports;
  log: (line: string) => void;
}

export interface LimitSettings {
  /** Failed sign-ins (per account from new devices, per account+device) before the first lock. */
  lockAfter: number;
  /** The softer per-account limit for the account's known devices. */
  knownDeviceLockAfter: number;
  /** Failed sign-ins from one IP (any account) before it is locked. */
  ipLockAfter: number;
  /** The first lock; each further one doubles, up to maxLockSeconds. */
  lockSeconds: number;
  maxLockSeconds: number;
  /** How long failures are remembered (from the first one). */
  memorySeconds: number;
  /** Wrong codes (any kind) per account before code entry is locked. */
  codeLockAfter: number;
  /** "Resend" per account per hour (all channels). */
  resendPerHour: number;
  /** "Forgot password?" codes per client IP per hour (per email: resendPerHour). */
  resetPerIpPerHour: number;
  /** Texts and calls per day to numbers the sender has not verified: per account, per IP, per number. */
  phonePerAccountPerDay: number;
  phonePerIpPerDay: number;
  phonePerNumberPerDay: number;
  /** Texts and calls per day to a number its account verified, per account and number. */
  phonePerOwnerPerDay: number;
}

/** One text or call about to be sent. */
export interface PhoneSend {
  accountId: string;
  /** E.164. */
  number: string;
  /** The sending account verified this number (its sign-in codes, its confirmations). */
  verified: boolean;
  /** The client IP of the request that asks for it. */
  ip?: string;
}

/** Which daily cap refused a text or call. */
export type PhoneCap = 'owner' | 'account' | 'ip' | 'number';

/** Who is signing in: the email as typed (normalized), this browser, the client IP, and whether the device is known to the account. */
export interface SignInParty {
  email: string;
  browserId: string;
  ip: string;
  knownDevice: boolean;
}

/** Who is signing in with a passkey, before it names an account: this browser and the client IP. */
export interface PasskeyParty {
  browserId: string;
  ip: string;
}

export interface CodeParty {
  accountId: string;
  knownDevice: boolean;
}

const BIG = 1_000_000_000;
const HOUR = 3600;
const DAY = 24 * HOUR;

export type Limits = ReturnType<typeof createLimits>;

/** The limits handed to the sign-in pages with their other dependencies (fails closed when missing). */
export function createLimits(db: Database, settings: LimitSettings, key: Buffer, clock: () => Date, notifier?: LockoutNotifier) {
  const sending = new Set<Promise<void>>();
  const model = limitModel(db);
  const limiter = (keyPrefix: string, duration: number, points = BIG) => createDbLimiter(db, model, clock, { keyPrefix, points, duration });
  const mac = (...parts: string[]) => createHmac('sha256', key).update(parts.join('\0')).digest('base64url');

  // each dimension's failures and lock: one document, one read
  const backoffs = createBackoffStore(db, model, clock, settings.memorySeconds);
  // attempts refused while locked: counted apart (they never lengthen a lock), so a refused attempt
  // writes what a wrong password writes and takes as long
  const refusals = limiter('refused', settings.memorySeconds);
  const resends = limiter('resend', HOUR);
  const resetEmails = limiter('reset-email', HOUR);
  const resetIps = limiter('reset-ip', HOUR);
  const phoneOwner = limiter('phone-owner', DAY);
  const phoneAccount = limiter('phone-account', DAY);
  const phoneIp = limiter('phone-ip', DAY);
  const phoneNumber = limiter('phone-number', DAY);

  const backoff = (lockAfter: number): Backoff => ({ lockAfter, baseSeconds: settings.lockSeconds, maxSeconds: settings.maxLockSeconds });

  interface Dimension { key: string; backoff: Backoff; account?: boolean }

  function signInDimensions(p: SignInParty): Dimension[] {
    return [
      { key: `ip:${mac('ip', p.ip)}`, backoff: backoff(settings.ipLockAfter) },
      p.knownDevice
        ? { key: `account-known:${mac('email', p.email)}`, backoff: backoff(settings.knownDeviceLockAfter), account: true }
        : { key: `account-new:${mac('email', p.email)}`, backoff: backoff(settings.lockAfter), account: true },
      { key: `account-device:${mac('email-device', p.email, p.browserId)}`, backoff: backoff(settings.lockAfter) },
    ];
  }

  // a passkey sign-in names no account until it is verified: its failures count per IP (with the
  // password failures) and per browser
  const passkeyDimensions = (p: PasskeyParty): Dimension[] => [
    { key: `ip:${mac('ip', p.ip)}`, backoff: backoff(settings.ipLockAfter) },
    { key: `passkey-browser:${mac('browser', p.browserId)}`, backoff: backoff(settings.lockAfter) },
  ];

  const codeDimension = (p: CodeParty): Dimension => ({ key: `code-${p.knownDevice ? 'known' : 'new'}:${mac('account', p.accountId)}`, backoff: backoff(settings.codeLockAfter) });

  /** Milliseconds the longest of these locks still holds (0: none). */
  async function lockedFor(dims: Dimension[]): Promise<number> {
    const found = await backoffs.read(dims.map((d) => d.key));
    return Math.max(0, ...found.map((s) => s.lockedMs));
  }

  /** Counts a failure on each dimension and locks those that reached their limit; whether an account lockout began. */
  async function fail(dims: Dimension[]): Promise<boolean> {
    let lockout = false;
    for (const d of dims) {
      const failures = await backoffs.count(d.key);
      const seconds = lockSeconds(failures, d.backoff);
      if (seconds > 0) await backoffs.lock(d.key, seconds);
      if (d.account && startsLockout(failures, d.backoff)) lockout = true;
    }
    return lockout;
  }

  /** Consumes one point; false (and nothing counted past it) at the cap. */
  async function take(l: RateLimiterStoreAbstract, k: string, cap: number): Promise<boolean> {
    const res = await l.get(k);
    if (res && res.consumedPoints >= cap) return false;
    const after = await l.consume(k);
    return after.consumedPoints <= cap;
  }

  interface Counter { name: PhoneCap; limiter: RateLimiterStoreAbstract; key: string; cap: number }

  /** The daily counters one text or call counts on (see the file's head). */
  function phoneCounters(send: PhoneSend): Counter[] {
    const number = send.number.replace(/[^\d+]/g, '');
    if (send.verified) return [{ name: 'owner', limiter: phoneOwner, key: mac('owner', send.accountId, number), cap: settings.phonePerOwnerPerDay }];
    return [
      { name: 'account', limiter: phoneAccount, key: mac('account', send.accountId), cap: settings.phonePerAccountPerDay },
      ...(send.ip ? [{ name: 'ip' as const, limiter: phoneIp, key: mac('ip', send.ip), cap: settings.phonePerIpPerDay }] : []),
      { name: 'number', limiter: phoneNumber, key: mac('number', number), cap: settings.phonePerNumberPerDay },
    ];
  }

  const limits = {
    settings,
    /**
     * Whether any sign-in limit for this party is locked now (the attempt then fails like a wrong
     * password), and what a right password then clears: this device's and this kind of device's
     * account counts (the IP's stays). Reads one document per dimension, all in one command; a clean
     * slate clears nothing.
     */
    async signInState(p: SignInParty): Promise<{ locked: boolean; succeeded(): Promise<void> }> {
      const dims = signInDimensions(p);
      const held = await backoffs.read(dims.map((d) => d.key));
      return {
        locked: held.some((s) => s.lockedMs > 0),
        async succeeded() {
          await Promise.all(dims.map((d, i) => (i > 0 && held[i]!.held ? backoffs.clear(d.key) : undefined)));
        },
      };
    },
    /** A wrong password (or unknown email): counted everywhere; true when it starts a lockout of the account. */
    signInFailed: (p: SignInParty): Promise<boolean> => fail(signInDimensions(p)),
    /** An attempt refused while locked: recorded per dimension without counting toward any lock. */
    async signInRefused(p: SignInParty): Promise<void> {
      for (const d of signInDimensions(p)) await refusals.consume(d.key);
    },
    /**
     * A password typed outside the sign-in form (re-authentication, an unblock link) through the
     * same limits: `verify` does the password work whether or not the party is locked (the same
     * time either way); right only when not locked (`locked`: refused for that). `lockout`: this
     * failure began one.
     */
    async passwordAttempt(p: SignInParty, verify: () => Promise<boolean>): Promise<{ right: boolean; locked: boolean; lockout: boolean }> {
      const { locked, succeeded } = await limits.signInState(p);
      const right = await verify();
      if (right && !locked) {
        await succeeded();
        return { right: true, locked: false, lockout: false };
      }
      if (locked) {
        await limits.signInRefused(p);
        return { right: false, locked: true, lockout: false };
      }
      return { right: false, locked: false, lockout: await limits.signInFailed(p) };
    },
    /** Whether a passkey sign-in from this browser and IP is locked now, and what a success clears (this browser's count). */
    async passkeyState(p: PasskeyParty): Promise<{ locked: boolean; succeeded(): Promise<void> }> {
      const dims = passkeyDimensions(p);
      const held = await backoffs.read(dims.map((d) => d.key));
      return {
        locked: held.some((s) => s.lockedMs > 0),
        succeeded: async () => { if (held[1]!.held) await backoffs.clear(dims[1]!.key); },
      };
    },
    /** A passkey that did not sign in: counted per IP and per browser. */
    passkeyFailed: async (p: PasskeyParty): Promise<void> => { await fail(passkeyDimensions(p)); },
    /** Milliseconds code entry stays locked for the account (from this kind of device); 0 when open. */
    codesLockedFor: (p: CodeParty): Promise<number> => lockedFor([codeDimension(p)]),
    codeFailed: async (p: CodeParty): Promise<void> => { await fail([codeDimension(p)]); },
    /**
     * One "Forgot password?" code asked for this email (as typed: an email without an account
     * counts the same) from this IP; false at either hourly cap (nothing counted past it).
     */
    async resetAsked(email: string, ip: string): Promise<boolean> {
      const counters = [{ l: resetEmails, k: mac('email', email), cap: settings.resendPerHour }, { l: resetIps, k: mac('ip', ip), cap: settings.resetPerIpPerHour }];
      const now = await Promise.all(counters.map((c) => c.l.get(c.k)));
      if (counters.some((c, i) => (now[i]?.consumedPoints ?? 0) >= c.cap)) return false;
      const after = await Promise.all(counters.map((c) => c.l.consume(c.k)));
      return counters.every((c, i) => after[i]!.consumedPoints <= c.cap);
    },
    /** One "Resend" for the account; false at the hourly cap. */
    resend: (accountId: string): Promise<boolean> => take(resends, mac('account', accountId), settings.resendPerHour),
    /**
     * Counts one text or call on each of its daily counters; the cap that refuses it instead
     * (nothing counted then, on any counter), or undefined when it may go.
     */
    async phoneSend(send: PhoneSend): Promise<PhoneCap | undefined> {
      const counters = phoneCounters(send);
      const now = await Promise.all(counters.map((c) => c.limiter.get(c.key)));
      const full = counters.find((c, i) => (now[i]?.consumedPoints ?? 0) >= c.cap);
      if (full) return full.name;
      const after = await Promise.all(counters.map((c) => c.limiter.consume(c.key)));
      // two sends at once at the last point: the one past the cap does not go
      return counters.find((c, i) => after[i]!.consumedPoints > c.cap)?.name;
    },
    /** Emails the account that sign-ins are paused (once per lockout: the caller asks only when one begins), in its language (`reader`: its profile). */
    lockedOut(to: string, seen: Whereabouts, reader?: Reader): void {
      if (!notifier) return;
      const minutes = Math.max(1, Math.round(settings.lockSeconds / 60));
      const job = notifier.messages.in(reader).accountLocked(to, seen, minutes)
        .then((email) => notifier.transports.email(email))
        .catch((err: unknown) => notifier.log(`[tessera] lockout notice to an account failed: ${(err as Error).message}`))
        .finally(() => sending.delete(job));
      sending.add(job);
    },
    /**
     * Start-up: counters of an earlier version onto the one expiry field (limits/store.ts), then
     * its separate counts and locks folded into one document per dimension (limits/backoff-store.ts).
     * `moved`: counters moved or keys folded; `failed`: retried at the next start.
     */
    async migrate(): Promise<{ moved: number; failed: string[] }> {
      const expiry = await migrateLegacyExpiry(model);
      const fold = await foldLegacyBackoff(db, model, clock);
      return { moved: expiry.moved + fold.folded, failed: [...expiry.failed, ...fold.failed] };
    },

    /** Waits for lockout emails being sent (tests, shutdown). */
    async settled(): Promise<void> {
      await Promise.all([...sending]);
    },
  };
  return limits;
}
