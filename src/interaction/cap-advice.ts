// What a sign-in code page says when a daily cap stopped a text or call (nothing was sent): the
// methods that can still finish this step, named, or — when none can — who can help, never only
// "try again tomorrow". Pure.

export interface MethodChoice {
  id: string;
  label: string;
  usable: boolean;
}

const PHONE = new Set(['sms', 'voice']);
export const NO_MORE_PHONE = 'no more texts or calls to your number today';

/** The step's methods with texts and calls marked unusable (one allowance covers both). */
export function withoutPhone<T extends MethodChoice & { availability?: unknown }>(options: T[]): T[] {
  return options.map((o) => (PHONE.has(o.id) ? { ...o, usable: false, availability: { available: false, reason: NO_MORE_PHONE } } : o));
}

/** The cap's message and the way on: the usable methods by name, or whom to ask. */
export function capAdvice(problem: string, options: MethodChoice[]): string {
  const usable = options.filter((o) => o.usable && !PHONE.has(o.id)).map((o) => `"${o.label}"`);
  if (usable.length) {
    const names = usable.length === 1 ? usable[0] : `${usable.slice(0, -1).join(', ')} or ${usable.at(-1)}`;
    return `${problem} Choose another way below: ${names}.`;
  }
  return `${problem} No other method can finish this sign-in for you now. Ask your administrator to reset your two-step verification: you can then sign in with your password and set it up again. Or try again tomorrow.`;
}
