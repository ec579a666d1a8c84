// Security keys and passkeys (WebAuthn, @simplewebauthn/server): registered with a name from the
// account page, used as a second factor, and — being bound to Tessera's origin — the
// phishing-resistant level. A passkey that verified its user is a whole sign-in by itself.
// Credentials live in one document per account (lookups by account id) with a lookup document
// per credential id (a passkey sign-in names no account: the authenticator's credential id finds
// it); every ceremony's challenge is stored under its scope and spent by the verification. An
// optional allow-list of authenticator models (AAGUIDs) is enforced by `register`, the one way in.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Schema } from 'mongoose';
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Database } from '../../db/database.ts';
import type { FactorAccount, Said, SecondFactorModule, Verification } from '../types.ts';

interface StoredCredential {
  publicKey: string; // base64url
  counter: number;
  transports?: string[];
  name: string;
  /** Backed up (synced to other devices) when registered: amr swk instead of hwk. */
  synced: boolean;
  /** The authenticator may sync it (a multi-device credential), whether or not it is backed up yet. */
  backupEligible?: boolean;
  /** The authenticator's model (AAGUID), as it reported it; all zeros when it does not say. */
  aaguid?: string;
  createdAt: Date;
  lastUsedAt?: Date;
}

/** Credential id → the account holding it: written before the credential, removed after it (README "The crash rule"). */
interface CredentialIdDoc {
  _id: string;
  accountId: string;
}

interface CredentialsDoc {
  _id: string; // account id
  creds: Record<string, StoredCredential>; // credential id (base64url) → credential
}

interface ChallengeDoc {
  _id: string;
  challenge: string;
  expiresAt: Date;
}

export interface CredentialView {
  id: string;
  name: string;
  synced: boolean;
  backupEligible?: boolean;
  aaguid?: string;
  createdAt: Date;
  lastUsedAt?: Date;
}

export type WebAuthnStore = ReturnType<typeof createWebAuthn>;

const CHALLENGE_SECONDS = 300;
/** A marker in the credential-id lookups (never a base64url id): the lookups of older credentials were written. */
const BACKFILL_MARKER = '#lookups-backfilled';
export const NOT_ACCEPTED = 'This kind of security key or passkey is not accepted here: your organisation allows only the security keys it issues. Use one of those, or ask your administrator which ones work.';
/** The result of a passkey sign-in: the account it names, or why not (never which accounts exist). */
export type PasskeySignIn = { ok: true; accountId: string; synced: boolean } | { ok: false; reason: 'invalid' | 'no-user-verification' };
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const parse = <T>(json: string): T | undefined => {
  try { return JSON.parse(json) as T; } catch { return undefined; }
};

export function createWebAuthn(db: Database, options: { issuer: string; rpName: string; clock: () => Date; aaguidAllowlist?: string[]; challengeKey?: Buffer }) {
  const challengeKey = options.challengeKey ?? randomBytes(32);
  const { clock } = options;
  const allowed = new Set((options.aaguidAllowlist ?? []).map((a) => a.toLowerCase()));
  const origin = new URL(options.issuer).origin;
  const rpID = new URL(options.issuer).hostname;
  const Credentials = db.model<CredentialsDoc>('WebAuthnCredentials', new Schema<CredentialsDoc>({
    _id: String, creds: { type: Schema.Types.Mixed, default: {} },
  }, { collection: 'webauthn_credentials', versionKey: false, minimize: false }));
  const Challenges = db.model<ChallengeDoc>('WebAuthnChallenge', new Schema<ChallengeDoc>({
    _id: String, challenge: { type: String, required: true }, expiresAt: { type: Date, required: true },
  }, { collection: 'webauthn_challenges', versionKey: false }), { expires: true });
  const CredentialIds = db.model<CredentialIdDoc>('WebAuthnCredentialId', new Schema<CredentialIdDoc>({
    _id: String, accountId: { type: String, required: true },
  }, { collection: 'webauthn_credential_ids', versionKey: false }));

  const credsOf = async (accountId: string) => (await Credentials.findById(accountId).lean<CredentialsDoc>())?.creds ?? {};

  async function remember(scope: string, challenge: string) {
    await Challenges.replaceOne({ _id: scope }, { challenge, expiresAt: new Date(clock().getTime() + CHALLENGE_SECONDS * 1000) }, { upsert: true });
  }
  /**
   * The ceremony's challenge, spent: a response can be verified once, even when submitted many
   * times at once. Spending sets the expiry to the epoch, so the condition includes the expiry read.
   */
  async function spend(scope: string): Promise<string | undefined> {
    const doc = await Challenges.findById(scope).lean<ChallengeDoc>();
    if (!doc || doc.expiresAt <= clock()) return undefined;
    const unspent = { challenge: doc.challenge, expiresAt: doc.expiresAt };
    return (await db.updateIf(Challenges, scope, unspent, { $set: { expiresAt: new Date(0) } })) ? doc.challenge : undefined;
  }

  /**
   * The credential id's lookup names this account (written before the credential). Another
   * account's lookup is taken over only when that account no longer holds the credential (a
   * crash between the two writes, or a removal cut short); false when it does.
   */
  async function claimLookup(credentialId: string, accountId: string): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const held = await CredentialIds.findById(credentialId).lean<CredentialIdDoc>();
      if (held?.accountId === accountId) return true;
      if (!held) {
        try {
          await CredentialIds.create({ _id: credentialId, accountId });
          return true;
        } catch (err) {
          if ((err as { code?: number }).code !== 11000) throw err;
          continue; // written meanwhile: look again
        }
      }
      if ((await credsOf(held.accountId))[credentialId]) return false;
      if (await db.updateIf(CredentialIds, credentialId, { accountId: held.accountId }, { $set: { accountId } })) return true;
    }
    return false;
  }

  /**
   * A passkey sign-in's challenge is signed instead of stored, so the sign-in page's options cost
   * no database write: a random part, its expiry and a MAC binding both to the interaction.
   */
  const passkeyMac = (scope: string, body: Buffer) => createHmac('sha256', challengeKey).update(`passkey\0${scope}\0`).update(body).digest().subarray(0, 16);
  function passkeyChallenge(scope: string): Uint8Array<ArrayBuffer> {
    const expires = Buffer.alloc(4);
    expires.writeUInt32BE(Math.floor(clock().getTime() / 1000) + CHALLENGE_SECONDS);
    const body = Buffer.concat([randomBytes(16), expires]);
    return new Uint8Array(Buffer.concat([body, passkeyMac(scope, body)]));
  }
  /** The challenge an assertion answers, if Tessera made it for this interaction and it is live: spent now (an insert, so once). */
  async function spendPasskeyChallenge(scope: string, response: AuthenticationResponseJSON): Promise<string | undefined> {
    const challenge = parse<{ challenge?: unknown }>(Buffer.from(String(response.response?.clientDataJSON ?? ''), 'base64url').toString())?.challenge;
    if (typeof challenge !== 'string') return undefined;
    const raw = Buffer.from(challenge, 'base64url');
    if (raw.length !== 36) return undefined;
    const body = raw.subarray(0, 20);
    if (!timingSafeEqual(raw.subarray(20), passkeyMac(scope, body))) return undefined;
    const expiresAt = new Date(body.readUInt32BE(16) * 1000);
    if (expiresAt <= clock()) return undefined;
    try {
      await Challenges.create({ _id: `passkey-spent:${challenge}`, challenge: '-', expiresAt });
      return challenge;
    } catch (err) {
      if ((err as { code?: number }).code === 11000) return undefined;
      throw err;
    }
  }

  /** Removes the credential id's lookup after the credential itself, when it still names this account. */
  async function dropLookup(credentialId: string, accountId: string): Promise<void> {
    const held = await CredentialIds.findById(credentialId).lean<CredentialIdDoc>();
    if (held?.accountId === accountId) await CredentialIds.deleteOne({ _id: credentialId });
  }

  /** Verifies an assertion against a stored credential; the signature counter moves forward once. */
  async function verifyAssertion(accountId: string, stored: StoredCredential, response: AuthenticationResponseJSON, challenge: string, requireUserVerification: boolean) {
    const v = await verifyAuthenticationResponse({
      response, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification,
      credential: { id: response.id, publicKey: new Uint8Array(Buffer.from(stored.publicKey, 'base64url')), counter: stored.counter, transports: stored.transports as never },
    });
    if (!v.verified) return undefined;
    const key = `creds.${response.id}`;
    // a signature counter that does not move forward is a cloned authenticator; 0 means "no counter"
    const moved = await db.updateIf(Credentials, accountId, { [`${key}.counter`]: stored.counter },
      { $set: { [`${key}.counter`]: v.authenticationInfo.newCounter, [`${key}.lastUsedAt`]: clock() } });
    return moved ? v.authenticationInfo : undefined;
  }

  return {
    async list(accountId: string): Promise<CredentialView[]> {
      return Object.entries(await credsOf(accountId)).map(([id, c]) => ({
        id, name: c.name, synced: c.synced, backupEligible: c.backupEligible ?? c.synced, ...(c.aaguid ? { aaguid: c.aaguid } : {}), createdAt: c.createdAt, ...(c.lastUsedAt ? { lastUsedAt: c.lastUsedAt } : {}),
      }));
    },

    /** Creation options; `passkey`: a discoverable credential that verifies its user, on this device (the passkey offer). */
    async registrationOptions(account: FactorAccount, scope: string, kind: 'key' | 'passkey' = 'key') {
      const existing = await credsOf(account.id);
      const opts = await generateRegistrationOptions({
        rpName: options.rpName, rpID, userName: account.email, userID: new TextEncoder().encode(account.id),
        // with an allow-list the authenticator's model must be told (browsers may blank it otherwise)
        attestationType: allowed.size ? 'direct' : 'none',
        excludeCredentials: Object.entries(existing).map(([id, c]) => ({ id, transports: c.transports as never })),
        authenticatorSelection: kind === 'passkey'
          ? { residentKey: 'required', userVerification: 'required', authenticatorAttachment: 'platform' }
          : { residentKey: 'preferred', userVerification: 'preferred' },
      });
      await remember(`register:${scope}`, opts.challenge);
      return opts;
    },

    /** Verifies a registration and stores the credential under `name`; a message when it fails. */
    async register(account: FactorAccount, scope: string, responseJson: string, name: string): Promise<{ ok: true } | { ok: false; message: string; said?: Said }> {
      const response = parse<RegistrationResponseJSON>(responseJson);
      const challenge = await spend(`register:${scope}`);
      if (!response || !challenge) return { ok: false, message: 'The security key did not answer, or took too long. Try again.', said: { key: 'interaction:refused.keyNoAnswer' } };
      try {
        const v = await verifyRegistrationResponse({ response, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: false });
        if (!v.verified) return { ok: false, message: 'The security key could not be verified. Try again.', said: { key: 'interaction:refused.keyNotVerified' } };
        const { credential, credentialBackedUp, credentialDeviceType, aaguid } = v.registrationInfo;
        if (allowed.size && !allowed.has(aaguid.toLowerCase())) return { ok: false, message: NOT_ACCEPTED, said: { key: 'interaction:refused.keyModelNotAccepted' } };
        if (!(await claimLookup(credential.id, account.id))) return { ok: false, message: 'This security key is already registered to another account. Use another key.', said: { key: 'interaction:refused.keyTaken' } };
        await Credentials.updateOne({ _id: account.id }, { $set: { [`creds.${credential.id}`]: {
          publicKey: b64(credential.publicKey), counter: credential.counter, transports: credential.transports ?? [], name, synced: credentialBackedUp,
          backupEligible: credentialDeviceType === 'multiDevice', aaguid, createdAt: clock(),
        } satisfies StoredCredential } }, { upsert: true });
        return { ok: true };
      } catch (err) {
        return { ok: false, message: `The security key could not be verified (${(err as Error).message}).` };
      }
    },

    async remove(accountId: string, credentialId: string): Promise<boolean> {
      if (!/^[\w-]{1,1024}$/.test(credentialId)) return false;
      const res = await Credentials.updateOne({ _id: accountId }, { $unset: { [`creds.${credentialId}`]: '' } });
      if (res.modifiedCount !== 1) return false;
      await dropLookup(credentialId, accountId);
      return true;
    },

    /** An admin's MFA reset: every security key and passkey of the account; how many were removed. */
    async removeAll(accountId: string): Promise<number> {
      const doc = await Credentials.findOneAndDelete({ _id: accountId }).lean<CredentialsDoc>();
      for (const id of Object.keys(doc?.creds ?? {})) await dropLookup(id, accountId);
      return doc ? Object.keys(doc.creds ?? {}).length : 0;
    },

    async authenticationOptions(accountId: string, scope: string) {
      const creds = await credsOf(accountId);
      const opts = await generateAuthenticationOptions({
        rpID, userVerification: 'preferred',
        allowCredentials: Object.entries(creds).map(([id, c]) => ({ id, transports: c.transports as never })),
      });
      await remember(`authenticate:${scope}`, opts.challenge);
      return opts;
    },

    /** Verifies an assertion of one of this account's credentials; the challenge is spent. */
    async authenticate(accountId: string, scope: string, responseJson: string): Promise<{ ok: true; userVerified: boolean; synced: boolean } | { ok: false }> {
      const response = parse<AuthenticationResponseJSON>(responseJson);
      if (!response || typeof response.id !== 'string') return { ok: false };
      const creds = await credsOf(accountId);
      const stored = creds[response.id];
      const challenge = await spend(`authenticate:${scope}`);
      if (!stored || !challenge) return { ok: false };
      try {
        const info = await verifyAssertion(accountId, stored, response, challenge, false);
        return info ? { ok: true, userVerified: info.userVerified, synced: stored.synced } : { ok: false };
      } catch {
        return { ok: false };
      }
    },

    /** A passkey sign-in's request options: any discoverable credential of this site, its user verified (nothing stored). */
    passkeyOptions(scope: string) {
      return generateAuthenticationOptions({ rpID, userVerification: 'required', allowCredentials: [], challenge: passkeyChallenge(scope) });
    },

    /**
     * A passkey sign-in: the challenge (signed for this interaction) is spent first (once, whatever follows), the credential is
     * found by its id, its user handle must name the account holding it, and the signature, the
     * counter and user verification are checked. Unknown and wrong look the same ('invalid').
     */
    async signInWithPasskey(scope: string, responseJson: string): Promise<PasskeySignIn> {
      const response = parse<AuthenticationResponseJSON>(responseJson);
      const challenge = response && typeof response === 'object' ? await spendPasskeyChallenge(scope, response) : undefined;
      if (!challenge || !response || typeof response.id !== 'string' || !/^[\w-]{1,1024}$/.test(response.id) || typeof response.response?.userHandle !== 'string') return { ok: false, reason: 'invalid' };
      const lookup = await CredentialIds.findById(response.id).lean<CredentialIdDoc>();
      // the lookup is written first: it counts only when the account holds the credential
      const stored = lookup ? (await credsOf(lookup.accountId))[response.id] : undefined;
      if (!lookup || !stored || response.response.userHandle !== Buffer.from(lookup.accountId).toString('base64url')) return { ok: false, reason: 'invalid' };
      try {
        const info = await verifyAssertion(lookup.accountId, stored, response, challenge, false);
        if (!info) return { ok: false, reason: 'invalid' };
        if (!info.userVerified) return { ok: false, reason: 'no-user-verification' };
        return { ok: true, accountId: lookup.accountId, synced: stored.synced };
      } catch {
        return { ok: false, reason: 'invalid' };
      }
    },

    /**
     * Once per database: the credential-id lookups of credentials registered before they existed.
     * A failure is reported and leaves the marker unwritten, so the next start tries again.
     */
    async backfillLookups(): Promise<{ added: number; failed: string[] }> {
      if (await CredentialIds.findById(BACKFILL_MARKER).lean()) return { added: 0, failed: [] };
      let added = 0;
      const failed: string[] = [];
      for (const doc of await Credentials.find().lean<CredentialsDoc[]>()) {
        for (const id of Object.keys(doc.creds ?? {})) {
          try {
            if (await claimLookup(id, doc._id)) added++;
            else failed.push(`credential ${id.slice(0, 8)}… of ${doc._id}: another account holds it`);
          } catch (err) {
            failed.push(`credential ${id.slice(0, 8)}… of ${doc._id}: ${(err as Error).message}`);
          }
        }
      }
      if (!failed.length) await CredentialIds.create({ _id: BACKFILL_MARKER, accountId: '-' }).catch(() => undefined);
      return { added, failed };
    },
  };
}

export function webauthnFactor(store: WebAuthnStore, clock: () => Date): SecondFactorModule {
  return {
    id: 'webauthn',
    label: 'Use a security key or passkey',
    availability: async (account) => ((await store.list(account.id)).length ? { available: true } : { available: false, reason: 'no security key or passkey registered' }),
    async begin({ account, scope }) {
      return {
        input: 'webauthn',
        instructions: 'Use your security key or passkey: press the button, then touch the key or confirm on your device.',
        said: { instructions: { key: 'interaction:prompt.webauthn' } },
        canResend: false,
        webauthnOptions: await store.authenticationOptions(account.id, scope),
      };
    },
    async verify({ account, scope }, answer): Promise<Verification> {
      const result = await store.authenticate(account.id, scope, answer);
      if (!result.ok) return { ok: false, message: 'The security key was not accepted. Try again, or use another method.', said: { key: 'interaction:refused.keyNotAccepted' } };
      return { ok: true, proof: { factor: 'webauthn', at: Math.floor(clock().getTime() / 1000), userVerified: result.userVerified, synced: result.synced } };
    },
    enrolment: {
      begin: async () => ({ kind: 'webauthn' }),
      options: (account, scope) => store.registrationOptions(account, scope),
      async complete(account, scope, answer, name) {
        const result = await store.register(account, scope, answer, name || 'Security key');
        // the registration ceremony, bound to Tessera's origin, proved possession of the key
        return result.ok ? { ok: true, proof: { factor: 'webauthn', at: Math.floor(clock().getTime() / 1000) } } : { ok: false, message: result.message, ...(result.said ? { said: result.said } : {}) };
      },
    },
  };
}
