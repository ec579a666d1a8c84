import assert from 'node:assert/strict';
import { passwordProblems } from '../../src/policy/password.ts';

describe('password rules', () => {
  const cases: [string, string[]][] = [
    ['Correct#Horse1', []],
    ['Aa1!aaaa', []], // meets the character rules; the common-password check refuses it (common-passwords.test.ts)
    ['Aa1!aaa', ['at least 8 characters']],
    ['correct#horse1', ['an upper-case letter']],
    ['CORRECT#HORSE1', ['a lower-case letter']],
    ['Correct#Horse', ['a digit']],
    ['CorrectHorse1', ['one of !@#$%^&*']],
    ['', ['at least 8 characters', 'an upper-case letter', 'a lower-case letter', 'a digit', 'one of !@#$%^&*']],
  ];
  for (const [password, problems] of cases) {
    it(`"${password}" → ${problems.length ? problems.join(', ') : 'accepted'}`, () => {
      assert.deepEqual(passwordProblems(password), problems);
    });
  }
  it('follows a configured rule set', () => {
    assert.deepEqual(passwordProblems('abcdefghijkl', { minLength: 12, requireUpper: false, requireLower: true, requireDigit: false, symbols: '' }), []);
  });
});
