// The emailed one-time code: always available (every account has its email address); whether it
// counts toward the multi-factor level is the mfa.emailCountsAsMfa setting.
import type { Challenges } from '../challenges.ts';
import type { Transports } from '../../notify/transports.ts';
import { readerOf, type CodeMessages } from '../../notify/messages.ts';
import type { SecondFactorModule } from '../types.ts';
import { createCodeFactor } from '../code-factor.ts';

export function maskEmail(email: string): string {
  const [local = '', domain = ''] = email.split('@');
  return `${local.slice(0, 1)}${'*'.repeat(Math.max(1, Math.min(local.length - 1, 6)))}@${domain}`;
}

export function emailFactor(deps: { challenges: Challenges; transports: Transports; messages: CodeMessages; clock: () => Date }): SecondFactorModule {
  return createCodeFactor({
    id: 'email',
    label: 'Email me a code',
    destination: async (account) => account.email,
    unavailableReason: 'no email address',
    deliver: async (to, code, minutes, purpose, c) => deps.transports.email(await deps.messages.in(readerOf(c)).signInCode(to, code, minutes, purpose)),
    describe: (to) => `We emailed a 6-digit code to ${maskEmail(to)}.`,
    said: (to) => ({ key: 'interaction:prompt.emailed', vars: { to: maskEmail(to) } }),
  }, deps);
}
