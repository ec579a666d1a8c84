// The shape every "we send you a code" factor shares (email, SMS, voice): open a challenge once per
// interaction and channel, deliver it, resend on request, verify it. A factor says only where the
// code goes, how it is delivered, and how the page describes it.
import { ChallengeError, type Challenges, type Channel, type ChallengeState } from './challenges.ts';
import { DeliveryError } from '../notify/transports.ts';
import type { CodePurpose, FactorAccount, FactorContext, FactorPrompt, SecondFactorModule, Verification } from './types.ts';
import type { SecondFactor } from '../policy/sign-in.ts';
import { codeVerificationMessage } from './code-messages.ts';

const BY: Record<DeliveryError['channel'], string> = { email: 'email', sms: 'text message', voice: 'phone call' };

export interface CodeFactorSpec {
  id: SecondFactor & Channel;
  label: string;
  /** Where the code goes for this account, or undefined when it cannot be used. */
  destination(account: FactorAccount): Promise<string | undefined>;
  unavailableReason: string;
  /** Sends the code, saying it is valid for `minutes` and what it is for. */
  deliver(to: string, code: string, minutes: number, purpose: CodePurpose): Promise<void>;
  /** e.g. "We emailed a 6-digit code to a***@example.com." */
  describe(to: string): string;
}

export function createCodeFactor(spec: CodeFactorSpec, deps: { challenges: Challenges; clock: () => Date }): SecondFactorModule {
  const { challenges, clock } = deps;

  const minutesLeft = (state: ChallengeState) => Math.max(1, Math.round((state.expiresAt.getTime() - clock().getTime()) / 60_000));
  const prompt = (state: ChallengeState, to: string, problem?: string): FactorPrompt => ({
    input: 'code',
    instructions: `${spec.describe(to)} It is valid for ${minutesLeft(state)} minute${minutesLeft(state) === 1 ? '' : 's'}.`,
    expiresAt: state.expiresAt,
    resendAt: state.resendAt,
    canResend: true,
    ...(problem ? { problem } : {}),
  });

  async function deliver(to: string, code: string, state: ChallengeState, purpose: CodePurpose): Promise<string | undefined> {
    try {
      await spec.deliver(to, code, minutesLeft(state), purpose);
      return undefined;
    } catch (err) {
      // the user is told plainly and offered the other channels; the challenge and the sign-in
      // stay as they are (the provider's detail is in err.message, not for the page)
      if (err instanceof DeliveryError) return `We could not send the code by ${BY[err.channel]} right now; choose another way below, or try "Resend" in a minute.`;
      throw err;
    }
  }

  async function to(account: FactorAccount): Promise<string> {
    const destination = await spec.destination(account);
    if (!destination) throw new ChallengeError('missing', spec.unavailableReason);
    return destination;
  }

  /**
   * The challenge as it is, shown with a problem: an expired or locked code stays so (only Resend
   * makes a new one); only when there is none at all is one made and delivered.
   */
  async function current({ account, scope, purpose }: FactorContext, destination: string, problem: string): Promise<FactorPrompt> {
    const existing = await challenges.peek(scope, purpose, spec.id, account.id);
    if (existing) return prompt(existing, destination, problem);
    const { state, code } = await challenges.open(scope, purpose, spec.id, account.id);
    return prompt(state, destination, (code ? await deliver(destination, code, state, purpose) : undefined) ?? problem);
  }

  return {
    id: spec.id,
    label: spec.label,
    async availability(account) {
      return (await spec.destination(account)) ? { available: true } : { available: false, reason: spec.unavailableReason };
    },
    async begin({ account, scope, purpose }) {
      const destination = await to(account);
      const { state, code } = await challenges.open(scope, purpose, spec.id, account.id);
      return prompt(state, destination, code ? await deliver(destination, code, state, purpose) : undefined);
    },
    async resend({ account, scope, purpose }) {
      const destination = await to(account);
      try {
        const { state, code } = await challenges.resend(scope, purpose, spec.id, account.id);
        return prompt(state, destination, await deliver(destination, code, state, purpose));
      } catch (err) {
        if (!(err instanceof ChallengeError)) throw err;
        return current({ account, scope, purpose }, destination, err.message);
      }
    },
    async extend({ account, scope, purpose }) {
      const destination = await to(account);
      try {
        return prompt(await challenges.extend(scope, purpose, spec.id, account.id), destination);
      } catch (err) {
        if (!(err instanceof ChallengeError)) throw err;
        return current({ account, scope, purpose }, destination, err.message);
      }
    },
    async verify({ account, scope, purpose }, answer): Promise<Verification> {
      const result = await challenges.verify(scope, purpose, spec.id, account.id, answer.trim());
      if (result.ok) return { ok: true, proof: { factor: spec.id, at: Math.floor(clock().getTime() / 1000) } };
      return { ok: false, message: codeVerificationMessage(result) };
    },
  };
}
