// The email address on the profile page (issue 20): changing it with a code sent to the new address
// (the old one is told, sign-in moves to the new one, audited), a wrong code, an address another
// account has, re-authentication, a crash between the change's writes, and verifying the address,
// which turns the email_verified claim a relying party receives true. Real HTTP, database and SMTP.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { freshDatabaseName, startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, formOn, RelyingParty, REDIRECT_URI, signIn, UserAgent, type Page, type TestUser } from '../support/flow.ts';
import { startSmtp, type Smtp } from '../support/mail.ts';

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0';
const CHANGE_CODE = /Use this code to confirm this address as the new email address of your account at Tessera:\s+(\d{6})/;
const VERIFY_CODE = /Use this code to verify the email address of your account at Tessera:\s+(\d{6})/;
const NOTICE = /The email address of your Tessera account was changed from this address to/;

const address = (label: string) => `${label}-${randomBytes(4).toString('hex')}@example.com`;
const wrongFor = (code: string) => (code === '000000' ? '111111' : '000000');

/** A small flow language over one Tessera and its SMTP listener. */
function flows(get: () => { t: Tessera; smtp: Smtp }) {
  const profileUrl = () => `${get().t.issuer}/account/security/profile`;
  return {
    /** A browser signed in to the security center as `user`, on the profile page. */
    async signedIn(user: { email: string; password: string }): Promise<{ agent: UserAgent; page: Page }> {
      const agent = new UserAgent({ 'user-agent': FIREFOX });
      const login = await agent.visit(profileUrl());
      await agent.visit((await agent.submit(login, /\/login$/, { email: user.email, password: user.password }, `${get().t.issuer}/account/`)).url);
      const page = await agent.visit(profileUrl());
      assert.equal(page.status, 200, page.body.slice(0, 300));
      return { agent, page };
    },
    /** Sends the change form (new address, and the password when given). */
    async askToChange(agent: UserAgent, to: string, password = ''): Promise<Page> {
      const form = formOn(await agent.visit(profileUrl()), /\/profile\/email$/);
      return agent.request(form.action, { form: { ...form.fields, email: to, password } });
    },
    /** Enters `code` on the code page. */
    async enter(agent: UserAgent, codePage: Page, code: string): Promise<Page> {
      const form = formOn(codePage, /\/code$/);
      return agent.request(form.action, { form: { ...form.fields, code } });
    },
    /** The newest code emailed to `to` whose body matches `words`. */
    async codeTo(to: string, words: RegExp, since = 0): Promise<string> {
      return words.exec((await get().smtp.waitFor(to, words, since)).text)![1]!;
    },
    /** Whether `email` and the password sign in to an application (else the sign-in page refuses them). */
    async signsIn(rp: RelyingParty, user: { email: string; password: string }): Promise<boolean> {
      const agent = new UserAgent();
      const page = await agent.submit(await agent.visit((await rp.authorize()).url), /\/login$/, { email: user.email, password: user.password });
      if (page.url.startsWith(REDIRECT_URI)) return true;
      assert.match(page.body, /Incorrect email or password\./, `refused as a wrong password (${page.status})`);
      return false;
    },
  };
}

describe('the email address on the profile page', function () {
  this.timeout(120_000);
  let t: Tessera;
  let smtp: Smtp;
  let rp: RelyingParty;
  let offset = 0;
  const f = flows(() => ({ t, smtp }));
  before(async () => {
    smtp = await startSmtp();
    t = await startTessera({ env: { SMTP_URL: smtp.url }, clock: () => new Date(Date.now() + offset) });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(async () => {
    await t.close();
    await smtp.close();
  });
  const audited = async (user: TestUser, type: 'account.email_changed' | 'account.email_verified') => {
    await t.services.audit.flush();
    return (await t.services.audit.query({ accountId: user.id, type })).events;
  };

  it('changes the email with a code sent to the new address: the old one is told, sign-in moves to the new one, audited', async () => {
    const user = await createUser(t, { email: address('before') });
    const to = address('After');
    const { agent } = await f.signedIn(user);
    const stampBefore = (await t.services.accounts.findById(user.id))!.stamp;

    const codePage = await f.askToChange(agent, `  ${to} `);
    assert.equal(codePage.status, 200, codePage.body.slice(0, 500));
    assert.match(codePage.body, /Confirm your new email address/);
    assert.match(codePage.body, /We emailed a 6-digit code to /);
    const code = await f.codeTo(to, CHANGE_CODE);
    assert.equal(smtp.received.filter((m) => m.to.includes(user.email) && CHANGE_CODE.test(m.text)).length, 0, 'no code to the old address');
    assert.equal((await t.services.accounts.findById(user.id))!.email, user.email, 'nothing changes before the code');

    const done = await f.enter(agent, codePage, code);
    assert.equal(done.status, 200, done.body.slice(0, 500));
    assert.match(done.body, new RegExp(`Your email address is now ${to}: sign in with it from now on\\.`));
    const account = (await t.services.accounts.findById(user.id))!;
    assert.equal(account.email, to, 'as typed (trimmed)');
    assert.equal(account.emailVerified, true, 'the code proved the new address');
    assert.equal(account.stamp, stampBefore + 1, 'sign-ins in progress stop');
    assert.match(done.body, /You sign in with <strong>[^<]+<\/strong>, and applications that ask for it receive it\. It is verified\./);

    // the old address is told what changed, when, from where, and what to do
    const notice = await smtp.waitFor(user.email, NOTICE);
    assert.match(notice.text, /to A\*+@example\.com\./, 'the new address, masked');
    assert.ok(!notice.text.includes(to), 'never in full');
    assert.match(notice.text, /from Firefox 126 on Linux \(IP 127\.0\.0\.1/);
    assert.match(notice.text, /If you did not: someone signed in to your account changed it\./);

    // sign-in: the new address (any case) works, the old one is refused like a wrong password
    assert.equal(await f.signsIn(rp, { email: to.toLowerCase(), password: user.password }), true);
    assert.equal(await f.signsIn(rp, user), false);
    assert.equal((await t.services.accounts.findByEmail(user.email)), undefined);
    // the session stays; the old address is free for another account
    assert.equal((await agent.visit(`${t.issuer}/account/security/profile`)).status, 200);
    await createUser(t, { email: user.email });

    const [event] = await audited(user, 'account.email_changed');
    assert.ok(event, 'audited');
    assert.equal(event.outcome, 'success');
    assert.match(String(event.details?.change), new RegExp(`from ${user.email} to ${to}`));
  });

  it('refuses a wrong code beside the field and changes nothing; the right one still works', async () => {
    const user = await createUser(t);
    const to = address('new');
    const { agent } = await f.signedIn(user);
    const codePage = await f.askToChange(agent, to);
    const code = await f.codeTo(to, CHANGE_CODE);
    const wrong = await f.enter(agent, codePage, wrongFor(code));
    assert.equal(wrong.status, 400);
    assert.match(wrong.body, /id="code"[^>]*aria-invalid="true" aria-describedby="code-error">\s*<p class="error" id="code-error" role="alert">That code is not right\. 2 tries left\.<\/p>/);
    assert.equal((await t.services.accounts.findById(user.id))!.email, user.email);
    assert.equal(await f.signsIn(rp, { email: to, password: user.password }), false);
    assert.equal((await f.enter(agent, wrong, code)).status, 200);
    assert.equal((await t.services.accounts.findById(user.id))!.email, to);
  });

  it('refuses an address another account has (without saying more) and the current address, sending nothing', async () => {
    const user = await createUser(t);
    const other = await createUser(t);
    const { agent } = await f.signedIn(user);
    const since = smtp.received.length;
    const taken = await f.askToChange(agent, `  ${other.email.toUpperCase()} `);
    assert.equal(taken.status, 400);
    assert.match(taken.body, /id="new-email"[^>]*aria-invalid="true" aria-describedby="new-email-error">\s*<p class="error" id="new-email-error">This address cannot be used for your account\. Choose another one\.<\/p>/);
    assert.match(taken.body, /Nothing was changed: correct the fields marked below\./);
    const same = await f.askToChange(agent, user.email.toUpperCase());
    assert.equal(same.status, 400);
    assert.match(same.body, /id="new-email-error">This is your email address already\.<\/p>/);
    const invalid = await f.askToChange(agent, 'not-an-address');
    assert.match(invalid.body, /id="new-email-error">&#34;not-an-address&#34; is not an email address\.<\/p>/);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(smtp.received.slice(since).filter((m) => m.to.includes(other.email) || CHANGE_CODE.test(m.text)).length, 0, 'no code went anywhere');
    assert.equal((await t.services.accounts.findById(other.id))!.email, other.email);
  });

  it('needs re-authentication: without a recent sign-in the current password, and without it nothing is said about the address', async () => {
    const user = await createUser(t);
    const other = await createUser(t);
    const to = address('reauth');
    const { agent } = await f.signedIn(user);
    offset += (t.config.account.reauthMinutes + 1) * 60_000;
    for (const password of ['', 'Wrong#Horse9']) {
      const refused = await f.askToChange(agent, to, password);
      assert.equal(refused.status, 400);
      assert.match(refused.body, /id="email-password-error">Your current password is not right, or needed again/);
      // whether another account has an address is no answer a stolen session gets
      const probe = await f.askToChange(agent, other.email, password);
      assert.doesNotMatch(probe.body, /cannot be used/);
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(smtp.received.filter((m) => m.to.includes(to) || m.to.includes(other.email)).length, 0, 'no code sent');
    const codePage = await f.askToChange(agent, to, user.password);
    assert.equal(codePage.status, 200);
    assert.equal((await f.enter(agent, codePage, await f.codeTo(to, CHANGE_CODE))).status, 200);
    assert.equal((await t.services.accounts.findById(user.id))!.email, to);
  });

  it('answers bad input beside the field, never with a 500, and changes nothing', async () => {
    const user = await createUser(t);
    const { agent } = await f.signedIn(user);
    for (const [typed, words] of [
      ['', /Enter the new email address\./], ['a@b', /is not an email address\./],
      [`${'x'.repeat(300)}@example.com`, /An email address has at most 254 characters\./],
      ['ad\u200bmin@example.com', /contains an invisible or control character/],
    ] as const) {
      const refused = await f.askToChange(agent, typed);
      assert.equal(refused.status, 400, typed);
      assert.match(refused.body, words);
    }
    const to = address('typed');
    const codePage = await f.askToChange(agent, to);
    for (const code of ['', 'abcdef', '1'.repeat(40)]) assert.equal((await f.enter(agent, codePage, code)).status, 400);
    assert.equal((await t.services.accounts.findById(user.id))!.email, user.email);
  });

  it('sends no code to an address the person did not ask for first (the code page\'s own forms)', async () => {
    const user = await createUser(t);
    const { agent } = await f.signedIn(user);
    const codePage = await f.askToChange(agent, address('asked'));
    const stranger = address('never-asked');
    for (const action of [/\/resend$/, /\/code$/]) {
      const form = formOn(codePage, action);
      const refused = await agent.request(form.action, { form: { ...form.fields, email: stranger, code: '123456' } });
      assert.equal(refused.status, 400);
      assert.match(refused.body, /No code was sent to that address yet/);
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(smtp.received.filter((m) => m.to.includes(stranger)).length, 0);
  });

  it('stops a sign-in in progress that started with the old address (the security stamp)', async () => {
    const user = await createUser(t);
    const { agent } = await f.signedIn(user);
    await t.services.accounts.setDeviceVerification(user.email, true);
    // another browser is past the password, at the new-device code sent to the old address
    const elsewhere = new UserAgent();
    const waiting = await elsewhere.submit(await elsewhere.visit((await rp.authorize()).url), /\/login$/, { email: user.email, password: user.password });
    assert.match(waiting.body, /action="\/interaction\/[^/]+\/device"/, 'the new-device code step');
    const deviceCode = /Use this code to [^:]*:\s+(\d{6})/.exec((await smtp.waitFor(user.email, /Use this code to finish signing in/)).text)![1]!;
    const to = address('moved');
    await f.enter(agent, await f.askToChange(agent, to), await f.codeTo(to, CHANGE_CODE));
    const form = formOn(waiting, /\/interaction\/[^/]+\/device$/);
    const stopped = await elsewhere.request(form.action, { form: { ...form.fields, code: deviceCode } });
    assert.equal(stopped.status, 409);
    assert.match(stopped.body, /This sign-in was stopped because the account changed/);
  });

  it('verifies the address with a code to it: the email_verified claim a relying party receives turns true', async () => {
    const user = await createUser(t);
    const claims = JSON.stringify({ id_token: { email: null, email_verified: null } });
    const before = await signInWith(rp, user, claims);
    assert.equal(before.idToken.email_verified, false);
    assert.equal((await oidc.fetchUserInfo(rp.config, before.accessToken, user.id)).email_verified, false);

    const { agent, page } = await f.signedIn(user);
    assert.match(page.body, /It is <strong>not verified<\/strong>/);
    const codePage = await agent.submit(page, /\/email-verification$/);
    assert.equal(codePage.status, 200, codePage.body.slice(0, 400));
    assert.match(codePage.body, /Verify your email address/);
    const code = await f.codeTo(user.email, VERIFY_CODE);
    const wrong = await f.enter(agent, codePage, wrongFor(code));
    assert.equal(wrong.status, 400);
    assert.equal((await t.services.accounts.findById(user.id))!.emailVerified, false);
    const done = await f.enter(agent, wrong, code);
    assert.equal(done.status, 200);
    assert.match(done.body, /is verified\. Applications are told so the next time they ask\./);
    assert.doesNotMatch(done.body, /Verify your email address/, 'nothing left to verify');
    assert.equal((await audited(user, 'account.email_verified')).length, 1);

    // the same access token now reads true at userinfo; a new ID token says so too
    assert.equal((await oidc.fetchUserInfo(rp.config, before.accessToken, user.id)).email_verified, true);
    const after = await signInWith(rp, user, claims);
    assert.equal(after.idToken.email_verified, true);
    assert.equal(after.idToken.email, user.email);
  });

  // last: it moves the clock past the deletion grace period
  it('an account deleted after an email change leaves neither address behind (the audit log names it by its pseudonym)', async () => {
    const user = await createUser(t, { email: address('first') });
    const to = address('second');
    const { agent } = await f.signedIn(user);
    assert.equal((await f.enter(agent, await f.askToChange(agent, to), await f.codeTo(to, CHANGE_CODE))).status, 200);
    const deletion = await agent.submit(await agent.visit(`${t.issuer}/account/security/delete`), /\/account\/security\/delete$/, { password: user.password });
    assert.match(deletion.body, /will be deleted on/);
    offset += (t.config.account.deletionGraceDays + 1) * 86_400_000;
    assert.ok((await t.services.deletion.sweep()).includes(user.id));
    await t.services.audit.flush();
    const db = t.services.db.connection.db!;
    const left: string[] = [];
    for (const { name } of await db.listCollections().toArray()) {
      for (const doc of await db.collection(name).find().toArray()) {
        const text = JSON.stringify(doc).toLowerCase();
        if ([user.id, user.email, to].some((n) => text.includes(n.toLowerCase()))) left.push(`${name}: ${JSON.stringify(doc).slice(0, 200)}`);
      }
    }
    assert.deepEqual(left, []);
  });
});

/** Signs in from a fresh browser asking for `claims`; the ID token's claims and the access token. */
async function signInWith(rp: RelyingParty, user: TestUser, claims: string) {
  const agent = new UserAgent();
  const auth = await rp.authorize({ claims });
  const tokens = await rp.tokens(await signIn(agent, auth.url, user), auth);
  return { idToken: tokens.claims()!, accessToken: tokens.access_token };
}

describe('codes to email addresses count on the hourly cap (RESEND_PER_HOUR=2)', function () {
  this.timeout(60_000);

  it('sends no more codes at the cap, and says nothing about the address then', async () => {
    const smtp = await startSmtp();
    const t = await startTessera({ env: { SMTP_URL: smtp.url, RESEND_PER_HOUR: '2' } });
    try {
      const f = flows(() => ({ t, smtp }));
      const user = await createUser(t);
      const other = await createUser(t);
      const { agent } = await f.signedIn(user);
      // a refused address counts too: no free lookups of who has an address
      assert.match((await f.askToChange(agent, other.email)).body, /cannot be used/);
      const first = address('first');
      assert.equal((await f.askToChange(agent, first)).status, 200);
      await f.codeTo(first, CHANGE_CODE);
      for (const to of [address('third'), other.email]) {
        const capped = await f.askToChange(agent, to);
        assert.equal(capped.status, 429);
        assert.match(capped.body, /id="new-email-error">No code was sent: codes were sent too often in the last hour\. Try again later\.<\/p>/);
        assert.doesNotMatch(capped.body, /cannot be used/);
      }
      const verify = await agent.submit(await agent.visit(`${t.issuer}/account/security/profile`), /\/email-verification$/);
      assert.equal(verify.status, 429);
      assert.match(verify.body, /id="verify-error">No code was sent/);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(smtp.received.filter((m) => CHANGE_CODE.test(m.text) || VERIFY_CODE.test(m.text)).length, 1, 'one code in all');
    } finally {
      await t.close();
      await smtp.close();
    }
  });
});

describe('an email change cut short by a crash', function () {
  this.timeout(300_000);

  it('after a crash following any of its writes the person signs in with one of the two addresses, can change it again, and no address is held twice', async () => {
    const smtp = await startSmtp();
    try {
      let total: number | undefined;
      for (let n = 0; total === undefined || n < total; n++) {
        const database = freshDatabaseName('email');
        const secrets = { cookieKeys: [randomBytes(32).toString('base64url')], encryptionKey: randomBytes(32).toString('base64') };
        const crashing = await startTessera({ database, secrets, env: { SMTP_URL: smtp.url }, testDatabase: { faults: true }, log: () => {}, serviceLog: () => {} });
        const port = (crashing.server.address() as AddressInfo).port;
        const faults = crashing.services.db.faults!;
        const user = await createUser(crashing, { email: address('crash-old') });
        const to = address('crash-new');
        const clientId = (await crashing.services.clients.create({ clientId: `rp-${randomBytes(4).toString('hex')}`, redirectUris: [REDIRECT_URI], public: true, skipConsent: true })).clientId;
        try {
          if (total === undefined) {
            const before = faults.writes;
            await crashing.services.accounts.changeEmail(user.id, user.email, to);
            total = faults.writes - before;
            assert.ok(total >= 3, `claim, account, release: ${total} writes`);
            n = -1;
            continue;
          }
          faults.crashAfter(n);
          await crashing.services.accounts.changeEmail(user.id, user.email, to).catch((err: unknown) => {
            if (!faults.crashed) throw err;
          });
          assert.ok(faults.crashed, `the change reached its write ${n + 1}`);
        } finally {
          crashing.server.closeAllConnections();
          await new Promise<void>((resolve) => crashing.server.close(() => resolve()));
          await crashing.services.close().catch(() => {});
        }

        const t = await startTessera({ database, secrets, port, env: { SMTP_URL: smtp.url } });
        try {
          const f = flows(() => ({ t, smtp }));
          const rp = await RelyingParty.discover(t.issuer, clientId);
          const now = (await t.services.accounts.findById(user.id))!.email;
          const other = now === to ? user.email : to;
          assert.ok(now === user.email || now === to, `the account has one of the two addresses (${now})`);
          assert.equal(await f.signsIn(rp, { email: now, password: user.password }), true, `signs in with ${now === to ? 'the new' : 'the old'} address after a crash after write ${n}`);
          assert.equal(await f.signsIn(rp, { email: other, password: user.password }), false, 'and not with the other');
          // the change can be made again (or, when it was made, back and forth) through the page
          const { agent } = await f.signedIn({ email: now, password: user.password });
          const since = smtp.received.length;
          const codePage = await f.askToChange(agent, other);
          assert.equal(codePage.status, 200, `after a crash after write ${n}: ${codePage.body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)}`);
          assert.equal((await f.enter(agent, codePage, await f.codeTo(other, CHANGE_CODE, since))).status, 200);
          assert.equal(await f.signsIn(rp, { email: other, password: user.password }), true);
          assert.equal(await f.signsIn(rp, { email: now, password: user.password }), false);
          // the address left behind is free; the one held is no other account's
          await createUser(t, { email: now });
          await assert.rejects(t.services.accounts.create({ email: other, password: 'Another#Horse7' }), { code: 'email_taken' });
        } catch (err) {
          (err as Error).message = `after a crash following write ${n} of ${total}: ${(err as Error).message}`;
          throw err;
        } finally {
          await t.close();
        }
      }
    } finally {
      await smtp.close();
    }
  });

  for (const guardsInServer of [false, true]) it(`two accounts changing to one address at once: one gets it, the lookup names it, the other is refused${guardsInServer ? ' (MongoDB\'s guard lines)' : ''}`, async () => {
    const t = await startTessera({ testDatabase: { guardsInServer } });
    try {
      const [a, b] = [await createUser(t), await createUser(t)];
      const to = address('contested');
      const results = await Promise.allSettled([a, b].map((u) => t.services.accounts.changeEmail(u.id, u.email, to)));
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1, JSON.stringify(results.map((r) => (r.status === 'rejected' ? (r.reason as { code?: string }).code : 'ok'))));
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.equal((lost.reason as { code?: string }).code, 'email_taken');
      const winner = (won[0] as PromiseFulfilledResult<{ id: string }>).value.id;
      assert.equal((await t.services.accounts.findByEmail(to))?.id, winner);
      const loser = winner === a.id ? b : a;
      assert.equal((await t.services.accounts.findByEmail(loser.email))?.id, loser.id, 'the other keeps its address');
    } finally {
      await t.close();
    }
  });
});
