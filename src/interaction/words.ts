// What the sign-in pages say in the page's language where the words come from elsewhere: the
// methods' names and why one cannot be used (the factor registry speaks English), and the risk
// policy's reasons (policy/risk.ts keeps English for logs, audit and history; its facts are here
// put into the page's language, countries by Intl); the password rules and a refused field's
// reason, and the advice when a daily cap stopped a text or call.
import type { FactorPrompt, Said } from '../factors/types.ts';
import type { RiskAssessment } from '../policy/risk.ts';
import { riskReasonIn } from '../i18n/risk-reasons.ts';
import { translator, type Translate } from '../i18n/index.ts';
import { capAdvice, NO_MORE_PHONE, type MethodChoice } from './cap-advice.ts';
import type { PasswordRules } from '../policy/password.ts';

const LABELS: Record<string, string> = {
  email: 'interaction:methods.email', sms: 'interaction:methods.sms', voice: 'interaction:methods.voice',
  totp: 'interaction:methods.totp', webauthn: 'interaction:methods.webauthn', recovery: 'interaction:methods.recovery',
};

/** The factors' English reasons (factors/*) and their keys. */
const REASONS: Record<string, string> = {
  'no verified mobile number': 'interaction:unavailable.noPhone',
  'no email address': 'interaction:unavailable.noEmail',
  'no authenticator app set up': 'interaction:unavailable.noApp',
  'no security key or passkey registered': 'interaction:unavailable.noKey',
  'no recovery codes left': 'interaction:unavailable.noRecoveryCodes',
  [NO_MORE_PHONE]: 'interaction:unavailable.noMorePhone',
};

/** A method choice with its name's (and its reason's) translation beside the English. */
export function saidOption<T extends { id: string; availability: { available: boolean; reason?: string } }>(o: T): T & { labelSaid?: Said; reasonSaid?: Said } {
  const label = LABELS[o.id];
  const reason = o.availability.available ? undefined : REASONS[o.availability.reason ?? ''];
  return { ...o, ...(label ? { labelSaid: { key: label } } : {}), ...(reason ? { reasonSaid: { key: reason } } : {}) };
}

/** The one sentence a step page shows about a risk-raised sign-in, in `locale` (policy/risk.ts riskSentence in English). */
export function riskSentenceIn(locale: string, a: Pick<RiskAssessment, 'reasons'>): string | undefined {
  if (!a.reasons.length) return undefined;
  const t = translator(locale);
  return t('interaction:risk.sentence', { reasons: a.reasons.map((r) => riskReasonIn(t, locale, r)).join(t('interaction:risk.separator')) });
}

/** The password rule set in the page's language (policy/password.ts describeRules says it in English). */
export function ruleWords(t: Translate, rules: PasswordRules): string[] {
  return [
    t('interaction:password.rules.minLength', { count: rules.minLength }),
    ...(rules.requireUpper ? [t('interaction:password.rules.upper')] : []),
    ...(rules.requireLower ? [t('interaction:password.rules.lower')] : []),
    ...(rules.requireDigit ? [t('interaction:password.rules.digit')] : []),
    ...(rules.symbols ? [t('interaction:password.rules.symbols', { symbols: rules.symbols })] : []),
    t('interaction:password.rules.notName'),
    t('interaction:password.rules.notCommon'),
  ];
}

/** One of policy/password.ts passwordProblems' English rule fragments, in the page's language (unknown: as it is). */
export function ruleIn(t: Translate, rule: string): string {
  const fixed: Record<string, string> = {
    'an upper-case letter': 'interaction:password.rules.upper', 'a lower-case letter': 'interaction:password.rules.lower', 'a digit': 'interaction:password.rules.digit',
  };
  if (fixed[rule]) return t(fixed[rule]);
  const least = /^at least (\d+) characters$/.exec(rule);
  if (least) return t('interaction:password.rules.minLength', { count: Number(least[1]) });
  const most = /^at most (\d+) characters$/.exec(rule);
  if (most) return t('interaction:password.rules.maxLength', { count: Number(most[1]) });
  const symbols = /^one of (.+)$/.exec(rule);
  if (symbols) return t('interaction:password.rules.symbols', { symbols: symbols[1]! });
  return rule;
}

/**
 * A refused sign-up field or new password (accounts/store.ts says why in English, lower case) as
 * the sentence the page shows: in English exactly as before, else in the page's language (a
 * reason it does not know, or zxcvbn's own English detail, is left out or kept as it is).
 */
export function fieldProblemIn(t: Translate, locale: string, problem: string, english: (text: string) => string): string {
  if (locale === 'en') return english(problem);
  const simple: Record<string, string> = {
    'enter your email address': 'interaction:signUp.enterEmail', 'enter your name': 'interaction:signUp.enterName', 'enter a password': 'interaction:password.enter',
    'a name has at most 200 characters and no control characters': 'interaction:signUp.nameTooLong',
  };
  if (simple[problem]) return t(simple[problem]);
  const needs = /^the password needs (.+)$/.exec(problem);
  if (needs) return t('interaction:password.needs', { rules: needs[1]!.split(', ').map((r) => ruleIn(t, r)).join(', ') });
  const personal = /^the password contains your name or email address \("(.*)"\): choose one without it$/s.exec(problem);
  if (personal) return t('interaction:password.personal', { word: personal[1]! });
  if (problem.startsWith('the password is too common or too easy to guess')) return t('interaction:password.guessable');
  const invisible = /^"(.*)" contains an invisible or control character/s.exec(problem);
  if (invisible) return t('interaction:signUp.invisible', { typed: invisible[1]! });
  const notEmail = /^"(.*)" is not an email address$/s.exec(problem);
  if (notEmail) return t('interaction:signUp.notEmail', { typed: notEmail[1]! });
  return english(problem);
}

/** The methods' names in the page's language, as a choice ("A, B or C"). */
function choiceOf(t: Translate, locale: string, names: string[]): string {
  const quoted = names.map((n) => (locale === 'de' ? `„${n}“` : locale === 'pl' ? `„${n}”` : `"${n}"`));
  if (locale === 'en') return quoted.length === 1 ? quoted[0]! : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
  return new Intl.ListFormat(locale, { type: 'disjunction' }).format(quoted);
}

/** cap-advice.ts capAdvice's sentence in the page's language (`problem`: the cap's own sentence, translated). */
export function capAdviceSaid(t: Translate, locale: string, problem: string, options: MethodChoice[]): Said {
  const usable = options.filter((o) => o.usable && o.id !== 'sms' && o.id !== 'voice');
  if (!usable.length) return { key: 'interaction:capAdvice.none', vars: { problem } };
  return { key: 'interaction:capAdvice.choose', vars: { problem, names: choiceOf(t, locale, usable.map((o) => (LABELS[o.id] ? t(LABELS[o.id]!) : o.label))) } };
}

/** A code step stopped by a daily cap on texts and calls: the cap's sentence and the way on (cap-advice.ts), in English and in `locale`. */
export function withCapAdvice(locale: string, prompt: FactorPrompt, options: MethodChoice[]): FactorPrompt {
  const t = translator(locale);
  const problem = prompt.said?.problem ? t(prompt.said.problem.key, prompt.said.problem.vars) : prompt.problem ?? '';
  return {
    ...prompt,
    problem: capAdvice(prompt.problem ?? '', options),
    said: { ...(prompt.said?.instructions ? { instructions: prompt.said.instructions } : {}), problem: capAdviceSaid(t, locale, problem, options) },
  };
}
