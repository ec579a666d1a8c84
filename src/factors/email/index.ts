// The emailed one-time code: always available (every account has a verified-at-signup email
// address); whether it counts toward the multi-factor level is the mfa.emailCountsAsMfa setting.
import type { Challenges, ChallengeState } from '../challenges.ts';
import { ChallengeError } from '../challenges.ts';
import { DeliveryError, type Transports } from '../../notify/transports.ts';
import type { CodeMessages } from '../../notify/messages.ts';
import type { FactorPrompt, SecondFactorModule, Verification } from '../types.ts';
import { codeVerificationMessage } from '../code-messages.ts';

export function maskEmail(email: string): string {
  const [local = '', domain = ''] = email.split('@');
  return `${local.slice(0, 1)}${'*'.repeat(Math.max(1, Math.min(local.length - 1, 6)))}@${domain}`;
}

export function emailFactor(deps: { challenges: Challenges; transports: Transports; messages: CodeMessages; clock: () => Date }): SecondFactorModule {
  const { challenges, transports, messages, clock } = deps;
  const prompt = (state: ChallengeState, email: string, problem?: string): FactorPrompt => ({
    input: 'code',
    instructions: `We emailed a 6-digit code to ${maskEmail(email)}. It is valid for ${Math.round((state.expiresAt.getTime() - clock().getTime()) / 60_000)} minutes.`,
    expiresAt: state.expiresAt,
    resendAt: state.resendAt,
    canResend: true,
    ...(problem ? { problem } : {}),
  });

  async function deliver(email: string, code: string): Promise<string | undefined> {
    try {
      await transports.email(await messages.signInCode(email, code));
      return undefined;
    } catch (err) {
      if (err instanceof DeliveryError) return `We could not send the email (${err.message}). Try "Resend" in a minute, or use another method.`;
      throw err;
    }
  }

  return {
    id: 'email',
    label: 'Email me a code',
    availability: async () => ({ available: true }),
    async begin({ account, scope, purpose }) {
      const { state, code } = await challenges.open(scope, purpose, 'email', account.id);
      const problem = code ? await deliver(account.email, code) : undefined;
      return prompt(state, account.email, problem);
    },
    async resend({ account, scope, purpose }) {
      try {
        const { state, code } = await challenges.resend(scope, purpose, 'email', account.id);
        return prompt(state, account.email, await deliver(account.email, code));
      } catch (err) {
        if (!(err instanceof ChallengeError)) throw err;
        const { state } = await challenges.open(scope, purpose, 'email', account.id);
        return prompt(state, account.email, err.message);
      }
    },
    async verify({ account, scope, purpose }, answer): Promise<Verification> {
      const result = await challenges.verify(scope, purpose, 'email', account.id, answer.trim());
      if (result.ok) return { ok: true, proof: { factor: 'email', at: Math.floor(clock().getTime() / 1000) } };
      return { ok: false, message: codeVerificationMessage(result) };
    },
  };
}
