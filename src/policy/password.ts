// The password rule set (pure): what a new password must contain. Defaults follow the spec:
// at least 8 characters, upper and lower case, a digit and one of !@#$%^&*.
export interface PasswordRules {
  minLength: number;
  requireUpper: boolean;
  requireLower: boolean;
  requireDigit: boolean;
  symbols: string;
}

export const DEFAULT_PASSWORD_RULES: PasswordRules = {
  minLength: 8, requireUpper: true, requireLower: true, requireDigit: true, symbols: '!@#$%^&*',
};

/** Returns what the password lacks, in words a person can act on; empty when it is acceptable. */
export function passwordProblems(password: string, rules: PasswordRules = DEFAULT_PASSWORD_RULES): string[] {
  const problems: string[] = [];
  if ([...password].length < rules.minLength) problems.push(`at least ${rules.minLength} characters`);
  if (rules.requireUpper && !/\p{Lu}/u.test(password)) problems.push('an upper-case letter');
  if (rules.requireLower && !/\p{Ll}/u.test(password)) problems.push('a lower-case letter');
  if (rules.requireDigit && !/\d/.test(password)) problems.push('a digit');
  if (rules.symbols && ![...rules.symbols].some((c) => password.includes(c))) problems.push(`one of ${rules.symbols}`);
  if ([...password].length > 256) problems.push('at most 256 characters');
  return problems;
}

/**
 * Which of the account's own words (its name, its email address and the words of the address
 * before the @, three characters or more) the password contains, ignoring case: a password built
 * from them is the first thing anyone who knows the person tries. Undefined when none.
 */
export function personalWordIn(password: string, account: { email: string; name: string }): string | undefined {
  const fold = (text: string) => text.normalize('NFKC').toLowerCase();
  const local = fold(account.email).split('@')[0] ?? '';
  const words = [fold(account.email), local, ...local.split(/[^\p{L}\p{N}]+/u), ...fold(account.name).split(/[^\p{L}\p{N}]+/u)]
    .filter((w) => [...w].length >= 3)
    .sort((a, b) => b.length - a.length);
  const folded = fold(password);
  return words.find((w) => folded.includes(w));
}

/** The rule set in words, as the password pages list it (security center, set-password link). */
export function describeRules(rules: PasswordRules): string[] {
  return [
    `at least ${rules.minLength} characters`,
    ...(rules.requireUpper ? ['an upper-case letter'] : []),
    ...(rules.requireLower ? ['a lower-case letter'] : []),
    ...(rules.requireDigit ? ['a digit'] : []),
    ...(rules.symbols ? [`one of ${rules.symbols}`] : []),
    'not your name or email address',
    'not a common or easily guessed password',
  ];
}
