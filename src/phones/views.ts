// What the contacts pages show: view models of phones (never the stored documents) and the code
// prompt rebuilt from a challenge's state when the code page is opened again. Pure.
import type { ChallengeState } from '../factors/challenges.ts';
import type { FactorPrompt, Said } from '../factors/types.ts';
import { day } from '../i18n/format.ts';
import { displayNumber } from './numbers.ts';
import type { Phone } from './store.ts';

/** A refused change shows its form again as it was sent. */
export interface Retry {
  form: 'add' | 'change' | 'delete';
  id: string | undefined;
  number: string;
}

const TYPES: Record<Phone['type'], string> = { mobile: 'Mobile', landline: 'Landline', other: 'Other' };

export function phoneView(phone: Phone, retry?: Retry, zone?: string, locale = 'en') {
  const open = retry !== undefined && retry.form !== 'add' && retry.id === phone.id;
  return {
    id: phone.id,
    number: phone.number,
    /** As people read it (international format). */
    shown: displayNumber(phone.number),
    type: TYPES[phone.type],
    /** mobile, landline or other: the page says it in its language */
    kind: phone.type,
    active: phone.status === 'active',
    status: phone.status === 'active' ? 'Active' : 'Unverified',
    primary: phone.primary,
    canText: phone.type !== 'landline',
    canBePrimary: phone.status === 'active' && phone.type === 'mobile' && !phone.primary,
    added: day(phone.addedAt, zone, locale),
    verified: phone.verifiedAt && day(phone.verifiedAt, zone, locale),
    open,
    changeNumber: open && retry.form === 'change' ? retry.number : '',
  };
}

/**
 * The prompt for a code already sent: how it went, and an expired or locked code's way forward;
 * `said` is `describe`'s translation (the page in another language says both through it).
 */
export function codePrompt(state: ChallengeState, describe: string, now: Date, withProblem = true, said?: Said): FactorPrompt {
  const expired = state.expiresAt <= now;
  const minutes = Math.max(1, Math.round((state.expiresAt.getTime() - now.getTime()) / 60_000));
  const problem = state.undelivered ? 'We could not send the code right now; try "Resend" in a minute, or the other way (text or call).'
    : expired ? 'This code expired. Use "Resend" to get a new one.' : state.locked ? 'Too many wrong codes. Use "Resend" to get a new code.' : undefined;
  return {
    input: 'code',
    instructions: state.undelivered ? '' : expired ? describe : `${describe} It is valid for ${minutes} minute${minutes === 1 ? '' : 's'}.`,
    expiresAt: state.expiresAt,
    resendAt: state.resendAt,
    canResend: true,
    ...(withProblem && problem ? { problem } : {}),
    said: {
      ...(said && !state.undelivered ? { instructions: expired ? said : { key: `${said.key}Valid`, vars: { ...said.vars, count: minutes } } } : {}),
      ...(withProblem && problem ? { problem: { key: state.undelivered ? 'account:phones.undelivered' : expired ? 'interaction:prompt.expired' : 'interaction:prompt.locked' } } : {}),
    },
  };
}
