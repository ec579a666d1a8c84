// The admin console (/admin) through real HTTP, the real database and Tessera's own sign-in: who
// gets in (a visitor is sent through /auth as tessera-admin, a non-admin gets 403 pages, an admin
// with a password-only session is stepped up to the second factor), then, as an admin signed in
// with password and authenticator app: clients (the secret shown once, a javascript: redirect URI
// refused with nothing changed, rotation and deletion confirmed with re-authentication), users
// (search and paging, confirmed actions), devices, organisations, the audit log with its filters
// and CSV export, CSRF, and the re-authentication window on Tessera's clock. Bad input is a 4xx
// page and changes nothing; never a 500.
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, formOn, signIn, type Page, type TestUser } from '../support/flow.ts';
import { REAUTH_REFUSED } from '../../src/account/area.ts';

const MINUTE = 60_000;
const PASSWORD = 'Correct#Horse1';

/** The page's text without tags, entities decoded, whitespace collapsed. */
const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&amp;/g, '&').replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/\s+/g, ' ').trim();
/** What a page says as an error (role="alert"). */
const alert = (page: Page) => [...page.body.matchAll(/role="alert">([\s\S]*?)<\/(p|ul)>/g)].map((m) => text(m[1]!)).join(' | ');
const notice = (page: Page) => text(/role="status">([\s\S]*?)<\/p>/.exec(page.body)?.[1] ?? '');
const heading = (page: Page) => text(/<h1>([\s\S]*?)<\/h1>/.exec(page.body)?.[1] ?? '');
const isSignInPage = (page: Page) => /action="[^"]*\/login"/.test(page.body);

/** Retries `check` for a while (generously: a busy machine is slow): audit events are written in the background. */
async function eventually(check: () => Promise<void>): Promise<void> {
  for (const deadline = Date.now() + 20_000; ;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** A POST with a hand-made form body (repeated keys, missing fields) and the agent's cookies. */
async function postRaw(agent: UserAgent, target: string, body: string): Promise<Page> {
  const headers: Record<string, string> = { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', ...agent.headers };
  const cookie = await agent.jar.getCookieString(target);
  if (cookie) headers.cookie = cookie;
  const res = await fetch(target, { method: 'POST', headers, body, redirect: 'manual' });
  return { url: target, status: res.status, headers: res.headers, body: await res.text() };
}

describe('admin console (/admin)', () => {
  let t: Tessera;
  /** Tessera's clock runs with real time plus this offset. */
  let offset = 0;
  const now = () => new Date(Date.now() + offset);
  const failures: unknown[] = [];
  const url = (path: string) => `${t.issuer}${path}`;

  before(async () => {
    t = await startTessera({ clock: now, log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
  });
  after(() => t?.close());
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  /** An account with role admin and an authenticator app; returns it and its TOTP secret. */
  async function makeAdmin(): Promise<TestUser & { secret: string; lastStep: number }> {
    const user = await createUser(t, { name: 'Grace Admin' });
    await t.services.accounts.setRole(user.id, 'admin');
    const { secret } = await t.services.totp.begin(user.id, user.email);
    const step = Math.floor(now().getTime() / 30_000);
    assert.ok(await t.services.totp.confirm(user.id, await generate({ secret, epoch: step * 30 })));
    return { ...user, secret, lastStep: step };
  }

  /** A code of the app for a step after every code used so far (Tessera's clock moves on when it must). */
  function appCode(admin: { secret: string; lastStep: number }): Promise<string> {
    let step = Math.floor(now().getTime() / 30_000) + 1;
    if (step <= admin.lastStep) {
      offset += (admin.lastStep + 1 - step) * 30_000;
      step = admin.lastStep + 1;
    }
    admin.lastStep = step;
    return generate({ secret: admin.secret, epoch: step * 30 });
  }

  /** Signs in to the console from this browser with password and app code; returns the overview. */
  async function signInToConsole(agent: UserAgent, admin: TestUser & { secret: string; lastStep: number }): Promise<Page> {
    let page = await agent.visit(url('/admin'));
    if (isSignInPage(page)) page = await agent.submit(page, /\/login$/, { email: admin.email, password: admin.password });
    assert.match(page.body, /authenticator app/, 'the second factor is asked for');
    page = await agent.submit(page, /\/factor$/, { code: await appCode(admin) });
    assert.equal(page.status, 200, page.body.slice(0, 500));
    assert.equal(heading(page), 'Administration');
    return page;
  }

  describe('who gets in', () => {
    it('sends a visitor through /auth as tessera-admin (PKCE S256, state = the page), and back to that page', async () => {
      const agent = new UserAgent();
      const res = await agent.request(url('/admin/clients'));
      assert.equal(res.status, 302);
      const auth = new URL(res.headers.get('location')!);
      assert.equal(auth.origin + auth.pathname, url('/auth'));
      assert.equal(auth.searchParams.get('client_id'), 'tessera-admin');
      assert.equal(auth.searchParams.get('redirect_uri'), url('/admin/callback'));
      assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
      assert.match(auth.searchParams.get('code_challenge')!, /^[\w-]{43}$/);
      assert.equal(auth.searchParams.get('state'), '/admin/clients');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const client = await t.services.clients.find('tessera-admin');
      assert.ok(client, 'the console client is made on first use');
      assert.deepEqual(client.redirectUris, [url('/admin/callback')]);
      assert.equal(client.minimumAcr, 'urn:tessera:acr:mfa');
      assert.equal(client.skipConsent, true);

      const admin = await makeAdmin();
      let page = await agent.visit(res.headers.get('location')!);
      page = await agent.submit(page, /\/login$/, { email: admin.email, password: admin.password });
      page = await agent.submit(page, /\/factor$/, { code: await appCode(admin) });
      assert.equal(page.url, url('/admin/clients'), 'back to the page asked for');
      assert.equal(heading(page), 'Clients');
    });

    it('returns only to console pages from the callback', async () => {
      const agent = new UserAgent();
      for (const state of ['https://evil.example/admin', '//evil.example/admin', '/admin/api/v1/users', '/account/security', '/admin/../account']) {
        const res = await agent.request(url(`/admin/callback?state=${encodeURIComponent(state)}&code=x`));
        assert.equal(res.status, 302);
        assert.equal(res.headers.get('location'), '/admin', state);
      }
      const ok = await agent.request(url('/admin/callback?state=%2Fadmin%2Fusers&code=x'));
      assert.equal(ok.headers.get('location'), '/admin/users');
      const refused = await agent.request(url('/admin/callback?error=unmet_authentication_requirements&state=%2Fadmin'));
      assert.equal(refused.status, 403);
      assert.match(text(refused.body), /needs a sign-in with a second factor/);
    });

    it('refuses a non-admin who opens /admin right after the password: no code, no authenticator set up, a way on', async () => {
      const user = await createUser(t, { deviceVerification: true });
      const agent = new UserAgent();
      const res = await agent.request(url('/admin'));
      let page = await agent.visit(res.headers.get('location')!);
      page = await agent.submit(page, /\/login$/, { email: user.email, password: user.password });
      assert.equal(page.status, 403);
      assert.equal(heading(page), 'You need an administrator account');
      assert.match(text(page.body), /is not an administrator account/);
      assert.match(page.body, /href="\/account\/security"/, 'a way on: the security center');
      assert.equal(await t.services.totp.enrolled(user.id), false, 'no authenticator app set up');
      assert.equal(t.services.outbox.list().filter((m) => m.to === user.email && /code/i.test(m.subject ?? '')).length, 0, 'no code sent');
    });

    it('shows a signed-in non-admin (and a disabled admin) the 403 page on every console page, without a step-up', async () => {
      const user = await createUser(t);
      const rp = await RelyingParty.register(t, { skipConsent: true });
      const agent = new UserAgent();
      await signIn(agent, (await rp.authorize()).url, user);
      for (const path of ['/admin', '/admin/clients', '/admin/clients/new', '/admin/users', `/admin/users/${user.id}`, '/admin/organisations', '/admin/audit', '/admin/audit/export']) {
        const res = await agent.request(url(path));
        assert.equal(res.status, 403, path);
        assert.equal(heading(res), 'You need an administrator account', path);
        assert.equal(res.headers.get('cache-control'), 'no-store');
      }
      const post = await postRaw(agent, url('/admin/clients'), 'clientId=x&redirectUris=https://x.example/cb');
      assert.equal(post.status, 403, 'a form post is refused as well');
      assert.equal(await t.services.clients.find('x'), undefined);

      const admin = await makeAdmin();
      const adminAgent = new UserAgent();
      await signInToConsole(adminAgent, admin);
      await t.services.accounts.setDisabledById(admin.id, true);
      const disabled = await adminAgent.request(url('/admin/clients'));
      assert.equal(disabled.status, 403);
      assert.equal(heading(disabled), 'You need an administrator account');
    });

    it('steps up an admin whose session has only a password: /auth as tessera-admin, then only the second factor', async () => {
      const admin = await makeAdmin();
      const rp = await RelyingParty.register(t, { skipConsent: true });
      const agent = new UserAgent();
      await signIn(agent, (await rp.authorize()).url, admin);
      const res = await agent.request(url('/admin/users'));
      assert.equal(res.status, 302);
      const auth = new URL(res.headers.get('location')!);
      assert.equal(auth.pathname, '/auth');
      assert.equal(auth.searchParams.get('client_id'), 'tessera-admin');
      const factor = await agent.visit(auth.href);
      assert.ok(!isSignInPage(factor), 'the password is not asked again');
      assert.match(factor.body, /authenticator app/);
      const page = await agent.submit(factor, /\/factor$/, { code: await appCode(admin) });
      assert.equal(page.url, url('/admin/users'));
      assert.equal(heading(page), 'Users');
    });
    it('sends an admin whose session locked (screen lock) to the PIN page; unlocked, the console opens again', async () => {
      const admin = await makeAdmin();
      const agent = new UserAgent();
      await signInToConsole(agent, admin);
      await t.services.accounts.setPin(admin.id, '4826');
      await t.services.accounts.setSessionSettings(admin.id, { screenLockMinutes: 5 });
      offset += 6 * MINUTE;
      const res = await agent.request(url('/admin/users'));
      assert.equal(res.status, 302);
      assert.equal(res.headers.get('location'), '/account/unlock?back=%2Fadmin%2Fusers');
      const unlock = await agent.visit(url(res.headers.get('location')!));
      assert.match(unlock.body, /Enter your PIN/);
      // the PIN returns to the console page the admin asked for
      const page = await agent.submit(unlock, /\/account\/unlock$/, { pin: '4826' });
      assert.equal(page.status, 200);
      assert.equal(page.url, url('/admin/users'));
      assert.equal(heading(page), 'Users');
    });
  });

  describe('as a signed-in admin', () => {
    let admin: TestUser & { secret: string; lastStep: number };
    let agent: UserAgent;
    /** An account the users tests locked and unlocked (the audit tests filter on it). */
    let lockedEmail = '';

    before(async () => {
      admin = await makeAdmin();
      agent = new UserAgent();
      await signInToConsole(agent, admin);
    });

    const open = async (path: string, status = 200) => {
      const page = await agent.visit(url(path));
      assert.equal(page.status, status, `${path}: ${page.body.slice(0, 600)}`);
      return page;
    };

    const CLIENT_FORM = {
      clientId: 'shop-web', name: 'Shop', redirectUris: 'https://shop.example/callback\nhttp://127.0.0.1:8080/cb', postLogoutRedirectUris: 'https://shop.example/bye',
      grant_refresh_token: 'on', authMethod: 'client_secret_basic', minimumAcr: '', pkce: 'required', skipConsent: 'on', backchannelLogoutUri: '',
    };

    it('shows the overview with counts and links', async () => {
      const page = await open('/admin');
      for (const link of ['/admin/clients', '/admin/users', '/admin/organisations', '/admin/audit']) assert.ok(page.body.includes(`href="${link}"`), link);
      assert.match(text(page.body), /\d+ clients/);
      assert.match(text(page.body), /\d+ users/);
      assert.match(text(page.body), new RegExp(`Signed in as ${admin.email}`));
      assert.ok(page.body.includes('href="/session/end?client_id=tessera-admin">Sign out</a>'), 'a way to sign out');
    });

    it('lists a refused action as refused on the overview, not as done, and names accounts by email in the audit log', async () => {
      const form = await open('/admin/clients/new');
      const refused = await agent.submit(form, /\/admin\/clients$/, { ...CLIENT_FORM, clientId: 'bad client!' });
      assert.equal(refused.status, 400);
      assert.match(alert(refused), /Nothing was saved/);
      const overview = await open('/admin');
      const rowText = [...overview.body.matchAll(/<tr>(.*?)<\/tr>/gs)].map((m) => text(m[1]!)).find((r) => r.includes('bad client!'));
      assert.ok(rowText, 'the refused creation is listed');
      assert.match(rowText, /admin\.client\.created refused/);
      assert.doesNotMatch(rowText, / done /);
      // an event that names its account only by id (a sign-in) shows the email
      const user = await createUser(t);
      await signIn(new UserAgent(), (await (await RelyingParty.register(t, { skipConsent: true })).authorize()).url, user);
      const log = await open(`/admin/audit?account=${encodeURIComponent(user.email)}`);
      assert.equal(log.status, 200);
      assert.ok(text(log.body).includes(user.email), 'the account is named by its email');
      assert.ok(!text(log.body).includes(user.id.slice(0, 8)), 'not by a raw id');
    });

    it('creates a client: the secret is shown once, with a warning, and never again', async () => {
      const form = await open('/admin/clients/new');
      const created = await agent.submit(form, /\/admin\/clients$/, CLIENT_FORM);
      assert.equal(created.status, 201);
      assert.match(text(created.body), /Copy the secret now\. It is shown only on this page/);
      const secret = /<code class="secret" id="client-secret">([^<]+)<\/code>/.exec(created.body)![1]!;
      assert.match(secret, /^[\w-]{40,}$/);
      const stored = (await t.services.clients.find('shop-web'))!;
      assert.equal(stored.clientSecret, secret, 'the secret shown is the one that works');
      assert.deepEqual(stored.redirectUris, ['https://shop.example/callback', 'http://127.0.0.1:8080/cb']);
      assert.deepEqual(stored.grantTypes, ['authorization_code', 'refresh_token']);
      assert.equal(stored.skipConsent, true);

      const page = await open('/admin/clients/shop-web');
      assert.ok(!page.body.includes(secret), 'the client page never shows the secret');
      assert.match(page.body, /https:\/\/shop\.example\/callback/);
      const list = await open('/admin/clients');
      assert.ok(!list.body.includes(secret));
      assert.match(list.body, /shop-web/);
      assert.equal(created.headers.get('cache-control'), 'no-store');

      const again = await agent.submit(await open('/admin/clients/new'), /\/admin\/clients$/, CLIENT_FORM);
      assert.equal(again.status, 409);
      assert.match(alert(again), /already exists/);
      assert.equal((await t.services.clients.find('shop-web'))!.clientSecret, secret, 'nothing changed');
    });

    it('refuses a javascript: redirect URI on edit with the message and the typed values (400), changing nothing', async () => {
      const before = (await t.services.clients.find('shop-web'))!;
      const page = await open('/admin/clients/shop-web');
      const refused = await agent.submit(page, /\/admin\/clients\/shop-web$/, { ...CLIENT_FORM, name: 'Shop renamed', redirectUris: 'javascript:alert(1)' });
      assert.equal(refused.status, 400);
      assert.match(alert(refused), /javascript: is not allowed/);
      assert.match(alert(refused), /Nothing was saved/);
      assert.match(refused.body, /value="Shop renamed"/, 'the typed name is shown again');
      assert.match(refused.body, />javascript:alert\(1\)<\/textarea>/, 'the typed URI is shown again');
      assert.deepEqual(await t.services.clients.find('shop-web'), before, 'nothing changed');

      const saved = await agent.submit(page, /\/admin\/clients\/shop-web$/, { ...CLIENT_FORM, name: 'Shop renamed', minimumAcr: 'urn:tessera:acr:mfa' });
      assert.equal(saved.status, 200);
      assert.equal(notice(saved), 'The client was saved.');
      const after = (await t.services.clients.find('shop-web'))!;
      assert.equal(after.name, 'Shop renamed');
      assert.equal(after.minimumAcr, 'urn:tessera:acr:mfa');
      assert.equal(after.clientSecret, before.clientSecret, 'an edit keeps the secret');
    });

    it('asks for the password before a client edit that adds a redirect URI or skips consent, once the window is over (issue 26)', async () => {
      offset += (t.config.account.reauthMinutes + 1) * MINUTE;
      const before = (await t.services.clients.find('shop-web'))!;
      const page = await open('/admin/clients/shop-web');
      assert.match(page.body, /A new redirect URI or skipping consent needs your password/);
      const fields = { ...CLIENT_FORM, name: before.name ?? 'Shop', minimumAcr: before.minimumAcr ?? '', redirectUris: [...before.redirectUris, 'https://evil.example/callback'].join('\n') };
      const refused = await agent.submit(page, /\/admin\/clients\/shop-web$/, { ...fields, password: '' });
      assert.equal(refused.status, 400);
      assert.match(alert(refused), /A new redirect URI or skipping consent changes who receives tokens/);
      assert.deepEqual((await t.services.clients.find('shop-web'))!.redirectUris, before.redirectUris, 'nothing changed');
      // narrowing needs no password (consent shown again); widening back does
      const { skipConsent: _skip, ...asking } = CLIENT_FORM;
      const renamed = await agent.submit(page, /\/admin\/clients\/shop-web$/, { ...asking, name: 'Shop again', minimumAcr: before.minimumAcr ?? '' });
      assert.equal(notice(renamed), 'The client was saved.', 'a change that widens nothing needs no password');
      assert.equal((await t.services.clients.find('shop-web'))!.skipConsent, false);
      const skip = await agent.submit(page, /\/admin\/clients\/shop-web$/, { ...CLIENT_FORM, name: 'Shop again', minimumAcr: before.minimumAcr ?? '', password: '' });
      assert.equal(skip.status, 400, 'skipping consent needs the password too');
      assert.equal((await t.services.clients.find('shop-web'))!.skipConsent, false);
      const saved = await agent.submit(page, /\/admin\/clients\/shop-web$/, { ...fields, name: 'Shop again', password: admin.password });
      assert.equal(notice(saved), 'The client was saved.');
      assert.ok((await t.services.clients.find('shop-web'))!.redirectUris.includes('https://evil.example/callback'));
    });

    it('rotates the secret after a confirmation with re-authentication: a wrong password changes nothing', async () => {
      const old = (await t.services.clients.find('shop-web'))!.clientSecret;
      const client = await open('/admin/clients/shop-web');
      assert.match(client.body, /href="\/admin\/clients\/shop-web\/rotate"/);
      const confirm = await open('/admin/clients/shop-web/rotate');
      assert.equal(heading(confirm), 'Rotate the client secret');
      const wrong = await agent.submit(confirm, /\/rotate$/, { password: 'Not#The1Password' });
      assert.equal(wrong.status, 400);
      assert.equal(alert(wrong), REAUTH_REFUSED);
      assert.equal((await t.services.clients.find('shop-web'))!.clientSecret, old, 'nothing changed');

      const rotated = await agent.submit(confirm, /\/rotate$/, { password: '' });
      assert.equal(rotated.status, 200, 'a blank password is enough within the window after the sign-in');
      const secret = /id="client-secret">([^<]+)</.exec(rotated.body)![1]!;
      assert.notEqual(secret, old);
      assert.equal((await t.services.clients.find('shop-web'))!.clientSecret, secret);
      assert.match(text(rotated.body), /Old secret Keeps working until/);
      assert.ok(!(await open('/admin/clients/shop-web')).body.includes(secret));
    });

    it('refuses a blank password after REAUTH_MINUTES on Tessera\'s clock, and accepts the typed one (a new window)', async () => {
      offset += (t.config.account.reauthMinutes + 1) * MINUTE;
      const confirm = await open('/admin/clients/shop-web/rotate');
      assert.match(confirm.body, /name="password"[^>]*required/, 'the password is asked for');
      const old = (await t.services.clients.find('shop-web'))!.clientSecret;
      const blank = await agent.submit(confirm, /\/rotate$/, { password: '' });
      assert.equal(blank.status, 400);
      assert.equal(alert(blank), REAUTH_REFUSED);
      assert.equal((await t.services.clients.find('shop-web'))!.clientSecret, old, 'nothing changed');
      const typed = await agent.submit(confirm, /\/rotate$/, { password: admin.password });
      assert.equal(typed.status, 200);
      assert.notEqual((await t.services.clients.find('shop-web'))!.clientSecret, old);
      // the typed password starts a new window
      const next = await open('/admin/clients/shop-web/rotate');
      assert.doesNotMatch(next.body, /name="password"[^>]*required/);
    });

    it('deletes a client after a confirmation', async () => {
      const confirm = await open('/admin/clients/shop-web/delete');
      assert.equal(heading(confirm), 'Delete the client');
      const done = await agent.submit(confirm, /\/delete$/, { password: admin.password });
      assert.equal(done.url, url('/admin/clients?done=client-deleted'));
      assert.equal(notice(done), 'The client was deleted. Its tokens no longer work.');
      assert.equal(await t.services.clients.find('shop-web'), undefined);
      await open('/admin/clients/shop-web', 404);
    });

    it('refuses a form post without the CSRF token (403), creating nothing', async () => {
      const res = await postRaw(agent, url('/admin/clients'), new URLSearchParams({ ...CLIENT_FORM, clientId: 'no-csrf' }).toString());
      assert.equal(res.status, 403);
      assert.equal(await t.services.clients.find('no-csrf'), undefined);
      const wrong = await postRaw(agent, url('/admin/clients'), new URLSearchParams({ ...CLIENT_FORM, clientId: 'no-csrf', _csrf: 'forged' }).toString());
      assert.equal(wrong.status, 403);
      assert.equal(await t.services.clients.find('no-csrf'), undefined);
    });

    it('answers bad input with a 4xx page and changes nothing: repeated fields, nested fields, huge and unknown ids', async () => {
      const csrf = formOn(await open('/admin/clients/new'), /\/admin\/clients$/).fields._csrf!;
      const repeated = await postRaw(agent, url('/admin/clients'), `_csrf=${encodeURIComponent(csrf)}&clientId=a&clientId=b&redirectUris=https://x.example/cb`);
      assert.equal(repeated.status, 400);
      assert.match(alert(repeated), /Client id: give one value/);
      const nested = await postRaw(agent, url('/admin/clients'), `_csrf=${encodeURIComponent(csrf)}&clientId[x]=a&redirectUris=https://x.example/cb`);
      assert.equal(nested.status, 400);
      const badAuth = await postRaw(agent, url('/admin/clients'), `_csrf=${encodeURIComponent(csrf)}&clientId=ok-id&redirectUris=https://x.example/cb&authMethod=tls_client_auth`);
      assert.equal(badAuth.status, 400);
      assert.match(alert(badAuth), /Authentication method: choose one of the listed values/);
      assert.equal(await t.services.clients.find('ok-id'), undefined);
      await open(`/admin/clients/${'x'.repeat(5000)}`, 404);
      await open('/admin/clients/no-such-client', 404);
      await open('/admin/users/no-such-user', 404);
      await open('/admin/organisations/org_nosuchorg', 404);
      await open('/admin/devices/nope/remove', 404);
      await open('/admin/users?q=a&q=b', 400);
      await open(`/admin/users?q=${'x'.repeat(300)}`, 400);
      await open('/admin/users?cursor=garbage', 400);
      // the console's own client is not for editing or deleting here (it would lock the admins out)
      const ownPage = await open('/admin/clients/tessera-admin');
      assert.match(text(ownPage.body), /This is a client of Tessera itself/);
      assert.doesNotMatch(ownPage.body, /\/delete"/, 'no delete link');
      const own = await open('/admin/clients/tessera-admin/delete');
      const kept = await agent.submit(own, /\/delete$/, { password: admin.password });
      assert.ok(kept.status >= 400 && kept.status < 500, `refused with a 4xx, got ${kept.status}`);
      assert.ok(await t.services.clients.find('tessera-admin'), 'the console client is still there');
      const unknownUser = await postRaw(agent, url('/admin/users/no-such-user/lock'), `_csrf=${encodeURIComponent(csrf)}&password=${encodeURIComponent(admin.password)}`);
      assert.equal(unknownUser.status, 404);
    });

    describe('users', () => {
      const prefix = `pager-${Date.now().toString(36)}`;
      let people: TestUser[];

      before(async () => {
        people = [];
        for (let i = 0; i < 27; i++) people.push(await createUser(t, { email: `${prefix}-${String(i).padStart(2, '0')}@example.com`, name: `Pager ${i}` }));
      });

      it('searches by email or name and pages with "Next"', async () => {
        const first = await open(`/admin/users?q=${prefix}`);
        const emails = (page: Page) => [...page.body.matchAll(new RegExp(`>(${prefix}-\\d\\d@example\\.com)<`, 'g'))].map((m) => m[1]!);
        assert.equal(emails(first).length, 25);
        const next = /<a href="([^"]+)" rel="next">Next/.exec(first.body)![1]!.replaceAll('&amp;', '&');
        const second = await open(next);
        assert.deepEqual([...emails(first), ...emails(second)].sort(), people.map((p) => p.email).sort(), 'every account once, across the pages');
        assert.doesNotMatch(second.body, /rel="next"/);
        const byName = await open('/admin/users?q=Pager%2026');
        assert.deepEqual(emails(byName), [`${prefix}-26@example.com`]);
        const none = await open('/admin/users?q=nobody-has-this');
        assert.match(text(none.body), /No account matches "nobody-has-this"/);
      });

      it('locks an account after a confirmation with re-authentication, and unlocks it after one too', async () => {
        const target = people[0]!;
        const page = await open(`/admin/users/${target.id}`);
        assert.equal(heading(page), target.email);
        assert.match(page.body, new RegExp(`href="/admin/users/${target.id}/lock"`));
        const confirm = await open(`/admin/users/${target.id}/lock`);
        assert.match(text(confirm.body), /Sign-ins to the account fail/);
        const wrong = await agent.submit(confirm, /\/lock$/, { password: 'Wrong#Password9' });
        assert.equal(wrong.status, 400);
        assert.equal((await t.services.admin.users.get(target.id)).locked, false, 'nothing changed');
        const locked = await agent.submit(confirm, /\/lock$/, { password: admin.password });
        assert.equal(locked.url, url(`/admin/users/${target.id}?done=user-lock`));
        assert.equal(notice(locked), 'The account was locked: sign-ins fail until it is unlocked.');
        assert.equal((await t.services.admin.users.get(target.id)).locked, true);
        assert.match(text(locked.body), /State Locked/);
        // giving access back is confirmed with re-authentication as well (issue 26)
        assert.match(locked.body, new RegExp(`href="/admin/users/${target.id}/unlock"`));
        const unlockConfirm = await open(`/admin/users/${target.id}/unlock`);
        assert.match(text(unlockConfirm.body), /Sign-ins to the account work again/);
        assert.equal((await agent.submit(unlockConfirm, /\/unlock$/, { password: 'Wrong#Password9' })).status, 400);
        assert.equal((await t.services.admin.users.get(target.id)).locked, true, 'a wrong password unlocks nothing');
        const unlocked = await agent.submit(unlockConfirm, /\/unlock$/, { password: admin.password });
        assert.equal(notice(unlocked), 'The account was unlocked.');
        assert.equal((await t.services.admin.users.get(target.id)).locked, false);
        await eventually(async () => {
          const events = await t.services.admin.audit.query({ accountId: target.id, type: 'admin.user.*' });
          assert.deepEqual(events.items.map((e) => [e.type, e.actor.label]), [['admin.user.unlocked', admin.email], ['admin.user.locked', admin.email]]);
        });
        lockedEmail = target.email;
      });

      it('refuses to lock the admin\'s own account with a clear page (409)', async () => {
        const confirm = await open(`/admin/users/${admin.id}/lock`);
        const refused = await agent.submit(confirm, /\/lock$/, { password: admin.password });
        assert.equal(refused.status, 409);
        assert.match(alert(refused), /You cannot lock your own account/);
        assert.equal((await t.services.admin.users.get(admin.id)).locked, false);
      });

      it('creates an account with an initial password, and changes its role after a confirmation', async () => {
        const form = await open('/admin/users/new');
        const bad = await agent.submit(form, /\/admin\/users$/, { email: 'not-an-email', name: 'X', role: 'user', password: '' });
        assert.equal(bad.status, 400);
        assert.match(bad.body, /value="not-an-email"/);
        const email = `new-${Date.now().toString(36)}@example.com`;
        const created = await agent.submit(form, /\/admin\/users$/, { email, name: 'New Person', role: 'user', password: 'Another#Horse22' });
        assert.equal(notice(created), 'The account was created with the password you gave.');
        const id = /\/admin\/users\/([^/?]+)\?done=user-created/.exec(created.url)![1]!;
        assert.ok(await t.services.accounts.authenticate(email, 'Another#Horse22'));

        const confirm = await agent.submit(created, /\/role$/, { role: 'admin' });
        assert.match(heading(confirm), /Change the role of/);
        assert.equal((await t.services.accounts.findById(id))!.role, 'user', 'not before the confirmation');
        const done = await agent.submit(confirm, /\/role$/, { password: admin.password });
        assert.equal(notice(done), 'The role was changed.');
        assert.equal((await t.services.accounts.findById(id))!.role, 'admin');
      });

      it('creates an administrator only after a confirmation with re-authentication, as an invitation (issue 26)', async () => {
        // the console session's last proof is an hour old
        offset += 60 * MINUTE;
        const form = await open('/admin/users/new');
        const email = `admin-${Date.now().toString(36)}@example.com`;
        const confirm = await agent.submit(form, /\/admin\/users$/, { email, name: 'New Admin', role: 'admin', password: 'Chosen#ByCaller1' });
        assert.match(heading(confirm), /Create the administrator/);
        assert.equal(await t.services.accounts.findByEmail(email), undefined, 'not before the confirmation');
        assert.doesNotMatch(confirm.body, /Chosen#ByCaller1/, 'the initial password is not carried along');
        // straight to the POST, as a forged or replayed form would: a blank password is refused outside the window
        const blank = await agent.submit(confirm, /\/admin\/users$/, { password: '' });
        assert.equal(blank.status, 400);
        assert.equal(alert(blank), REAUTH_REFUSED);
        assert.equal(await t.services.accounts.findByEmail(email), undefined, 'nothing created');
        const done = await agent.submit(confirm, /\/admin\/users$/, { password: admin.password });
        assert.match(done.url, /done=user-invited/);
        const made = await t.services.accounts.findByEmail(email);
        assert.equal(made?.role, 'admin');
        assert.equal(made?.passwordResetRequired, true, 'invited: it sets its own password');
        assert.equal(await t.services.accounts.authenticate(email, 'Chosen#ByCaller1'), undefined, "the caller's password does not sign in");
      });
    });

    describe('devices', () => {
      let owner: TestUser;
      let deviceId: string;

      before(async () => {
        owner = await createUser(t, { name: 'Device Owner' });
        const rp = await RelyingParty.register(t, { skipConsent: true });
        await signIn(new UserAgent({ 'user-agent': 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0' }), (await rp.authorize()).url, owner);
        const devices = await t.services.devices.listFor(owner.id);
        assert.equal(devices.length, 1);
        deviceId = devices[0]!.id;
      });

      it('lists the devices with state, flags and history; renames, flags and unflags one', async () => {
        const page = await open(`/admin/users/${owner.id}`);
        assert.match(page.body, new RegExp(`id="device-${deviceId}"`));
        assert.match(text(page.body), /Firefox 121 on Ubuntu/);
        const renamed = await agent.submit(page, new RegExp(`/devices/${deviceId}/rename$`), { name: 'Office laptop' });
        assert.equal(notice(renamed), 'The device was renamed.');
        assert.match(renamed.body, /Office laptop/);
        const flagged = await agent.submit(renamed, new RegExp(`/devices/${deviceId}/flags$`), { flag: 'lost' });
        assert.equal(notice(flagged), 'The flag was added.');
        assert.deepEqual((await t.services.devices.byId(deviceId))!.flags, ['lost']);
        const badFlag = await agent.submit(flagged, new RegExp(`/devices/${deviceId}/flags$`), { flag: '<script>' });
        assert.equal(badFlag.status, 400);
        assert.match(alert(badFlag), /Nothing was changed/);
        assert.deepEqual((await t.services.devices.byId(deviceId))!.flags, ['lost']);
        const unflagged = await agent.submit(flagged, new RegExp(`/devices/${deviceId}/flags/remove$`), { flag: 'lost' });
        assert.equal(notice(unflagged), 'The flag was removed.');
        assert.deepEqual((await t.services.devices.byId(deviceId))!.flags, []);
      });

      it('unblocks a blocked device, and removes one after a confirmation; the history names the admin', async () => {
        for (let i = 0; i < 10 && (await t.services.devices.byId(deviceId))!.state !== 'BLOCKED'; i++) await t.services.devices.recordFailure(deviceId, 'wrong password');
        const blocked = await open(`/admin/users/${owner.id}`);
        assert.match(blocked.body, /tag blocked">blocked</);
        assert.match(blocked.body, new RegExp(`href="/admin/devices/${deviceId}/unblock"`));
        const unblockConfirm = await open(`/admin/devices/${deviceId}/unblock`);
        assert.equal(heading(unblockConfirm), 'Unblock the device');
        const unblocked = await agent.submit(unblockConfirm, new RegExp(`/devices/${deviceId}/unblock$`), { password: admin.password });
        assert.equal(notice(unblocked), 'The device was unblocked.');
        assert.equal((await t.services.devices.byId(deviceId))!.state, 'ACTIVE');
        assert.ok(text(unblocked.body).includes(`blocked → active admin ${admin.email} unblocked by administrator ${admin.email}`), 'the history names the admin');
        assert.ok(text(unblocked.body).includes(`active → active admin ${admin.email} flag "lost" added`), 'and for a flag');

        const confirm = await open(`/admin/devices/${deviceId}/remove`);
        assert.equal(heading(confirm), 'Remove the device');
        const removed = await agent.submit(confirm, /\/remove$/, { password: admin.password });
        assert.equal(notice(removed), 'The device was removed.');
        assert.equal((await t.services.devices.byId(deviceId))!.state, 'REMOVED');
      });
    });

    describe('organisations', () => {
      let member: TestUser;
      let orgUrl: string;

      before(async () => { member = await createUser(t, { name: 'Org Member' }); });

      it('creates an organisation (an empty name is refused), adds a member by email, makes them an organisation admin', async () => {
        const list = await open('/admin/organisations');
        const empty = await agent.submit(list, /\/admin\/organisations$/, { name: '   ' });
        assert.equal(empty.status, 400);
        assert.match(alert(empty), /Give the organisation a name/);
        const name = `Acme ${Date.now().toString(36)}`;
        const created = await agent.submit(list, /\/admin\/organisations$/, { name });
        assert.equal(notice(created), 'The organisation was created.');
        assert.equal(heading(created), name);
        orgUrl = created.url.split('?')[0]!;

        const unknown = await agent.submit(created, /\/members$/, { email: 'nobody@example.com' });
        assert.equal(unknown.status, 400);
        assert.match(alert(unknown), /There is no account with the email nobody@example\.com/);
        assert.match(unknown.body, /value="nobody@example\.com"/);
        const added = await agent.submit(created, /\/members$/, { email: member.email });
        assert.equal(notice(added), 'The member was saved.');
        assert.match(added.body, new RegExp(`data-member="${member.id}"`));
        const orgId = orgUrl.split('/').at(-1)!;
        assert.deepEqual((await t.services.admin.organisations.get(orgId)).members, [member.id]);
        // making an organisation admin widens access: outside the window it asks for the password (issue 26)
        offset += (t.config.account.reauthMinutes + 1) * MINUTE;
        const asked = await agent.submit(added, new RegExp(`/members/${member.id}$`));
        assert.equal(asked.status, 400);
        assert.match(heading(asked), /organisation admin/);
        assert.deepEqual((await t.services.admin.organisations.get(orgId)).admins, [], 'not before the password');
        const promoted = await agent.submit(asked, new RegExp(`/members/${member.id}$`), { password: admin.password });
        assert.equal(notice(promoted), 'The member was saved.');
        assert.deepEqual((await t.services.admin.organisations.get(orgId)).admins, [member.id]);
        const userPage = await open(`/admin/users/${member.id}`);
        assert.match(text(userPage.body), new RegExp(`Organisation ${name} \\(organisation admin\\)`));
      });

      it('removes a member after a confirmation with re-authentication', async () => {
        const orgId = orgUrl.split('/').at(-1)!;
        const confirm = await open(`/admin/organisations/${orgId}/members/${member.id}/remove`);
        assert.equal(heading(confirm), 'Remove a member');
        const removed = await agent.submit(confirm, /\/remove$/, { password: admin.password });
        assert.equal(notice(removed), 'The member was removed from the organisation.');
        assert.deepEqual((await t.services.admin.organisations.get(orgId)).members, []);
        assert.equal((await t.services.accounts.findById(member.id))!.organisationId, undefined);
        await open(`/admin/organisations/${orgId}/members/${member.id}/remove`, 404);
      });
    });

    describe('audit log', () => {
      it('filters by type family, account (email), outcome and dates', async () => {
        const clients = await open('/admin/audit?type=admin.client.*');
        const types = [...clients.body.matchAll(/<td><code>([\w.]+)<\/code><\/td>/g)].map((m) => m[1]!);
        assert.ok(types.length >= 4, `client events: ${types.join(', ')}`);
        assert.ok(types.every((type) => type.startsWith('admin.client.')), types.join(', '));
        assert.ok(types.includes('admin.client.created') && types.includes('admin.client.deleted'));
        assert.match(clients.body, /<option value="admin\.client\.\*" selected>/);

        const theirs = await open(`/admin/audit?account=${encodeURIComponent(lockedEmail)}&outcome=success`);
        const listed = [...theirs.body.matchAll(/<td><code>([\w.]+)<\/code><\/td>/g)].map((m) => m[1]!);
        assert.ok(listed.includes('admin.user.locked') && listed.includes('admin.user.unlocked'), listed.join(', '));
        assert.doesNotMatch(theirs.body, /tag blocked">failure</);
        const failed = await open('/admin/audit?type=admin.user.locked&outcome=failure');
        assert.match(failed.body, /tag blocked">failure</, 'the refused self-lock');

        const from = now().toISOString().slice(0, 10);
        const today = await open(`/admin/audit?from=${from}&to=${from}&type=admin.*`);
        assert.ok(today.body.includes('admin.client.created'));
        const past = await open('/admin/audit?from=2000-01-01&to=2000-01-02');
        assert.match(text(past.body), /No events match/);
      });

      it('pages with "Next" by cursor, keeping the filters', async () => {
        const subject = await createUser(t);
        for (let i = 0; i < 60; i++) {
          t.services.audit.record({ type: 'device.flagged', outcome: 'success', actor: { type: 'system' }, accountId: subject.id, details: { n: i } });
        }
        await eventually(async () => assert.equal((await t.services.admin.audit.query({ accountId: subject.id, limit: 100 })).items.length, 60));
        const first = await open(`/admin/audit?account=${subject.id}&type=device.flagged`);
        const numbers = (page: Page) => [...page.body.matchAll(/n: (\d+)</g)].map((m) => Number(m[1]));
        assert.equal(numbers(first).length, 50);
        assert.equal(numbers(first)[0], 59, 'newest first');
        const next = /<a href="([^"]+)" rel="next">Next/.exec(first.body)![1]!.replaceAll('&amp;', '&');
        assert.match(next, new RegExp(`account=${subject.id}&type=device\\.flagged&cursor=`));
        const second = await open(next);
        assert.deepEqual([...numbers(first), ...numbers(second)], [...Array(60).keys()].reverse());
        assert.doesNotMatch(second.body, /rel="next"/);
      });

      it('refuses bad filters with a 400 page that names them', async () => {
        for (const [query, message] of [
          ['from=yesterday', /From: give a date as YYYY-MM-DD/],
          ['from=2024-02-30', /From: give a date/],
          ['from=2024-03-02&to=2024-03-01', /From is after To/],
          ['type=nope', /Type: choose one of the listed event types/],
          ['outcome=maybe', /Outcome: choose success or failure/],
          ['account=nobody%40example.com', /There is no account with the email nobody@example\.com/],
          ['type=a&type=b', /Type: give one value/],
        ] as const) {
          const page = await open(`/admin/audit?${query}`, 400);
          assert.match(alert(page), message, query);
        }
        await open('/admin/audit?cursor=not-a-cursor', 400);
        const badExport = await agent.request(url('/admin/audit/export?from=yesterday'));
        assert.equal(badExport.status, 400);
      });

      it('downloads the filtered events as CSV', async () => {
        const page = await open('/admin/audit?type=admin.client.*');
        assert.match(page.body, /href="\/admin\/audit\/export\?type=admin\.client\.\*" download>Download CSV/);
        const res = await agent.request(url('/admin/audit/export?type=admin.client.*'));
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type')!, /^text\/csv/);
        assert.match(res.headers.get('content-disposition')!, /^attachment; filename="tessera-audit-\d{4}-\d\d-\d\d\.csv"/);
        const lines = res.body.trim().split(/\r?\n/);
        assert.match(lines[0]!, /type/);
        assert.ok(lines.length >= 5);
        assert.ok(lines.slice(1).every((l) => l.includes('admin.client.')), 'only the filtered type');
        assert.ok(res.body.includes('shop-web'));
      });
    });
  });
});
