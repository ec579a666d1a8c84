// One interface for every second factor (a Kratos-style strategy): can this account use it now,
// prepare the step, verify the answer, and what a success proves. A factor is one module under
// src/factors/<name>/; the sign-in pages only ever talk to this interface.
import type { Proof, SecondFactor } from '../policy/sign-in.ts';

export interface FactorAccount {
  id: string;
  email: string;
  /** The account's language and time zone (its profile): what is sent to it is written in them. */
  profile?: { locale?: string | undefined; zoneinfo?: string | undefined };
}

export interface FactorContext {
  account: FactorAccount;
  /** What the step belongs to (an interaction uid, or a settings action). */
  scope: string;
  /** sign-in: a second factor; new-device: verifying a browser at sign-in; device-trust / device-remove / phone-verify: settings actions; device-unblock: the emailed unblock link; email-change / email-verify: a new or the current email address (profile); sign-up: the address of an account not made yet; password-reset: "Forgot password?" (the reset code, and the second factor a reset needs). */
  purpose: CodePurpose;
  /** The client IP of the request (texts and calls to unverified numbers are capped per IP). */
  ip?: string;
  /** A new start on purpose (a new action on the devices page): an expired or locked code is replaced. */
  restart?: boolean;
  /** The page's language: a code to an address with no account yet (sign-up) is written in it. */
  language?: string;
}

export type CodePurpose = 'sign-in' | 'new-device' | 'device-trust' | 'device-remove' | 'phone-verify' | 'device-unblock' | 'email-change' | 'email-verify' | 'sign-up' | 'password-reset';

/** A sentence's translation (locales/<language>/<ns>.json): the key and its values; the English text stays beside it. */
export interface Said {
  key: string;
  vars?: Record<string, string | number>;
}

export type Availability = { available: true } | { available: false; reason: string };

/** What the page shows for the step. */
export interface FactorPrompt {
  /** 'code': a code field; 'webauthn': a button that runs the browser's WebAuthn ceremony. */
  input: 'code' | 'webauthn';
  /** For 'webauthn': the PublicKeyCredentialRequestOptions (JSON) the page hands the browser. */
  webauthnOptions?: unknown;
  /** e.g. "We emailed a code to a***@example.com." */
  instructions: string;
  expiresAt?: Date;
  resendAt?: Date;
  canResend: boolean;
  /** A delivery problem to show with a way forward (retry, another method). */
  problem?: string;
  /** Nothing was sent because a daily cap on texts and calls was reached (the page says what else there is). */
  capped?: boolean;
  /** The translations of `instructions` and `problem`, for pages in other languages (absent: the English text). */
  said?: { instructions?: Said; problem?: Said };
}

/** A refused answer: why, a new prompt, and `spent` for a right answer already used (a replay or double click: no guess, never counted). */
export type Verification = { ok: true; proof: Proof } | { ok: false; message: string; said?: Said; prompt?: FactorPrompt; spent?: boolean };

/** What the page shows to set a factor up. */
export interface EnrolPrompt {
  kind: 'totp' | 'webauthn';
  /** TOTP: the key and its QR code (SVG). */
  secret?: string;
  qrSvg?: string;
}

/** Setting a factor up, from the account page or in the middle of a sign-in. */
export interface Enrolment {
  begin(account: FactorAccount, scope: string): Promise<EnrolPrompt>;
  /** The answer (a code, or a registration as JSON) and a name for it; success proves the factor now. */
  complete(account: FactorAccount, scope: string, answer: string, name: string): Promise<Verification>;
  /** WebAuthn: the creation options the browser needs (JSON). */
  options?(account: FactorAccount, scope: string): Promise<unknown>;
}

export interface SecondFactorModule {
  id: SecondFactor;
  /** Shown on the choice list, e.g. "Email a code". */
  label: string;
  availability(account: FactorAccount): Promise<Availability>;
  /** Prepares the step; calling it again (a reload) sends nothing new. */
  begin(ctx: FactorContext): Promise<FactorPrompt>;
  resend?(ctx: FactorContext): Promise<FactorPrompt>;
  /** Codes of purposes with their own short lifetime: "Extend" gives more time (up to a cap). */
  extend?(ctx: FactorContext): Promise<FactorPrompt>;
  verify(ctx: FactorContext, answer: string): Promise<Verification>;
  /** Factors a person can set up themselves (TOTP, WebAuthn). */
  enrolment?: Enrolment;
}
