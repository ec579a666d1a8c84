// The device side of a sign-in. A browser becomes one of an account's device registrations only
// once it proved the password (or a passkey) for it: a wrong or locked attempt from a browser the
// account does not know counts toward the limits and toward that browser's block (an expiring
// counter per email and browser, the same one an email without an account uses) and registers
// nothing, so requests that prove nothing never grow an account's device list. This module reads
// the registration once per request, refuses a blocked one, counts failures toward the block,
// records every attempt as a sign-in event, and, when a sign-in completes, notes where the device
// was used (a first sign-in from a new device is announced to the account and its organisation's
// admins). Wrong codes also count toward the account's code limit (limits/service.ts).
import type { Reader } from '../notify/messages.ts';
import type { Context } from 'koa';
import { UserFacingError } from '../http/errors.ts';
import { clientInfo, describeLocation, type ClientInfo } from '../devices/client-info.ts';
import type { Device, KeyedDevice } from '../devices/registry.ts';
import type { DeviceKeyJwk } from '../devices/device-key.ts';
import type { SignInResult } from '../devices/events.ts';
import type { SignInParty } from '../limits/service.ts';
import { alreadyDone, type InteractionDeps } from './context.ts';
import { keepRegistrationHint, registrationHintOf } from '../devices/cookie.ts';
import { triesLeft } from '../policy/trust.ts';
import { riskSummary, type RiskAssessment } from '../policy/risk.ts';

/** An id no account has (an email without an account reads as much as one with). */
const NO_ACCOUNT = 'no-such-account';

// the same words whether the email has an account or not, and true for both kinds of block
export const deviceBlocked = () => new UserFacingError(403, 'device_blocked',
  'This device is blocked from signing in to this account after too many failed attempts. '
  + 'What happens next: if this account has never signed in from this browser, the block ends by itself a day after the last failed attempt. '
  + 'If it has, the block stays until an administrator unblocks this device, or until you unblock it yourself: '
  + 'an email with an unblock link was sent to the account\'s email address; the link asks for the account\'s password and then for a code it emails you. '
  + 'You can also ask your administrator or support (they can see the device in your account). '
  + 'Until then, sign in from a device you have used before.', { key: 'interaction:errors.deviceBlocked' });

export function clientOfRequest(ctx: Context): ClientInfo {
  return (ctx.state.clientInfo ??= clientInfo(ctx.ip, ctx.get('user-agent'))) as ClientInfo;
}

export function browserOf(ctx: Context): string {
  const id = ctx.state.browserId as string | undefined;
  if (!id) throw new UserFacingError(400, 'no_device', 'This browser did not keep the sign-in cookie. Allow cookies for this site and start again.', { key: 'interaction:errors.noDevice' });
  return id;
}

export async function recordAttempt(ctx: Context, deps: InteractionDeps, result: SignInResult, accountId?: string, device?: Device, factors: string[] = [], decoy?: string): Promise<void> {
  await deps.events.record({ ...(accountId ? { accountId } : {}), result, client: clientOfRequest(ctx), ...(device ? { deviceId: device.id } : {}), factors, ...(decoy ? { decoy } : {}) });
}

/**
 * What a completed sign-in stamps its registration with, once (`signInCompleted`): its interaction,
 * or, for a sign-in begun by something that may start over within the same interaction ("Forgot
 * password?": a crash after the stamp must not stop the next reset there), the interaction and that
 * attempt (`attemptOf`).
 */
function onceKey(ctx: Context): string {
  const attempt = ctx.state.signInAttempt as string | undefined;
  return attempt ? `${String(ctx.params.uid)}:${attempt}` : String(ctx.params.uid);
}

/** The sign-in this request begins is one attempt among others in its interaction (see onceKey). */
export function attemptOf(ctx: Context, attempt: string): void {
  ctx.state.signInAttempt = attempt;
}

/** Registrations this request has read, by account: one read per request, kept current by its own writes. */
function knownDevices(ctx: Context): Map<string, KeyedDevice | null> {
  return (ctx.state.devices ??= new Map<string, KeyedDevice | null>()) as Map<string, KeyedDevice | null>;
}

/** This browser's live registration for the account, if it has one (nothing is made). */
export async function registrationOf(ctx: Context, deps: InteractionDeps, accountId: string): Promise<KeyedDevice | undefined> {
  const seen = knownDevices(ctx);
  if (!seen.has(accountId)) seen.set(accountId, (await deps.devices.registrationFor(accountId, browserOf(ctx))) ?? null);
  return seen.get(accountId) ?? undefined;
}

/**
 * This browser's registration for the account, made now if it has none: only after it proved
 * something. A new registration carries the failures the browser had for the email (`ghost`).
 */
export async function deviceFor(ctx: Context, deps: InteractionDeps, accountId: string, ghost?: { email: string; failures: number }, signedIn = false): Promise<KeyedDevice> {
  let device = await registrationOf(ctx, deps, accountId);
  if (!device) {
    // made by a sign-in that is complete (`signedIn`): known, used and stamped by it from the start, one write
    const made = await deps.devices.register(accountId, browserOf(ctx), clientOfRequest(ctx), ghost?.failures ?? 0, signedIn ? { verified: true, used: true, signIn: onceKey(ctx) } : {});
    device = made.device;
    if (signedIn && made.made) ctx.state.deviceMadeSignedIn = device.id;
    knownDevices(ctx).set(accountId, device);
    if (ghost?.failures) await deps.devices.forgetGhost(ghost.email, browserOf(ctx));
  }
  if (device.state === 'BLOCKED') {
    await recordAttempt(ctx, deps, 'blocked_device', accountId, device);
    throw deviceBlocked();
  }
  return device;
}

/**
 * Before the password is checked: a blocked browser is refused (an account or not: the answers
 * look the same), so guessing on from it learns nothing. A browser the account knows is blocked
 * through its registration; any other through the expiring per-email counter.
 */
export async function refuseBlocked(ctx: Context, deps: InteractionDeps, email: string, accountId: string | undefined): Promise<{ device?: KeyedDevice; ghost: { email: string; failures: number } }> {
  // an email without an account looks for a registration too (there is none): the same reads
  const seen = knownDevices(ctx);
  const { device, ghost: { failures, blocked } } = await deps.devices.beforePassword(accountId ?? NO_ACCOUNT, email, browserOf(ctx), registrationHintOf(ctx, deps.config.issuer));
  seen.set(accountId ?? NO_ACCOUNT, device ?? null);
  if (device?.state === 'BLOCKED') {
    await recordAttempt(ctx, deps, 'blocked_device', accountId, device);
    throw deviceBlocked();
  }
  if (device) return { device, ghost: { email, failures: 0 } };
  if (blocked) {
    await recordAttempt(ctx, deps, 'blocked_device', accountId, undefined, [], accountId ? undefined : email);
    throw deviceBlocked();
  }
  return { ghost: { email, failures } };
}

/**
 * A wrong password, or an attempt refused while locked (`locked`): the same writes whether the
 * email has an account, a disabled one, or none, and whether it is locked — the limits (a refused
 * attempt is recorded apart and never lengthens a lock), the browser's counter, one event (an
 * email without an account writes its history entry to a bounded decoy history) — so neither the
 * answer nor its time tells whether the account exists. A browser the account knows counts a
 * wrong password on its registration instead.
 */
export async function passwordFailed(ctx: Context, deps: InteractionDeps, party: SignInParty, known: { id: string; email: string; profile?: Reader } | undefined, device: Device | undefined, locked: boolean): Promise<{ triesLeft?: number }> {
  const client = clientOfRequest(ctx);
  if (locked) await deps.limits.signInRefused(party);
  else if (await deps.limits.signInFailed(party) && known) {
    deps.limits.lockedOut(known.email, { at: deps.stepUp.clock(), ...(client.ip ? { ip: client.ip } : {}), where: describeLocation(client.location), browser: client.browser, os: client.os }, known.profile);
    deps.audit.record({
      type: 'sign_in.locked_out', outcome: 'failure', actor: { type: 'user', id: known.id }, subject: { type: 'account', id: known.id, label: known.email }, accountId: known.id,
      ...(client.ip ? { ip: client.ip } : {}), details: { where: describeLocation(client.location), browser: client.browser ?? null, os: client.os ?? null },
    });
  }
  await recordAttempt(ctx, deps, 'wrong_password', known?.id, device, ['pwd'], known ? undefined : party.email);
  // the same warning whether the email has an account or not: the browser's count for that email
  const warn = (failures: number) => { const left = triesLeft(failures, deps.devices.maxFailures); return left === undefined ? {} : { triesLeft: left }; };
  if (device) return locked ? {} : warn(await countOnRegistration(ctx, deps, known!.id, device, 'wrong password'));
  const ghost = await deps.devices.recordGhostFailure(party.email, party.browserId);
  if (ghost.blocked) throw deviceBlocked();
  return warn(ghost.failures);
}

/** Counts a failure on the registration (blocked at the limit: it throws); resolves to the count. */
async function countOnRegistration(ctx: Context, deps: InteractionDeps, accountId: string, device: Device, why: string): Promise<number> {
  knownDevices(ctx).delete(accountId);
  const { blocked, justBlocked, failures } = await deps.devices.recordFailure(device.id, why);
  if (justBlocked) {
    deps.notices.deviceBlocked(accountId, clientOfRequest(ctx), failures, device.id);
    // a blocked device keeps no session (the sessions signed in from it end)
    await deps.sessions.endForDevice(accountId, device.id, { actor: { type: 'system' }, why: `the device was blocked (${why})` });
  }
  if (blocked) throw deviceBlocked();
  return failures;
}

/** A wrong code or PIN after the password: counts toward the account's code limit and this browser's block. */
export async function countFailure(ctx: Context, deps: InteractionDeps, accountId: string, factor: string): Promise<void> {
  const device = await deviceFor(ctx, deps, accountId);
  await recordAttempt(ctx, deps, 'wrong_code', accountId, device, [factor]);
  await deps.limits.codeFailed({ accountId, knownDevice: !!device.verifiedAt });
  await countOnRegistration(ctx, deps, accountId, device, 'wrong code');
}

/**
 * Refuses code entry (any kind: emailed, texted, TOTP, PIN, recovery, security key) while the
 * account's code limit is locked for this kind of device (a known one, or a new one).
 */
export async function codesOpen(ctx: Context, deps: InteractionDeps, accountId: string): Promise<void> {
  const device = await registrationOf(ctx, deps, accountId);
  const ms = await deps.limits.codesLockedFor({ accountId, knownDevice: !!device?.verifiedAt });
  if (ms <= 0) return;
  const minutes = Math.max(1, Math.ceil(ms / 60_000));
  throw new UserFacingError(429, 'too_many_codes', `Too many wrong codes were entered for this account. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`, { key: 'interaction:errors.tooManyCodes', vars: { count: minutes } });
}

/**
 * The browser proved itself for the account: known from now on, trusted when asked (bound to the
 * device key it proved, `trust.key`); the account hears of it.
 */
export async function deviceVerified(ctx: Context, deps: InteractionDeps, accountId: string, device: KeyedDevice, trust?: { until: Date; name: string; key?: { publicKey: DeviceKeyJwk; nonce: string } }): Promise<void> {
  await deps.devices.markVerified(device.id, trust);
  const now = deps.stepUp.clock();
  const { key: _earlier, ...rest } = device;
  const key = trust?.key ? { key: { publicKey: trust.key.publicKey, lastNonce: trust.key.nonce, failures: 0 } } : trust ? {} : device.key ? { key: device.key } : {};
  knownDevices(ctx).set(accountId, { ...rest, verifiedAt: now, ...(trust ? { activatedAt: now, trustedUntil: trust.until, name: trust.name } : {}), ...key });
  await recordAttempt(ctx, deps, 'new_device', accountId, device);
  deps.notices.newDevice(accountId, clientOfRequest(ctx), device.id);
}

/**
 * A completed sign-in: where the device was used (one write), and the attempt (one record). A
 * device never verified (verification off for the account) is known from now on and announced.
 */
export async function signInCompleted(ctx: Context, deps: InteractionDeps, accountId: string, amr: string[], application?: string, risk?: RiskAssessment, reached?: { acr: string; stepUp: boolean }): Promise<Device> {
  const device = await deviceFor(ctx, deps, accountId);
  const made = ctx.state.deviceMadeSignedIn === device.id;
  const verified = made || !device.verifiedAt;
  const client = clientOfRequest(ctx);
  // the sign-in's "once": its registration is stamped once per interaction (this request made it
  // stamped, or stamps it now), so a second copy of the request records nothing (it is "already
  // done"); a registration blocked meanwhile ends it
  const stamp = made ? 'stamped' : await deps.devices.signedIn(device.id, client, { verified, signIn: onceKey(ctx) });
  if (stamp === 'again') throw alreadyDone();
  if (stamp === 'inactive') throw deviceBlocked();
  // the browser's next sign-in to this account reads this registration alone
  keepRegistrationHint(ctx, deps.config.issuer, deps.devices.hintFor(browserOf(ctx), accountId, device.id));
  await deps.events.record([
    ...(verified ? [{ accountId, result: 'new_device' as const, client, deviceId: device.id, factors: [] }] : []),
    { accountId, result: 'success', client, deviceId: device.id, factors: amr, ...(application ? { application } : {}), ...(risk && riskSummary(risk) ? { risk: riskSummary(risk)! } : {}),
      ...(reached ? { acr: reached.acr, ...(reached.stepUp ? { stepUp: true } : {}) } : {}) },
  ]);
  if (verified) deps.notices.newDevice(accountId, client, device.id);
  await cancelDeletion(ctx, deps, accountId);
  return device;
}

/** A sign-in during an account's deletion grace period cancels the deletion (accounts/deletion.ts says so). */
async function cancelDeletion(ctx: Context, deps: InteractionDeps, accountId: string): Promise<void> {
  const account = await deps.accounts.findById(accountId);
  if (account?.deletionScheduledFor) await deps.deletion.cancel(account, 'signed-in', clientOfRequest(ctx));
}
