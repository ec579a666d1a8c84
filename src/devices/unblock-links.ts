// Unblock links: what the blocked-device email carries so the person can unblock the device
// themselves (devices/unblock-routes.ts). A link names the device and the one block it was made for
// (when that block began: the history entry that blocked it) and its expiry
// (DEVICE_UNBLOCK_LINK_HOURS, read through the one clock), signed with an HMAC under a key derived
// from ENCRYPTION_KEY. Nothing is stored: a link works while it is authentic and unexpired and
// its device is still in that same block; once the device is unblocked, removed or blocked again,
// every link made for the block is dead. The page's "password proven" step is a second HMAC bound
// to the link and to the browser that proved it.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AccountStore, AccountView } from '../accounts/store.ts';
import type { Device, DeviceRegistry } from './registry.ts';

export interface UnblockLinksDeps {
  key: Buffer;
  hours: number;
  issuer: string;
  clock: () => Date;
  devices: Pick<DeviceRegistry, 'byId' | 'listFor'>;
  accounts: Pick<AccountStore, 'findById'>;
}

/** What a link is worth now: the device and account it unblocks, or why it does not work. */
export type LinkCheck =
  | { ok: true; device: Device; account: AccountView; blockedAt: Date }
  | { ok: false; why: 'invalid' | 'expired' | 'ended' | 'disabled' };

export type UnblockLinks = ReturnType<typeof createUnblockLinks>;

export const UNBLOCK_PATH = '/account/unblock-device';
const TOKEN = /^(dev_[\w-]{16,40})\.([0-9a-z]{1,12})\.([0-9a-z]{1,12})\.([\w-]{43})$/;
const PROOF = /^[\w-]{43}$/;

/** When the device's current block began (its newest history entry into BLOCKED), if it is blocked. */
export function blockedSince(device: Device): Date | undefined {
  if (device.state !== 'BLOCKED') return undefined;
  const entry = device.history.findLast((h) => h.to === 'BLOCKED');
  return entry ? new Date(entry.at) : undefined;
}

const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

export function createUnblockLinks(deps: UnblockLinksDeps) {
  const mac = (...parts: string[]) => createHmac('sha256', deps.key).update(parts.join('\n')).digest('base64url');
  const sign = (deviceId: string, block: string, expires: string) => mac('device-unblock', deviceId, block, expires);

  /** A link for the device's current block, or undefined when it is not blocked. */
  function tokenFor(device: Device): string | undefined {
    const since = blockedSince(device);
    if (!since) return undefined;
    const block = since.getTime().toString(36);
    const expires = Math.floor(deps.clock().getTime() / 1000 + deps.hours * 3600).toString(36);
    return [device.id, block, expires, sign(device.id, block, expires)].join('.');
  }

  return {
    hours: deps.hours,
    tokenFor,

    /** The link for a blocked-device email about registration `deviceId`; undefined when it is not blocked (any more). */
    async forNotice(accountId: string, deviceId: string): Promise<{ link: string; hours: number } | undefined> {
      const device = await deps.devices.byId(deviceId);
      const token = device && device.accountId === accountId && blockedSince(device) ? tokenFor(device) : undefined;
      return token ? { link: `${deps.issuer}${UNBLOCK_PATH}?token=${token}`, hours: deps.hours } : undefined;
    },

    /** Whether the link works now (authentic, unexpired, its block still on), and for what. */
    async check(token: string): Promise<LinkCheck> {
      const m = typeof token === 'string' ? TOKEN.exec(token) : null;
      if (!m) return { ok: false, why: 'invalid' };
      const [, deviceId, block, expires, signature] = m as unknown as [string, string, string, string, string];
      if (!same(signature, sign(deviceId, block, expires))) return { ok: false, why: 'invalid' };
      if (parseInt(expires, 36) * 1000 <= deps.clock().getTime()) return { ok: false, why: 'expired' };
      const device = await deps.devices.byId(deviceId);
      const since = device && blockedSince(device);
      if (!device || !since || since.getTime().toString(36) !== block) return { ok: false, why: 'ended' };
      const account = await deps.accounts.findById(device.accountId);
      if (!account) return { ok: false, why: 'ended' };
      if (account.disabled) return { ok: false, why: 'disabled' };
      return { ok: true, device, account, blockedAt: since };
    },

    /** The password was proven for this link in this browser: carried by the code form. */
    proofFor: (token: string, browserId: string): string => mac('device-unblock-password', token, browserId),
    proves: (proof: string, token: string, browserId: string): boolean =>
      typeof proof === 'string' && PROOF.test(proof) && same(proof, mac('device-unblock-password', token, browserId)),
  };
}
