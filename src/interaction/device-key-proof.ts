// Device-bound trust in a sign-in (README "Proof of possession"): the password page carries a
// challenge bound to the interaction, which views/static/device-key.js signs with the browser's
// device key; after the password, a trusted key-bound registration counts only with that fresh
// signature (spent once). The right cookie without it is a possible copied cookie: the browser is
// asked for the second factor like any other, and the case goes to the audit log, the device
// history and, after repeated cases, an email to the account. "Trust this device" binds a key:
// the page sends the public key with a signature over its challenge (proof of possession).
import type { Context } from 'koa';
import { keyBindOffered, keyProofEmailDue, possibleCopiedCookie } from '../policy/trust.ts';
import { parseDeviceKey, trustFactsOf, type DeviceKeyJwk } from '../devices/device-key.ts';
import type { KeyedDevice } from '../devices/registry.ts';
import { field, type InteractionDeps } from './context.ts';
import { clientOfRequest, registrationOf } from './device.ts';

/** The form fields device-key.js fills in. */
const FIELDS = { challenge: 'device_challenge', signature: 'device_signature', key: 'device_key' } as const;

function posted(ctx: Context, name: string): string | undefined {
  const value = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' && value.length <= 600 ? value : undefined;
}

/** A challenge for the page of interaction `uid` (the hidden field device-key.js signs). */
export function keyChallenge(deps: InteractionDeps, uid: string): string {
  return deps.deviceKeys.issue(uid);
}

/**
 * After the right password: whether the request signed this interaction's challenge with the key
 * of the browser's registration (spent now, once). A trusted key-bound registration without such
 * a signature is recorded as a possible copied cookie.
 */
export async function deviceKeyProven(ctx: Context, deps: InteractionDeps, uid: string, device: KeyedDevice | undefined): Promise<boolean> {
  if (!device?.key || device.state !== 'ACTIVE') return false;
  const proof = deps.deviceKeys.check(device.key.publicKey, uid, posted(ctx, FIELDS.challenge), posted(ctx, FIELDS.signature), device.key.lastNonce);
  const spent = proof.ok && await deps.devices.claimKeyChallenge(device.id, device.key.publicKey, proof.nonce);
  if (spent) return true;
  const now = Math.floor(deps.stepUp.clock().getTime() / 1000);
  // an expired challenge the key did sign is the browser's own page left open too long: asked again, nothing recorded
  const expired = !proof.ok && proof.reason === 'expired';
  if (!expired && possibleCopiedCookie(trustFactsOf(device, now, false, deps.deviceSettings.trustCookieOnly))) {
    const failures = await deps.devices.keyProofFailed(device.id, proof.ok ? 'replayed' : proof.reason, clientOfRequest(ctx));
    if (keyProofEmailDue(failures)) deps.notices.copiedCookie(device.accountId, clientOfRequest(ctx), failures, device.id, device.name);
  }
  return false;
}

/**
 * "Trust this device" ticked: the browser's public key, when the request proved it holds the
 * private key (a signature over this interaction's challenge), and the challenge's nonce to spend.
 */
export function keyToBind(ctx: Context, deps: InteractionDeps, uid: string): { publicKey: DeviceKeyJwk; nonce: string } | undefined {
  const publicKey = parseDeviceKey(posted(ctx, FIELDS.key));
  if (!publicKey) return undefined;
  const proof = deps.deviceKeys.check(publicKey, uid, posted(ctx, FIELDS.challenge), posted(ctx, FIELDS.signature));
  return proof.ok ? { publicKey, nonce: proof.nonce } : undefined;
}

/**
 * The registration the second-factor page offers to keep trusting ("Keep trusting this device"):
 * this browser's, trusted from before device keys (ACTIVE, trusted until later, no key yet).
 */
export async function keyBindable(ctx: Context, deps: InteractionDeps, accountId: string): Promise<KeyedDevice | undefined> {
  if (!ctx.state.browserId) return undefined;
  const device = await registrationOf(ctx, deps, accountId);
  const now = Math.floor(deps.stepUp.clock().getTime() / 1000);
  return device && keyBindOffered(trustFactsOf(device, now, undefined, deps.deviceSettings.trustCookieOnly)) ? device : undefined;
}

/**
 * After the second factor passed, with "Keep trusting this device" ticked: binds the browser's
 * device key (proven by its signature over this interaction's challenge) to this browser's
 * registration when it is still one the page offered it for. Without a key (no WebCrypto) nothing
 * changes: the registration stays trusted by its cookie as before. The trust period stays.
 */
export async function keepTrusting(ctx: Context, deps: InteractionDeps, uid: string, accountId: string): Promise<boolean> {
  if (field(ctx, 'trust', 8) !== 'yes') return false;
  const device = await keyBindable(ctx, deps, accountId);
  const key = device && keyToBind(ctx, deps, uid);
  return !!device && !!key && deps.devices.bindKey(device.id, key.publicKey, key.nonce);
}
