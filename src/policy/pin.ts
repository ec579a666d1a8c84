// The PIN rule set (pure): digits only, a length range, and no trivial PINs — one digit repeated
// (1111), a run up or down (1234, 9876, 8901 wraps), or a repeated pair/triple (1212, 123123).
export interface PinRules {
  minLength: number;
  maxLength: number;
  rejectTrivial: boolean;
}

function isRun(digits: number[], step: 1 | -1): boolean {
  return digits.every((d, i) => i === 0 || d === (digits[i - 1]! + step + 10) % 10);
}

function repeatsBlock(pin: string): boolean {
  for (let size = 1; size <= pin.length / 2; size++) {
    if (pin.length % size === 0 && pin.slice(0, size).repeat(pin.length / size) === pin) return true;
  }
  return false;
}

/** Which rule a PIN breaks (the account pages word it in the page's language); undefined when it is acceptable. */
export type PinProblem = 'digits_only' | 'length' | 'repeats' | 'sequence';

export function pinProblemKind(pin: string, rules: PinRules): PinProblem | undefined {
  if (!/^\d+$/.test(pin)) return 'digits_only';
  if (pin.length < rules.minLength || pin.length > rules.maxLength) return 'length';
  if (rules.rejectTrivial) {
    const digits = [...pin].map(Number);
    if (repeatsBlock(pin)) return 'repeats';
    if (isRun(digits, 1) || isRun(digits, -1)) return 'sequence';
  }
  return undefined;
}

/** Why a PIN is refused, in words a person can act on (English); undefined when it is acceptable. */
export function pinProblem(pin: string, rules: PinRules): string | undefined {
  switch (pinProblemKind(pin, rules)) {
    case 'digits_only': return 'A PIN is digits only.';
    case 'length': return `A PIN has ${rules.minLength} to ${rules.maxLength} digits.`;
    case 'repeats': return 'That PIN repeats itself (like 1111 or 1212): choose one that is harder to guess.';
    case 'sequence': return 'That PIN is a sequence (like 1234 or 9876): choose one that is harder to guess.';
    default: return undefined;
  }
}
