// Notices about devices: a new-device sign-in (to the account and to its organisation's admins)
// and a blocked device (to the account, with the link that unblocks it: devices/unblock-links.ts).
// They are sent in the background: sending never delays or fails a sign-in. A failed delivery is
// retried (3 attempts, backing off) and then logged.
import type { AccountStore } from '../accounts/store.ts';
import type { Organisations } from '../orgs/store.ts';
import type { ClientInfo } from '../devices/client-info.ts';
import { describeLocation } from '../devices/client-info.ts';
import type { CodeMessages, Whereabouts } from './messages.ts';
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

  return {
    /** A first sign-in from a new device: the account, and every admin of its organisation. */
    newDevice(accountId: string, seen: ClientInfo): void {
      background((async () => {
        const account = await deps.accounts.findById(accountId);
        if (!account) return;
        const at = whereabouts(seen);
        const sends = [deliver(() => deps.messages.newDevice(account.email, at), `new-device notice to ${account.id}`)];
        const organisation = await deps.organisations.memberOf(account);
        for (const adminId of organisation?.admins ?? []) {
          if (adminId === account.id) continue;
          const admin = await deps.accounts.findById(adminId);
          if (!admin || admin.disabled) continue;
          sends.push(deliver(() => deps.messages.newDevice(admin.email, at, { member: account.email, organisation: organisation!.name }), `new-device notice about ${account.id} to admin ${admin.id}`));
        }
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
        await deliver(() => deps.messages.deviceBlocked(account.email, at, failures, unblock), `blocked-device notice to ${account.id}`);
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
