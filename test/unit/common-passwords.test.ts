import assert from 'node:assert/strict';
import { guessabilityProblem } from '../../src/policy/common-passwords.ts';

describe('common and breached password check', () => {
  for (const password of ['Password1!', 'Qwerty123!', 'P@ssw0rd1', 'Welcome1!']) {
    it(`refuses "${password}", which meets the character rules`, async () => {
      assert.match((await guessabilityProblem(password, 3))!, /too common or too easy to guess/);
    });
  }
  for (const password of ['Correct#Horse1', 'Tr0ub4dor&3x', 'Xk7#pLm2qR']) {
    it(`accepts "${password}"`, async () => {
      assert.equal(await guessabilityProblem(password, 3), undefined);
    });
  }
  it('counts words of the account itself as guessable', async () => {
    assert.equal(await guessabilityProblem('Gwendolyn#1984', 3), undefined);
    assert.ok(await guessabilityProblem('Gwendolyn#1984', 3, ['gwendolyn@example.com', 'Gwendolyn 1984']));
  });
  it('is off at strength 0', async () => {
    assert.equal(await guessabilityProblem('Password1!', 0), undefined);
  });
});
