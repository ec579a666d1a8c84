// The SMS and voice factors with a verified number: the code goes out through Twilio's API (a
// local fake that checks auth and fields), the text and the call carry it, and it verifies once.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connectDatabase, type Database } from '../../src/db/database.ts';
import { createSealer } from '../../src/crypto/seal.ts';
import { createChallenges } from '../../src/factors/challenges.ts';
import { smsFactor, voiceFactor } from '../../src/factors/phone/index.ts';
import { createMessages } from '../../src/notify/messages.ts';
import { createOutbox, createTransports } from '../../src/notify/transports.ts';
import { databaseServerUri } from '../support/hooks.ts';
import { freshDatabaseName } from '../support/tessera.ts';
import { startFakeTwilio, type FakeTwilio } from '../support/fake-twilio.ts';

describe('SMS and voice factors', () => {
  let db: Database;
  let twilio: FakeTwilio;
  let deps: Parameters<typeof smsFactor>[0];
  const account = { id: 'acct-phone', email: 'p@example.com' };

  before(async () => {
    twilio = await startFakeTwilio();
    db = await connectDatabase(`${databaseServerUri()}${freshDatabaseName('phone')}`, { serverSelectionTimeoutMs: 5000, connectTimeoutMs: 5000 });
    const clock = () => new Date();
    const challenges = createChallenges(db, createSealer(randomBytes(32).toString('base64')), { lifetimeSeconds: 900, resendIntervalSeconds: 60, maxAttempts: 3 }, clock);
    await db.init();
    const transports = createTransports({
      mailFrom: 'x@example.com', smsProvider: 'twilio', timeoutMs: 15_000, // generous: no test here waits it out
      twilio: { accountSid: twilio.account.sid, authToken: twilio.account.token, from: twilio.account.from, apiBase: twilio.apiBase },
    }, createOutbox());
    deps = { challenges, transports, messages: createMessages(), clock, verifiedPhone: async (a) => (a.id === account.id ? '+447700900123' : undefined), phoneSends: async () => {} };
  });
  after(async () => { await db.close(); await twilio.close(); });

  it('texts the code and verifies it once (amr sms)', async () => {
    const sms = smsFactor(deps);
    const prompt = await sms.begin({ account, scope: 'uid-sms', purpose: 'sign-in' });
    assert.match(prompt.instructions, /We texted a 6-digit code to \+44•+23/);
    const sent = twilio.accepted.at(-1)!;
    assert.equal(sent.resource, 'Messages');
    assert.equal(sent.form.To, '+447700900123');
    const code = /(\d{6}) is your Tessera sign-in code/.exec(sent.form.Body!)![1]!;
    const ok = await sms.verify({ account, scope: 'uid-sms', purpose: 'sign-in' }, code);
    assert.ok(ok.ok && ok.proof.factor === 'sms');
    assert.equal((await sms.verify({ account, scope: 'uid-sms', purpose: 'sign-in' }, code)).ok, false, 'once');
  });

  it('calls and reads the code out digit by digit (amr tel)', async () => {
    const voice = voiceFactor(deps);
    await voice.begin({ account, scope: 'uid-voice', purpose: 'sign-in' });
    const call = twilio.accepted.at(-1)!;
    assert.equal(call.resource, 'Calls');
    const digits = /Your Tessera code is ((?:\d, ){5}\d)\./.exec(call.form.Twiml!)![1]!;
    const ok = await voice.verify({ account, scope: 'uid-voice', purpose: 'sign-in' }, digits.replaceAll(', ', ''));
    assert.ok(ok.ok && ok.proof.factor === 'voice');
  });

  it('is unavailable without a verified number, with the reason, and says when the provider fails', async () => {
    assert.deepEqual(await smsFactor(deps).availability({ id: 'nobody', email: 'n@example.com' }), { available: false, reason: 'no verified mobile number' });
    twilio.fail(500);
    try {
      const prompt = await smsFactor(deps).begin({ account, scope: 'uid-fail', purpose: 'sign-in' });
      assert.match(prompt.problem!, /We could not send the code by text message right now/);
    } finally {
      twilio.fail(undefined);
    }
  });
});
