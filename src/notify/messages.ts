// The messages Tessera sends, rendered from views/email/ (an HTML and a plain-text template each).
import path from 'node:path';
import ejs from 'ejs';
import type { Email } from './transports.ts';
import type { CodePurpose } from '../factors/types.ts';

const VIEWS = path.resolve(import.meta.dirname, '../../views/email');

async function render(name: string, data: Record<string, unknown>): Promise<{ text: string; html: string }> {
  const [html, text] = await Promise.all([
    ejs.renderFile(path.join(VIEWS, `${name}.html.ejs`), data),
    ejs.renderFile(path.join(VIEWS, `${name}.text.ejs`), data),
  ]);
  return { html, text };
}

/** The two answers a sign-in notice offers: "This was me" (the devices page) and "This wasn't me" (secure the account, valid `days`). */
export interface ReactionLinks {
  wasMe: string;
  notMe: string;
  days: number;
}

/** Where a sign-in came from, as the notices show it. */
export interface Whereabouts {
  at: Date;
  ip?: string;
  where: string;
  browser: string;
  os: string;
}

export interface CodeMessages {
  /** A one-time code; `minutes` is how long it stays valid (default: the sign-in lifetime); `purpose` what it confirms. */
  signInCode(to: string, code: string, minutes?: number, purpose?: CodePurpose): Promise<Email>;
  recoveryCodeUsed(to: string, left: number): Promise<Email>;
  /** The SMS body and the sentence a voice call reads out. */
  smsCode(code: string, minutes?: number, purpose?: CodePurpose): string;
  voiceCode(code: string): string;
  /** A new-device sign-in, to the account (member unset) or to an organisation admin about a member. */
  newDevice(to: string, seen: Whereabouts, about?: { member: string; organisation: string }, links?: ReactionLinks): Promise<Email>;
  /** A sign-in that looked unusual, with why (plain sentences), to the account. */
  unusualSignIn(to: string, seen: Whereabouts, reasons: string[], links?: ReactionLinks): Promise<Email>;
  /** "This wasn't me" was confirmed: a summary to the account (member unset) or a notice to an organisation admin. */
  accountSecured(to: string, device: string, seen: Whereabouts, about?: { member: string; organisation: string }): Promise<Email>;
  /** `unblock`: the link that lets the person unblock it themselves (password and an emailed code), valid `hours`. */
  deviceBlocked(to: string, seen: Whereabouts, failures: number, unblock?: { link: string; hours: number }): Promise<Email>;
  /** Sign-ins from new devices are paused after too many wrong passwords (once per lockout). */
  accountLocked(to: string, seen: Whereabouts, minutes: number): Promise<Email>;
  deviceTrusted(to: string, name: string, until: Date, replaced?: string): Promise<Email>;
  deviceTrustedSms(name: string, until: Date): string;
  /** A change in the account security center (password, PIN, second factor, phones, sessions). */
  securityChange(to: string, change: string, seen: Whereabouts): Promise<Email>;
  /** An account an admin created without a password: the set-password link, valid `hours`. */
  invitation(to: string, link: string, hours: number): Promise<Email>;
  /** An admin reset the password: the old one no longer works; the set-password link, valid `hours`. */
  passwordResetByAdmin(to: string, link: string, hours: number): Promise<Email>;
  /** An admin removed every two-factor method of the account. */
  mfaReset(to: string): Promise<Email>;
  /** A code proving control of an email address: the account's new one (email-change) or its own (email-verify). */
  emailAddressCode(to: string, code: string, minutes: number, purpose: 'email-change' | 'email-verify'): Promise<Email>;
  /** To the address an account left: it now signs in with `newAddress` (masked), changed then and from there. */
  emailChanged(to: string, newAddress: string, seen: Whereabouts): Promise<Email>;
  /** "Forgot password?": the code that lets the person set a new password, valid `minutes`. */
  passwordResetCode(to: string, code: string, minutes: number): Promise<Email>;
  /** Sign-up: the code that confirms a new account's address, valid `minutes`. */
  signUpCode(to: string, code: string, minutes: number): Promise<Email>;
  /** Sign-up with an address that already has an account: no code, how to sign in or reset the password instead. */
  signUpAttempt(to: string, signInHint: string): Promise<Email>;
}

/** What a code confirms, in the message: signing in, or a change to the account's devices. */
const ACTIONS: Record<CodePurpose, { subject: string; doing: string }> = {
  'sign-in': { subject: 'sign-in code', doing: 'finish signing in to' },
  'new-device': { subject: 'sign-in code', doing: 'finish signing in from a new device to' },
  'device-trust': { subject: 'code to trust a device', doing: 'trust a device for your account at' },
  'device-remove': { subject: 'code to remove a device', doing: 'remove a device from your account at' },
  'phone-verify': { subject: 'code to verify your phone number', doing: 'verify a phone number for your account at' },
  'device-unblock': { subject: 'code to unblock a device', doing: 'unblock a device of your account at' },
  'email-change': { subject: 'code to confirm your new email address', doing: 'confirm this address as the new email address of your account at' },
  'email-verify': { subject: 'code to verify your email address', doing: 'verify the email address of your account at' },
  'sign-up': { subject: 'code to confirm your email address', doing: 'confirm your email address and create your account at' },
  'password-reset': { subject: 'password reset code', doing: 'set a new password for your account at' },
};

const stamp = (d: Date) => `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
const place = (seen: Whereabouts) => ({ when: stamp(seen.at), ip: seen.ip ?? 'unknown', where: seen.where, browser: seen.browser, os: seen.os });

export function createMessages(productName = 'Tessera', lifetimeMinutes = 15): CodeMessages {
  return {
    async signInCode(to, code, minutes = lifetimeMinutes, purpose = 'sign-in') {
      const action = ACTIONS[purpose];
      return { to, subject: `${code} is your ${productName} ${action.subject}`, ...(await render('sign-in-code', { code, productName, lifetimeMinutes: minutes, doing: action.doing, signingIn: purpose === 'sign-in' || purpose === 'new-device' })) };
    },
    async recoveryCodeUsed(to, left) {
      return { to, subject: `A ${productName} recovery code was used`, ...(await render('recovery-code-used', { productName, left })) };
    },
    smsCode: (code, minutes = lifetimeMinutes, purpose = 'sign-in') => `${code} is your ${productName} ${ACTIONS[purpose].subject}. It expires in ${minutes} minutes. Do not share it.`,
    async newDevice(to, seen, about, links) {
      const subject = about ? `${about.member} signed in from a new device` : `New sign-in to your ${productName} account`;
      return { to, subject, ...(await render('new-device', { productName, ...place(seen), member: about?.member, organisation: about?.organisation, links })) };
    },
    async unusualSignIn(to, seen, reasons, links) {
      return { to, subject: `Unusual sign-in to your ${productName} account`, ...(await render('unusual-sign-in', { productName, ...place(seen), reasons, links })) };
    },
    async accountSecured(to, device, seen, about) {
      const subject = about ? `${about.member} secured their account after a sign-in that was not them` : `Your ${productName} account was secured`;
      return { to, subject, ...(await render('account-secured', { productName, device, ...place(seen), member: about?.member, organisation: about?.organisation })) };
    },
    async deviceBlocked(to, seen, failures, unblock) {
      return { to, subject: `A device was blocked from your ${productName} account`, ...(await render('device-blocked', { productName, failures, ...place(seen), unblock })) };
    },
    async accountLocked(to, seen, minutes) {
      return { to, subject: `Sign-ins to your ${productName} account were paused`, ...(await render('account-locked', { productName, minutes, ...place(seen) })) };
    },
    async deviceTrusted(to, name, until, replaced) {
      return { to, subject: `"${name}" is now a trusted device`, ...(await render('device-trusted', { productName, name, until: stamp(until), replaced })) };
    },
    async securityChange(to, change, seen) {
      return { to, subject: `Security change on your ${productName} account`, ...(await render('security-change', { productName, change, ...place(seen) })) };
    },
    async invitation(to, link, hours) {
      return { to, subject: `Your ${productName} account: set your password`, ...(await render('invitation', { productName, email: to, link, hours })) };
    },
    async passwordResetByAdmin(to, link, hours) {
      return { to, subject: `Your ${productName} password was reset`, ...(await render('password-reset-by-admin', { productName, email: to, link, hours })) };
    },
    async mfaReset(to) {
      return { to, subject: `Your ${productName} two-factor methods were removed`, ...(await render('mfa-reset', { productName, email: to })) };
    },
    async emailAddressCode(to, code, minutes, purpose) {
      return { to, subject: `${code} is your ${productName} ${ACTIONS[purpose].subject}`, ...(await render('email-address-code', { productName, code, lifetimeMinutes: minutes, doing: ACTIONS[purpose].doing, newAddress: purpose === 'email-change' })) };
    },
    async emailChanged(to, newAddress, seen) {
      return { to, subject: `The email address of your ${productName} account was changed`, ...(await render('email-changed', { productName, newAddress, ...place(seen) })) };
    },
    async passwordResetCode(to, code, minutes) {
      return { to, subject: `${code} is your ${productName} ${ACTIONS['password-reset'].subject}`, ...(await render('password-reset-code', { productName, code, lifetimeMinutes: minutes })) };
    },
    async signUpCode(to, code, minutes) {
      return { to, subject: `${code} is your ${productName} ${ACTIONS['sign-up'].subject}`, ...(await render('sign-up-code', { productName, code, lifetimeMinutes: minutes, doing: ACTIONS['sign-up'].doing })) };
    },
    async signUpAttempt(to, signInHint) {
      // never a code: nothing this email holds creates or changes an account
      return { to, subject: `Someone tried to sign up to ${productName} with your email address`, ...(await render('sign-up-attempt', { productName, email: to, signInHint })) };
    },
    deviceTrustedSms: (name, until) => `${productName}: "${name}" is now a trusted device until ${until.toISOString().slice(0, 10)}. Not you? Remove it under Security > Devices.`,
    voiceCode: (code) => `Your ${productName} code is ${code.split('').join(', ')}. Again: ${code.split('').join(', ')}.`,
  };
}
