// The common-password check (NIST SP 800-63B-4 §3.1.1.2: new passwords are compared against lists
// of commonly used, expected or compromised values). zxcvbn-ts holds those lists (breached
// passwords, common names and words, keyboard patterns) and scores how guessable a password is,
// counting l33t, capitalisation and appended digits, so "Password1!" is caught as "password1".
// Pure computation: no I/O.
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as en from '@zxcvbn-ts/language-en';

let checker: ZxcvbnFactory | undefined;

/** zxcvbn's scale: 0 too guessable … 3 safely unguessable … 4 very unguessable. */
export type Strength = 0 | 1 | 2 | 3 | 4;

/**
 * Why a new password is too easy to guess, or undefined when it is not. `context` holds words
 * of the account itself (email, name): a password built from them is as weak as a common one.
 */
export async function guessabilityProblem(password: string, minStrength: Strength, context: string[] = []): Promise<string | undefined> {
  if (minStrength === 0) return undefined;
  checker ??= new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...en.dictionary },
    graphs: common.adjacencyGraphs,
    translations: en.translations,
  });
  // zxcvbn's cost grows with length; a long password is checked on its first 100 characters
  const words = context.flatMap((c) => c.toLowerCase().split(/[^\p{L}\p{N}]+/u)).filter((w) => w.length >= 3);
  const result = await checker.check(password.slice(0, 100), words);
  if (result.score >= minStrength) return undefined;
  const why = result.feedback.warning ? ` (${result.feedback.warning.replace(/\.$/, '').toLowerCase()})` : '';
  return `is too common or too easy to guess${why}: choose a longer or less predictable password`;
}
