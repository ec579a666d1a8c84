// Authentication assurance levels Tessera issues as `acr`, weakest first, and the RFC 8176 `amr`
// value each factor proves. Pure data: discovery, the step-up decision and the pages read it here.
export const ACR = {
  password: 'urn:tessera:acr:pwd',
  mfa: 'urn:tessera:acr:mfa',
  /** OpenID EAP: phishing-resistant (a WebAuthn assertion bound to Tessera's origin). */
  phr: 'phr',
} as const;

export type Acr = (typeof ACR)[keyof typeof ACR];

/** Levels in ascending strength; discovery's acr_values_supported lists them in this order. */
export const ACR_LEVELS: readonly Acr[] = [ACR.password, ACR.mfa, ACR.phr];

export function isAcr(value: string): value is Acr {
  return (ACR_LEVELS as readonly string[]).includes(value);
}

/** 0 for none or unknown, then 1, 2, 3 in ACR_LEVELS order. */
export function acrRank(acr: string | undefined): number {
  return acr ? ACR_LEVELS.indexOf(acr as Acr) + 1 : 0;
}

export type Factor = 'password' | 'email' | 'sms' | 'voice' | 'totp' | 'webauthn' | 'recovery' | 'pin';

/**
 * RFC 8176 values; `email` and `rcode` are Tessera's own (the registry allows private values) for
 * an emailed code and a recovery code. A WebAuthn proof adds `hwk`, or `swk` for a synced passkey.
 */
export const AMR: Record<Factor, string> = {
  password: 'pwd',
  email: 'email',
  sms: 'sms',
  voice: 'tel',
  totp: 'otp',
  webauthn: 'hwk',
  recovery: 'rcode',
  // the account's PIN, asked after the sign-in when the person chose so (never a second factor)
  pin: 'pin',
};
