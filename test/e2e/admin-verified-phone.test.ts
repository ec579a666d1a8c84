// An administrator sets an already verified phone number for an account (issue 25, Conformance): no
// text message is sent, the number is Active at once, and the `phone` scope releases phone_number
// with phone_number_verified=true to a real relying party. Through the JSON API, the console
// (confirmed with re-authentication) and the command line; audited as admin.user.phone_set with
// who did it; the person is emailed. The numbers' rules hold: E.164 parsing, one primary mobile
// (a landline cannot be primary), the list's limit, the SMS factor's availability, and the
// organisation's index of verified numbers. A refused number changes nothing and emails no one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import * as oidc from 'openid-client';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { tesseraCli } from '../support/cli.ts';
import { eventually } from '../support/mail.ts';
import { RelyingParty, UserAgent, createUser, formOn, giveVerifiedPhone, signIn, type TestUser } from '../support/flow.ts';
import { consoleAgent, createAdmin, type TestAdmin } from '../support/console.ts';
import { MAX_PHONES } from '../../src/phones/store.ts';

const MOBILE = '+41 79 123 45 67';
const MOBILE_E164 = '+41791234567';
const OTHER_MOBILE = '+41 78 765 43 21';
const LANDLINE = '+41 44 668 18 00';

describe('an administrator sets an already verified phone number', function () {
  this.timeout(120_000);
  let t: Tessera;
  let rp: RelyingParty;
  let token: string;
  let dataDir: string;
  const failures: unknown[] = [];

  before(async () => {
    t = await startTessera({ log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
    rp = await RelyingParty.register(t, { skipConsent: true });
    const bot = await t.services.clients.create({ clientId: 'phone-bot', redirectUris: [], grants: ['client_credentials'] });
    await t.services.clients.grantAdminApi('phone-bot');
    token = (await request(t.issuer).post('/token').auth('phone-bot', bot.clientSecret!).type('form').send({ grant_type: 'client_credentials', scope: 'admin' })).body.access_token;
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-cli-'));
  });
  after(async () => {
    await t?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  const put = (userId: string, body: object) => request(t.issuer).put(`/admin/api/v1/users/${userId}/phone`).set('Authorization', `Bearer ${token}`).send(body);
  const texts = () => t.services.outbox.list().filter((m) => m.channel !== 'email');
  const noticesTo = (user: TestUser) => t.services.outbox.list().filter((m) => m.to === user.email && /phone number was set/.test(m.subject ?? ''));
  const phoneEvents = async (user: TestUser) => { await t.services.audit.flush(); return (await t.services.audit.query({ type: 'admin.user.phone_set', accountId: user.id })).events; };
  async function userinfo(user: TestUser, scope = 'openid phone') {
    const auth = await rp.authorize({ scope });
    const tokens = await rp.tokens(await signIn(new UserAgent(), auth.url, user), auth);
    return { info: await oidc.fetchUserInfo(rp.config, tokens.access_token, user.id), id: tokens.claims()! };
  }

  it('through the API: Active and primary without a text message, released by the phone scope, audited, and the person is emailed', async () => {
    const user = await createUser(t);
    assert.equal((await userinfo(user)).info.phone_number, undefined, 'no phone: no claim');
    assert.ok(!(await t.services.factors.available((await t.services.accounts.findById(user.id))!)).includes('sms'));
    const textsBefore = texts().length;

    const res = await put(user.id, { number: MOBILE });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual({ ...res.body.phone, id: undefined, addedAt: undefined, verifiedAt: undefined },
      { id: undefined, number: MOBILE_E164, type: 'mobile', status: 'active', primary: true, addedAt: undefined, verifiedAt: undefined });
    assert.equal(texts().length, textsBefore, 'no text message or call');

    const { info } = await userinfo(user);
    assert.equal(info.phone_number, MOBILE_E164);
    assert.equal(info.phone_number_verified, true);
    assert.equal((await userinfo(user, 'openid profile')).info.phone_number, undefined, 'only through the phone scope');
    const asked = await rp.authorize({ scope: 'openid', claims: JSON.stringify({ id_token: { phone_number: null, phone_number_verified: null } }) });
    const idClaims = (await rp.tokens(await signIn(new UserAgent(), asked.url, user), asked)).claims()!;
    assert.deepEqual([idClaims.phone_number, idClaims.phone_number_verified], [MOBILE_E164, true], 'or the claims parameter');
    assert.ok((await t.services.factors.available((await t.services.accounts.findById(user.id))!)).includes('sms'), 'the text-message factor is available');

    const [event] = await phoneEvents(user);
    assert.equal(event?.outcome, 'success');
    assert.deepEqual([event?.actor.type, event?.actor.id], ['client', 'phone-bot']);
    assert.equal(event?.details.primary, true);
    assert.doesNotMatch(JSON.stringify(event), /791234567/, 'the audit log keeps the number masked');
    const [mail] = await eventually(() => noticesTo(user).length > 0 && noticesTo(user), 'the notice to the person');
    assert.match(mail!.text ?? '', /An administrator set the phone number \+41•+67 on your Tessera account/);
    assert.match(mail!.text ?? '', /It is now your primary number/);
  });

  it('keeps the primary number unless asked, and moves the primary marker when asked (one primary mobile)', async () => {
    const user = await createUser(t);
    const first = await giveVerifiedPhone(t, user, MOBILE);
    const second = await put(user.id, { number: OTHER_MOBILE });
    assert.equal(second.status, 200);
    assert.equal(second.body.phone.primary, false);
    assert.equal(await t.services.phones.primaryVerified(user.id), first);
    await eventually(() => noticesTo(user).find((m) => /Your primary number did not change/.test(m.text ?? '')), 'the notice (primary unchanged)');

    const moved = await put(user.id, { number: OTHER_MOBILE, primary: true });
    assert.equal(moved.status, 200);
    assert.equal(moved.body.phone.primary, true);
    const list = await t.services.phones.list(user.id);
    assert.equal(list.length, 2, 'no duplicate entry');
    assert.deepEqual(list.filter((p) => p.primary).map((p) => p.number), ['+41787654321']);
    assert.equal((await userinfo(user)).info.phone_number, '+41787654321');
    const [latest] = await phoneEvents(user);
    assert.equal(latest?.details.previousPrimary, '+41•••••••67');
  });

  it('verifies a number already on the list instead of adding it again', async () => {
    const user = await createUser(t);
    const { phone } = await t.services.phones.add(user.id, MOBILE);
    assert.equal(phone.status, 'unverified');
    const res = await put(user.id, { number: MOBILE_E164 });
    assert.equal(res.body.phone.id, phone.id);
    assert.deepEqual((await t.services.phones.list(user.id)).map((p) => [p.status, p.primary]), [['active', true]]);
  });

  it('setting the same verified number again changes nothing and emails no one', async () => {
    const user = await createUser(t);
    assert.equal((await put(user.id, { number: MOBILE })).status, 200);
    await eventually(() => noticesTo(user).length === 1, 'the first notice');
    const again = await put(user.id, { number: MOBILE });
    assert.equal(again.status, 200);
    assert.equal((await phoneEvents(user))[0]?.details.changed, false);
    await t.services.audit.flush();
    assert.equal(noticesTo(user).length, 1, 'no second email');
  });

  it('refuses a landline as primary, an invalid number, a full list and an unknown account; nothing changes, no one is emailed', async () => {
    const user = await createUser(t);
    for (const [body, pattern] of [
      [{ number: LANDLINE, primary: true }, /cannot receive text messages: only a mobile number can be the primary number/],
      [{ number: 'not a number' }, /international form/],
      [{ number: '+41 79 123' }, /not a valid phone number|too short/],
      [{ number: '0791234567' }, /starting with \+ and the country code/],
    ] as const) {
      const res = await put(user.id, body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(res.body.error_description, pattern);
    }
    assert.deepEqual(await t.services.phones.list(user.id), []);
    assert.equal((await put('no-such-account', { number: MOBILE })).status, 404);

    const full = await createUser(t);
    for (let i = 0; i < MAX_PHONES; i++) await t.services.phones.add(full.id, `+41 79 555 44 ${10 + i}`);
    const refused = await put(full.id, { number: MOBILE });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error_description, /5 numbers already/);
    assert.equal((await t.services.phones.list(full.id)).filter((p) => p.status === 'active').length, 0);
    const failuresLogged = await phoneEvents(user);
    assert.ok(failuresLogged.length >= 4 && failuresLogged.every((e) => e.outcome === 'failure'), 'refusals are audited as failures');
    assert.equal(noticesTo(user).length + noticesTo(full).length, 0);
    // a landline may still be set (not as primary): it is a verified number of the account
    const landline = await put(user.id, { number: LANDLINE });
    assert.deepEqual([landline.status, landline.body.phone.type, landline.body.phone.primary], [200, 'landline', false]);
    assert.equal((await userinfo(user)).info.phone_number, undefined, 'a landline is no primary mobile: no phone_number');
  });

  it('counts as verified in the organisation: another member adds the number without a code', async () => {
    const org = await t.services.organisations.create(`Phone Org ${Date.now()}`);
    const [a, b] = [await createUser(t), await createUser(t)];
    await t.services.organisations.setMember(org.id, a.id, false);
    await t.services.organisations.setMember(org.id, b.id, false);
    assert.equal((await put(a.id, { number: MOBILE })).status, 200);
    const { reused, phone } = await t.services.phones.add(b.id, MOBILE);
    assert.equal(reused, true);
    assert.equal(phone.status, 'active');
  });

  it('through the command line (user set-phone)', async () => {
    const user = await createUser(t);
    const res = await tesseraCli(t, dataDir, 'user', 'set-phone', '--email', user.email, '--number', MOBILE, '--json');
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(JSON.parse(res.stdout).phone, { number: MOBILE_E164, status: 'active', primary: true });
    const refused = await tesseraCli(t, dataDir, 'user', 'set-phone', '--email', user.email, '--number', LANDLINE, '--primary');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /only a mobile number can be the primary number/);
    const [event] = await phoneEvents(user);
    assert.equal(event?.outcome, 'failure');
    assert.equal((await phoneEvents(user))[1]?.actor.type, 'admin', 'the command line acts as an admin');
  });

  describe('in the console (confirmed with re-authentication)', () => {
    let agent: UserAgent;
    let admin: TestAdmin;
    before(async () => {
      admin = await createAdmin(t, { name: 'Grace Admin' });
      agent = await consoleAgent(t, admin);
    });

    it('lists the numbers, asks to confirm, sets the number and audits the admin', async () => {
      const user = await createUser(t);
      const page = await agent.visit(`${t.issuer}/admin/users/${user.id}`);
      assert.match(page.body, /No phone numbers\./);
      const confirm = await agent.submit(page, /\/phone$/, { number: MOBILE, primary: 'on' });
      assert.equal(confirm.status, 200);
      assert.match(confirm.body, /Set a verified phone number for/);
      assert.match(confirm.body, /\+41 79 123 45 67 is marked verified without a code being sent to it/);
      assert.deepEqual(await t.services.phones.list(user.id), [], 'nothing before the confirmation');
      const wrong = await agent.submit(confirm, /\/phone$/, { password: 'Wrong#Password9' });
      assert.equal(wrong.status, 400);
      assert.deepEqual(await t.services.phones.list(user.id), [], 'nothing with a wrong password');
      const done = await agent.submit(confirm, /\/phone$/, { password: admin.password }, `${t.issuer}/admin/users/${user.id}?done=phone-set`);
      assert.match(done.url, /done=phone-set#phones$/);
      const shown = await agent.visit(done.url);
      assert.match(shown.body, /The phone number is set as verified\. The person was emailed about it\./);
      assert.match(shown.body, /<span class="range">\+41 79 123 45 67<\/span> <span class="tag active">verified<\/span> <span class="tag">primary<\/span>/);
      const [event] = await phoneEvents(user);
      assert.deepEqual([event?.actor.type, event?.actor.id, event?.actor.label], ['admin', admin.id, admin.email]);
    });

    it('shows a refused number beside the field, before any confirmation, and changes nothing', async () => {
      const user = await createUser(t);
      const page = await agent.visit(`${t.issuer}/admin/users/${user.id}`);
      const refused = await agent.request(formOn(page, /\/phone$/).action, { form: { ...formOn(page, /\/phone$/).fields, number: '079 123 45 67' } });
      assert.equal(refused.status, 400);
      assert.match(refused.body, /id="phone-number"[^>]*aria-describedby="phone-number-hint phone-number-error" aria-invalid="true">/);
      assert.match(refused.body, /<p class="error" id="phone-number-error" role="alert">Write the number in international form, starting with \+ and the country code \(for example \+33 6 12 34 56 78\)\. Nothing was changed\.<\/p>/);
      assert.match(refused.body, /value="079 123 45 67"/);
      assert.deepEqual(await t.services.phones.list(user.id), []);
    });
  });
});
