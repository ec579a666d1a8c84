// Self-service sign-up (issue 21): off by default (no link, its pages answer 404); on, the sign-in
// page links to a form whose emailed code proves the address before the account exists, and the
// person goes on to the application with tokens (email_verified true). An address that already
// has an account gets the same status, page and database work, its owner an email instead of a
// code, and every code is refused as a wrong one. Wrong and expired codes, allowed domains, the
// password rules beside their fields, twenty parallel right codes (one account), caps and bad
// input. Real HTTP, database, SMTP and OIDC client.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, formOn, RelyingParty, REDIRECT_URI, signIn, UserAgent, type Page } from '../support/flow.ts';
import { startSmtp, type Smtp } from '../support/mail.ts';
import { recordCommands } from '../support/commands.ts';

const PASSWORD = 'Lantern#Quiet7';
const CODE = /Use this code to confirm your email address and create your account at Tessera:\s+(\d{6})/;
const ATTEMPT = /Someone asked to create a Tessera account with this email address/;
const address = (label: string, domain = 'example.com') => `${label}-${randomBytes(4).toString('hex')}@${domain}`;
const wrongFor = (code: string) => (code === '000000' ? '111111' : '000000');

/** A small flow language over one Tessera with sign-up on, its SMTP listener and an application. */
function signUpFlows(get: () => { t: Tessera; smtp: Smtp; rp: RelyingParty }) {
  return {
    /** A fresh browser at the sign-in page of a new authorization request, and that request. */
    async atSignIn(params: Record<string, string> = {}) {
      const agent = new UserAgent();
      const auth = await get().rp.authorize(params);
      const login = await agent.visit(auth.url);
      assert.equal(login.status, 200, login.body.slice(0, 300));
      return { agent, auth, login };
    },
    /** The sign-up form, reached through the sign-in page's link. */
    async form(agent: UserAgent, login: Page): Promise<Page> {
      const href = /<a href="([^"]+\/sign-up)">Create an account<\/a>/.exec(login.body)?.[1];
      assert.ok(href, 'the sign-in page links to the sign-up form');
      const page = await agent.visit(new URL(href, login.url).href);
      assert.equal(page.status, 200, page.body.slice(0, 300));
      return page;
    },
    /** Sends the form as typed (no redirects followed). */
    async send(agent: UserAgent, form: Page, fields: Record<string, string>): Promise<Page> {
      const f = formOn(form, /\/sign-up$/);
      return agent.request(f.action, { form: { ...f.fields, confirm: fields.password ?? '', ...fields } });
    },
    async enter(agent: UserAgent, codePage: Page, code: string): Promise<Page> {
      const f = formOn(codePage, /\/sign-up\/code$/);
      return agent.request(f.action, { form: { ...f.fields, code } });
    },
    async codeTo(email: string): Promise<string> {
      return CODE.exec((await get().smtp.waitFor(email, CODE)).text)![1]!;
    },
  };
}

/** The page without what differs between any two requests (the interaction id, the CSRF token and the device-key challenge). */
const normalized = (page: Page, email: string) => page.body
  .replace(/\/interaction\/[\w-]+/g, '/interaction/UID')
  .replace(/name="_csrf" value="[^"]*"/g, 'name="_csrf" value="CSRF"')
  .replace(/name="device_challenge" value="[^"]*"/g, 'name="device_challenge" value="CHALLENGE"')
  .replaceAll(email, 'EMAIL');

describe('self-service sign-up', function () {
  this.timeout(180_000);
  let smtp: Smtp;
  let t: Tessera;
  let rp: RelyingParty;
  let offset = 0;
  const f = signUpFlows(() => ({ t, smtp, rp }));
  before(async () => {
    smtp = await startSmtp();
    t = await startTessera({ env: { SMTP_URL: smtp.url, SIGNUP_ENABLED: 'true', RESEND_PER_HOUR: '1000', CODE_LOCKOUT_AFTER: '100' }, clock: () => new Date(Date.now() + offset) });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(async () => {
    await t?.close();
    await smtp?.close();
  });
  afterEach(() => { offset = 0; });

  /** Walks a whole sign-up and returns the code page and the code page's browser. */
  async function toCodePage(email: string, name = 'Grace Hopper') {
    const { agent, auth, login } = await f.atSignIn();
    const sent = await f.send(agent, await f.form(agent, login), { email, name, password: PASSWORD });
    assert.equal(sent.status, 303, sent.body.slice(0, 400));
    const codePage = await agent.visit(new URL(sent.headers.get('location')!, sent.url).href);
    assert.equal(codePage.status, 200);
    return { agent, auth, sent, codePage };
  }

  describe('when it is off (the default)', () => {
    let off: Tessera;
    before(async () => { off = await startTessera({ env: { SMTP_URL: smtp.url } }); });
    after(async () => { await off?.close(); });

    it('shows no link, and its pages answer 404 for GET and for a POST with a valid CSRF token', async () => {
      const offRp = await RelyingParty.register(off, { skipConsent: true });
      const agent = new UserAgent();
      const login = await agent.visit((await offRp.authorize()).url);
      assert.equal(login.status, 200);
      assert.doesNotMatch(login.body, /sign-up|Create an account/);
      const base = login.url.replace(/\/$/, '');
      for (const path of ['/sign-up', '/sign-up/code']) {
        const page = await agent.request(`${base}${path}`);
        assert.equal(page.status, 404, path);
        assert.match(page.body, /There is no page here/, path);
      }
      const csrf = formOn(login, /\/login$/).fields._csrf!;
      const email = address('off');
      for (const path of ['/sign-up', '/sign-up/code', '/sign-up/resend']) {
        const page = await agent.request(`${base}${path}`, { form: { _csrf: csrf, email, name: 'Off', password: PASSWORD, confirm: PASSWORD, code: '123456' } });
        assert.equal(page.status, 404, path);
        assert.match(page.body, /There is no page here/);
      }
      await off.services.audit.flush();
      assert.equal(smtp.received.filter((m) => m.to.includes(email)).length, 0, 'nothing was sent');
      assert.equal(await off.services.accounts.findByEmail(email), undefined);
    });
  });

  it('signs up with an emailed code, then reaches the application with tokens (email_verified true), audited, this browser known', async () => {
    const email = address('ada');
    const { agent, auth, codePage } = await toCodePage(email, 'Ada Lovelace');
    assert.match(codePage.body, /We emailed a 6-digit code to/);
    assert.equal(await t.services.accounts.findByEmail(email), undefined, 'no account before the code');
    const done = await f.enter(agent, codePage, await f.codeTo(email));
    assert.equal(done.status, 303, done.body.slice(0, 400));
    const callback = (await agent.visit(new URL(done.headers.get('location')!, done.url).href)).url;
    assert.ok(callback.startsWith(REDIRECT_URI), callback);
    const tokens = await rp.tokens(callback, auth);
    const claims = tokens.claims()!;
    assert.deepEqual([...(claims.amr as string[])].sort(), ['email', 'pwd']);
    const info = await oidc.fetchUserInfo(rp.config, tokens.access_token, claims.sub);
    assert.equal(info.email, email);
    assert.equal(info.email_verified, true);
    assert.equal(info.name, 'Ada Lovelace');
    const account = await t.services.accounts.findByEmail(email);
    assert.ok(account?.emailVerified);
    await t.services.audit.flush();
    const audited = (await t.services.audit.query({ accountId: account.id, type: 'account.signed_up' })).events;
    assert.equal(audited.length, 1);
    assert.equal(audited[0]!.details.client, rp.clientId);
    // the browser that proved the code is the account's device: signing in again asks for no code
    const again = await signIn(agent, (await rp.authorize({ prompt: 'login' })).url, { email, password: PASSWORD });
    assert.ok(again.startsWith(REDIRECT_URI));
  });

  it('answers an address with an account exactly like a new one: same status, page and database work; its owner is emailed, nothing changes', async () => {
    const owner = await createUser(t, { name: 'Owner Person' });
    const before = await t.services.accounts.findById(owner.id);
    await toCodePage(address('warm-up')); // the IP's cap counter exists from here on for both
    const record = async (email: string) => {
      const { agent, login } = await f.atSignIn();
      const form = await f.form(agent, login);
      const recorder = recordCommands(t);
      const startedAt = performance.now();
      const sent = await f.send(agent, form, { email, name: 'Someone Else', password: PASSWORD });
      const ms = performance.now() - startedAt;
      recorder.stop();
      const codePage = await agent.visit(new URL(sent.headers.get('location')!, sent.url).href);
      const work = recorder.commands.filter((c) => c.collection !== 'audit_events').map((c) => `${c.name} ${c.collection}`).sort();
      return { agent, sent, codePage, work, ms };
    };
    const strangerEmail = address('nobody');
    const stranger = await record(strangerEmail);
    const known = await record(owner.email);
    assert.equal(known.sent.status, stranger.sent.status);
    assert.equal(known.sent.headers.get('location')!.replace(/\/interaction\/[\w-]+/, ''), stranger.sent.headers.get('location')!.replace(/\/interaction\/[\w-]+/, ''));
    assert.equal(known.codePage.status, stranger.codePage.status);
    assert.equal(normalized(known.codePage, owner.email), normalized(stranger.codePage, strangerEmail));
    assert.deepEqual(known.work, stranger.work, 'the same database commands on the same collections');

    // the owner learns of it, with no code in the message
    const notice = await smtp.waitFor(owner.email, ATTEMPT);
    assert.doesNotMatch(notice.text.replace(/^[\s\S]*?\r?\n\r?\n/, ''), /\b\d{6}\b/, 'no code in the email');
    assert.match(notice.text, /sign in with/);
    assert.match(notice.text, /Forgot password\?/);
    // every code is refused as a wrong one, in the same words as for a new address
    const strangerWrong = await f.enter(stranger.agent, stranger.codePage, '123456');
    for (const code of ['123456', '654321', '000000']) {
      const refused = await f.enter(known.agent, known.codePage, code);
      assert.equal(refused.status, 400);
      if (code === '123456') assert.equal(normalized(refused, owner.email), normalized(strangerWrong, strangerEmail));
    }
    const locked = await f.enter(known.agent, known.codePage, '111111');
    assert.match(locked.body, /Too many wrong codes/);
    // nothing changed: the same name, stamp and password
    const after = await t.services.accounts.findById(owner.id);
    assert.equal(after?.name, before?.name);
    assert.equal(after?.stamp, before?.stamp);
    assert.equal(after?.emailVerified, before?.emailVerified);
    assert.ok(await t.services.accounts.authenticate(owner.email, owner.password));

    // timing within the noise: medians of alternating attempts
    const times: Record<'known' | 'stranger', number[]> = { known: [], stranger: [] };
    for (let i = 0; i < 5; i++) {
      times.stranger.push((await record(address('timing'))).ms);
      times.known.push((await record(owner.email)).ms);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ratio = median(times.known) / median(times.stranger);
    assert.ok(ratio > 0.5 && ratio < 2, `known ${median(times.known).toFixed(1)} ms vs unknown ${median(times.stranger).toFixed(1)} ms`);
  });

  it('refuses a wrong code (tries left, then locked) and an expired one, and makes no account', async () => {
    const email = address('wrong');
    const { agent, codePage } = await toCodePage(email);
    const code = await f.codeTo(email);
    let page = await f.enter(agent, codePage, wrongFor(code));
    assert.equal(page.status, 400);
    assert.match(page.body, /id="code-error" role="alert">That code is not right\. 2 tries left\./);
    assert.match(page.body, /aria-invalid="true" aria-describedby="code-error"/);
    page = await f.enter(agent, page, wrongFor(code));
    page = await f.enter(agent, page, wrongFor(code));
    page = await f.enter(agent, page, code);
    assert.match(page.body, /Too many wrong codes/);
    assert.equal(await t.services.accounts.findByEmail(email), undefined);

    const late = address('late');
    const second = await toCodePage(late);
    const lateCode = await f.codeTo(late);
    offset = 16 * 60_000;
    const expired = await f.enter(second.agent, second.codePage, lateCode);
    assert.equal(expired.status, 400);
    assert.match(expired.body, /This sign-up expired or has not started: fill in the form to get a new code\./);
    assert.equal(await t.services.accounts.findByEmail(late), undefined);
  });

  it('shows each refused field beside itself (password rules, the name in the password, repeat, name, address) and sends nothing', async () => {
    const { agent, login } = await f.atSignIn();
    const form = await f.form(agent, login);
    const email = address('rules');
    const since = smtp.received.length;
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ email, name: 'Rule Tester', password: 'short' }, 'password', /The password needs at least 8 characters, an upper-case letter, a digit, one of !@#\$%\^&amp;\*\./],
      [{ email, name: 'Margaret', password: 'Margaret#2024x' }, 'password', /contains your name or email address/],
      [{ email, name: 'Rule Tester', password: PASSWORD, confirm: 'Lantern#Quiet8' }, 'confirm', /The password and its repeat do not match\./],
      [{ email, name: '   ', password: PASSWORD }, 'name', /Enter your name\./],
      [{ email: 'not-an-address', name: 'Rule Tester', password: PASSWORD }, 'email', /is not an email address/],
      [{ email: '', name: 'Rule Tester', password: PASSWORD }, 'email', /Enter your email address\./],
    ];
    for (const [fields, at, words] of cases) {
      const page = await f.send(agent, form, fields);
      assert.equal(page.status, 400, JSON.stringify(fields));
      assert.match(page.body, new RegExp(`aria-invalid="true" aria-describedby="${at}-error"`), JSON.stringify(fields));
      const message = new RegExp(`<p class="error" id="${at}-error" role="alert">([^<]*)</p>`).exec(page.body)?.[1];
      assert.match(message ?? '', words, JSON.stringify(fields));
      if (fields.name?.trim()) assert.match(page.body, new RegExp(`value="${fields.name}"`), 'what was typed stays');
    }
    assert.equal(smtp.received.slice(since).filter((m) => m.to.includes(email)).length, 0);
    assert.equal(await t.services.signUps.get(/\/interaction\/([\w-]+)/.exec(form.url)![1]!), undefined, 'no sign-up kept');
  });

  it('makes one account from twenty parallel submissions of the right code', async () => {
    const email = address('twenty');
    const { agent, codePage } = await toCodePage(email);
    const code = await f.codeTo(email);
    const answers = await Promise.all(Array.from({ length: 20 }, () => f.enter(agent, codePage, code)));
    const statuses = answers.map((a) => a.status);
    assert.equal(statuses.filter((s) => s === 303).length, 1, statuses.join(','));
    assert.ok(statuses.every((s) => s === 303 || s === 400 || s === 409), statuses.join(','));
    assert.equal((await t.services.accounts.list()).filter((a) => a.email === email).length, 1);
    await t.services.audit.flush();
    const account = await t.services.accounts.findByEmail(email);
    assert.equal((await t.services.audit.query({ accountId: account!.id, type: 'account.signed_up' })).events.length, 1);
  });

  it('refuses bad input without a 5xx and changes nothing', async () => {
    const { agent, login } = await f.atSignIn();
    const form = await f.form(agent, login);
    const action = formOn(form, /\/sign-up$/);
    const uid = /\/interaction\/([\w-]+)/.exec(form.url)![1]!;
    const base = action.action.replace(/\/sign-up$/, '');
    // no CSRF token
    assert.equal((await agent.request(action.action, { form: { email: address('x'), name: 'X', password: PASSWORD, confirm: PASSWORD } })).status, 403);
    // odd bodies: repeated keys, very long values, unicode, control characters
    const bodies: Record<string, string>[] = [
      { email: 'a'.repeat(5000), name: 'n', password: PASSWORD, confirm: PASSWORD },
      { email: `${'a'.repeat(250)}@example.com`, name: 'n', password: PASSWORD, confirm: PASSWORD },
      { email: address('ctl'), name: 'Bad\u0000Name', password: PASSWORD, confirm: PASSWORD },
      { email: 'ü@ñ.例', name: '名前', password: 'x'.repeat(2000), confirm: '' },
      { email: '\u200bzero@example.com', name: 'Zero', password: PASSWORD, confirm: PASSWORD },
    ];
    for (const body of bodies) {
      const page = await agent.request(action.action, { form: { ...action.fields, ...body } });
      assert.equal(page.status, 400, JSON.stringify(body).slice(0, 80));
      assert.match(page.body, /aria-invalid="true"/);
    }
    const repeated = await fetch(action.action, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: await agent.jar.getCookieString(action.action), accept: 'text/html' },
      body: `_csrf=${encodeURIComponent(action.fields._csrf!)}&email=a@example.com&email=b@example.com&name=X&password=${encodeURIComponent(PASSWORD)}&confirm=${encodeURIComponent(PASSWORD)}`,
    });
    assert.equal(repeated.status, 400);
    assert.equal(await t.services.signUps.get(uid), undefined, 'nothing was kept');
    // a code or Resend with no sign-up started: the form, with the way on
    for (const path of ['/sign-up/code', '/sign-up/resend']) {
      const page = await agent.request(`${base}${path}`, { form: { ...action.fields, code: '123456' } });
      assert.equal(page.status, 400, path);
      assert.match(page.body, /fill in the form to get a new code/);
    }
    // a code page for an interaction that is not this browser's
    assert.ok((await agent.request(`${t.issuer}/interaction/not-a-uid/sign-up`)).status < 500);
    // non-digit and over-long codes are wrong codes
    const email = address('junk');
    const started = await toCodePage(email);
    for (const junk of ['abcdef', '12345678901234567', '１２３４５６']) {
      const page = await f.enter(started.agent, started.codePage, junk);
      assert.ok(page.status === 400, `${junk}: ${page.status}`);
    }
    assert.equal(await t.services.accounts.findByEmail(email), undefined);
  });

  describe('with allowed domains and small caps', () => {
    let limited: Tessera;
    let limitedRp: RelyingParty;
    const g = signUpFlows(() => ({ t: limited, smtp, rp: limitedRp }));
    before(async () => {
      limited = await startTessera({ env: { SMTP_URL: smtp.url, SIGNUP_ENABLED: 'true', SIGNUP_ALLOWED_DOMAINS: 'example.org,staff.example.org', RESEND_PER_HOUR: '3', CODE_LOCKOUT_AFTER: '3' } });
      limitedRp = await RelyingParty.register(limited, { skipConsent: true });
    });
    after(async () => { await limited?.close(); });

    it('refuses an address outside the allowed domains beside the field, accepts one inside; wrong codes lock code entry; codes sent from one network are capped', async () => {
      const { agent, login } = await g.atSignIn();
      const form = await g.form(agent, login);
      assert.match(form.body, /Accounts here are for addresses at example\.org, staff\.example\.org\./);
      const outside = address('out', 'example.com');
      const refused = await g.send(agent, form, { email: outside, name: 'Out Side', password: PASSWORD });
      assert.equal(refused.status, 400);
      assert.match(refused.body, /<p class="error" id="email-error" role="alert">Accounts here are only for addresses at example\.org, staff\.example\.org\. Use your address there\.<\/p>/);
      // a look-alike is no subdomain
      assert.equal((await g.send(agent, form, { email: address('evil', 'example.org.evil.com'), name: 'Evil', password: PASSWORD })).status, 400);
      assert.equal(smtp.received.filter((m) => m.to.includes(outside)).length, 0);

      const inside = address('in', 'Example.ORG');
      const accepted = await g.send(agent, form, { email: inside, name: 'In Side', password: PASSWORD });
      assert.equal(accepted.status, 303);
      // (the mail's envelope carries the domain in lower case)
      const code = CODE.exec((await smtp.waitFor(inside.replace(/@.*/, '@example.org'), CODE)).text)![1]!;
      // CODE_LOCKOUT_AFTER=3 wrong codes: then even the right one waits (429), and no account is made
      let codePage = await agent.visit(new URL(accepted.headers.get('location')!, accepted.url).href);
      for (let i = 0; i < 3; i++) codePage = await g.enter(agent, codePage, wrongFor(code));
      const waiting = await g.enter(agent, codePage, code);
      assert.equal(waiting.status, 429);
      assert.match(waiting.body, /Too many wrong codes were entered for this address/);
      assert.equal(await limited.services.accounts.findByEmail(inside), undefined);
      // RESEND_PER_HOUR=3 codes an hour per address and per network: the fourth form sends nothing
      await g.send(agent, form, { email: address('second', 'example.org'), name: 'Second', password: PASSWORD });
      await g.send(agent, form, { email: address('third', 'example.org'), name: 'Second', password: PASSWORD });
      const third = address('fourth', 'example.org');
      const capped = await g.send(agent, form, { email: third, name: 'Fourth', password: PASSWORD });
      assert.equal(capped.status, 429);
      assert.match(capped.body, /No code was sent: too many codes were asked for/);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(smtp.received.filter((m) => m.to.includes(third)).length, 0);
    });
  });
});
