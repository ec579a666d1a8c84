// The second-factor step through the hosted pages, with emailed codes read from a real SMTP
// server: an account's routine factor, RP-driven step-up when email counts toward mfa, only the
// missing step for a signed-in session, code errors, and delivery failures.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, formOn, signIn, type Page, type TestUser } from '../support/flow.ts';
import { startSmtp, type Smtp } from '../support/mail.ts';
import { ACR } from '../../src/policy/assurance.ts';

const codeIn = (text: string) => /^Subject: (\d{6}) is your Tessera sign-in code/m.exec(text)![1]!;
/** A sign-in code email (not a new-device notice sent in the background meanwhile). */
const SIGN_IN_CODE = /^Subject: \d{6} is your Tessera sign-in code/m;

describe('second factor: emailed codes', () => {
  let smtp: Smtp;
  before(async () => { smtp = await startSmtp(); });
  after(() => smtp.close());

  /** Password, then land on the factor page. */
  async function toFactorPage(agent: UserAgent, url: string, user: TestUser): Promise<Page> {
    const login = await agent.visit(url);
    return agent.submit(login, /\/login$/, { email: user.email, password: user.password });
  }

  describe('an account whose routine second factor is email', () => {
    let t: Tessera;
    let rp: RelyingParty;
    let user: TestUser;
    before(async () => {
      t = await startTessera({ env: { SMTP_URL: smtp.url } });
      rp = await RelyingParty.register(t, { skipConsent: true });
      user = await createUser(t);
      await t.services.accounts.setSecondFactor(user.id, 'email');
    });
    after(() => t.close());

    it('asks for the emailed code after the password; acr stays pwd, amr says email', async () => {
      const agent = new UserAgent();
      const auth = await rp.authorize();
      const page = await toFactorPage(agent, auth.url, user);
      assert.match(page.body, /We emailed a 6-digit code to u\*+@example\.com/);
      assert.match(page.body, /Text me a code <span class="muted">\(no verified mobile number\)/, 'SMS shown disabled, with the reason');
      assert.match(page.body, /Call me with a code <span class="muted">\(no verified mobile number\)/);
      const mail = await smtp.waitFor(user.email, SIGN_IN_CODE);
      const done = await agent.submit(page, /\/factor$/, { code: codeIn(mail.text) });
      const tokens = await rp.tokens(done.url, auth);
      assert.equal(tokens.claims()!.acr, ACR.password, 'an email code is not a second factor by default');
      assert.deepEqual(tokens.claims()!.amr, ['pwd', 'email']);
    });

    it('keeps the code on reload (no second email), explains a wrong code, locks after 3 and refuses even the right one then', async () => {
      const agent = new UserAgent();
      const page = await toFactorPage(agent, (await rp.authorize()).url, user);
      const codesSent = () => smtp.received.filter((m) => m.to.includes(user.email) && SIGN_IN_CODE.test(m.text)).length;
      const before = codesSent();
      const reloaded = await agent.visit(page.url);
      assert.match(reloaded.body, /We emailed a 6-digit code/);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(codesSent(), before, 'a reload sends nothing new');
      const code = codeIn((await smtp.waitFor(user.email, SIGN_IN_CODE)).text);
      const wrong = code === '000000' ? '111111' : '000000';
      const first = await agent.submit(page, /\/factor$/, { code: wrong });
      assert.equal(first.status, 400);
      assert.match(first.body, /That code is not right\. 2 tries left/);
      await agent.submit(page, /\/factor$/, { code: wrong });
      const third = await agent.submit(page, /\/factor$/, { code: wrong });
      assert.match(third.body, /Too many wrong codes/);
      const right = await agent.submit(page, /\/factor$/, { code });
      assert.match(right.body, /Too many wrong codes/, 'locked until a new code');
      const resend = await agent.submit(page, /\/resend$/);
      assert.match(resend.body, /You can ask for the code again in \d+ s/, 'Resend waits a minute');
    });

    it('answers bad input with a clear message, never a 500', async () => {
      const agent = new UserAgent();
      const page = await toFactorPage(agent, (await rp.authorize()).url, user);
      const form = formOn(page, /\/factor$/);
      for (const fields of [{ code: 'abcdef' }, { code: '1'.repeat(5000) }, { method: 'totp', code: '123456' }, { method: 'nope', code: '123456' }] as Record<string, string>[]) {
        const res = await agent.request(form.action, { form: { ...form.fields, ...fields } });
        assert.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(fields).slice(0, 40)} → ${res.status}`);
      }
      const noCsrf = await agent.request(form.action, { form: { method: 'email', code: '123456' } });
      assert.equal(noCsrf.status, 403);
    });
  });

  describe('step-up when email counts toward mfa (MFA_EMAIL_COUNTS=true)', () => {
    let t: Tessera;
    let rp: RelyingParty;
    let user: TestUser;
    before(async () => {
      t = await startTessera({ env: { SMTP_URL: smtp.url, MFA_EMAIL_COUNTS: 'true' } });
      rp = await RelyingParty.register(t, { skipConsent: true });
      user = await createUser(t);
    });
    after(() => t.close());

    it('steps a pwd session up to mfa with only the code, then serves mfa silently', async () => {
      const agent = new UserAgent();
      const first = await rp.authorize();
      const pwdTokens = await rp.tokens(await signIn(agent, first.url, user), first);
      assert.equal(pwdTokens.claims()!.acr, ACR.password);

      const auth = await rp.authorize({ acr_values: ACR.mfa });
      const page = await agent.visit(auth.url);
      assert.match(page.body, /asks for a stronger sign-in/, 'the code step');
      assert.doesNotMatch(page.body, /name="password"/, 'not the password again');
      const done = await agent.submit(page, /\/factor$/, { code: codeIn((await smtp.waitFor(user.email, SIGN_IN_CODE)).text) });
      const claims = (await rp.tokens(done.url, auth)).claims()!;
      assert.equal(claims.acr, ACR.mfa);
      assert.deepEqual(claims.amr, ['pwd', 'email', 'mfa']);

      const silent = await rp.authorize({ acr_values: ACR.mfa, prompt: 'none' });
      const again = await agent.visit(silent.url);
      const silentClaims = (await rp.tokens(again.url, silent)).claims()!;
      assert.equal(silentClaims.acr, ACR.mfa, 'no prompt at mfa');
    });
  });

  describe('a delivery failure', () => {
    it('is shown with a way forward, not swallowed and not a 500', async () => {
      const t = await startTessera({ env: { SMTP_URL: 'smtp://127.0.0.1:1' } });
      try {
        const rp = await RelyingParty.register(t, { skipConsent: true });
        const user = await createUser(t);
        await t.services.accounts.setSecondFactor(user.id, 'email');
        const page = await toFactorPage(new UserAgent(), (await rp.authorize()).url, user);
        assert.equal(page.status, 200);
        assert.match(page.body, /We could not send the code by email right now/);
        assert.match(page.body, /Resend/);
      } finally {
        await t.close();
      }
    });
  });

  describe('the development outbox', () => {
    it('shows the emailed code at /dev/outbox in development, and does not exist otherwise', async () => {
      const dev = await startTessera({ env: { NODE_ENV: 'development' } });
      try {
        const rp = await RelyingParty.register(dev, { skipConsent: true });
        const user = await createUser(dev);
        await dev.services.accounts.setSecondFactor(user.id, 'email');
        const agent = new UserAgent();
        const page = await toFactorPage(agent, (await rp.authorize()).url, user);
        const outbox = await agent.visit(`${dev.issuer}/dev/outbox`);
        assert.equal(outbox.status, 200);
        const code = /(\d{6}) is your Tessera sign-in code/.exec(outbox.body)![1]!;
        const done = await agent.submit(page, /\/factor$/, { code });
        assert.ok(new URL(done.url).searchParams.get('code'), 'signed in with the code from the outbox');
      } finally {
        await dev.close();
      }
      const test = await startTessera();
      try {
        assert.equal((await fetch(`${test.issuer}/dev/outbox`)).status, 404);
      } finally {
        await test.close();
      }
    });
  });
});
