// What a person reads when an entered code is not accepted, for every code-based factor.
import type { VerifyResult } from './challenges.ts';

export function codeVerificationMessage(result: Exclude<VerifyResult, { ok: true }>): string {
  switch (result.reason) {
    case 'wrong': {
      const left = result.state?.attemptsLeft ?? 0;
      return `That code is not right. ${left} ${left === 1 ? 'try' : 'tries'} left.`;
    }
    case 'locked': return 'Too many wrong codes. Use "Resend" to get a new code.';
    case 'expired': return 'This code expired. Use "Resend" to get a new one.';
    case 'used': return 'That code was already used.';
    case 'missing': return 'There is no code for this sign-in. Start again.';
  }
}
