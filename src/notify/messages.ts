// The messages Tessera sends, rendered from views/email/ (an HTML and a plain-text template each),
// in the reader's language (README "Emails and text messages"): `messages.in(reader)` gives the
// messages for an account's `locale` and `zoneinfo` (its profile), or for a page's language when
// there is no account; without it, the installation's default language and UTC.
import path from 'node:path';
import ejs from 'ejs';
import type { Email } from './transports.ts';
import type { CodePurpose } from '../factors/types.ts';
import { LANGUAGES, translator, type Language, type Translate } from '../i18n/index.ts';
import { supportedTag } from '../policy/locale.ts';
import type { RiskReason } from '../policy/risk.ts';
import { riskReasonIn } from '../i18n/risk-reasons.ts';
import { day, stamp } from '../i18n/format.ts';
import { describeLocation, UNKNOWN_BROWSER, UNKNOWN_SYSTEM } from '../devices/client-info.ts';

const VIEWS = path.resolve(import.meta.dirname, '../../views/email');

/** Who reads a message: an account's profile (`locale`, `zoneinfo`), or the page's language as `locale`. */
export interface Reader {
  locale?: string | undefined;
  zoneinfo?: string | undefined;
}

/**
 * Who a code is for, in a sign-in or a settings step: the account's own locale and zone, else the
 * page's language (an address with no account yet, or an account that names no language).
 */
export function readerOf(c: { account: { profile?: Reader | undefined }; language?: string | undefined }): Reader {
  const profile = c.account.profile ?? {};
  return profile.locale || !c.language ? profile : { ...profile, locale: c.language };
}

/**
 * A security notice's sentence as its translation (email namespace): the key and its values; a value
 * may itself be a translation (a method's name, "off", the way a code was sent), resolved first.
 */
export interface ChangeSaid {
  key: string;
  /** `{ day }`: a date, written as the reader's day (language and zone). */
  vars?: Record<string, string | number | ChangeSaid | { day: Date }>;
}

/** The sentence of `said` in the reader's language, its translated values (and days) first. */
function saidIn(t: Translate, said: ChangeSaid, clock: { day: (d: Date) => string }): string {
  const vars = Object.fromEntries(Object.entries(said.vars ?? {}).map(([name, value]) => [name,
    typeof value !== 'object' ? value : 'day' in value ? clock.day(value.day) : saidIn(t, value, clock)]));
  return t(said.key, vars);
}

/** Text between tags: &, < and > only (quotes are safe outside attributes, and English stays as it was). */
const escapeText = (s: string) => s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));

/**
 * The HTML templates' translator: the sentence escaped, its values escaped, except a value given
 * as `{ html }` (markup the template itself wrote around an escaped value: a link, a <strong>).
 * Its result is HTML, printed with `<%- rich.t(…) %>`.
 */
export function richTranslator(t: Translate) {
  return {
    escape: (s: string) => ejs.escapeXML(s),
    t(key: string, vars: Record<string, unknown> = {}): string {
      // each string value stands in the sentence as a numbered mark, so sentence and values are escaped apart
      const values: string[] = [];
      const marked: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(vars)) {
        if (value && typeof value === 'object' && 'html' in value) marked[name] = `\u0000${values.push(String((value as { html: unknown }).html)) - 1}h\u0000`;
        else if (typeof value === 'string') marked[name] = `\u0000${values.push(ejs.escapeXML(value)) - 1}v\u0000`;
        else marked[name] = value;
      }
      return t(key, marked).split(/\u0000(\d+)[hv]\u0000/).map((part, i) => (i % 2 ? values[Number(part)]! : escapeText(part))).join('');
    },
  };
}

/** A plain-text table of labels and values, the labels padded to one column. */
const table = (rows: [string, string][]) => {
  const width = Math.max(...rows.map(([label]) => label.length + 1)) + 2;
  return rows.map(([label, value]) => `    ${`${label}:`.padEnd(width)}${value}`).join('\n');
};

/** Each email template is read and compiled once per process (ejs's cache, by file name). */
const COMPILED = { cache: true } as const;

async function render(name: string, lang: Language, t: Translate, data: Record<string, unknown>): Promise<{ text: string; html: string }> {
  const [html, text] = await Promise.all([
    ejs.renderFile(path.join(VIEWS, `${name}.html.ejs`), { ...data, lang, t, rich: richTranslator(t) }, COMPILED),
    ejs.renderFile(path.join(VIEWS, `${name}.text.ejs`), { ...data, lang, t, table }, COMPILED),
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
  /** The same messages for `reader`: in the language of its `locale` (else the default) and its time zone. */
  in(reader?: Reader): CodeMessages;
  /** A new-device sign-in, to the account (member unset) or to an organisation admin about a member. */
  newDevice(to: string, seen: Whereabouts, about?: { member: string; organisation: string }, links?: ReactionLinks): Promise<Email>;
  /**
   * A sign-in that looked unusual, with why, to the account: the risk rules' reasons (English as
   * the rules wrote them, another language from their facts) or plain sentences.
   */
  unusualSignIn(to: string, seen: Whereabouts, reasons: (RiskReason | string)[], links?: ReactionLinks): Promise<Email>;
  /** "This wasn't me" was confirmed: a summary to the account (member unset) or a notice to an organisation admin. */
  accountSecured(to: string, device: string, seen: Whereabouts, about?: { member: string; organisation: string }): Promise<Email>;
  /** `unblock`: the link that lets the person unblock it themselves (password and an emailed code), valid `hours`. */
  deviceBlocked(to: string, seen: Whereabouts, failures: number, unblock?: { link: string; hours: number }): Promise<Email>;
  /**
   * Device-bound trust: repeated sign-ins with a trusted device's cookie but without its device key
   * (a possible copied cookie; the second factor was asked each time). `device`: its name.
   */
  copiedCookie(to: string, device: string, seen: Whereabouts, failures: number): Promise<Email>;
  /** Sign-ins from new devices are paused after too many wrong passwords (once per lockout). */
  accountLocked(to: string, seen: Whereabouts, minutes: number): Promise<Email>;
  deviceTrusted(to: string, name: string, until: Date, replaced?: string): Promise<Email>;
  deviceTrustedSms(name: string, until: Date): string;
  /** A change in the account security center (password, PIN, second factor, phones, sessions); `said`: the sentence's translation (email namespace), else `change` as it is. */
  securityChange(to: string, change: string, seen: Whereabouts, said?: ChangeSaid): Promise<Email>;
  /**
   * A step of an assisted recovery, to the account: asked for (`seen`: when and from where),
   * approved (`until`: the factors go after it), rejected or cancelled; `cancel`: the cancel link.
   */
  assistedRecovery(to: string, step: RecoveryStep, facts: { seen?: Whereabouts; until?: Date; cancel?: string }): Promise<Email>;
  /** The text an approval sends to the verified mobile number: the reset's moment and the cancel link. */
  assistedRecoverySms(until: Date, cancel: string): string;
  /**
   * To an administrator: a webhook endpoint was turned off after `event` failed for 24 hours;
   * `link` opens it in the console, `own` in an organisation admin's security center.
   */
  webhookDisabled(to: string, endpoint: { url: string; description?: string | undefined }, event: string, link: string, own?: string): Promise<Email>;
  /** An account an admin created without a password: the set-password link, valid `hours`. */
  invitation(to: string, link: string, hours: number): Promise<Email>;
  /** An admin reset the password: the old one no longer works; the set-password link, valid `hours`. */
  passwordResetByAdmin(to: string, link: string, hours: number): Promise<Email>;
  /** An admin removed every two-factor method of the account. */
  mfaReset(to: string): Promise<Email>;
  /** An admin set an already verified phone number (`number` masked) on the account; `primary`: it is now the primary one. */
  phoneSetByAdmin(to: string, number: string, primary: boolean): Promise<Email>;
  /** A code proving control of an email address: the account's new one (email-change) or its own (email-verify). */
  emailAddressCode(to: string, code: string, minutes: number, purpose: 'email-change' | 'email-verify'): Promise<Email>;
  /** To the address an account left: it now signs in with `newAddress` (masked), changed then and from there. */
  emailChanged(to: string, newAddress: string, seen: Whereabouts): Promise<Email>;
  /** "Forgot password?": the code that lets the person set a new password, valid `minutes`. */
  passwordResetCode(to: string, code: string, minutes: number): Promise<Email>;
  /** Sign-up: the code that confirms a new account's address, valid `minutes`. */
  signUpCode(to: string, code: string, minutes: number): Promise<Email>;
  /** Sign-up with an address that already has an account: no code, how to sign in or reset the password instead. */
  signUpAttempt(to: string): Promise<Email>;
}

export type RecoveryStep = 'requested' | 'approved' | 'rejected' | 'cancelled';

/** Each assisted-recovery step's subject, first sentence and advice (literal keys: the translations test sees them). */
const RECOVERY_STEPS: Record<RecoveryStep, { subject: string; headline: string; detail: string }> = {
  requested: { subject: 'email:assistedRecovery.requested.subject', headline: 'email:assistedRecovery.requested.headline', detail: 'email:assistedRecovery.requested.detail' },
  approved: { subject: 'email:assistedRecovery.approved.subject', headline: 'email:assistedRecovery.approved.headline', detail: 'email:assistedRecovery.approved.detail' },
  rejected: { subject: 'email:assistedRecovery.rejected.subject', headline: 'email:assistedRecovery.rejected.headline', detail: 'email:assistedRecovery.rejected.detail' },
  cancelled: { subject: 'email:assistedRecovery.cancelled.subject', headline: 'email:assistedRecovery.cancelled.headline', detail: 'email:assistedRecovery.cancelled.detail' },
};

/** The keys of what a code confirms, in the subject and the first sentence (literal, so the translations test sees them). */
const ACTIONS: Record<CodePurpose, { subject: string; intro: string }> = {
  'sign-in': { subject: 'email:code.subject.signIn', intro: 'email:code.intro.signIn' },
  'new-device': { subject: 'email:code.subject.signIn', intro: 'email:code.intro.newDevice' },
  'device-trust': { subject: 'email:code.subject.deviceTrust', intro: 'email:code.intro.deviceTrust' },
  'device-remove': { subject: 'email:code.subject.deviceRemove', intro: 'email:code.intro.deviceRemove' },
  'phone-verify': { subject: 'email:code.subject.phoneVerify', intro: 'email:code.intro.phoneVerify' },
  'device-unblock': { subject: 'email:code.subject.deviceUnblock', intro: 'email:code.intro.deviceUnblock' },
  'email-change': { subject: 'email:code.subject.emailChange', intro: 'email:code.intro.emailChange' },
  'email-verify': { subject: 'email:code.subject.emailVerify', intro: 'email:code.intro.emailVerify' },
  'sign-up': { subject: 'email:code.subject.signUp', intro: 'email:code.intro.signUp' },
  'password-reset': { subject: 'email:code.subject.passwordReset', intro: 'email:code.intro.passwordReset' },
};

/** How a message writes moments: as the pages do (i18n/format.ts), in the reader's language and zone. */
const clockFor = (lang: Language, zoneinfo: string | undefined) => ({
  when: (d: Date) => stamp(d, zoneinfo, lang),
  day: (d: Date) => day(d, zoneinfo, lang),
});

const UNKNOWN_LOCATION = describeLocation(undefined);

export function createMessages(productName = 'Tessera', lifetimeMinutes = 15, defaultLanguage: string = 'en'): CodeMessages {
  const fallback = supportedTag(defaultLanguage, LANGUAGES) as Language | undefined ?? 'en';
  const made = new Map<string, CodeMessages>();
  const forReader = (reader?: Reader): CodeMessages => {
    const lang = (supportedTag(reader?.locale, LANGUAGES) as Language | undefined) ?? fallback;
    const id = `${lang} ${reader?.zoneinfo ?? ''}`;
    if (!made.has(id)) made.set(id, build(lang, reader?.zoneinfo));
    return made.get(id)!;
  };

  function build(lang: Language, zoneinfo: string | undefined): CodeMessages {
    const t = translator(lang);
    const clock = clockFor(lang, zoneinfo);
    const view = (name: string, data: Record<string, unknown>) => render(name, lang, t, { productName, ...data });
    const place = (seen: Whereabouts) => ({
      when: clock.when(seen.at), ip: seen.ip ?? t('email:place.unknown'),
      where: seen.where === UNKNOWN_LOCATION ? t('email:place.unknownLocation') : seen.where,
      // a request that named no browser or system: "unknown" in the reader's language (English keeps its stand-ins)
      browser: seen.browser === 'unknown' || (seen.browser === UNKNOWN_BROWSER && lang !== 'en') ? t('email:place.unknown') : seen.browser,
      os: seen.os === 'unknown' || (seen.os === UNKNOWN_SYSTEM && lang !== 'en') ? t('email:place.unknown') : seen.os,
    });
    const codeSubject = (code: string, purpose: CodePurpose) => t(ACTIONS[purpose].subject, { code, productName });
    const self: CodeMessages = {
      in: forReader,
      async signInCode(to, code, minutes = lifetimeMinutes, purpose = 'sign-in') {
        const subject = codeSubject(code, purpose);
        return { to, subject, ...(await view('sign-in-code', { subject, code, lifetimeMinutes: minutes, intro: ACTIONS[purpose].intro, signingIn: purpose === 'sign-in' || purpose === 'new-device' })) };
      },
      async recoveryCodeUsed(to, left) {
        return { to, subject: t('email:recoveryCodeUsed.subject', { productName }), ...(await view('recovery-code-used', { left })) };
      },
      smsCode: (code, minutes = lifetimeMinutes, purpose = 'sign-in') => t('email:code.sms', { subject: codeSubject(code, purpose), count: minutes }),
      async newDevice(to, seen, about, links) {
        const subject = about ? t('email:newDevice.subjectAdmin', { member: about.member }) : t('email:newDevice.subject', { productName });
        return { to, subject, ...(await view('new-device', { ...place(seen), member: about?.member, organisation: about?.organisation, links })) };
      },
      async unusualSignIn(to, seen, reasons, links) {
        const why = reasons.map((r) => (typeof r === 'string' ? r : lang === 'en' ? r.text : riskReasonIn(t, lang, r)));
        return { to, subject: t('email:unusualSignIn.subject', { productName }), ...(await view('unusual-sign-in', { ...place(seen), reasons: why, links })) };
      },
      async accountSecured(to, device, seen, about) {
        const subject = about ? t('email:accountSecured.subjectAdmin', { member: about.member }) : t('email:accountSecured.subject', { productName });
        return { to, subject, ...(await view('account-secured', { device, ...place(seen), member: about?.member, organisation: about?.organisation })) };
      },
      async deviceBlocked(to, seen, failures, unblock) {
        return { to, subject: t('email:deviceBlocked.subject', { productName }), ...(await view('device-blocked', { failures, ...place(seen), unblock })) };
      },
      async copiedCookie(to, device, seen, failures) {
        return { to, subject: t('email:copiedCookie.subject', { productName }), ...(await view('copied-cookie', { device, failures, ...place(seen) })) };
      },
      async accountLocked(to, seen, minutes) {
        return { to, subject: t('email:accountLocked.subject', { productName }), ...(await view('account-locked', { minutes, ...place(seen) })) };
      },
      async deviceTrusted(to, name, until, replaced) {
        return { to, subject: t('email:deviceTrusted.subject', { name }), ...(await view('device-trusted', { name, until: clock.when(until), replaced })) };
      },
      async securityChange(to, change, seen, said) {
        const sentence = said ? saidIn(t, said, clock) : change;
        return { to, subject: t('email:securityChange.subject', { productName }), ...(await view('security-change', { change: sentence, ...place(seen) })) };
      },
      async assistedRecovery(to, step, facts) {
        const keys = RECOVERY_STEPS[step];
        const until = facts.until ? clock.when(facts.until) : undefined;
        const headline = t(keys.headline, { ...(facts.seen ? place(facts.seen) : {}), ...(until ? { until } : {}) });
        return { to, subject: t(keys.subject, { productName }), ...(await view('recovery-notice', { headline, detail: t(keys.detail), cancel: facts.cancel, until })) };
      },
      assistedRecoverySms: (until, cancel) => t('email:assistedRecovery.approved.sms', { productName, until: clock.when(until), link: cancel }),
      async webhookDisabled(to, endpoint, event, link, own) {
        const reason = t('email:webhookDisabled.failing', { event });
        return { to, subject: t('email:webhookDisabled.subject', { productName }), ...(await view('webhook-disabled', { url: endpoint.url, description: endpoint.description, reason, link, own })) };
      },
      async invitation(to, link, hours) {
        return { to, subject: t('email:invitation.subject', { productName }), ...(await view('invitation', { email: to, link, hours })) };
      },
      async passwordResetByAdmin(to, link, hours) {
        return { to, subject: t('email:passwordResetByAdmin.subject', { productName }), ...(await view('password-reset-by-admin', { email: to, link, hours })) };
      },
      async mfaReset(to) {
        return { to, subject: t('email:mfaReset.subject', { productName }), ...(await view('mfa-reset', { email: to })) };
      },
      async phoneSetByAdmin(to, number, primary) {
        const use = primary ? t('email:phoneSetByAdmin.primary') : t('email:phoneSetByAdmin.notPrimary');
        return { to, subject: t('email:phoneSetByAdmin.subject', { productName }), ...(await view('phone-set-by-admin', { email: to, number, use })) };
      },
      async emailAddressCode(to, code, minutes, purpose) {
        return { to, subject: codeSubject(code, purpose), ...(await view('email-address-code', { code, lifetimeMinutes: minutes, intro: ACTIONS[purpose].intro, newAddress: purpose === 'email-change' })) };
      },
      async emailChanged(to, newAddress, seen) {
        return { to, subject: t('email:emailChanged.subject', { productName }), ...(await view('email-changed', { newAddress, ...place(seen) })) };
      },
      async passwordResetCode(to, code, minutes) {
        return { to, subject: codeSubject(code, 'password-reset'), ...(await view('password-reset-code', { code, lifetimeMinutes: minutes })) };
      },
      async signUpCode(to, code, minutes) {
        return { to, subject: codeSubject(code, 'sign-up'), ...(await view('sign-up-code', { code, lifetimeMinutes: minutes, intro: ACTIONS['sign-up'].intro })) };
      },
      async signUpAttempt(to) {
        // never a code: nothing this email holds creates or changes an account
        return { to, subject: t('email:signUpAttempt.subject', { productName }), ...(await view('sign-up-attempt', { email: to })) };
      },
      deviceTrustedSms: (name, until) => t('email:deviceTrusted.sms', { productName, name, day: clock.day(until) }),
      voiceCode: (code) => t('email:code.voice', { productName, digits: code.split('').join(', ') }),
    };
    return self;
  }

  return forReader(undefined);
}
