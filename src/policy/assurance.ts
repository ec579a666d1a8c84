// Authentication assurance levels Tessera issues as `acr`, weakest first, with the RFC 8176 `amr`
// values that prove them. Pure data: the provider's discovery, the step-up check and the sign-in
// pages all read it from here. Later factors add the multi-factor and phishing-resistant levels.
export const ACR = {
  password: 'urn:tessera:acr:pwd',
} as const;

export type Acr = (typeof ACR)[keyof typeof ACR];

/** Levels in ascending strength; discovery's acr_values_supported lists them in this order. */
export const ACR_LEVELS: readonly Acr[] = [ACR.password];

export function acrRank(acr: string | undefined): number {
  return acr ? ACR_LEVELS.indexOf(acr as Acr) + 1 : 0;
}

/** What a password-only sign-in proves. */
export const PASSWORD_SIGN_IN = { acr: ACR.password, amr: ['pwd'] } as const;
