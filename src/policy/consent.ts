// Kept consent, as pure rules. What a person allowed an application is remembered on their
// account; a later request counts it only when it names the same application (its client id,
// the registration the client was created with, and its redirect URIs, as a digest: a client
// deleted and created again under the same id, or one that now sends people elsewhere, is asked
// again) and asks for nothing the person did not allow.
import { createHash } from 'node:crypto';

/** What identifies an application: its client id, the registration it was created with, and where it sends people back. */
export interface AppIdentity {
  clientId: string;
  /** oidc/clients.ts REGISTRATION (none on clients created before it). */
  registration?: string;
  redirectUris?: readonly string[];
}

/** What a consent grants: OIDC scopes and claims (the claims parameter's). */
export interface ConsentAsked {
  scopes: string[];
  claims: string[];
}

/** A consent as the account keeps it (accounts/store.ts RememberedConsent). */
export interface KeptConsent extends ConsentAsked {
  /** clientDigest of the application when it was allowed. */
  client: string;
}

/** The application as the person allowed it. */
export function clientDigest(client: AppIdentity): string {
  return createHash('sha256').update(JSON.stringify([client.clientId, client.registration ?? '', [...(client.redirectUris ?? [])].sort()])).digest('base64url').slice(0, 22);
}

/** Whether a kept consent was given to this very application (else it does not count). */
export function keptFor(kept: KeptConsent | undefined, client: AppIdentity): kept is KeptConsent {
  return !!kept && kept.client === clientDigest(client);
}

/** Whether a kept consent, given to this very application, allows every scope and claim asked. */
export function keptConsentAllows(kept: KeptConsent | undefined, client: AppIdentity, asked: ConsentAsked): boolean {
  if (!keptFor(kept, client)) return false;
  const scopes = new Set(kept.scopes);
  const claims = new Set(kept.claims);
  return asked.scopes.every((s) => scopes.has(s)) && asked.claims.every((c) => claims.has(c));
}
