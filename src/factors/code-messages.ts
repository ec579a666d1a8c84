// What a person reads when an entered code is not accepted, for every code-based factor.
import { RESEND_CAP_MESSAGE, type VerifyResult } from './challenges.ts';
import type { Said } from './types.ts';

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

/** The same sentence's translation key (locales/<language>/interaction.json). */
export function codeVerificationSaid(result: Exclude<VerifyResult, { ok: true }>): Said {
  if (result.reason === 'wrong') return { key: 'interaction:code.wrong', vars: { count: result.state?.attemptsLeft ?? 0 } };
  return { key: `interaction:code.${result.reason}` };
}

/** Why a code was not sent or sent again (limits/phone-caps.ts, challenges.ts say it in English): its translation key, if known. */
export function sendProblemSaid(problem: string): Said | undefined {
  const known: Record<string, string> = {
    'No code was sent: your phone number has had the most text messages and calls we send it in a day.': 'interaction:sendProblems.ownerCap',
    'No code was sent: this account has asked for the most codes to numbers it has not verified that are allowed in a day. Try again tomorrow.': 'interaction:sendProblems.accountCap',
    'No code was sent: the most codes to unverified numbers allowed from one network in a day were asked for. Try again tomorrow.': 'interaction:sendProblems.ipCap',
    'No code was sent: this number has had the most verification texts and calls allowed in a day. Try again tomorrow.': 'interaction:sendProblems.numberCap',
    [RESEND_CAP_MESSAGE]: 'interaction:sendProblems.resendCap',
    'The code was just sent again. Check your messages.': 'interaction:sendProblems.justSent',
    'There is no code to resend. Start again.': 'interaction:sendProblems.noResend',
    'This code can no longer be extended: use "Resend" to get a new one.': 'interaction:sendProblems.noExtend',
  };
  if (known[problem]) return { key: known[problem] };
  const soon = /^You can ask for the code again in (\d+) s\.$/.exec(problem);
  if (soon) return { key: 'interaction:sendProblems.tooSoon', vars: { count: Number(soon[1]) } };
  const longest = /^This code cannot be extended any further \(at most (\d+) minutes in all\)\.$/.exec(problem);
  return longest ? { key: 'interaction:sendProblems.extendLimit', vars: { count: Number(longest[1]) } } : undefined;
}
