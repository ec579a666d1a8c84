// "This wasn't me — secure my account": the link every new-device and unusual-sign-in email
// carries, and what confirming it does. The link names the account, the device the email is about
// and an expiry (CONTAINMENT_LINK_DAYS, Tessera's clock), signed with an HMAC under a key derived
// from ENCRYPTION_KEY; nothing is stored when it is sent. Using it inserts a claim keyed by an HMAC
// of the token (`containment_claims`): the unique _id makes it single use under parallel requests.
// Confirming blocks that device, requires a new password (the password stops working, the stamp
// moves so sign-ins in progress stop), ends every session, grant and token of the account
// (back-channel logout), then marks the claim done; the person and the organisation's admins are
// emailed and it is audited. Write order (README, the crash rule): claim → password reset required
// → sessions ended → device blocked → done. "Forgot password?" always gets the person back in, so
// no prefix locks anyone out; a claim cut short (no done mark after a minute) is taken over by the
// same link, and every step is idempotent.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Schema } from 'mongoose';
import type { Database } from '../db/database.ts';
import type { AccountStore, AccountView } from '../accounts/store.ts';
import type { AuditSink } from '../audit/events.ts';
import type { EndedSessions } from '../oidc/account-sessions.ts';
import type { ClientInfo } from './client-info.ts';
import type { Device, DeviceRegistry } from './registry.ts';

export const CONTAINMENT_PATH = '/account/not-me';
/** Where "This was me" leads: the devices page of the security center (trusting needs a sign-in on that device). */
export const DEVICES_PATH = '/account/security/devices';

const TOKEN = /^([\w-]{1,64})\.(dev_[\w-]{16,40})\.([0-9a-z]{1,12})\.([\w-]{43})$/;
const TAKE_OVER_MS = 60_000;

interface ClaimDoc {
  _id: string; // HMAC of the token
  accountId: string;
  deviceId: string;
  claimedAt: Date;
  doneAt?: Date;
  expiresAt: Date;
}

export interface ContainmentDeps {
  key: Buffer;
  days: number;
  issuer: string;
  clock: () => Date;
  accounts: Pick<AccountStore, 'findById' | 'requirePasswordReset'>;
  devices: Pick<DeviceRegistry, 'byId' | 'block'>;
  /** Every session, grant and token of the account (back-channel logout included). */
  endSessions(accountId: string): Promise<EndedSessions>;
  audit: AuditSink;
  /** Emails the person a summary and the organisation's admins a notice (in the background). */
  announce(account: AccountView, device: Device, seen: ClientInfo): void;
}

/** What a link is worth: the account and device it secures, or why it does not work. */
export type ContainmentCheck =
  | { ok: true; account: AccountView; device: Device; expiresAt: Date }
  | { ok: false; why: 'invalid' | 'expired' | 'used' };

export type Containment = ReturnType<typeof createContainment>;

/** A device as the page and the emails name it: its name, browser and system, and its last IP. */
export const describeDevice = (device: Device) =>
  `${device.name ? `"${device.name}", ` : ''}${device.browser ?? 'an unknown browser'} on ${device.os ?? 'an unknown system'}${device.lastIp ? ` (IP ${device.lastIp})` : ''}`;

const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

export function createContainment(db: Database, deps: ContainmentDeps) {
  const Claims = db.model<ClaimDoc>('ContainmentClaim', new Schema<ClaimDoc>({
    _id: String,
    accountId: { type: String, required: true },
    deviceId: { type: String, required: true },
    claimedAt: { type: Date, required: true },
    doneAt: Date,
    expiresAt: { type: Date, required: true },
  }, { collection: 'containment_claims', versionKey: false }), { expires: true });

  const mac = (...parts: string[]) => createHmac('sha256', deps.key).update(parts.join('\n')).digest('base64url');
  const claimId = (token: string) => mac('containment-claim', token);

  /** The token's parts when it is authentic and unexpired; its claim is not read. */
  function parse(token: unknown): { accountId: string; deviceId: string; expiresAt: Date } | 'invalid' | 'expired' {
    const m = typeof token === 'string' ? TOKEN.exec(token) : null;
    if (!m) return 'invalid';
    const [, accountId, deviceId, expires, signature] = m as unknown as [string, string, string, string, string];
    if (!same(signature, mac('containment', accountId, deviceId, expires))) return 'invalid';
    const expiresAt = new Date(parseInt(expires, 36) * 1000);
    return expiresAt.getTime() <= deps.clock().getTime() ? 'expired' : { accountId, deviceId, expiresAt };
  }

  async function check(token: unknown): Promise<ContainmentCheck> {
    const parts = parse(token);
    if (typeof parts === 'string') return { ok: false, why: parts };
    const [account, device, claim] = await Promise.all([
      deps.accounts.findById(parts.accountId), deps.devices.byId(parts.deviceId), Claims.findById(claimId(token as string)).lean<ClaimDoc>(),
    ]);
    // a link for an account or device that is gone (deleted) is as good as used
    if (!account || !device || device.accountId !== account.id) return { ok: false, why: 'used' };
    if (claim?.doneAt) return { ok: false, why: 'used' };
    return { ok: true, account, device, expiresAt: parts.expiresAt };
  }

  /** This request may act on the link: a new claim, or one a crash cut short (taken over); else it was used (or is being used). */
  async function claim(token: string, link: { account: AccountView; device: Device; expiresAt: Date }): Promise<boolean> {
    const _id = claimId(token);
    const now = deps.clock();
    try {
      await Claims.create({ _id, accountId: link.account.id, deviceId: link.device.id, claimedAt: now, expiresAt: link.expiresAt });
      return true;
    } catch (err) {
      if ((err as { code?: number }).code !== 11000) throw err;
    }
    return db.updateIf(Claims, _id, { doneAt: { $exists: false }, claimedAt: { $lte: new Date(now.getTime() - TAKE_OVER_MS) } }, { $set: { claimedAt: now } });
  }

  return {
    days: deps.days,

    /** The link for an email about `deviceId` of the account, valid CONTAINMENT_LINK_DAYS from now. */
    linkFor(accountId: string, deviceId: string): string {
      const expires = Math.floor(deps.clock().getTime() / 1000 + deps.days * 86_400).toString(36);
      return `${deps.issuer}${CONTAINMENT_PATH}?token=${[accountId, deviceId, expires, mac('containment', accountId, deviceId, expires)].join('.')}`;
    },

    check,

    /** Secures the account once per link, whatever the number of parallel requests; otherwise says why not. */
    async confirm(token: string, seen: ClientInfo): Promise<ContainmentCheck & { ended?: EndedSessions; blocked?: boolean }> {
      const link = await check(token);
      if (!link.ok) return link;
      if (!(await claim(token, link))) return { ok: false, why: 'used' };
      const { account, device } = link;
      await deps.accounts.requirePasswordReset(account.id);
      const ended = await deps.endSessions(account.id);
      const blocked = await deps.devices.block(device.id, 'user', 'the account holder said this sign-in was not them ("This wasn\'t me" link)',
        { id: account.id, label: account.email, ...(seen.ip ? { ip: seen.ip } : {}) });
      await Claims.updateOne({ _id: claimId(token) }, { $set: { doneAt: deps.clock() } });
      deps.audit.record({
        type: 'account.secured', outcome: 'success', actor: { type: 'user', id: account.id, label: account.email },
        subject: { type: 'account', id: account.id, label: account.email }, accountId: account.id, ...(seen.ip ? { ip: seen.ip } : {}),
        details: { device: device.id, deviceBlocked: blocked, sessionsEnded: ended.sessions, grantsRevoked: ended.grants, passwordResetRequired: true },
      });
      deps.announce(account, device, seen);
      return { ...link, ended, blocked };
    },
  };
}
