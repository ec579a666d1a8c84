// The shape every "we send you a code" factor shares (email, SMS, voice): open a challenge once per
// interaction and channel, deliver it, resend on request, verify it. A factor says only where the
// code goes, whether it may go now (the daily caps on texts and calls), how it is delivered, and
// how the page describes it. The page never says a code went when it did not: a cap, a failed
// delivery (now, or when the code was made before a reload), an expired or a locked code each
// show as such, with Resend or the other methods as the way on.
import { ChallengeError, type AllowSend, type Challenges, type Channel, type ChallengeState } from './challenges.ts';
import { DeliveryError } from '../notify/transports.ts';
import type { CodePurpose, FactorAccount, FactorContext, FactorPrompt, Said, SecondFactorModule, Verification } from './types.ts';
import type { SecondFactor } from '../policy/sign-in.ts';
import { codeVerificationMessage, codeVerificationSaid, sendProblemSaid } from './code-messages.ts';

const BY: Record<DeliveryError['channel'], string> = { email: 'email', sms: 'text message', voice: 'phone call' };

export interface CodeFactorSpec {
  id: SecondFactor & Channel;
  label: string;
  /** Where the code goes for this account, or undefined when it cannot be used. */
  destination(account: FactorAccount): Promise<string | undefined>;
  unavailableReason: string;
  /** Whether a code may be sent to `to` now (texts and calls: the daily caps); throws a ChallengeError if not. */
  allowSend?(to: string, context: FactorContext): Promise<void>;
  /** Sends the code, saying it is valid for `minutes` and what it is for. */
  deliver(to: string, code: string, minutes: number, purpose: CodePurpose, context: FactorContext): Promise<void>;
  /** e.g. "We emailed a 6-digit code to a***@example.com." */
  describe(to: string): string;
  /** The same sentence's translation key and values (locales/<language>/interaction.json). */
  said?(to: string): Said;
}

const UNDELIVERED_SAID: Record<DeliveryError['channel'], string> = { email: 'interaction:prompt.undeliveredEmail', sms: 'interaction:prompt.undeliveredSms', voice: 'interaction:prompt.undeliveredVoice' };

export function createCodeFactor(spec: CodeFactorSpec, deps: { challenges: Challenges; clock: () => Date }): SecondFactorModule {
  const { challenges, clock } = deps;

  const minutesLeft = (state: ChallengeState) => Math.max(1, Math.round((state.expiresAt.getTime() - clock().getTime()) / 60_000));
  const undelivered = (channel: DeliveryError['channel']) => `We could not send the code by ${BY[channel]} right now; choose another way below, or try "Resend" in a minute.`;

  /** The page's account of a code as it stands: sent and valid, or why there is nothing to type. */
  function prompt(state: ChallengeState, to: string, problem?: string): FactorPrompt {
    const expired = state.expiresAt <= clock();
    const trouble = problem
      ?? (state.undelivered ? undelivered(spec.id) : undefined)
      ?? (expired ? 'This code expired. Use "Resend" to get a new one.' : undefined)
      ?? (state.locked ? 'Too many wrong codes. Use "Resend" to get a new code.' : undefined);
    const valid = !expired && !state.locked && !state.undelivered;
    // the same words' translations (a problem handed in from elsewhere has one when it is a known send problem; else it shows as it is)
    const troubleSaid: Said | undefined = problem ? sendProblemSaid(problem)
      : state.undelivered ? { key: UNDELIVERED_SAID[spec.id] }
        : expired ? { key: 'interaction:prompt.expired' } : state.locked ? { key: 'interaction:prompt.locked' } : undefined;
    const described = spec.said?.(to);
    const instructionsSaid: Said | undefined = state.undelivered || !described ? undefined
      : valid ? { key: `${described.key}Valid`, vars: { ...described.vars, count: minutesLeft(state) } } : described;
    return {
      input: 'code',
      instructions: state.undelivered ? '' : valid ? `${spec.describe(to)} It is valid for ${minutesLeft(state)} minute${minutesLeft(state) === 1 ? '' : 's'}.` : spec.describe(to),
      expiresAt: state.expiresAt,
      resendAt: state.resendAt,
      canResend: true,
      ...(trouble ? { problem: trouble } : {}),
      said: { ...(instructionsSaid ? { instructions: instructionsSaid } : {}), ...(troubleSaid ? { problem: troubleSaid } : {}) },
    };
  }

  /** Nothing was made or sent: a daily cap (the page offers what else there is). */
  const capped = (err: ChallengeError): FactorPrompt => {
    const said = sendProblemSaid(err.message);
    return { input: 'code', instructions: '', canResend: false, problem: err.message, capped: true, ...(said ? { said: { problem: said } } : {}) };
  };
  const isCap = (err: unknown): err is ChallengeError => err instanceof ChallengeError && err.code === 'send_limit';

  async function deliver(c: FactorContext, to: string, code: string, state: ChallengeState): Promise<ChallengeState> {
    try {
      await spec.deliver(to, code, minutesLeft(state), c.purpose, c);
      return state;
    } catch (err) {
      // the user is told plainly and offered the other channels; the challenge and the sign-in
      // stay as they are, and remember that this code did not go out (the provider's detail is in
      // err.message, not for the page)
      if (!(err instanceof DeliveryError)) throw err;
      await challenges.undelivered(c.scope, c.purpose, spec.id);
      return { ...state, undelivered: true };
    }
  }

  const allowSend = (to: string, c: FactorContext): AllowSend | undefined => (spec.allowSend ? () => spec.allowSend!(to, c) : undefined);

  async function to(account: FactorAccount): Promise<string> {
    const destination = await spec.destination(account);
    if (!destination) throw new ChallengeError('missing', spec.unavailableReason);
    return destination;
  }

  /**
   * The challenge as it is, shown with a problem: an expired or locked code stays so (only Resend
   * makes a new one); only when there is none at all is one made and delivered.
   */
  async function current(c: FactorContext, destination: string, problem: string): Promise<FactorPrompt> {
    const existing = await challenges.peek(c.scope, c.purpose, spec.id, c.account.id);
    if (existing) return prompt(existing, destination, problem);
    return begin(c);
  }

  async function begin(c: FactorContext): Promise<FactorPrompt> {
    const destination = await to(c.account);
    try {
      const { state, code } = await challenges.open(c.scope, c.purpose, spec.id, c.account.id, { allowSend: allowSend(destination, c), ...(c.restart ? { restart: true } : {}) });
      return prompt(code ? await deliver(c, destination, code, state) : state, destination);
    } catch (err) {
      if (isCap(err)) return capped(err);
      throw err;
    }
  }

  return {
    id: spec.id,
    label: spec.label,
    async availability(account) {
      return (await spec.destination(account)) ? { available: true } : { available: false, reason: spec.unavailableReason };
    },
    begin,
    async resend(c) {
      const destination = await to(c.account);
      try {
        const { state, code } = await challenges.resend(c.scope, c.purpose, spec.id, c.account.id, allowSend(destination, c));
        return prompt(await deliver(c, destination, code, state), destination);
      } catch (err) {
        if (!(err instanceof ChallengeError)) throw err;
        const now = await current(c, destination, err.message);
        return isCap(err) ? { ...now, capped: true } : now;
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
      return { ok: false, message: codeVerificationMessage(result), said: codeVerificationSaid(result) };
    },
  };
}
