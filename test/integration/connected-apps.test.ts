// Connected applications in the account security center (/account/security/apps) through real
// HTTP, the real database and real relying parties (openid-client): the applications a person
// allowed, with what each may see and when; "Remove access" ends that application's grant and
// tokens (its refresh token stops working, the next sign-in asks for consent again) and leaves the
// others alone; another account's grant or a made-up one is refused with a message, changing
// nothing; a visitor without a session is sent to sign in; Tessera's own clients are never listed.
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, REDIRECT_URI, type Page, type TestUser } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';
import { collectionFor } from '../../src/oidc/adapter.ts';

const MINUTE = 60_000;
const NOTICE = 'Security change on your Tessera account';
const STAMP = /^\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC$/;
const ALL = 'openid email profile offline_access';

const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&amp;/g, '&').replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'").replace(/\s+/g, ' ').trim();
/** The error messages a page shows (role="alert"), as text. */
const alert = (html: string) => [...html.matchAll(/role="alert">([\s\S]*?)<\/p>/g)].map((m) => text(m[1]!)).join(' | ');
const notice = (page: Page) => text(/role="status">([\s\S]*?)<\/p>/.exec(page.body)?.[1] ?? '');
const isSignInPage = (page: Page) => /action="[^"]*\/login"/.test(page.body);
const isConsentPage = (page: Page) => /<h1>Allow access\?<\/h1>/.test(page.body);

interface ListedApp {
  /** The application's client id (its "Remove access" form's handle). */
  app: string;
  name: string;
  /** "Allowed: who you are, your email address, …" */
  allowed: string;
  granted: string;
  lastUsed: string;
  /** The error shown on this application's row. */
  error: string;
}

/** The applications the page lists, in order. */
function listedApps(page: Page): ListedApp[] {
  return [...page.body.matchAll(/<li data-app="([^"]+)">([\s\S]*?)<\/li>/g)].map((m) => {
    const lines = [...m[2]!.matchAll(/<span class="muted">([\s\S]*?)<\/span>/g)].map((l) => text(l[1]!));
    const times = /^Access granted (.+?)(?: · last signed in or renewed access (.+))?$/.exec(lines[1] ?? '');
    return {
      app: m[1]!, name: text(/<span class="range">([\s\S]*?)<\/span>/.exec(m[2]!)?.[1] ?? ''), allowed: lines[0] ?? '',
      granted: times?.[1] ?? '', lastUsed: times?.[2] ?? '', error: alert(m[2]!),
    };
  });
}

describe('connected applications (account security center)', () => {
  let t: Tessera;
  let photos: RelyingParty;
  let calendar: RelyingParty;
  /** Tessera's clock runs with real time plus this offset (the re-authentication window). */
  let offset = 0;
  const now = () => new Date(Date.now() + offset);
  const url = (path: string) => `${t.issuer}/account/security${path}`;

  before(async () => {
    t = await startTessera({ clock: now });
    photos = await RelyingParty.register(t, { name: 'Photo Album' });
    // no name: listed by its client id
    calendar = await RelyingParty.register(t, {});
  });
  after(() => t.close());
  afterEach(() => { offset = 0; });

  /**
   * Signs `agent` in to `rp` (or uses its Tessera session), allowing what the consent page asks;
   * resolves to the RP's tokens.
   */
  async function connect(agent: UserAgent, user: TestUser, rp: RelyingParty, params: Record<string, string> = { scope: ALL, prompt: 'consent' }) {
    const auth = await rp.authorize(params);
    let page = await agent.visit(auth.url);
    if (isSignInPage(page)) page = await agent.submit(page, /\/login$/, { email: user.email, password: user.password });
    if (isConsentPage(page)) page = await agent.submit(page, /\/confirm$/);
    assert.ok(page.url.startsWith(REDIRECT_URI), `back at the RP, not ${page.status} ${page.url}\n${page.body.slice(0, 400)}`);
    return rp.tokens(page.url, auth);
  }
  async function open(agent: UserAgent): Promise<Page> {
    const page = await agent.visit(url('/apps'));
    assert.equal(page.status, 200, page.body.slice(0, 400));
    assert.ok(!isSignInPage(page), 'still signed in');
    return page;
  }
  /** Sends the "Remove access" form of the page for the application `app` (and any other fields). */
  async function removeAccess(agent: UserAgent, page: Page, app: string, fields: Record<string, string> = {}): Promise<Page> {
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    return agent.request(url('/apps/remove'), { form: { _csrf: csrf, app, ...fields } });
  }
  const refreshes = (rp: RelyingParty, tokens: { refresh_token?: string }) => oidc.refreshTokenGrant(rp.config, tokens.refresh_token!);
  const grantsOf = async (user: TestUser) => (await t.services.storage.grantsOf(user.id)).map((g) => g.clientId as string).sort();
  /** The account's grant for the application (the test signs in to it from one browser). */
  const grantOf = async (user: TestUser, rp: RelyingParty) => (await t.services.storage.grantsOf(user.id)).find((g) => g.clientId === rp.clientId)!.jti as string;
  /** How many access tokens, refresh tokens and codes are stored under the grant. */
  async function tokensUnder(grantId: string): Promise<number> {
    const db = t.services.db.connection.db!;
    const counts = await Promise.all(['AccessToken', 'RefreshToken', 'AuthorizationCode'].map((name) => db.collection(collectionFor(name)).countDocuments({ 'payload.grantId': grantId })));
    return counts.reduce((a, b) => a + b, 0);
  }
  const notices = (user: TestUser) => t.services.outbox.list().filter((m) => m.channel === 'email' && m.to === user.email && m.subject === NOTICE).map((m) => m.text);

  it("sends a visitor without a session to sign in, then says in a sentence that no application has access (Tessera's own sign-in is not listed)", async () => {
    const user = await createUser(t);
    const agent = new UserAgent();
    const first = await agent.request(url('/apps'));
    assert.equal(first.status, 302);
    const to = new URL(first.headers.get('location')!, t.issuer);
    assert.equal(to.pathname, '/auth');
    assert.equal(to.searchParams.get('client_id'), 'tessera-account');
    assert.equal(to.searchParams.get('state'), '/account/security/apps', 'back to this page after the sign-in');

    let page = await agent.visit(url('/apps'));
    assert.ok(isSignInPage(page), 'the sign-in page');
    page = await agent.submit(page, /\/login$/, { email: user.email, password: user.password });
    assert.equal(page.status, 200);
    assert.match(page.body, /<h1>Connected applications<\/h1>/);
    assert.deepEqual(await grantsOf(user), ['tessera-account'], "the account area's own grant exists");
    assert.deepEqual(listedApps(page), [], 'and is not listed');
    assert.match(text(page.body), /No applications have access to your account\./);
  });

  it("lists each application the person allowed, with what it may see in words and when, and not another account's", async () => {
    const user = await createUser(t);
    const other = await createUser(t);
    const agent = new UserAgent();
    await connect(agent, user, photos);
    await connect(agent, user, calendar, { scope: 'openid email', prompt: 'consent' });
    await connect(new UserAgent(), other, photos, { scope: 'openid phone', prompt: 'consent' });

    const page = await open(agent);
    const apps = listedApps(page);
    assert.deepEqual(new Map(apps.map((a) => [a.name, a.allowed])), new Map([
      [calendar.clientId, 'Allowed: who you are, your email address'],
      ['Photo Album', 'Allowed: who you are, your email address, your profile (name and other details), stay signed in (offline access)'],
    ]));
    for (const a of apps) {
      assert.match(a.granted, STAMP, `${a.name}: when access was granted`);
      assert.match(a.lastUsed, STAMP, `${a.name}: its last sign-in`);
      assert.equal(a.error, '');
    }
    assert.doesNotMatch(page.body, /your phone number/, "the other account's grant is not listed");
    // the overview's block leads here
    assert.match((await agent.visit(url(''))).body, /<h3>Connected applications <a href="\/account\/security\/apps">/);
  });

  it('"Remove access" ends that application\'s grant and tokens: the refresh token fails, the next sign-in asks for consent again; the other application keeps working', async () => {
    const user = await createUser(t);
    const agent = new UserAgent();
    const album = await connect(agent, user, photos);
    const cal = await connect(agent, user, calendar);
    const row = listedApps(await open(agent)).find((a) => a.name === 'Photo Album')!;
    assert.equal(row.app, photos.clientId);
    const grant = await grantOf(user, photos);
    // a code the application has not exchanged yet
    const pending = await photos.authorize({ scope: 'openid email', prompt: 'none' });
    const pendingCallback = (await agent.visit(pending.url)).url;
    assert.ok(new URL(pendingCallback).searchParams.has('code'), pendingCallback);

    assert.ok(await tokensUnder(grant) >= 3, 'an access token, a refresh token and a code are stored');

    const before = notices(user).length;
    const page = await removeAccess(agent, await open(agent), row.app);
    assert.equal(page.status, 200, alert(page.body));
    assert.equal(notice(page), 'Photo Album no longer has access to your account. If you use it again, it will ask for your permission.');
    assert.deepEqual(listedApps(page).map((a) => a.name), [calendar.clientId]);
    assert.deepEqual(await grantsOf(user), [calendar.clientId]);
    assert.equal(await tokensUnder(grant), 0, 'every token and code of the grant is gone');

    await assert.rejects(refreshes(photos, album), (err: { error?: string }) => err.error === 'invalid_grant', "the removed application's refresh token no longer works");
    await assert.rejects(oidc.fetchUserInfo(photos.config, album.access_token, user.id), 'nor its access token');
    await assert.rejects(photos.tokens(pendingCallback, pending), (err: { error?: string }) => err.error === 'invalid_grant', 'nor its unexchanged code');
    const renewed = await refreshes(calendar, cal);
    assert.ok(renewed.access_token, 'the other application still renews its tokens');
    await oidc.fetchUserInfo(calendar.config, cal.access_token, user.id).catch(() => assert.fail("the other application's access token still works"));

    // the browser is still signed in to Tessera: the removed application must ask again, the other need not
    const again = await agent.visit((await photos.authorize({ scope: 'openid email' })).url);
    assert.ok(isConsentPage(again), `the consent page again, not ${again.status} ${again.url}`);
    assert.match(text(again.body), /Photo Album is asking to: Know who you are See your email address/);
    const silent = await agent.visit((await calendar.authorize({ scope: 'openid email', prompt: 'none' })).url);
    assert.ok(silent.url.startsWith(REDIRECT_URI) && new URL(silent.url).searchParams.has('code'), `the other application signs in without asking: ${silent.url}`);

    // audited and emailed
    await t.services.audit.flush();
    const events = (await t.services.audit.query({ accountId: user.id, type: 'grant.revoked' })).events;
    assert.equal(events.length, 1);
    assert.match(String(events[0]!.details.change), /^Access was removed for the application Photo Album: it must ask you again/);
    await eventually(() => notices(user).length > before, 'the security notice');
    assert.match(notices(user).at(-1)!, /^Access was removed for the application Photo Album: it must ask you again/);
  });

  it('lists an application once however many browsers signed in to it, and removes every grant of it', async () => {
    const user = await createUser(t);
    const agent = new UserAgent();
    const first = await connect(agent, user, photos);
    const second = await connect(new UserAgent(), user, photos, { scope: 'openid email profile', prompt: 'consent' });
    assert.deepEqual(await grantsOf(user), [photos.clientId, photos.clientId], 'two grants');
    const page = await open(agent);
    assert.deepEqual(listedApps(page).map((a) => a.name), ['Photo Album']);
    const done = await removeAccess(agent, page, listedApps(page)[0]!.app);
    assert.equal(done.status, 200, alert(done.body));
    assert.deepEqual(await grantsOf(user), []);
    await assert.rejects(refreshes(photos, first));
    await assert.rejects(oidc.fetchUserInfo(photos.config, second.access_token, user.id));
  });

  it("refuses an application another account connected, a made-up one and bad input with a message, and changes nothing", async () => {
    const user = await createUser(t);
    const other = await createUser(t);
    const agent = new UserAgent();
    const mine = await connect(agent, user, photos);
    const otherAgent = new UserAgent();
    const theirs = await connect(otherAgent, other, calendar);
    const theirApp = listedApps(await open(otherAgent))[0]!.app;
    assert.equal(theirApp, calendar.clientId);
    const page = await open(agent);
    const before = notices(user).length;

    for (const [app, why] of [[theirApp, "an application only another account connected"], ['made-up-client-id', 'a made-up application'], ['tessera-account', "Tessera's own account area"], ['', 'no application'], ['x'.repeat(500), 'a huge value']] as const) {
      const refused = await removeAccess(agent, page, app);
      assert.equal(refused.status, 400, why);
      assert.equal(alert(refused.body), 'There is no such application with access to your account (its access may have been removed already): nothing was changed.', why);
      assert.equal(listedApps(refused).length, 1, `${why}: the page again, with the application still listed`);
    }
    // an array where one value belongs
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const cookie = await agent.jar.getCookieString(url('/apps/remove'));
    const arrayBody = `_csrf=${encodeURIComponent(csrf)}&app=${encodeURIComponent(photos.clientId)}&app=x`;
    const res = await fetch(url('/apps/remove'), { method: 'POST', headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', cookie }, body: arrayBody, redirect: 'manual' });
    assert.equal(res.status, 400, 'an array of applications');

    assert.deepEqual(await grantsOf(user), [photos.clientId]);
    assert.deepEqual(await grantsOf(other), [calendar.clientId], "the other account's grant is untouched");
    assert.ok((await refreshes(photos, mine)).access_token, 'my refresh token still works');
    assert.ok((await refreshes(calendar, theirs)).access_token, 'theirs too');
    await t.services.audit.flush();
    assert.deepEqual((await t.services.audit.query({ accountId: other.id, type: 'grant.revoked' })).events, []);
    assert.deepEqual((await t.services.audit.query({ accountId: user.id, type: 'grant.revoked' })).events, []);
    assert.equal(notices(user).length, before, 'no notice');
  });

  it('asks for the current password when the sign-in is not recent: refused beside the row without it, done with it', async () => {
    const user = await createUser(t);
    const agent = new UserAgent();
    const album = await connect(agent, user, photos);
    offset = 10 * MINUTE;
    const page = await open(agent);
    const row = listedApps(page)[0]!;
    assert.match(page.body, /<li data-app="[^"]+">[\s\S]*?name="password"[\s\S]*?Remove access/, 'the row asks for the current password');

    for (const fields of [{}, { password: 'Wrong#Horse1' }] as Record<string, string>[]) {
      const refused = await removeAccess(agent, page, row.app, fields);
      assert.equal(refused.status, 400);
      const [listed] = listedApps(refused);
      assert.match(listed!.error, /Your current password is not right, or needed again/, 'the error is on the row');
      assert.equal(alert(refused.body.replace(/<li data-app[\s\S]*?<\/li>/g, '')), '', 'and only there');
    }
    assert.ok((await refreshes(photos, album)).refresh_token, 'nothing changed');
    const done = await removeAccess(agent, page, row.app, { password: user.password });
    assert.equal(done.status, 200, alert(done.body));
    assert.deepEqual(listedApps(done), []);
    assert.match(text(done.body), /No applications have access to your account\./);
  });
});
