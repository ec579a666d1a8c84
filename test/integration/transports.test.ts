// Delivery through the real parts: an SMTP server for email, a local fake of Twilio's HTTP API for
// SMS and calls, and failures that surface as errors instead of being swallowed.
import assert from 'node:assert/strict';
import { createOutbox, createTransports, DeliveryError, type TransportSettings } from '../../src/notify/transports.ts';
import { startSmtp, type Smtp } from '../support/mail.ts';
import { startFakeTwilio, type FakeTwilio } from '../support/fake-twilio.ts';

describe('delivery transports', () => {
  let smtp: Smtp;
  let twilio: FakeTwilio;
  before(async () => { smtp = await startSmtp(); twilio = await startFakeTwilio(); });
  after(async () => { await smtp.close(); await twilio.close(); });
  afterEach(() => twilio.fail(undefined));

  const settings = (over: Partial<TransportSettings> = {}): TransportSettings => ({
    // generous: only the hanging provider below is meant to reach it (it sets its own, short one)
    smtpUrl: smtp.url, mailFrom: 'Tessera <no-reply@tessera.test>', smsProvider: 'twilio', timeoutMs: 15_000,
    twilio: { accountSid: twilio.account.sid, authToken: twilio.account.token, from: twilio.account.from, apiBase: twilio.apiBase },
    ...over,
  });

  it('sends email over SMTP with a text and an HTML part', async () => {
    await createTransports(settings(), createOutbox()).email({ to: 'ada@example.com', subject: 'Your code', text: 'Code: 123456', html: '<p>Code: <b>123456</b></p>' });
    const mail = await smtp.waitFor('ada@example.com', /^Subject: Your code/m);
    assert.match(mail.text, /Code: 123456/);
    assert.match(mail.text, /<b>123456<\/b>/);
    assert.equal(mail.from, 'no-reply@tessera.test');
  });

  it('sends an SMS and places a voice call through the Twilio API, authenticated', async () => {
    const t = createTransports(settings(), createOutbox());
    await t.sms('+447700900123', 'Tessera code: 123456');
    await t.voice('+447700900123', 'Your Tessera code is 1, 2, 3, 4, 5, 6.');
    const [sms, call] = twilio.accepted.slice(-2);
    assert.deepEqual(sms, { resource: 'Messages', form: { From: twilio.account.from, To: '+447700900123', Body: 'Tessera code: 123456' } });
    assert.equal(call!.resource, 'Calls');
    assert.match(call!.form.Twiml!, /^<Response><Say>Your Tessera code is 1, 2, 3, 4, 5, 6\.<\/Say>/);
  });

  it('reports failures instead of swallowing them: wrong credentials, provider 500, timeout, SMTP down', async () => {
    const wrong = createTransports(settings({ twilio: { ...settings().twilio!, authToken: 'wrong' } }), createOutbox());
    await assert.rejects(wrong.sms('+447700900123', 'x'), (e: Error) => e instanceof DeliveryError && /refused it \(401/.test(e.message));
    twilio.fail(500);
    await assert.rejects(createTransports(settings(), createOutbox()).voice('+447700900123', 'x'), (e: Error) => e instanceof DeliveryError && e.channel === 'voice' && /500/.test(e.message));
    twilio.fail('hang');
    await assert.rejects(createTransports(settings({ timeoutMs: 1000 }), createOutbox()).sms('+447700900123', 'x'), (e: Error) => e instanceof DeliveryError && /did not answer/.test(e.message));
    const down = createTransports(settings({ smtpUrl: 'smtp://127.0.0.1:1' }), createOutbox());
    await assert.rejects(down.email({ to: 'a@example.com', subject: 's', text: 't', html: 'h' }), (e: Error) => e instanceof DeliveryError && e.channel === 'email');
  });

  it('records messages in the development outbox when no SMTP server or SMS provider is set', async () => {
    const outbox = createOutbox();
    const t = createTransports(settings({ smtpUrl: undefined, smsProvider: 'outbox' }), outbox);
    await t.email({ to: 'dev@example.com', subject: 'Code', text: 'Code: 654321', html: '<p>654321</p>' });
    await t.sms('+15550100', 'Code 111111');
    assert.deepEqual(outbox.list().map((m) => [m.channel, m.to]), [['sms', '+15550100'], ['email', 'dev@example.com']]);
  });
});
