// The account layer of user administration, against a real Tessera and its database: searching
// accounts (email or name, case-insensitive, taken literally, paged by cursor); the sign-in lockout
// (a locked account's right password fails on the real sign-in page exactly like a wrong one);
// invited accounts and admin password resets (no password works until the emailed set-password
// link sets one; the link is single-use under 20 parallel requests, expires on Tessera's clock,
// is replaced by a newer link, and survives a refused password); and removing every second
// factor of one account (TOTP, WebAuthn, recovery codes) without touching another's.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, type Page, type TestUser } from '../support/flow.ts';
import { AccountError } from '../../src/accounts/store.ts';
import { isExactIdFilter, recordCommands } from '../support/commands.ts';

const HOUR = 3_600_000;
const SIGN_IN_FAILED = 'Incorrect email or password.';
const GOOD_PASSWORD = 'Violet!Ferry82x';
const EXPIRED = 'This link has expired or was already used.';

const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&amp;/g, '&').replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'").replace(/\s+/g, ' ').trim();
/** The error messages a page shows (role="alert"), as text. */
const alert = (page: Page) => [...page.body.matchAll(/role="alert">([\s\S]*?)<\/(?:p|ul)>/g)].map((m) => text(m[1]!)).join(' | ');
/** The problems a refused form lists (its error list), joined by " | ". */
const problems = (page: Page) => [...(/<ul class="error"[^>]*>([\s\S]*?)<\/ul>/.exec(page.body)?.[1] ?? '').matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => text(m[1]!)).join(' | ');
const csrfOf = (page: Page) => /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;

describe('user administration: the account layer', () => {
  describe('search', () => {
    let t: Tessera;
    const emails: string[] = [];

    before(async () => {
      // its own database: exactly these 25 accounts
      t = await startTessera();
      const accounts = t.services.accounts;
      for (let i = 0; i < 22; i++) {
        const email = `member${String(i).padStart(2, '0')}@search.test`;
        emails.push(email);
        await accounts.createInvited({ email, name: i % 2 ? `Odd Person ${i}` : `Even Person ${i}` });
      }
      await accounts.create({ email: 'Mixed.Case@Example.Org', password: GOOD_PASSWORD, name: 'Zoë Capital' });
      await accounts.createInvited({ email: 'regex@example.org', name: 'Literal .* [x] (y) ^$ + ? {1} | \\ name' });
      await accounts.createInvited({ email: 'plain@example.org', name: 'Plain Name' });
      emails.push('Mixed.Case@Example.Org', 'regex@example.org', 'plain@example.org');
    });
    after(() => t.close());

    const search = (q: string | undefined, limit = 100, cursor?: string) =>
      t.services.accounts.search({ ...(q !== undefined ? { q } : {}), ...(cursor ? { cursor } : {}), limit });
    const emailsOf = (page: { accounts: { email: string }[] }) => page.accounts.map((a) => a.email);

    it('an empty query lists every account, ordered by email, without a next cursor', async () => {
      const all = await search(undefined);
      assert.equal(all.accounts.length, 25);
      assert.equal(all.next, undefined);
      assert.deepEqual(emailsOf(all), [...emails].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase())));
      assert.deepEqual(emailsOf(await search('')), emailsOf(all));
      assert.deepEqual(emailsOf(await search('   ')), emailsOf(all));
      // the lookup documents (and the backfill marker among them) are not accounts
      assert.ok(all.accounts.every((a) => a.email.includes('@')));
    });

    it('matches a substring of the email, whatever its case', async () => {
      assert.deepEqual(emailsOf(await search('MIXED.case')), ['Mixed.Case@Example.Org']);
      assert.deepEqual(emailsOf(await search('example.org')).sort(), ['Mixed.Case@Example.Org', 'plain@example.org', 'regex@example.org'].sort());
      assert.equal((await search('@SEARCH.TEST')).accounts.length, 22);
      assert.deepEqual(emailsOf(await search('member07')), ['member07@search.test']);
    });

    it('matches a substring of the name, whatever its case', async () => {
      const odd = await search('odd person');
      assert.equal(odd.accounts.length, 11);
      assert.ok(odd.accounts.every((a) => a.name.startsWith('Odd Person')));
      assert.deepEqual(emailsOf(await search('ZOË')), ['Mixed.Case@Example.Org']);
      assert.deepEqual(emailsOf(await search('plain name')), ['plain@example.org']);
      assert.deepEqual(await search('nobody-has-this'), { accounts: [] });
    });

    it('takes regular-expression characters literally', async () => {
      for (const q of ['.*', '[x]', '(y)', '^$', '+ ?', '{1}', '| \\']) {
        assert.deepEqual(emailsOf(await search(q)), ['regex@example.org'], q);
      }
      for (const q of ['^', '$', '.', '\\d', '[a-z]+', '(', 'a|b']) {
        const found = emailsOf(await search(q));
        // literal: '.' is in every email; the others only where the text holds them
        if (q === '.') assert.equal(found.length, 25);
        else if (q === '^' || q === '$' || q === '(') assert.deepEqual(found, ['regex@example.org'], q);
        else assert.deepEqual(found, [], q);
      }
    });

    it('pages 10 + 10 + 5 with cursors, in order, without repeats', async () => {
      const first = await search(undefined, 10);
      assert.equal(first.accounts.length, 10);
      assert.ok(first.next);
      const second = await search(undefined, 10, first.next);
      assert.equal(second.accounts.length, 10);
      assert.ok(second.next);
      const third = await search(undefined, 10, second.next);
      assert.equal(third.accounts.length, 5);
      assert.equal(third.next, undefined);
      assert.deepEqual([...emailsOf(first), ...emailsOf(second), ...emailsOf(third)], emailsOf(await search(undefined)));
      // with a query: 22 members as 10 + 10 + 2
      const a = await search('member', 10);
      const b = await search('member', 10, a.next);
      const c = await search('member', 10, b.next);
      assert.deepEqual([a.accounts.length, b.accounts.length, c.accounts.length, c.next], [10, 10, 2, undefined]);
      assert.deepEqual([...emailsOf(a), ...emailsOf(b), ...emailsOf(c)], emails.slice(0, 22));
      // exactly a full last page: no cursor to an empty page
      const exact = await search('@search.test', 22);
      assert.equal(exact.accounts.length, 22);
      assert.equal(exact.next, undefined);
    });

    it('refuses a cursor it did not make; cuts a very long query; bounds the page size', async () => {
      for (const cursor of ['not a cursor!', '%%%', 'a'.repeat(2000), 'bWVtYmVy=']) {
        await assert.rejects(search(undefined, 10, cursor), (err: unknown) => err instanceof AccountError && err.code === 'invalid_cursor', cursor);
      }
      assert.deepEqual(await search(`member07${'x'.repeat(10_000)}`), { accounts: [] });
      assert.equal((await search('member', 0)).accounts.length, 1);
      assert.equal((await search(undefined, 1000)).accounts.length, 25);
    });
  });

  describe('sign-in and set-password links', () => {
    let t: Tessera;
    let rp: RelyingParty;
    /** Tessera's clock runs with real time plus this offset (link expiry). */
    let offset = 0;
    const now = () => new Date(Date.now() + offset);

    before(async () => {
      t = await startTessera({ clock: now, env: { SET_PASSWORD_LINK_HOURS: '48' } });
      rp = await RelyingParty.register(t, { skipConsent: true });
    });
    after(() => t.close());
    afterEach(() => { offset = 0; });

    /** One sign-in attempt through the real pages, from a new browser; the page it ends on. */
    async function signInPage(email: string, password: string): Promise<Page> {
      const agent = new UserAgent();
      const page = await agent.visit((await rp.authorize()).url);
      return agent.submit(page, /\/login$/, { email, password });
    }
    const signsIn = async (email: string, password: string) => (await signInPage(email, password)).url.startsWith('http://127.0.0.1:9/callback');
    async function failsLikeWrongPassword(email: string, password: string) {
      const page = await signInPage(email, password);
      const wrong = await signInPage(email, 'Wrong!Password9');
      assert.equal(page.status, wrong.status);
      assert.equal(alert(page), SIGN_IN_FAILED);
      assert.equal(alert(wrong), SIGN_IN_FAILED);
      assert.ok(!page.url.startsWith('http://127.0.0.1:9/callback'));
    }

    const setPasswordUrl = (token: string) => `${t.issuer}/account/set-password?token=${encodeURIComponent(token)}`;
    async function openLink(token: string, agent = new UserAgent()): Promise<{ agent: UserAgent; page: Page }> {
      return { agent, page: await agent.visit(setPasswordUrl(token)) };
    }
    async function post(agent: UserAgent, page: Page, fields: Record<string, string>): Promise<Page> {
      return agent.submit(page, /\/account\/set-password$/, fields);
    }

    describe('lock', () => {
      it('a locked account: the right password fails on the sign-in page like a wrong one; unlock restores it', async () => {
        const user = await createUser(t);
        const locked = await t.services.accounts.setLocked(user.id, true);
        assert.equal(locked.locked, true);
        assert.equal((await t.services.accounts.findById(user.id))!.locked, true);
        await failsLikeWrongPassword(user.email, user.password);
        assert.equal(await t.services.accounts.authenticate(user.email, user.password), undefined);
        assert.equal(await (await t.services.accounts.signInLookup(user.email)).verify(user.password), undefined);

        const unlocked = await t.services.accounts.setLocked(user.id, false);
        assert.equal(unlocked.locked, false);
        assert.ok(await signsIn(user.email, user.password));
        assert.ok(await t.services.accounts.authenticate(user.email, user.password));
      });

      it('role, lock and disable by id answer the account as it is now; an unknown id is not_found', async () => {
        const user = await createUser(t);
        assert.equal((await t.services.accounts.setRole(user.id, 'admin')).role, 'admin');
        assert.equal((await t.services.accounts.findById(user.id))!.role, 'admin');
        assert.equal((await t.services.accounts.setRole(user.id, 'user')).role, 'user');
        await assert.rejects(t.services.accounts.setRole(user.id, 'root' as never), (err: unknown) => err instanceof AccountError && err.code === 'invalid_role');
        assert.equal((await t.services.accounts.setDisabledById(user.id, true)).disabled, true);
        assert.equal(await t.services.accounts.authenticate(user.email, user.password), undefined);
        assert.equal((await t.services.accounts.setDisabledById(user.id, false)).disabled, false);
        assert.ok(await t.services.accounts.authenticate(user.email, user.password));
        const missing = 'no-such-account';
        for (const act of [
          () => t.services.accounts.setRole(missing, 'admin'), () => t.services.accounts.setLocked(missing, true),
          () => t.services.accounts.setDisabledById(missing, true), () => t.services.accounts.requirePasswordReset(missing),
          () => t.services.accounts.setPassword(missing, GOOD_PASSWORD),
        ]) await assert.rejects(act(), (err: unknown) => err instanceof AccountError && err.code === 'not_found');
      });
    });

    describe('invited accounts', () => {
      async function invite(): Promise<{ id: string; email: string; token: string }> {
        const email = `invited-${randomBytes(4).toString('hex')}@example.com`;
        const account = await t.services.accounts.createInvited({ email, name: 'New Colleague' });
        // a test account: no new-device check at its first sign-in (as createUser)
        await t.services.accounts.setDeviceVerification(email, false);
        const token = await t.services.passwordLinks.issue(account.id, 'invite');
        return { id: account.id, email, token };
      }

      it('an invited account has no password that works, until the emailed link sets one', async () => {
        const email = `invited-${randomBytes(4).toString('hex')}@example.com`;
        const account = await t.services.accounts.createInvited({ email, name: 'New Colleague', role: 'admin' });
        await t.services.accounts.setDeviceVerification(email, false);
        assert.equal(account.passwordResetRequired, true);
        assert.equal(account.emailVerified, false);
        assert.equal(account.role, 'admin');
        await assert.rejects(t.services.accounts.createInvited({ email: email.toUpperCase() }), (err: unknown) => err instanceof AccountError && err.code === 'email_taken');
        await assert.rejects(t.services.accounts.createInvited({ email: 'not-an-email' }), (err: unknown) => err instanceof AccountError && err.code === 'invalid_email');
        for (const guess of ['', '!no-password', 'Correct#Horse1', GOOD_PASSWORD]) assert.equal(await t.services.accounts.authenticate(email, guess), undefined, guess);
        await failsLikeWrongPassword(email, GOOD_PASSWORD);
        await failsLikeWrongPassword(email, '!no-password');

        // the invitation as the admin service sends it, through the transports (outbox)
        const token = await t.services.passwordLinks.issue(account.id, 'invite');
        await t.services.transports.email(await t.services.messages.invitation(email, setPasswordUrl(token), t.config.account.setPasswordLinkHours));
        const mail = t.services.outbox.list().find((m) => m.channel === 'email' && m.to === email)!;
        assert.match(mail.subject ?? '', /set your password/);
        assert.match(mail.text, /expires in 48 hours/);
        const link = /(http:\/\/\S+\/account\/set-password\?token=\S+)/.exec(mail.text)![1]!;

        const agent = new UserAgent();
        const form = await agent.visit(link);
        assert.equal(form.status, 200);
        assert.equal(form.headers.get('referrer-policy'), 'no-referrer');
        assert.equal(form.headers.get('cache-control'), 'no-store');
        assert.match(form.body, /at least 8 characters/);
        assert.match(form.body, /name="_csrf"/);
        assert.ok(text(form.body).includes(email));
        const done = await post(agent, form, { password: GOOD_PASSWORD, confirm: GOOD_PASSWORD });
        assert.equal(done.status, 200, alert(done));
        assert.match(done.body, /Your password is set/);
        assert.match(done.body, /href="\/account\/security"/);
        assert.ok(!done.body.includes(token), 'the token is not on the result page');
        assert.equal(done.headers.get('referrer-policy'), 'no-referrer');

        const after = (await t.services.accounts.findById(account.id))!;
        assert.equal(after.passwordResetRequired, false);
        assert.equal(after.emailVerified, true);
        assert.ok(after.security.passwordChangedAt);
        assert.ok(await signsIn(email, GOOD_PASSWORD));
        // used: the link now answers the expired page
        const again = await agent.visit(link);
        assert.equal(again.status, 400);
        assert.equal(alert(again), EXPIRED);
      });

      it('the link is single-use: 20 parallel submissions, exactly one sets the password', async () => {
        const { email, token } = await invite();
        const { agent, page } = await openLink(token);
        const form = { _csrf: csrfOf(page), token, password: GOOD_PASSWORD, confirm: GOOD_PASSWORD };
        const results = await Promise.all(Array.from({ length: 20 }, () => agent.request(`${t.issuer}/account/set-password`, { form })));
        const statuses = results.map((r) => r.status).sort();
        assert.equal(results.filter((r) => r.status === 200 && /Your password is set/.test(r.body)).length, 1, statuses.join(','));
        assert.equal(results.filter((r) => r.status === 400 && alert(r) === EXPIRED).length, 19, statuses.join(','));
        assert.ok(await t.services.accounts.authenticate(email, GOOD_PASSWORD));
        assert.equal(await t.services.passwordLinks.check(token), undefined);
        assert.equal(await t.services.passwordLinks.redeem(token), undefined);
      });

      it('the link expires after SET_PASSWORD_LINK_HOURS on Tessera\'s clock', async () => {
        const { id, token } = await invite();
        offset = 48 * HOUR - 60_000;
        assert.deepEqual(await t.services.passwordLinks.check(token), { accountId: id, purpose: 'invite' });
        assert.equal((await openLink(token)).page.status, 200);
        // a form opened before the expiry and sent after it is refused too
        const { agent, page } = await openLink(token);
        offset = 48 * HOUR;
        const late = await post(agent, page, { password: GOOD_PASSWORD, confirm: GOOD_PASSWORD });
        assert.equal(late.status, 400);
        assert.equal(alert(late), EXPIRED);
        const expired = await openLink(token);
        assert.equal(expired.page.status, 400);
        assert.equal(alert(expired.page), EXPIRED);
        assert.equal(expired.page.headers.get('referrer-policy'), 'no-referrer');
        assert.equal(await t.services.passwordLinks.redeem(token), undefined);
        assert.equal((await t.services.accounts.findById(id))!.passwordResetRequired, true);
      });

      it('a newer link makes the earlier one unusable', async () => {
        const { id, email, token: first } = await invite();
        const second = await t.services.passwordLinks.issue(id, 'invite');
        assert.equal(await t.services.passwordLinks.check(first), undefined);
        const old = await openLink(first);
        assert.equal(old.page.status, 400);
        assert.equal(alert(old.page), EXPIRED);
        assert.equal(await t.services.passwordLinks.redeem(first), undefined);
        const { agent, page } = await openLink(second);
        assert.equal((await post(agent, page, { password: GOOD_PASSWORD, confirm: GOOD_PASSWORD })).status, 200);
        assert.ok(await t.services.accounts.authenticate(email, GOOD_PASSWORD));
      });

      it('a refused password is answered with each problem and leaves the link usable', async () => {
        const { email, token } = await invite();
        const { agent, page } = await openLink(token);
        const cases: [Record<string, string>, RegExp][] = [
          [{ password: GOOD_PASSWORD, confirm: `${GOOD_PASSWORD}x` }, /^The new password and its confirmation do not match\.$/],
          [{ password: '', confirm: '' }, /^Enter a new password\.$/],
          [{ password: 'short', confirm: 'short' }, /^The new password needs at least 8 characters\. \| The new password needs an upper-case letter\. \| The new password needs a digit\. \| The new password needs one of !@#\$%\^&\*\.$/],
          [{ password: 'Password1!', confirm: 'Password1!' }, /^The password is too common or too easy to guess/],
          // the account's own name and email address are refused (README "Security notes")
          [{ password: 'Colleague1!', confirm: 'Colleague1!' }, /^The password contains your name or email address \("colleague"\): choose one without it\.?$/],
          [{ password: `${email}1A!`, confirm: `${email}1A!` }, new RegExp(`^The password contains your name or email address \\("${email.replace(/[.]/g, '\\.')}"\\)`)],
        ];
        for (const [fields, expected] of cases) {
          const refused = await post(agent, page, fields);
          assert.equal(refused.status, 400, JSON.stringify(fields));
          assert.match(problems(refused) || alert(refused), expected);
          // the form is shown again, with the same token
          assert.match(refused.body, new RegExp(`name="token" value="${token}"`));
          assert.ok(await t.services.passwordLinks.check(token), 'the link is still usable');
        }
        assert.equal((await t.services.accounts.findById((await t.services.accounts.findByEmail(email))!.id))!.passwordResetRequired, true);
        assert.equal((await post(agent, page, { password: GOOD_PASSWORD, confirm: GOOD_PASSWORD })).status, 200);
        assert.ok(await t.services.accounts.authenticate(email, GOOD_PASSWORD));
      });

      it('the page reads and writes by _id only (the data-access rule)', async () => {
        const { token } = await invite();
        const recorder = recordCommands(t);
        try {
          const { agent, page } = await openLink(token);
          await post(agent, page, { password: 'short', confirm: 'short' });
          assert.equal((await post(agent, page, { password: GOOD_PASSWORD, confirm: GOOD_PASSWORD })).status, 200);
          await openLink(token);
        } finally {
          recorder.stop();
        }
        // MongoDB's conditional update (db.updateIf) is { $and: [{ _id }, condition] }: still an _id seek
        const byId = (f: Record<string, unknown>) => isExactIdFilter(f) || (t.services.db.kind === 'mongodb' && Array.isArray(f.$and) && isExactIdFilter(f.$and[0] as Record<string, unknown>));
        const offenders = recorder.commands.flatMap((c) => c.filters.filter((f) => !byId(f)).map((f) => `${c.name} ${c.collection} ${JSON.stringify(f)}`));
        assert.deepEqual(offenders, []);
        assert.ok(recorder.commands.some((c) => c.collection === 'password_links'));
      });

      it('bad tokens and bad input: the expired page (400), never a 500', async () => {
        const agent = new UserAgent();
        for (const url of ['', '?token=', '?token=abc', `?token=${'A'.repeat(43)}`, `?token=${'A'.repeat(5000)}`, '?token=a&token=b']) {
          const page = await agent.visit(`${t.issuer}/account/set-password${url}`);
          assert.equal(page.status, 400, url);
          assert.equal(alert(page), EXPIRED, url);
        }
        const { token } = await invite();
        const { page } = await openLink(token, agent);
        const csrf = csrfOf(page);
        const raw = async (body: string) => {
          const res = await fetch(`${t.issuer}/account/set-password`, { method: 'POST', redirect: 'manual', headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', cookie: await agent.jar.getCookieString(t.issuer) }, body });
          return { status: res.status, body: await res.text() };
        };
        assert.equal((await raw(`_csrf=${csrf}&token=${token}&token=${token}&password=x&confirm=x`)).status, 400);
        assert.equal((await raw(`_csrf=${csrf}&token[a]=1&password=x&confirm=x`)).status, 400);
        assert.equal((await raw(`_csrf=${csrf}&token=${token}&password[]=a&confirm[]=a`)).status, 400);
        // no CSRF token: refused before anything is looked at
        assert.equal((await raw(`token=${token}&password=${encodeURIComponent(GOOD_PASSWORD)}&confirm=${encodeURIComponent(GOOD_PASSWORD)}`)).status, 403);
        assert.ok(await t.services.passwordLinks.check(token), 'nothing spent the link');
      });
    });

    describe('admin password reset', () => {
      it('the old password stops working at once; setPassword restores sign-in', async () => {
        const user = await createUser(t);
        assert.ok(await signsIn(user.email, user.password));
        const reset = await t.services.accounts.requirePasswordReset(user.id);
        assert.equal(reset.passwordResetRequired, true);
        assert.equal(await t.services.accounts.authenticate(user.email, user.password), undefined);
        await failsLikeWrongPassword(user.email, user.password);
        // the security center's password change needs the current one: it no longer exists
        await assert.rejects(t.services.accounts.changePassword(user.id, user.password, GOOD_PASSWORD), (err: unknown) => err instanceof AccountError && err.code === 'wrong_password');

        await assert.rejects(t.services.accounts.setPassword(user.id, 'weak'), (err: unknown) => err instanceof AccountError && err.code === 'weak_password' && /at least 8 characters/.test(err.message));
        assert.equal((await t.services.accounts.findById(user.id))!.passwordResetRequired, true);
        const set = await t.services.accounts.setPassword(user.id, GOOD_PASSWORD);
        assert.equal(set.passwordResetRequired, false);
        assert.ok(await signsIn(user.email, GOOD_PASSWORD));
        assert.equal(await t.services.accounts.authenticate(user.email, user.password), undefined);
      });

      it('the reset email carries a link that sets the new password', async () => {
        const user = await createUser(t);
        await t.services.accounts.requirePasswordReset(user.id);
        const token = await t.services.passwordLinks.issue(user.id, 'reset');
        assert.deepEqual(await t.services.passwordLinks.check(token), { accountId: user.id, purpose: 'reset' });
        const message = await t.services.messages.passwordResetByAdmin(user.email, setPasswordUrl(token), 48);
        assert.match(message.html ?? '', /href="http:\/\/127\.0\.0\.1:\d+\/account\/set-password\?token=/);
        await t.services.transports.email(message);
        const mail = t.services.outbox.list().find((m) => m.channel === 'email' && m.to === user.email)!;
        assert.match(mail.subject ?? '', /password was reset/);
        const link = /(http:\/\/\S+\/account\/set-password\?token=\S+)/.exec(mail.text)![1]!;
        const agent = new UserAgent();
        const done = await post(agent, await agent.visit(link), { password: GOOD_PASSWORD, confirm: GOOD_PASSWORD });
        assert.equal(done.status, 200, alert(done));
        assert.ok(await signsIn(user.email, GOOD_PASSWORD));
      });

      it('the MFA reset notice', async () => {
        const mail = await t.services.messages.mfaReset('someone@example.com');
        assert.equal(mail.to, 'someone@example.com');
        assert.match(mail.subject, /two-factor methods were removed/);
        assert.match(mail.text, /removed by an administrator|An administrator removed/);
        assert.match(mail.text, /security page/);
        assert.match(mail.text, /contact your administrator/);
      });
    });
  });

  describe('removing every second factor of one account', () => {
    let t: Tessera;
    before(async () => { t = await startTessera(); });
    after(() => t.close());

    async function withTotp(user: TestUser) {
      const { secret } = await t.services.totp.begin(user.id, user.email);
      assert.ok(await t.services.totp.confirm(user.id, await generate({ secret, epoch: Math.floor(Date.now() / 1000) })));
    }

    /** Registers a key through the store's real verification: a software authenticator (ES256, attestation none). */
    async function withKey(user: TestUser, name: string) {
      const scope = `reg-${randomBytes(4).toString('hex')}`;
      const options = await t.services.webauthn.registrationOptions({ id: user.id, email: user.email }, scope);
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const jwk = publicKey.export({ format: 'jwk' });
      const coseKey = isoCBOR.encode(new Map<number, number | Uint8Array>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]));
      const credentialId = randomBytes(16);
      const counter = Buffer.alloc(4);
      const idLength = Buffer.alloc(2);
      idLength.writeUInt16BE(credentialId.length);
      const authData = Buffer.concat([
        createHash('sha256').update(new URL(t.issuer).hostname).digest(), Buffer.from([0x41]), counter, Buffer.alloc(16), idLength, credentialId, Buffer.from(coseKey),
      ]);
      const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', new Uint8Array(authData)]]) as never);
      const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin: new URL(t.issuer).origin }));
      const response = {
        id: credentialId.toString('base64url'), rawId: credentialId.toString('base64url'), type: 'public-key', clientExtensionResults: {},
        response: { clientDataJSON: clientDataJSON.toString('base64url'), attestationObject: Buffer.from(attestationObject).toString('base64url'), transports: ['usb'] },
      };
      const result = await t.services.webauthn.register({ id: user.id, email: user.email }, scope, JSON.stringify(response), name);
      assert.deepEqual(result, { ok: true });
    }

    async function factorsOf(user: TestUser) {
      return {
        totp: await t.services.totp.enrolled(user.id),
        keys: (await t.services.webauthn.list(user.id)).length,
        recovery: await t.services.recovery.remaining(user.id),
      };
    }

    it('removeAll in each store removes that account\'s credentials only', async () => {
      const alice = await createUser(t);
      const bob = await createUser(t);
      for (const user of [alice, bob]) {
        await withTotp(user);
        await withKey(user, 'Key one');
        await withKey(user, 'Key two');
        await t.services.recovery.generate(user.id);
      }
      const bobCodes = await t.services.recovery.generate(bob.id);
      await t.services.recovery.use(alice.id, (await t.services.recovery.generate(alice.id))[0]!);
      assert.deepEqual(await factorsOf(alice), { totp: true, keys: 2, recovery: 9 });
      assert.deepEqual(await factorsOf(bob), { totp: true, keys: 2, recovery: 10 });

      assert.equal(await t.services.totp.removeAll(alice.id), 1);
      assert.equal(await t.services.webauthn.removeAll(alice.id), 2);
      assert.equal(await t.services.recovery.removeAll(alice.id), 9);
      assert.deepEqual(await factorsOf(alice), { totp: false, keys: 0, recovery: 0 });
      assert.deepEqual(await factorsOf(bob), { totp: true, keys: 2, recovery: 10 });
      // bob's still work
      assert.ok(await t.services.recovery.use(bob.id, bobCodes[0]!));

      // nothing left: nothing removed
      assert.equal(await t.services.totp.removeAll(alice.id), 0);
      assert.equal(await t.services.webauthn.removeAll(alice.id), 0);
      assert.equal(await t.services.recovery.removeAll(alice.id), 0);
      assert.equal(await t.services.totp.removeAll('no-such-account'), 0);
      // and alice can set them up again
      await withTotp(alice);
      await withKey(alice, 'New key');
      assert.deepEqual(await factorsOf(alice), { totp: true, keys: 1, recovery: 0 });
    });
  });
});
