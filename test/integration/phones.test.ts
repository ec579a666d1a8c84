// The contacts pages (/account/security/phones) through real HTTP, the real database and a fake
// Twilio: add a number, verify it by text or by call (the codes read from what Twilio accepted),
// the first Active mobile becomes primary, a second one after a confirmation page; change (verified
// again) and delete, refused for the primary while sign-ins text or call it; a number another
// member of the organisation verified is Active at once. Bad input: a clear 400, nothing changed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { startFakeTwilio, type FakeTwilio } from '../support/fake-twilio.ts';
import { eventually } from '../support/mail.ts';
import { RelyingParty, UserAgent, createUser, formOn, signIn, type Page, type TestUser } from '../support/flow.ts';

interface Listed {
  id: string;
  number: string;
  status: string;
  primary: boolean;
  type: string;
}

/** The numbers the page lists, in order. */
function listed(page: Page): Listed[] {
  return [...page.body.matchAll(/<li data-phone="([^"]+)">([\s\S]*?)<\/li>/g)].map((m) => ({
    id: m[1]!,
    number: /<code class="range">([^<]+)<\/code>/.exec(m[2]!)![1]!.replaceAll(' ', ''),
    status: /<span class="tag (?:active|pending)">([^<]+)<\/span>/.exec(m[2]!)![1]!,
    primary: m[2]!.includes('<span class="tag">primary</span>'),
    type: /<span class="muted">(\w+) · added/.exec(m[2]!)![1]!,
  }));
}

/** A POST with a hand-made form body (arrays, repeated fields), with the agent's cookies. */
async function postRaw(agent: UserAgent, url: string, body: string): Promise<Page> {
  const headers: Record<string, string> = { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' };
  const cookie = await agent.jar.getCookieString(url);
  if (cookie) headers.cookie = cookie;
  const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual' });
  for (const c of res.headers.getSetCookie()) await agent.jar.setCookie(c, url);
  return { url, status: res.status, headers: res.headers, body: await res.text() };
}

const notice = (page: Page) => /<p class="notice" role="status">([^<]*)<\/p>/.exec(page.body)?.[1]?.replaceAll('&#34;', '"');
/** Why a change was refused: beside the field it concerns (its id names it), or at the top. */
const error = (page: Page) => /<p class="error"(?: id="[^"]+")? role="alert">([^<]*)<\/p>/.exec(page.body)?.[1]?.replaceAll('&#34;', '"').replaceAll('&#39;', "'");
const ADD = /\/account\/security\/phones$/;
const action = (id: string, what: string) => new RegExp(`/phones/${id}/${what}$`);

const VERIFY_TEXT = /^(\d{6}) is your Tessera code to verify your phone number\./;
const CALLED_CODE = /Your Tessera code is ((?:\d, ){5}\d)\./;

describe('phone numbers (account pages)', () => {
  let twilio: FakeTwilio;
  let t: Tessera;
  let rp: RelyingParty;
  let offsetMs = 0;
  const failures: unknown[] = [];
  let phonesUrl: string;

  before(async () => {
    twilio = await startFakeTwilio();
    t = await startTessera({
      clock: () => new Date(Date.now() + offsetMs),
      log: (err) => failures.push(err),
      env: {
        SMS_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: twilio.account.sid, TWILIO_AUTH_TOKEN: twilio.account.token,
        TWILIO_FROM: twilio.account.from, TWILIO_API_BASE: twilio.apiBase,
      },
    });
    rp = await RelyingParty.register(t, { skipConsent: true });
    phonesUrl = `${t.issuer}/account/security/phones`;
  });
  after(async () => {
    await t.close();
    await twilio.close();
  });
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  async function signedIn(user: TestUser): Promise<UserAgent> {
    const agent = new UserAgent();
    await signIn(agent, (await rp.authorize()).url, user);
    return agent;
  }
  async function open(agent: UserAgent): Promise<Page> {
    const page = await agent.visit(phonesUrl);
    assert.equal(page.status, 200, page.body.slice(0, 300));
    return page;
  }
  /** The code in the newest text message to `to` that carries a phone-verification code. */
  function textedCode(to: string): string {
    const sms = twilio.accepted.filter((r) => r.resource === 'Messages' && r.form.To === to && VERIFY_TEXT.test(r.form.Body ?? '')).at(-1);
    assert.ok(sms, `a verification code texted to ${to}`);
    return VERIFY_TEXT.exec(sms.form.Body!)![1]!;
  }
  /** The code the newest call to `to` that reads a code out says, digit by digit. */
  function calledCode(to: string): string {
    const call = twilio.accepted.filter((r) => r.resource === 'Calls' && r.form.To === to && CALLED_CODE.test(r.form.Twiml ?? '')).at(-1);
    assert.ok(call, `a call to ${to}`);
    return CALLED_CODE.exec(call.form.Twiml!)![1]!.replaceAll(', ', '');
  }
  async function add(agent: UserAgent, user: TestUser, number: string): Promise<Page> {
    return agent.submit(await open(agent), ADD, { number, password: user.password });
  }
  /** Adds a number and verifies it by text: the list page after. */
  async function addVerified(agent: UserAgent, user: TestUser, number: string): Promise<Page> {
    const added = await add(agent, user, number);
    assert.equal(added.status, 200, error(added));
    const id = listed(added).find((p) => p.number === number.replace(/[^\d+]/g, ''))!.id;
    const codePage = await agent.submit(added, action(id, 'verify'), { channel: 'sms' });
    return agent.submit(codePage, action(id, 'code'), { code: textedCode(number.replace(/[^\d+]/g, '')) });
  }
  /** The security notices emailed to `email` whose text mentions `change`, waiting for the background send. */
  async function noticeSent(email: string, change: RegExp): Promise<void> {
    await eventually(() => t.services.outbox.list().some((m) => m.channel === 'email' && m.to === email && m.subject === 'Security change on your Tessera account' && change.test(m.text)), `a security notice to ${email} matching ${change}`);
  }

  describe('one account', () => {
    let user: TestUser;
    let agent: UserAgent;
    const stored = () => t.services.phones.list(user.id);
    before(async () => {
      user = await createUser(t);
      agent = await signedIn(user);
    });

    it('sends a visitor without a session to the sign-in', async () => {
      const res = await new UserAgent().request(phonesUrl);
      assert.equal(res.status, 302);
      assert.match(res.headers.get('location')!, /\/auth\?/);
    });

    it('starts empty, links back to security, and adds a mobile number as Unverified with a choice of text or call', async () => {
      let page = await open(agent);
      assert.match(page.body, /None yet\./);
      assert.match(page.body, /href="\/account\/security"/);
      assert.equal(page.headers.get('cache-control'), 'no-store');
      page = await agent.submit(page, ADD, { number: '+33 6 12-34.56 (78)', password: user.password });
      assert.equal(page.status, 200);
      assert.equal(notice(page), '+33 6 12 34 56 78 was added. Verify it now: we text or call you a code.');
      const [phone] = listed(page);
      assert.deepEqual({ ...phone, id: undefined }, { id: undefined, number: '+33612345678', status: 'Unverified', primary: false, type: 'Mobile' });
      assert.match(page.body, /<h2>Verify \+33 6 12 34 56 78<\/h2>/);
      // shown in international format, grouped as in the country
      assert.match(page.body, /<code class="range">\+33 6 12 34 56 78<\/code>/);
      assert.match(page.body, /<button type="submit" name="channel" value="sms">Text me a code<\/button>/);
      assert.match(page.body, /<button type="submit" name="channel" value="voice">Call me<\/button>/);
      const [saved] = await stored();
      assert.deepEqual([saved!.number, saved!.type, saved!.status, saved!.primary, saved!.verifiedAt], ['+33612345678', 'mobile', 'unverified', false, undefined]);
      assert.equal(await t.services.phones.primaryVerified(user.id), undefined);
      await noticeSent(user.email, /The phone number \+33•+78 was added to your account\./);
    });

    it('verifies by text through Twilio: a wrong code counts, the right one makes it Active and primary, and SMS becomes a factor', async () => {
      const account = (await t.services.accounts.findById(user.id))!;
      assert.ok(!(await t.services.factors.available(account)).includes('sms'));
      let page = await open(agent);
      const { id } = listed(page)[0]!;
      const sent = twilio.accepted.length;
      page = await agent.submit(page, action(id, 'verify'), { channel: 'sms' });
      assert.equal(page.status, 200);
      assert.match(page.body, /We texted a 6-digit code to \+33 6 12 34 56 78\. It is valid for 15 minutes\./);
      assert.equal(twilio.accepted.length, sent + 1);
      const code = textedCode('+33612345678');

      const reload = await agent.visit(`${phonesUrl}/${id}/code?channel=sms`);
      assert.equal(reload.status, 200);
      assert.match(reload.body, /We texted a 6-digit code/);
      assert.equal(twilio.accepted.length, sent + 1, 'opening the page again sends nothing');

      const wrong = await agent.submit(page, action(id, 'code'), { code: code === '000000' ? '111111' : '000000' });
      assert.equal(wrong.status, 400);
      assert.equal(error(wrong), 'That code is not right. 2 tries left.');
      assert.equal((await stored())[0]!.status, 'unverified');

      page = await agent.submit(wrong, action(id, 'code'), { code });
      assert.equal(page.status, 200);
      assert.equal(notice(page), '+33 6 12 34 56 78 is verified and Active. It is your primary number: text and call codes go to it.');
      assert.deepEqual(listed(page).map(({ status, primary }) => ({ status, primary })), [{ status: 'Active', primary: true }]);
      assert.equal(await t.services.phones.primaryVerified(user.id), '+33612345678');
      const factors = await t.services.factors.available(account);
      assert.ok(factors.includes('sms') && factors.includes('voice'), factors.join());
      await noticeSent(user.email, /The phone number \+33•+78 was verified\./);

      const again = await agent.request(`${phonesUrl}/${id}/verify`, { form: { _csrf: formOn(page, ADD).fields._csrf!, channel: 'sms' } });
      assert.equal(notice(again), '+33 6 12 34 56 78 is verified already.');
    });

    it('verifies a second number by call (the code read from the TwiML); it becomes primary only after a confirmation page', async () => {
      let page = await add(agent, user, '+49 151 1234 5678');
      const second = listed(page).find((p) => p.number === '+4915112345678')!;
      page = await agent.submit(page, action(second.id, 'verify'), { channel: 'voice' });
      assert.match(page.body, /We are calling \+49 1511 2345678 to read out a 6-digit code\./);
      page = await agent.submit(page, action(second.id, 'code'), { code: calledCode('+4915112345678') });
      assert.equal(notice(page), '+49 1511 2345678 is verified and Active.');
      assert.deepEqual(listed(page).map(({ number, status, primary }) => [number, status, primary]), [
        ['+33612345678', 'Active', true], ['+4915112345678', 'Active', false],
      ]);
      assert.match(page.body, new RegExp(`<a href="/account/security/phones/${second.id}/primary">Make primary</a>`));

      const confirm = await agent.visit(`${phonesUrl}/${second.id}/primary`);
      assert.equal(confirm.status, 200);
      assert.match(confirm.body, /<h1>Make \+49 1511 2345678 your primary number\?<\/h1>/);
      const form = formOn(confirm, action(second.id, 'primary'));
      const unconfirmed = await agent.request(form.action, { form: { _csrf: form.fields._csrf!, password: user.password } });
      assert.equal(unconfirmed.status, 200);
      assert.match(unconfirmed.body, /your primary number\?<\/h1>/, 'without the confirmation: the question again');
      const wrongPassword = await agent.submit(confirm, action(second.id, 'primary'), { password: 'Wrong#Password9' });
      assert.equal(wrongPassword.status, 400);
      assert.equal(error(wrongPassword), 'Your current password is not right: nothing was changed.');
      assert.equal(await t.services.phones.primaryVerified(user.id), '+33612345678');

      page = await agent.submit(confirm, action(second.id, 'primary'), { password: user.password });
      assert.equal(page.status, 200);
      assert.equal(notice(page), '+49 1511 2345678 is now your primary number: text and call codes go to it.');
      assert.deepEqual(listed(page).map((p) => p.primary), [false, true]);
      assert.equal(await t.services.phones.primaryVerified(user.id), '+4915112345678');
      await noticeSent(user.email, /Your primary phone number is now \+49•+78\./);
    });

    it('calls a landline (it cannot get a text) and never makes it primary', async () => {
      let page = await add(agent, user, '+44 20 7946 0958');
      const landline = listed(page).find((p) => p.number === '+442079460958')!;
      assert.equal(landline.type, 'Landline');
      assert.match(page.body, /A landline cannot receive text messages, so we call it\./);
      const texted = await agent.submit(page, action(landline.id, 'verify'), { channel: 'sms' });
      assert.equal(texted.status, 400);
      assert.equal(error(texted), '+44 20 7946 0958 is a landline and cannot receive text messages: choose a call. Nothing was changed.');
      page = await agent.submit(page, action(landline.id, 'verify'), { channel: 'voice' });
      page = await agent.submit(page, action(landline.id, 'code'), { code: calledCode('+442079460958') });
      assert.equal(notice(page), '+44 20 7946 0958 is verified and Active.');
      assert.doesNotMatch(page.body, new RegExp(`${landline.id}/primary`));
      const refused = await agent.visit(`${phonesUrl}/${landline.id}/primary`);
      assert.equal(refused.status, 400);
      assert.match(error(refused)!, /\+44 20 7946 0958 cannot receive text messages: your primary number must be a mobile number\./);
      page = await agent.submit(page, action(landline.id, 'delete'), { password: user.password });
      assert.equal(notice(page), '+44 20 7946 0958 was deleted.');
      assert.deepEqual((await stored()).map((p) => p.number), ['+33612345678', '+4915112345678']);
      await noticeSent(user.email, /The phone number \+44•+58 was removed from your account\./);
    });

    it('locks a code after 3 wrong entries; Resend (once a minute) sends a new one that works', async () => {
      let page = await add(agent, user, '+41 79 123 45 67');
      const { id } = listed(page).find((p) => p.number === '+41791234567')!;
      page = await agent.submit(page, action(id, 'verify'), { channel: 'sms' });
      const first = textedCode('+41791234567');
      const wrongCode = first === '000000' ? '111111' : '000000';
      for (const left of ['2 tries left', '1 try left']) assert.match(error(await agent.submit(page, action(id, 'code'), { code: wrongCode }))!, new RegExp(left));
      const locked = await agent.submit(page, action(id, 'code'), { code: wrongCode });
      assert.equal(error(locked), 'Too many wrong codes. Use "Resend" to get a new code.');
      assert.equal(error(await agent.submit(page, action(id, 'code'), { code: first })), 'Too many wrong codes. Use "Resend" to get a new code.');
      const tooSoon = await agent.submit(page, action(id, 'resend'));
      assert.match(tooSoon.body, /You can ask for the code again in \d+ s\./);
      offsetMs += 61_000;
      page = await agent.submit(page, action(id, 'resend'));
      const second = textedCode('+41791234567');
      assert.notEqual(second, first);
      page = await agent.submit(page, action(id, 'code'), { code: second });
      assert.equal(notice(page), '+41 79 123 45 67 is verified and Active.');
    });

    it('says so when Twilio refuses the text, with Resend and a call as the way forward', async () => {
      let page = await add(agent, user, '+33 6 99 88 77 66');
      const { id } = listed(page).find((p) => p.number === '+33699887766')!;
      twilio.fail(500);
      try {
        page = await agent.submit(page, action(id, 'verify'), { channel: 'sms' });
      } finally {
        twilio.fail(undefined);
      }
      assert.equal(page.status, 200);
      assert.match(error(page)!, /^We could not send the code by text message right now/);
      assert.ok(formOn(page, action(id, 'resend')) && formOn(page, action(id, 'verify')), 'Resend, or a call instead');
      page = await agent.submit(page, action(id, 'verify'), { channel: 'voice' });
      page = await agent.submit(page, action(id, 'code'), { code: calledCode('+33699887766') });
      assert.equal(notice(page), '+33 6 99 88 77 66 is verified and Active.');
      page = await agent.submit(page, action(id, 'delete'), { password: user.password });
      assert.equal(notice(page), '+33 6 99 88 77 66 was deleted.');
    });

    it('changes a number: Unverified again; a changed primary keeps its marker but gets no codes until verified', async () => {
      let page = await open(agent);
      const primary = listed(page).find((p) => p.primary)!;
      page = await agent.submit(page, action(primary.id, 'change'), { number: '+33 6 98 76 54 32', password: user.password });
      assert.equal(page.status, 200);
      assert.equal(notice(page), '+49 1511 2345678 was changed to +33 6 98 76 54 32. Verify the new number: we text or call you a code.');
      const changed = listed(page).find((p) => p.id === primary.id)!;
      assert.deepEqual([changed.number, changed.status, changed.primary], ['+33698765432', 'Unverified', true]);
      assert.equal(await t.services.phones.primaryVerified(user.id), undefined);
      const account = (await t.services.accounts.findById(user.id))!;
      assert.ok(!(await t.services.factors.available(account)).includes('sms'), 'no codes to an unverified primary');
      await noticeSent(user.email, /The phone number \+49•+78 was changed to \+33•+32\./);

      page = await agent.submit(page, action(primary.id, 'verify'), { channel: 'sms' });
      page = await agent.submit(page, action(primary.id, 'code'), { code: textedCode('+33698765432') });
      assert.match(notice(page)!, /is verified and Active\./);
      assert.equal(await t.services.phones.primaryVerified(user.id), '+33698765432');
    });

    it('refuses malformed, too long and repeated numbers, arrays and duplicates with a clear 400, changing nothing', async () => {
      const page = await open(agent);
      const [first] = listed(page);
      const before = await stored();
      const cases: [string, RegExp][] = [
        ['', /Enter a phone number in international form/],
        ['06 12 34 56 78', /starting with \+ and the country code/],
        ['+33 6 12 34 56 78; DROP', /use only digits, spaces, dashes, dots and brackets/],
        ['+999 123 456', /starts with a country code we do not know/],
        ['+44 123', /is not a valid phone number/],
        ['+1', /is too short/],
        [`+33 ${'6'.repeat(40)}`, /A phone number is at most 32 characters\./],
        ['9'.repeat(10_000), /A phone number is at most 32 characters\./],
        ['+41 79 123 45 67', /\+41 79 123 45 67 is already on your list\./],
      ];
      for (const [number, message] of cases) {
        for (const to of [ADD, action(first!.id, 'change')]) {
          const res = await agent.submit(page, to, { number, password: user.password });
          assert.equal(res.status, 400, `${number.slice(0, 40)} → ${res.status}`);
          assert.match(error(res)!, message);
          assert.match(error(res)!, /Nothing was changed\.$/);
        }
      }
      const form = formOn(page, ADD);
      const csrf = encodeURIComponent(form.fields._csrf!);
      const password = encodeURIComponent(user.password);
      for (const body of ['number[]=%2B41791234568', 'number=%2B41791234568&number=%2B41791234569', 'number[a]=%2B41791234568']) {
        const res = await postRaw(agent, form.action, `_csrf=${csrf}&password=${password}&${body}`);
        assert.equal(res.status, 400, body);
        assert.equal(error(res), 'Enter one phone number. Nothing was changed.');
      }
      const noCsrf = await agent.request(form.action, { form: { number: '+41791234568', password: user.password } });
      assert.equal(noCsrf.status, 403);
      assert.deepEqual(await stored(), before);
    });

    it("refuses another account's phone id, unknown and malformed ids on every action (400, clear message)", async () => {
      const other = await createUser(t);
      const { phone: theirs } = await t.services.phones.add(other.id, '+33 7 81 23 45 67');
      const page = await open(agent);
      assert.ok(!page.body.includes('+33781234567'), "another account's numbers are not listed");
      const [first] = listed(page);
      const csrf = formOn(page, ADD).fields._csrf!;
      const before = await stored();
      for (const id of [theirs.id, randomBytes(9).toString('base64url'), 'x'.repeat(33), encodeURIComponent('../x'), `${first!.id}Z`]) {
        for (const what of ['verify', 'code', 'resend', 'primary', 'change', 'delete']) {
          const res = await agent.request(`${phonesUrl}/${id}/${what}`, { form: { _csrf: csrf, channel: 'sms', code: '123456', confirm: 'yes', number: '+33 7 98 76 54 32', password: user.password } });
          assert.equal(res.status, 400, `${id} ${what} → ${res.status}`);
          assert.equal(error(res), 'There is no such number on your list. Nothing was changed.', `${id} ${what}`);
        }
        for (const what of ['code?channel=sms', 'primary']) {
          const res = await agent.visit(`${phonesUrl}/${id}/${what}`);
          assert.equal(res.status, 400, `GET ${id} ${what}`);
          assert.equal(error(res), 'There is no such number on your list. Nothing was changed.');
        }
      }
      assert.deepEqual(await stored(), before);
      assert.deepEqual(await t.services.phones.list(other.id), [theirs]);
    });

    it('refuses changes without the right current password, and a blank one once the sign-in is older than 5 minutes', async () => {
      const page = await open(agent);
      const [first, second] = listed(page);
      const before = await stored();
      const attempts = async (pw: Record<string, string>) => [
        await agent.submit(page, ADD, { number: '+41 79 765 43 21', ...pw }),
        await agent.submit(page, action(first!.id, 'change'), { number: '+41 79 765 43 21', ...pw }),
        await agent.submit(page, action(second!.id, 'delete'), pw),
      ];
      for (const res of await attempts({ password: 'Wrong#Password9' })) {
        assert.equal(res.status, 400);
        assert.equal(error(res), 'Your current password is not right: nothing was changed.');
      }
      offsetMs += 6 * 60_000;
      for (const res of await attempts({})) {
        assert.equal(res.status, 400);
        assert.equal(error(res), 'Your current password is not right: nothing was changed.');
      }
      const form = formOn(page, ADD);
      const arrayPassword = await postRaw(agent, form.action, `_csrf=${encodeURIComponent(form.fields._csrf!)}&password[]=${encodeURIComponent(user.password)}&number=%2B41797654321`);
      assert.equal(arrayPassword.status, 400);
      assert.equal(error(arrayPassword), 'Your current password is not right: nothing was changed.');
      assert.deepEqual(await stored(), before);
    });
  });

  describe('the primary number while sign-ins send codes to it', () => {
    it('refuses to delete or change it while the second factor is SMS; other numbers, and later the primary, can go', async () => {
      const user = await createUser(t);
      const agent = await signedIn(user);
      await addVerified(agent, user, '+33 6 11 22 33 44');
      let page = await addVerified(agent, user, '+33 6 55 66 77 88');
      const [primary, other] = listed(page);
      assert.deepEqual([primary!.primary, other!.primary], [true, false]);
      await t.services.accounts.setSecondFactor(user.id, 'sms');
      page = await open(agent);
      assert.match(page.body, /Turn off text-message sign-in first/);
      const before = await t.services.phones.list(user.id);
      const form = formOn(page, ADD);
      for (const what of ['delete', 'change']) {
        const res = await agent.request(`${phonesUrl}/${primary!.id}/${what}`, { form: { _csrf: form.fields._csrf!, number: '+33 6 99 88 77 66', password: user.password } });
        assert.equal(res.status, 400, what);
        assert.equal(error(res), 'Turn off text-message sign-in first (on the security page), or make another mobile number your primary: your sign-in codes go to this number. Nothing was changed.');
      }
      assert.deepEqual(await t.services.phones.list(user.id), before);
      assert.equal(await t.services.phones.primaryVerified(user.id), '+33611223344');

      page = await agent.submit(page, action(other!.id, 'delete'), { password: user.password });
      assert.equal(notice(page), '+33 6 55 66 77 88 was deleted.');
      await t.services.accounts.setSecondFactor(user.id, undefined);
      page = await agent.submit(await open(agent), action(primary!.id, 'delete'), { password: user.password });
      assert.equal(notice(page), '+33 6 11 22 33 44 was deleted.');
      assert.deepEqual(await t.services.phones.list(user.id), []);
      assert.equal(await t.services.phones.primaryVerified(user.id), undefined);
    });

    it('refuses a sixth number', async () => {
      const user = await createUser(t);
      for (const n of ['+33611111111', '+33622222222', '+33633333333', '+33644444444', '+33655555555']) await t.services.phones.add(user.id, n);
      const agent = await signedIn(user);
      const page = await open(agent);
      assert.match(page.body, /5 of 5 numbers\./);
      const form = formOn(page, action(listed(page)[0]!.id, 'delete'));
      const res = await agent.request(phonesUrl, { form: { _csrf: form.fields._csrf!, number: '+33666666666', password: user.password } });
      assert.equal(res.status, 400);
      assert.equal(error(res), 'You have 5 numbers already, the most an account can have. Delete one first. Nothing was changed.');
      assert.equal((await t.services.phones.list(user.id)).length, 5);
    });
  });

  describe('a number verified in the organisation', () => {
    it('is Active at once for another member (no code sent), not for an outsider or another organisation', async () => {
      const orgs = t.services.organisations;
      const acme = await orgs.create(`Acme ${randomBytes(3).toString('hex')}`);
      const globex = await orgs.create(`Globex ${randomBytes(3).toString('hex')}`);
      const [alice, bob, carol, outsider, stranger] = await Promise.all([1, 2, 3, 4, 5].map(() => createUser(t)));
      for (const u of [alice!, bob!, carol!]) await orgs.addMember(acme.id, u.email);
      await orgs.addMember(globex.id, stranger!.email);

      const aliceAgent = await signedIn(alice!);
      assert.match(notice(await addVerified(aliceAgent, alice!, '+41 79 555 12 34'))!, /is verified and Active/);

      const sent = twilio.accepted.length;
      const bobAgent = await signedIn(bob!);
      const page = await add(bobAgent, bob!, '+41 79 555 12 34');
      assert.equal(page.status, 200);
      assert.equal(notice(page), '+41 79 555 12 34 was added. It is Active already: another member of your organisation verified it. It is your primary number.');
      assert.deepEqual(listed(page).map(({ status, primary }) => ({ status, primary })), [{ status: 'Active', primary: true }]);
      assert.equal(twilio.accepted.length, sent, 'no code was sent');
      assert.equal(await t.services.phones.primaryVerified(bob!.id), '+41795551234');
      await noticeSent(bob!.email, /The phone number \+41•+34 was added to your account \(verified by your organisation\)\./);

      for (const u of [outsider!, stranger!]) {
        const res = await add(await signedIn(u), u, '+41 79 555 12 34');
        assert.equal(notice(res), '+41 79 555 12 34 was added. Verify it now: we text or call you a code.', u.email);
        assert.equal((await t.services.phones.list(u.id))[0]!.status, 'unverified');
      }

      // alice and bob delete theirs: nobody in the organisation has it Active any more
      for (const [u, agent] of [[alice!, aliceAgent], [bob!, bobAgent]] as const) {
        const list = await open(agent);
        await agent.submit(list, action(listed(list)[0]!.id, 'delete'), { password: u.password });
      }
      const late = await add(await signedIn(carol!), carol!, '+41 79 555 12 34');
      assert.equal(notice(late), '+41 79 555 12 34 was added. Verify it now: we text or call you a code.');
    });
  });
});
