// Security keys and passkeys (WebAuthn, @simplewebauthn/server): registered with a name from the
// account page, used as a second factor, and — being bound to Tessera's origin — the
// phishing-resistant level. A passkey that verified its user is a whole sign-in by itself.
// Credentials live in one document per account (lookups by account id); every ceremony's
// challenge is stored under its scope and spent by the verification.
import { Schema } from 'mongoose';
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Database } from '../../db/database.ts';
import type { FactorAccount, SecondFactorModule, Verification } from '../types.ts';

interface StoredCredential {
  publicKey: string; // base64url
  counter: number;
  transports?: string[];
  name: string;
  synced: boolean;
  createdAt: Date;
  lastUsedAt?: Date;
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
  createdAt: Date;
  lastUsedAt?: Date;
}

export type WebAuthnStore = ReturnType<typeof createWebAuthn>;

const CHALLENGE_SECONDS = 300;
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const parse = <T>(json: string): T | undefined => {
  try { return JSON.parse(json) as T; } catch { return undefined; }
};

export function createWebAuthn(db: Database, options: { issuer: string; rpName: string; clock: () => Date }) {
  const { clock } = options;
  const origin = new URL(options.issuer).origin;
  const rpID = new URL(options.issuer).hostname;
  const Credentials = db.model<CredentialsDoc>('WebAuthnCredentials', new Schema<CredentialsDoc>({
    _id: String, creds: { type: Schema.Types.Mixed, default: {} },
  }, { collection: 'webauthn_credentials', versionKey: false, minimize: false }));
  const Challenges = db.model<ChallengeDoc>('WebAuthnChallenge', new Schema<ChallengeDoc>({
    _id: String, challenge: { type: String, required: true }, expiresAt: { type: Date, required: true },
  }, { collection: 'webauthn_challenges', versionKey: false }), { expires: true });

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

  return {
    async list(accountId: string): Promise<CredentialView[]> {
      return Object.entries(await credsOf(accountId)).map(([id, c]) => ({ id, name: c.name, synced: c.synced, createdAt: c.createdAt, ...(c.lastUsedAt ? { lastUsedAt: c.lastUsedAt } : {}) }));
    },

    async registrationOptions(account: FactorAccount, scope: string) {
      const existing = await credsOf(account.id);
      const opts = await generateRegistrationOptions({
        rpName: options.rpName, rpID, userName: account.email, userID: new TextEncoder().encode(account.id),
        attestationType: 'none',
        excludeCredentials: Object.entries(existing).map(([id, c]) => ({ id, transports: c.transports as never })),
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
      });
      await remember(`register:${scope}`, opts.challenge);
      return opts;
    },

    /** Verifies a registration and stores the credential under `name`; a message when it fails. */
    async register(account: FactorAccount, scope: string, responseJson: string, name: string): Promise<{ ok: true } | { ok: false; message: string }> {
      const response = parse<RegistrationResponseJSON>(responseJson);
      const challenge = await spend(`register:${scope}`);
      if (!response || !challenge) return { ok: false, message: 'The security key did not answer, or took too long. Try again.' };
      try {
        const v = await verifyRegistrationResponse({ response, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: false });
        if (!v.verified) return { ok: false, message: 'The security key could not be verified. Try again.' };
        const { credential, credentialBackedUp } = v.registrationInfo;
        await Credentials.updateOne({ _id: account.id }, { $set: { [`creds.${credential.id}`]: {
          publicKey: b64(credential.publicKey), counter: credential.counter, transports: credential.transports ?? [], name, synced: credentialBackedUp, createdAt: clock(),
        } satisfies StoredCredential } }, { upsert: true });
        return { ok: true };
      } catch (err) {
        return { ok: false, message: `The security key could not be verified (${(err as Error).message}).` };
      }
    },

    async remove(accountId: string, credentialId: string): Promise<boolean> {
      if (!/^[\w-]{1,1024}$/.test(credentialId)) return false;
      const res = await Credentials.updateOne({ _id: accountId }, { $unset: { [`creds.${credentialId}`]: '' } });
      return res.modifiedCount === 1;
    },

    /** An admin's MFA reset: every security key and passkey of the account; how many were removed. */
    async removeAll(accountId: string): Promise<number> {
      const doc = await Credentials.findOneAndDelete({ _id: accountId }).lean<CredentialsDoc>();
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
        const v = await verifyAuthenticationResponse({
          response, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: false,
          credential: { id: response.id, publicKey: new Uint8Array(Buffer.from(stored.publicKey, 'base64url')), counter: stored.counter, transports: stored.transports as never },
        });
        if (!v.verified) return { ok: false };
        const key = `creds.${response.id}`;
        // a signature counter that does not move forward is a cloned authenticator; 0 means "no counter"
        const moved = await db.updateIf(Credentials, accountId, { [`${key}.counter`]: stored.counter },
          { $set: { [`${key}.counter`]: v.authenticationInfo.newCounter, [`${key}.lastUsedAt`]: clock() } });
        if (!moved) return { ok: false };
        return { ok: true, userVerified: v.authenticationInfo.userVerified, synced: stored.synced };
      } catch {
        return { ok: false };
      }
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
        canResend: false,
        webauthnOptions: await store.authenticationOptions(account.id, scope),
      };
    },
    async verify({ account, scope }, answer): Promise<Verification> {
      const result = await store.authenticate(account.id, scope, answer);
      if (!result.ok) return { ok: false, message: 'The security key was not accepted. Try again, or use another method.' };
      return { ok: true, proof: { factor: 'webauthn', at: Math.floor(clock().getTime() / 1000), userVerified: result.userVerified, synced: result.synced } };
    },
    enrolment: {
      begin: async () => ({ kind: 'webauthn' }),
      options: (account, scope) => store.registrationOptions(account, scope),
      async complete(account, scope, answer, name) {
        const result = await store.register(account, scope, answer, name || 'Security key');
        // the registration ceremony, bound to Tessera's origin, proved possession of the key
        return result.ok ? { ok: true, proof: { factor: 'webauthn', at: Math.floor(clock().getTime() / 1000) } } : { ok: false, message: result.message };
      },
    },
  };
}
