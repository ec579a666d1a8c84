// What a person may type as a phone number: international form with common separators, checked by
// libphonenumber-js (full metadata), answered with E.164 and the line type, or a clear reason.
import assert from 'node:assert/strict';
import { parseNumber } from '../../src/phones/numbers.ts';

const problemOf = (text: string) => {
  const parsed = parseNumber(text);
  assert.ok('problem' in parsed, `${text} should be refused, got ${JSON.stringify(parsed)}`);
  return parsed.problem;
};

describe('phone numbers', () => {
  it('accepts international numbers with spaces, dashes, dots and brackets, as E.164', () => {
    assert.deepEqual(parseNumber('+33 6 12 34 56 78'), { number: '+33612345678', type: 'mobile' });
    assert.deepEqual(parseNumber(' +49-151-1234-5678 '), { number: '+4915112345678', type: 'mobile' });
    assert.deepEqual(parseNumber('+41.79.123.45.67'), { number: '+41791234567', type: 'mobile' });
    assert.deepEqual(parseNumber('+1 (202) 555-0123'), { number: '+12025550123', type: 'mobile' }, 'fixed line or mobile counts as mobile');
  });

  it('tells landlines and other lines apart', () => {
    assert.deepEqual(parseNumber('+44 20 7946 0958'), { number: '+442079460958', type: 'landline' });
    assert.deepEqual(parseNumber('+33 1 23 45 67 89'), { number: '+33123456789', type: 'landline' });
    assert.deepEqual(parseNumber('+800 1234 5678'), { number: '+80012345678', type: 'other' });
  });

  it('refuses what is not an international phone number, saying why', () => {
    assert.match(problemOf(''), /Enter a phone number in international form/);
    assert.match(problemOf('   '), /Enter a phone number/);
    assert.match(problemOf('06 12 34 56 78'), /starting with \+ and the country code/);
    assert.match(problemOf('0033612345678'), /starting with \+/);
    assert.match(problemOf('+33 6 12 34 56 78 ext 9'), /use only digits, spaces, dashes, dots and brackets/);
    assert.match(problemOf('+33<script>'), /use only digits/);
    assert.match(problemOf('+999 123 456'), /starts with a country code we do not know/);
    assert.match(problemOf('+1'), /"\+1" is too short\./);
    assert.match(problemOf('+ ( )'), /Enter the digits of the number after the \+/);
    assert.match(problemOf('+44 123'), /is not a valid phone number: check the country code/);
    assert.match(problemOf('+44 7700 900123'), /"\+44 7700 900123" is not a valid phone number: check the country code and the digits\./);
    assert.match(problemOf('+33 6 12 34 56 78 90'), /is not a valid phone number in FR/);
    assert.match(problemOf(`+${'1'.repeat(40)}`), /at most 32 characters/);
  });
});
