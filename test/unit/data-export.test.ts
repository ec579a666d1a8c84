import assert from 'node:assert/strict';
import { assembleExport, exportFileName, type AccountFacts } from '../../src/account/data-export.ts';
import type { AccountView } from '../../src/accounts/store.ts';

const AT = new Date('2026-03-04T05:06:07Z');
const SECRET = 'S3CR3T-VALUE';

/** Store results carrying fields a store might hold besides what the file shows: each one the secret. */
function facts(): AccountFacts {
  const account = {
    id: 'acc-1', email: 'ada@example.com', emailVerified: true, name: 'Ada', role: 'user', disabled: false, profile: { givenName: 'Ada' },
    deviceVerification: true, security: { pinSet: true, pinAfterSignIn: true, screenLockMinutes: 5 }, locked: false, passwordResetRequired: false,
    stamp: 3, createdAt: AT, updatedAt: AT, secondFactor: 'totp', passwordHash: SECRET, pinHash: SECRET,
    consents: { 'rp-1': { scopes: ['openid', 'email'], claims: [], client: SECRET, at: AT } },
  } as AccountView;
  return {
    account, organisationName: 'Engines',
    devices: [{
      id: 'dev_1', accountId: 'acc-1', state: 'ACTIVE', flags: [], firstSeenAt: AT, failures: 0, browser: 'Chrome 120', os: 'Windows 10',
      history: [{ from: null, to: 'ACTIVE', by: 'system', why: 'first seen', at: AT }], pending: { action: 'trust', channel: 'email', name: SECRET },
    }],
    sessions: [{ ref: SECRET, current: true, signedInAt: AT, browser: 'Chrome 120', os: 'Windows 10', ip: '192.0.2.1', locked: false, clientIds: ['rp-1'] }],
    history: [{ id: SECRET, accountId: 'acc-1', at: AT, result: 'success', ip: '192.0.2.1', deviceId: 'dev_1', factors: ['pwd'] }],
    phones: [{ id: SECRET, number: '+41791234567', type: 'mobile', status: 'active', primary: true, addedAt: AT }],
    trustedIps: [{ id: SECRET, cidr: '192.0.2.0/24', skips: 'all', createdAt: AT, updatedAt: AT }],
    totpSince: AT,
    keys: [{ id: SECRET, name: 'Blue key', synced: false, createdAt: AT }],
    recoveryCodesLeft: 7,
    grants: [{ jti: SECRET, clientId: 'rp-1', openid: { scope: 'openid email' }, iat: AT.getTime() / 1000, accountId: 'acc-1' } as never],
    clientNames: new Map([['rp-1', 'Notes']]),
    audit: { events: [{ id: SECRET, at: AT, type: 'mfa.changed', outcome: 'success', actor: { type: 'user', id: SECRET, label: 'ada@example.com' }, subject: { type: 'account', id: SECRET }, accountId: 'acc-1', details: { change: 'x' } }], complete: true },
    sessionMaxDays: 90,
    exportedAt: AT,
  };
}

describe('the data export file (assembled from store results)', () => {
  it('names the file after the day of the download (UTC)', () => {
    assert.equal(exportFileName(new Date('2026-12-31T23:59:59Z')), 'tessera-data-2026-12-31.json');
  });

  it('copies only the fields it names: no hash, id, handle or pending action a store also holds', () => {
    const file = JSON.stringify(assembleExport(facts()));
    assert.ok(!file.includes(SECRET), file);
  });

  it('relates the sections by names a person reads: devices by label, applications by client name', () => {
    const data = assembleExport(facts());
    assert.equal(data.signInHistory[0]!.device, 'Chrome 120 on Windows 10');
    assert.deepEqual(data.sessions[0]!.applications, [{ clientId: 'rp-1', name: 'Notes' }]);
    assert.deepEqual(data.connectedApplications[0], { application: { clientId: 'rp-1', name: 'Notes' }, scopes: ['openid', 'email'], grantedAt: AT });
    assert.deepEqual(data.consents, [{ application: { clientId: 'rp-1', name: 'Notes' }, scopes: ['openid', 'email'], givenAt: AT }], 'the consent kept for later sign-ins, without its digest');
    assert.deepEqual(data.security, { pinSet: true, pinAfterSignIn: true, screenLockMinutes: 5, autoLogoutDays: 90, routineSecondFactor: 'totp', newDeviceVerification: true });
    assert.deepEqual(data.auditLog.events[0]!.actor, { type: 'user', label: 'ada@example.com' });
  });
});
