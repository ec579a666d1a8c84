// Kept consent as pure rules (src/policy/consent.ts): it counts only for the application it was
// given to (client id, registration, and redirect URIs in any order) and only for what it allowed.
import assert from 'node:assert/strict';
import { clientDigest, keptConsentAllows, keptFor } from '../../src/policy/consent.ts';

const app = { clientId: 'notes', redirectUris: ['https://notes.example/cb', 'https://notes.example/cb2'] };
const kept = { scopes: ['openid', 'email'], claims: ['nickname'], client: clientDigest(app) };

describe('kept consent (policy)', () => {
  it('names the application by its client id and redirect URIs, whatever their order', () => {
    assert.equal(clientDigest({ ...app, redirectUris: [...app.redirectUris].reverse() }), kept.client);
    assert.notEqual(clientDigest({ ...app, redirectUris: ['https://notes.example/cb'] }), kept.client, 'a redirect URI less');
    assert.notEqual(clientDigest({ ...app, redirectUris: [...app.redirectUris, 'https://evil.example/cb'] }), kept.client, 'one more');
    assert.notEqual(clientDigest({ ...app, clientId: 'notes2' }), kept.client, 'another client id');
    assert.notEqual(clientDigest({ ...app, registration: 'r2' }), kept.client, 'the same id created again (another registration)');
    assert.notEqual(clientDigest({ clientId: 'a', redirectUris: ['b","c'] }), clientDigest({ clientId: 'a", "b', redirectUris: ['c'] }), 'no two inputs run together');
  });

  const cases: [string, Parameters<typeof keptConsentAllows>[2], typeof app, typeof kept | undefined, boolean][] = [
    ['everything asked was allowed', { scopes: ['openid', 'email'], claims: ['nickname'] }, app, kept, true],
    ['less than was allowed', { scopes: ['openid'], claims: [] }, app, kept, true],
    ['nothing asked', { scopes: [], claims: [] }, app, kept, true],
    ['a scope not allowed', { scopes: ['openid', 'phone'], claims: [] }, app, kept, false],
    ['a claim not allowed', { scopes: ['openid'], claims: ['birthdate'] }, app, kept, false],
    ['no consent kept', { scopes: ['openid'], claims: [] }, app, undefined, false],
    ['kept for the application before its redirect URIs changed', { scopes: ['openid'], claims: [] }, { ...app, redirectUris: ['https://elsewhere.example/cb'] }, kept, false],
  ];
  for (const [name, asked, client, consent, allows] of cases) {
    it(`${allows ? 'allows' : 'does not allow'}: ${name}`, () => {
      assert.equal(keptConsentAllows(consent, client, asked), allows);
    });
  }

  it('keptFor: only a consent given to this very application', () => {
    assert.equal(keptFor(kept, app), true);
    assert.equal(keptFor(kept, { ...app, clientId: 'other' }), false);
    assert.equal(keptFor(undefined, app), false);
  });
});
