// Codes by text message (amr sms) and by a voice call that reads them out (amr tel), to the
// account's verified primary mobile number; without one both are shown disabled with the reason.
// They count on the owner's own daily allowance for that number (limits/phone-caps.ts).
import type { Challenges } from '../challenges.ts';
import type { Transports } from '../../notify/transports.ts';
import { readerOf, type CodeMessages } from '../../notify/messages.ts';
import type { FactorAccount, FactorContext, SecondFactorModule } from '../types.ts';
import type { PhoneSendCheck } from '../../limits/phone-caps.ts';
import { createCodeFactor } from '../code-factor.ts';

export interface PhoneDeps {
  challenges: Challenges;
  transports: Transports;
  messages: CodeMessages;
  clock: () => Date;
  /** The account's verified primary mobile number (E.164), if any. */
  verifiedPhone(account: FactorAccount): Promise<string | undefined>;
  /** The daily caps on texts and calls. */
  phoneSends: PhoneSendCheck;
}

/** A code to the account's own verified number. */
const ownNumber = (deps: PhoneDeps) => (to: string, c: FactorContext) => deps.phoneSends({ accountId: c.account.id, number: to, verified: true, ...(c.ip ? { ip: c.ip } : {}) });

const NO_PHONE = 'no verified mobile number';
export const maskPhone = (e164: string) => `${e164.slice(0, 3)}${'•'.repeat(Math.max(0, e164.length - 5))}${e164.slice(-2)}`;

export function smsFactor(deps: PhoneDeps): SecondFactorModule {
  return createCodeFactor({
    id: 'sms', label: 'Text me a code', destination: deps.verifiedPhone, unavailableReason: NO_PHONE, allowSend: ownNumber(deps),
    deliver: (to, code, minutes, purpose, c) => deps.transports.sms(to, deps.messages.in(readerOf(c)).smsCode(code, minutes, purpose)),
    describe: (to) => `We texted a 6-digit code to ${maskPhone(to)}.`,
    said: (to) => ({ key: 'interaction:prompt.texted', vars: { to: maskPhone(to) } }),
  }, deps);
}

export function voiceFactor(deps: PhoneDeps): SecondFactorModule {
  return createCodeFactor({
    id: 'voice', label: 'Call me with a code', destination: deps.verifiedPhone, unavailableReason: NO_PHONE, allowSend: ownNumber(deps),
    deliver: (to, code, _minutes, _purpose, c) => deps.transports.voice(to, deps.messages.in(readerOf(c)).voiceCode(code)),
    describe: (to) => `We are calling ${maskPhone(to)} to read out a 6-digit code.`,
    said: (to) => ({ key: 'interaction:prompt.called', vars: { to: maskPhone(to) } }),
  }, deps);
}
