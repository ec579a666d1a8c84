// Notices about devices: a new-device sign-in (to the account and to its organisation's admins)
// and a blocked device (to the account, with the link that unblocks it: devices/unblock-links.ts);
// an unusual sign-in (new country, impossible travel: the risk rules' reasons); and an account the
// person secured with "This wasn't me" (devices/containment.ts: to the account and the admins);
// and a trusted device's cookie used again and again without its device key (a possible copy).
// The new-device and unusual-sign-in emails carry "This was me" and "This wasn't me" links.
// They are sent in the background: sending never delays or fails a sign-in. A failed delivery is
// retried (3 attempts, backing off) and then logged.
import type { AccountStore } from '../accounts/store.ts';
import type { Organisations } from '../orgs/store.ts';
import type { ClientInfo } from '../devices/client-info.ts';
import type { RiskReason } from '../policy/risk.ts';
import { describeLocation } from '../devices/client-info.ts';
import type { CodeMessages, ReactionLinks, Whereabouts } from './messages.ts';
import type { AccountView } from '../accounts/store.ts';
import type { Email, Transports } from './transports.ts';

export interface NoticeDeps {
  accounts: AccountStore;
  organisations: Organisations;
  messages: CodeMessages;
  transports: Transports;
  clock: () => Date;
  log: (line: string) => void;
  /** Waits before attempt n+1 (n ≥ 1); tests shorten it. */
  retryDelayMs?: (attempt: number) => number;
  /** The unblock link for the account's blocked registration (the named one, else the newest block). */
  unblockLink?: (accountId: string, deviceId: string) => Promise<{ link: string; hours: number } | undefined>;
  /** The "This wasn't me" link for an email about the account's registration `deviceId` (devices/containment.ts). */
  containmentLinks?: (accountId: string, deviceId: string) => ReactionLinks;
}

export type DeviceNotices = ReturnType<typeof createDeviceNotices>;

export function createDeviceNotices(deps: NoticeDeps) {
  const delay = deps.retryDelayMs ?? ((n: number) => 2000 * 5 ** (n - 1));
  const pending = new Set<Promise<void>>();
  // waits between attempts; shutting down ends them (the remaining attempts are logged as given up)
  const waits = new Set<() => void>();
  let stopping = false;
  const pause = (ms: number) => new Promise<void>((resolve) => {
    const done = () => { clearTimeout(timer); waits.delete(done); resolve(); };
    const timer = setTimeout(done, ms);
    waits.add(done);
  });

  async function deliver(build: () => Promise<Email>, what: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await deps.transports.email(await build());
        return;
      } catch (err) {
        if (attempt >= 3 || stopping) {
          deps.log(`[tessera] ${what} could not be sent after ${attempt} attempt(s)${stopping ? ' (shutting down)' : ''}: ${(err as Error).message}`);
          return;
        }
        await pause(delay(attempt));
      }
    }
  }

  /** Runs in the background; `settled()` lets tests and shutdown wait for it. */
  function background(work: Promise<void>) {
    const tracked = work.catch((err: unknown) => deps.log(`[tessera] device notice failed: ${(err as Error).message}`)).finally(() => pending.delete(tracked));
    pending.add(tracked);
  }

  const whereabouts = (seen: ClientInfo): Whereabouts => ({
    at: deps.clock(), ...(seen.ip ? { ip: seen.ip } : {}), where: describeLocation(seen.location), browser: seen.browser, os: seen.os,
  });

  /** Sends `build(admin, about)` to every admin of the account's organisation but the account itself (in each admin's own language). */
  async function toAdmins(account: AccountView, what: string, build: (admin: AccountView, about: { member: string; organisation: string }) => Promise<Email>): Promise<Promise<void>[]> {
    const organisation = await deps.organisations.memberOf(account);
    const sends: Promise<void>[] = [];
    for (const adminId of organisation?.admins ?? []) {
      if (adminId === account.id) continue;
      const admin = await deps.accounts.findById(adminId);
      if (!admin || admin.disabled) continue;
      sends.push(deliver(() => build(admin, { member: account.email, organisation: organisation!.name }), `${what} about ${account.id} to admin ${admin.id}`));
    }
    return sends;
  }

  return {
    /**
     * A first sign-in from a new device: the account (with "This was me" / "This wasn't me" links
     * when the registration `deviceId` is named), and every admin of its organisation.
     */
    newDevice(accountId: string, seen: ClientInfo, deviceId: string): void {
      background((async () => {
        const account = await deps.accounts.findById(accountId);
        if (!account) return;
        const at = whereabouts(seen);
        const links = deviceId ? deps.containmentLinks?.(accountId, deviceId) : undefined;
        const sends = [deliver(() => deps.messages.in(account.profile).newDevice(account.email, at, undefined, links), `new-device notice to ${account.id}`)];
        sends.push(...(await toAdmins(account, 'new-device notice', (admin, about) => deps.messages.in(admin.profile).newDevice(admin.email, at, about))));
        await Promise.all(sends);
      })());
    },

    /**
     * A sign-in that looked unusual (`reasons`: the risk rules', e.g. a new country, impossible
     * travel, written in the account's language from their facts; or plain sentences) from the account's registration `deviceId`: the account, with
     * the same two links as the new-device email.
     */
    unusualSignIn(accountId: string, seen: ClientInfo, reasons: (RiskReason | string)[], deviceId: string): void {
      background((async () => {
        const account = await deps.accounts.findById(accountId);
        if (!account) return;
        const links = deps.containmentLinks?.(accountId, deviceId);
        await deliver(() => deps.messages.in(account.profile).unusualSignIn(account.email, whereabouts(seen), reasons, links), `unusual sign-in notice to ${account.id}`);
      })());
    },

    /** The person secured the account ("This wasn't me"): a summary to them, a notice to the organisation's admins. */
    accountSecured(account: AccountView, device: string, seen: ClientInfo): void {
      background((async () => {
        const at = whereabouts(seen);
        const sends = [deliver(() => deps.messages.in(account.profile).accountSecured(account.email, device, at), `account-secured summary to ${account.id}`)];
        sends.push(...(await toAdmins(account, 'account-secured notice', (admin, about) => deps.messages.in(admin.profile).accountSecured(admin.email, device, at, about))));
        await Promise.all(sends);
      })());
    },

    /** The account's registration `deviceId` was just blocked. */
    deviceBlocked(accountId: string, seen: ClientInfo, failures: number, deviceId: string): void {
      background((async () => {
        const account = await deps.accounts.findById(accountId);
        if (!account) return;
        const at = whereabouts(seen);
        // without its link (the database did not answer) the notice still goes, saying to ask an administrator
        const unblock = await deps.unblockLink?.(accountId, deviceId).catch((err: unknown) => {
          deps.log(`[tessera] no unblock link for the blocked-device notice to ${account.id}: ${(err as Error).message}`);
          return undefined;
        });
        await deliver(() => deps.messages.in(account.profile).deviceBlocked(account.email, at, failures, unblock), `blocked-device notice to ${account.id}`);
      })());
    },

    /** Device-bound trust: the registration `deviceId`'s cookie came `failures` times in a row without its device key. */
    copiedCookie(accountId: string, seen: ClientInfo, failures: number, deviceId: string, deviceName?: string): void {
      background((async () => {
        const account = await deps.accounts.findById(accountId);
        if (!account) return;
        const name = deviceName ?? `${seen.browser} / ${seen.os}`;
        await deliver(() => deps.messages.in(account.profile).copiedCookie(account.email, name, whereabouts(seen), failures), `copied-cookie notice to ${account.id} (${deviceId})`);
      })());
    },

    /** Resolves when every notice started so far has been sent or given up on. */
    async settled(): Promise<void> {
      while (pending.size) await Promise.all([...pending]);
    },

    /** Shutting down: no more waiting between attempts; resolves when nothing is in flight. */
    async stop(): Promise<void> {
      stopping = true;
      for (const wake of [...waits]) wake();
      await this.settled();
    },
  };
}
