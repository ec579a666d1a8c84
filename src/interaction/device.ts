// The device side of a sign-in: which registration this browser has for the account, refusing a
// blocked one, counting failed attempts toward the block, recording every attempt as a sign-in
// event, and, when a sign-in completes, noting where the device was used (a first sign-in from a
// new device is announced to the account and its organisation's admins). Wrong codes also count
// toward the account's code limit (limits/service.ts), which is checked before any code is.
import type { Context } from 'koa';
import { UserFacingError } from '../http/errors.ts';
import { clientInfo, type ClientInfo } from '../devices/client-info.ts';
import type { Device } from '../devices/registry.ts';
import type { SignInResult } from '../devices/events.ts';
import type { InteractionDeps } from './context.ts';

export const deviceBlocked = () => new UserFacingError(403, 'device_blocked',
  'This device is blocked from signing in to this account after too many failed attempts. '
  + 'Ask your administrator or support to unblock it (they can see the device in your account); '
  + 'until then, sign in from a device you have used before.');

export function clientOfRequest(ctx: Context): ClientInfo {
  return clientInfo(ctx.ip, ctx.get('user-agent'));
}

export function browserOf(ctx: Context): string {
  const id = ctx.state.browserId as string | undefined;
  if (!id) throw new UserFacingError(400, 'no_device', 'This browser did not keep the sign-in cookie. Allow cookies for this site and start again.');
  return id;
}

export async function recordAttempt(ctx: Context, deps: InteractionDeps, result: SignInResult, accountId?: string, device?: Device, factors: string[] = []): Promise<void> {
  await deps.events.record({ ...(accountId ? { accountId } : {}), result, client: clientOfRequest(ctx), ...(device ? { deviceId: device.id } : {}), factors });
}

/** Registrations this request has read, by account: one read per request, kept current by its own writes. */
export function knownDevices(ctx: Context): Map<string, Device> {
  return (ctx.state.devices ??= new Map<string, Device>()) as Map<string, Device>;
}

async function registration(ctx: Context, deps: InteractionDeps, accountId: string): Promise<Device> {
  const cached = knownDevices(ctx).get(accountId);
  if (cached) return cached;
  const device = await deps.devices.ensure(accountId, browserOf(ctx), clientOfRequest(ctx));
  knownDevices(ctx).set(accountId, device);
  return device;
}

/** This browser's registration for the account (made on first sight); a blocked one ends here. */
export async function deviceFor(ctx: Context, deps: InteractionDeps, accountId: string): Promise<Device> {
  const device = await registration(ctx, deps, accountId);
  if (device.state === 'BLOCKED') {
    await recordAttempt(ctx, deps, 'blocked_device', accountId, device);
    throw deviceBlocked();
  }
  return device;
}

/** A wrong password or code from this browser: counts toward its block (and blocks at the limit). */
export async function countFailure(ctx: Context, deps: InteractionDeps, accountId: string, result: 'wrong_password' | 'wrong_code', factor: string): Promise<void> {
  const device = await registration(ctx, deps, accountId);
  knownDevices(ctx).delete(accountId);
  await recordAttempt(ctx, deps, result, accountId, device, [factor]);
  if (result === 'wrong_code') await deps.limits.codeFailed({ accountId, knownDevice: !!device.verifiedAt });
  const { blocked, justBlocked, failures } = await deps.devices.recordFailure(device.id, result === 'wrong_password' ? 'wrong password' : 'wrong code');
  if (justBlocked) deps.notices.deviceBlocked(accountId, clientOfRequest(ctx), failures);
  if (blocked) {
    await deps.progress.end(String(ctx.params.uid));
    throw deviceBlocked();
  }
}

/**
 * Refuses code entry (any kind: emailed, texted, TOTP, PIN, recovery, security key) while the
 * account's code limit is locked for this kind of device (a known one, or a new one).
 */
export async function codesOpen(ctx: Context, deps: InteractionDeps, accountId: string): Promise<void> {
  const device = await registration(ctx, deps, accountId);
  const ms = await deps.limits.codesLockedFor({ accountId, knownDevice: !!device.verifiedAt });
  if (ms <= 0) return;
  const minutes = Math.max(1, Math.ceil(ms / 60_000));
  throw new UserFacingError(429, 'too_many_codes', `Too many wrong codes were entered for this account. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`);
}

/** The browser proved itself for the account: known from now on, trusted when asked; the account hears of it. */
export async function deviceVerified(ctx: Context, deps: InteractionDeps, accountId: string, device: Device, trust?: { until: Date; name: string }): Promise<void> {
  await deps.devices.markVerified(device.id, trust);
  const now = deps.stepUp.clock();
  knownDevices(ctx).set(accountId, { ...device, verifiedAt: now, ...(trust ? { activatedAt: now, trustedUntil: trust.until, name: trust.name } : {}) });
  await recordAttempt(ctx, deps, 'new_device', accountId, device);
  deps.notices.newDevice(accountId, clientOfRequest(ctx));
}

/** A completed sign-in: where the device was used; a device never verified (verification off) is announced now. */
export async function signInCompleted(ctx: Context, deps: InteractionDeps, accountId: string, amr: string[]): Promise<void> {
  const device = await deviceFor(ctx, deps, accountId);
  if (!device.verifiedAt) await deviceVerified(ctx, deps, accountId, device);
  await deps.devices.signedIn(device.id, clientOfRequest(ctx));
  await recordAttempt(ctx, deps, 'success', accountId, device, amr);
}
