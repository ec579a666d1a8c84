// The profile's rules (accounts/profile.ts) as tables: OIDC Core §5.1's birthdate forms and real
// days, web addresses for profile and website, text lengths; and the claims they become.
import assert from 'node:assert/strict';
import { birthdateProblem, profileClaims, profileProblems } from '../../src/accounts/profile.ts';

describe('standard profile claims (pure rules)', () => {
  it('takes a birthdate as YYYY-MM-DD, 0000-MM-DD or YYYY, and only a real day', () => {
    const ok = ['1815-12-10', '2000-02-29', '0000-02-29', '0000-12-31', '1990', '0096-02-29', '2024-02-29'];
    const wrong = ['1990-02-29', '1900-02-29', '0099-02-29', '1815-13-10', '1815-00-10', '1815-12-00', '1815-04-31', '0000', '1815-1-1', '10.12.1815', '1815/12/10', '', ' 1815-12-10', '18151210', '1815-12-10T00:00'];
    for (const value of ok) assert.equal(birthdateProblem(value), undefined, value);
    for (const value of wrong) assert.ok(birthdateProblem(value), value);
    assert.match(birthdateProblem('1990-02-29')!, /not a real date/);
    assert.match(birthdateProblem('12/03/1990')!, /must be YYYY-MM-DD/);
  });

  it('takes profile and website as http or https addresses only', () => {
    for (const url of ['https://ada.example.org/', 'http://ada.example.org/me', 'https://ada.example.org/p?x=1#top']) {
      assert.deepEqual(profileProblems({ profileUrl: url, website: url }), [], url);
    }
    for (const url of ['javascript:alert(1)', 'ftp://ada.example.org/', 'data:text/html,hi', 'ada.example.org', 'https://', 'https://ada.example.org/a b', `https://ada.example.org/${'a'.repeat(2040)}`]) {
      assert.deepEqual(profileProblems({ profileUrl: url, website: url }), ['profile must be an http or https URL', 'website must be an http or https URL'], url);
    }
  });

  it('bounds the text claims and refuses control characters', () => {
    assert.deepEqual(profileProblems({ middleName: 'Augusta', nickname: 'Ada', gender: 'non-binary' }), []);
    assert.deepEqual(profileProblems({ middleName: 'm'.repeat(101), nickname: 'a\u0007b', gender: 'g'.repeat(51) }), [
      'middle name must be 1-100 printable characters', 'nickname must be 1-100 printable characters', 'gender must be 1-50 printable characters',
    ]);
  });

  it('names them as OIDC Core does and leaves out what the account lacks', () => {
    const at = new Date('2025-01-01T00:00:00Z');
    assert.deepEqual(profileClaims({ middleName: 'Augusta', nickname: 'Ada', profileUrl: 'https://p.example/ada', website: 'https://w.example/', gender: 'female', birthdate: '0000-12-10' }, at), {
      middle_name: 'Augusta', nickname: 'Ada', profile: 'https://p.example/ada', website: 'https://w.example/', gender: 'female', birthdate: '0000-12-10', updated_at: 1735689600,
    });
    assert.deepEqual(profileClaims({}, at), { updated_at: 1735689600 });
  });
});
