// What a person may type as a phone number: international form only ("+" and the country code),
// with spaces, dashes, dots or brackets between the digits. A maintained library
// (libphonenumber-js, full metadata) checks the number and says what kind of line it is. Pure.
import { ParseError, parsePhoneNumberWithError } from 'libphonenumber-js/max';

export type PhoneType = 'mobile' | 'landline' | 'other';

/** Why a typed number was refused: in English (the API, the admin console), and as a translation with its values (the pages). */
export interface NumberProblem {
  problem: string;
  said: { key: string; vars?: Record<string, string | number> };
}

export type ParsedNumber = { number: string; type: PhoneType } | NumberProblem;

/** Longer than any phone number written with separators. */
export const MAX_NUMBER_INPUT = 32;

const EXAMPLE = 'for example +33 6 12 34 56 78';

const PROBLEMS: Record<string, [english: string, key: string]> = {
  INVALID_COUNTRY: ['starts with a country code we do not know', 'account:phones.problems.unknownCountry'],
  TOO_SHORT: ['is too short', 'account:phones.problems.tooShort'],
  TOO_LONG: ['is too long', 'account:phones.problems.tooManyDigits'],
  NOT_A_NUMBER: ['is not a phone number', 'account:phones.problems.notANumber'],
  INVALID_LENGTH: ['does not have the right number of digits', 'account:phones.problems.wrongLength'],
};

/** The kind of line, as the list shows it: a number that may be either counts as mobile. */
function typeOf(libraryType: string | undefined): PhoneType {
  if (libraryType === 'MOBILE' || libraryType === 'FIXED_LINE_OR_MOBILE') return 'mobile';
  if (libraryType === 'FIXED_LINE') return 'landline';
  return 'other';
}

/** The number in E.164 and its type, or why it cannot be used. */
export function parseNumber(raw: string): ParsedNumber {
  const typed = raw.trim();
  if (!typed) return { problem: `Enter a phone number in international form (${EXAMPLE}).`, said: { key: 'account:phones.problems.empty' } };
  if (typed.length > MAX_NUMBER_INPUT) return { problem: `A phone number is at most ${MAX_NUMBER_INPUT} characters.`, said: { key: 'account:phones.problems.tooLong', vars: { max: MAX_NUMBER_INPUT } } };
  if (!typed.startsWith('+')) return { problem: `Write the number in international form, starting with + and the country code (${EXAMPLE}).`, said: { key: 'account:phones.problems.international' } };
  if (!/\d/.test(typed)) return { problem: `Enter the digits of the number after the + (${EXAMPLE}).`, said: { key: 'account:phones.problems.noDigits' } };
  if (!/^\+[\d\s\-.()]+$/.test(typed)) return { problem: `"${typed}" is not a phone number: use only digits, spaces, dashes, dots and brackets after the +.`, said: { key: 'account:phones.problems.characters', vars: { typed } } };
  try {
    const parsed = parsePhoneNumberWithError(typed);
    if (!parsed.isValid()) {
      return {
        problem: `"${typed}" is not a valid phone number${parsed.country ? ` in ${parsed.country}` : ''}: check the country code and the digits.`,
        said: parsed.country ? { key: 'account:phones.problems.notValidIn', vars: { typed, country: parsed.country } } : { key: 'account:phones.problems.notValid', vars: { typed } },
      };
    }
    return { number: parsed.number, type: typeOf(parsed.getType()) };
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    const [english, key] = PROBLEMS[err.message] ?? ['is not a valid phone number', 'account:phones.problems.notValidShort'];
    return { problem: `"${typed}" ${english}.`, said: { key, vars: { typed } } };
  }
}

/** A stored (E.164) number as people read it: international format with the country's grouping ("+41 79 123 45 67"). */
export function displayNumber(e164: string): string {
  try {
    return parsePhoneNumberWithError(e164).formatInternational();
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    return e164;
  }
}
