// A refused new password in the page's language. The pure policy (policy/password.ts) and the
// account store word their verdicts in English, which tests and logs read; the pages translate
// them here from the rule set's own values (which rule, how many characters), so the policy stays
// as it is. A verdict these words do not know is shown as it came.
import type { Translate } from '../i18n/index.ts';
import type { PasswordRules } from '../policy/password.ts';

/** "The new password needs …" for each rule `passwordProblems` found broken. */
export function brokenRuleWords(t: Translate, rules: PasswordRules, broken: string[]): string[] {
  const known = new Map<string, string>([
    [`at least ${rules.minLength} characters`, t('account:password.rules.minLength', { count: rules.minLength })],
    ['an upper-case letter', t('account:password.rules.upper')],
    ['a lower-case letter', t('account:password.rules.lower')],
    ['a digit', t('account:password.rules.digit')],
    [`one of ${rules.symbols}`, t('account:password.rules.symbols', { symbols: rules.symbols })],
    ['at most 256 characters', t('account:weakPassword.maxLength', { max: 256 })],
  ]);
  return broken.map((rule) => t('account:weakPassword.needs', { rule: known.get(rule) ?? rule }));
}

/**
 * The store's sentence on a weak password (accounts/store.ts newPasswordProblem, lower-case, no
 * full stop) as a sentence of the page: an English page keeps every word of it (the guessability
 * checker's own reason included); another language says the same without the English reason.
 */
export function weakPasswordWords(t: Translate, rules: PasswordRules, problem: string, english: boolean): string {
  const sentence = `${problem[0]!.toUpperCase()}${problem.slice(1)}.`;
  if (english) return sentence;
  const needs = /^the password needs (.+)$/.exec(problem);
  if (needs) return brokenRuleWords(t, rules, needs[1]!.split(', ')).join(' ');
  const personal = /^the password contains your name or email address \("(.*)"\): choose one without it$/.exec(problem);
  if (personal) return t('account:weakPassword.personal', { word: personal[1]! });
  const guessable = /^the password is too common or too easy to guess( \(.*\))?: choose a longer or less predictable password$/.exec(problem);
  if (guessable) return t('account:weakPassword.guessable');
  if (problem === 'the new password must differ from the current one') return t('account:weakPassword.same');
  return sentence;
}
