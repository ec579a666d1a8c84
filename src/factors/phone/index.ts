// Codes by text message (amr sms) and by a voice call that reads them out (amr tel), to the
// account's verified primary mobile number; without one both are shown disabled with the reason.
import type { Challenges } from '../challenges.ts';
import type { Transports } from '../../notify/transports.ts';
import type { CodeMessages } from '../../notify/messages.ts';
import type { FactorAccount, SecondFactorModule } from '../types.ts';
import { createCodeFactor } from '../code-factor.ts';

export interface PhoneDeps {
  challenges: Challenges;
  transports: Transports;
  messages: CodeMessages;
  clock: () => Date;
  /** The account's verified primary mobile number (E.164), if any. */
  verifiedPhone(account: FactorAccount): Promise<string | undefined>;
}

const NO_PHONE = 'no verified mobile number';
export const maskPhone = (e164: string) => `${e164.slice(0, 3)}${'•'.repeat(Math.max(0, e164.length - 5))}${e164.slice(-2)}`;

export function smsFactor(deps: PhoneDeps): SecondFactorModule {
  return createCodeFactor({
    id: 'sms', label: 'Text me a code', destination: deps.verifiedPhone, unavailableReason: NO_PHONE,
    deliver: (to, code, minutes, purpose) => deps.transports.sms(to, deps.messages.smsCode(code, minutes, purpose)),
    describe: (to) => `We texted a 6-digit code to ${maskPhone(to)}.`,
  }, deps);
}

export function voiceFactor(deps: PhoneDeps): SecondFactorModule {
  return createCodeFactor({
    id: 'voice', label: 'Call me with a code', destination: deps.verifiedPhone, unavailableReason: NO_PHONE,
    deliver: (to, code) => deps.transports.voice(to, deps.messages.voiceCode(code)),
    describe: (to) => `We are calling ${maskPhone(to)} to read out a 6-digit code.`,
  }, deps);
}
