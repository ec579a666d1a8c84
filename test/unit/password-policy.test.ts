import assert from 'node:assert/strict';
import { passwordProblems, personalWordIn } from '../../src/policy/password.ts';

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

describe('a password built from the account\'s own words', () => {
  const gus = { email: 'gus@example.com', name: 'Gus' };
  const cases: [string, { email: string; name: string }, string | undefined][] = [
    ['gus@example.com1A!', gus, 'gus@example.com'],
    ['Gus12345!', gus, 'gus'],
    ['xXGUSXx9!', gus, 'gus'],
    ['Ada.Lovelace#1', { email: 'ada.lovelace@example.org', name: '' }, 'ada.lovelace'],
    ['Lovelace#1986', { email: 'ada.lovelace@example.org', name: '' }, 'lovelace'],
    ['Correct#Horse1', gus, undefined],
    // words under three characters are no clue (everyone's password would contain some)
    ['Jo#Correct1', { email: 'jo@example.com', name: 'Jo' }, undefined],
  ];
  for (const [password, account, found] of cases) {
    it(`"${password}" for ${account.email} → ${found ?? 'accepted'}`, () => {
      assert.equal(personalWordIn(password, account), found);
    });
  }
});
