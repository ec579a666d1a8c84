// Consent is asked once per application and scope set (SPEC "Consent"), not once per session:
// through real HTTP, the real database and a real relying party (openid-client), what a person
// allowed is kept on their account, so signing in again from another browser, after signing out,
// or to a second application in a signed-in browser does not ask again, and the grant still says
// exactly what was allowed. Asking for more asks for the rest only; `prompt=consent` always asks;
// "Deny" keeps nothing; an application whose redirect URIs changed, or that was deleted and
// registered again under the same id, asks again; "Remove access" forgets it.
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { recordCommands } from '../support/commands.ts';
import { RelyingParty, UserAgent, createUser, POST_LOGOUT_URI, REDIRECT_URI, type Page, type TestUser } from '../support/flow.ts';

const isConsentPage = (page: Page) => /<h1>Allow access\?<\/h1>/.test(page.body);
const isSignInPage = (page: Page) => /action="[^"]*\/login"/.test(page.body);
const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim();

describe('consent, kept per account and application', () => {
  let t: Tessera;

  before(async () => { t = await startTessera(); });
  after(() => t.close());

  /**
   * Signs `user` in to `rp` in `agent` (its session, if any, first); `allow` answers the consent
   * page if one is shown. Resolves to the tokens and whether the page was shown (with its words).
   */
  async function signIn(agent: UserAgent, user: TestUser, rp: RelyingParty, params: Record<string, string>, answer: 'allow' | 'deny' = 'allow') {
    const auth = await rp.authorize(params);
    let page = await agent.visit(auth.url);
    if (isSignInPage(page)) page = await agent.submit(page, /\/login$/, { email: user.email, password: user.password });
    const consent = isConsentPage(page) ? text(page.body) : undefined;
    if (consent !== undefined) page = await agent.submit(page, answer === 'allow' ? /\/confirm$/ : /\/abort$/);
    assert.ok(page.url.startsWith(REDIRECT_URI), `back at the RP, not ${page.status} ${page.url}\n${page.body.slice(0, 400)}`);
    const error = new URL(page.url).searchParams.get('error');
    return { consent, error, tokens: error ? undefined : await rp.tokens(page.url, auth) };
  }
  /** Where the browser lands on the RP for an authorization request (a code or an error). */
  async function landing(agent: UserAgent, rp: RelyingParty, params: Record<string, string>): Promise<string> {
    const page = await agent.visit((await rp.authorize(params)).url);
    assert.ok(page.url.startsWith(REDIRECT_URI), `back at the RP, not ${page.status} ${page.url}`);
    return page.url;
  }
  const scopesOf = (tokens: { scope?: string } | undefined) => (tokens?.scope ?? '').split(' ').sort();

  it('is not asked again from another browser, and its grant holds what was allowed', async () => {
    const user = await createUser(t);
    const rp = await RelyingParty.register(t, { name: 'Notes' });
    const first = await signIn(new UserAgent(), user, rp, { scope: 'openid email' });
    assert.match(first.consent ?? '', /Notes is asking to: Know who you are See your email address/, 'the first sign-in asks');

    const again = await signIn(new UserAgent(), user, rp, { scope: 'openid email' });
    assert.equal(again.consent, undefined, 'a fresh browser signs in without the consent page');
    assert.deepEqual(scopesOf(again.tokens), ['email', 'openid']);
    const info = await oidc.fetchUserInfo(rp.config, again.tokens!.access_token, user.id);
    assert.equal(info.email, user.email, 'the grant lets the application read what the person allowed');

    const less = await signIn(new UserAgent(), user, rp, { scope: 'openid' });
    assert.equal(less.consent, undefined, 'asking for less does not ask either');
    assert.deepEqual(scopesOf(less.tokens), ['openid'], 'and gets only what it asked for');
  });

  it('costs the sign-in no consent page: the grant is made on the return to the provider, with the session\'s reference in the same write', async () => {
    const user = await createUser(t);
    const rp = await RelyingParty.register(t, { name: 'Ledger' });
    await signIn(new UserAgent(), user, rp, { scope: 'openid email' });
    const recorder = recordCommands(t);
    let commands;
    try {
      const again = await signIn(new UserAgent(), user, rp, { scope: 'openid email' });
      assert.equal(again.consent, undefined);
    } finally {
      recorder.stop();
      commands = recorder.commands.map((c) => `${c.name} ${c.collection}`);
    }
    assert.equal(commands.filter((c) => c === 'update oidc_grant').length, 1, 'one grant written');
    assert.equal(commands.filter((c) => c === 'update oidc_account_refs').length, 1, "the grant's and the session's references in one write");
    assert.equal(commands.filter((c) => c === 'find oidc_grant').length, 1, 'the grant read once, by the token endpoint (the return to the provider has it already)');
    const refs = await t.services.db.connection.collection<{ _id: string; sessions?: object; grants?: object }>('oidc_account_refs').findOne({ _id: user.id });
    assert.equal(Object.keys(refs?.sessions ?? {}).length, 2, 'both browsers\' sessions are referenced');
    assert.equal(Object.keys(refs?.grants ?? {}).length, 2, 'and both grants');
    assert.equal((await t.services.storage.sessionsOf(user.id)).length, 2, 'so both sessions are found');
  });

  it('asks again when the application asks for more, then keeps both', async () => {
    const user = await createUser(t);
    const rp = await RelyingParty.register(t, { name: 'Photos' });
    await signIn(new UserAgent(), user, rp, { scope: 'openid email' });
    const more = await signIn(new UserAgent(), user, rp, { scope: 'openid email profile' });
    assert.ok(more.consent, 'more scopes: the page again');
    assert.match(more.consent!, /Photos is asking to: Know who you are See your email address See your name/, 'everything the application asks, in this browser');
    assert.deepEqual(scopesOf(more.tokens), ['email', 'openid', 'profile']);
    const later = await signIn(new UserAgent(), user, rp, { scope: 'openid email profile' });
    assert.equal(later.consent, undefined, 'both kept');
    assert.deepEqual(scopesOf(later.tokens), ['email', 'openid', 'profile']);
  });

  it('is asked again with prompt=consent; "Deny" keeps nothing', async () => {
    const user = await createUser(t);
    const rp = await RelyingParty.register(t, { name: 'Calendar' });
    const denied = await signIn(new UserAgent(), user, rp, { scope: 'openid email' }, 'deny');
    assert.equal(denied.error, 'access_denied');
    const next = await signIn(new UserAgent(), user, rp, { scope: 'openid email' });
    assert.ok(next.consent, 'after Deny the next sign-in asks');
    const forced = await signIn(new UserAgent(), user, rp, { scope: 'openid email', prompt: 'consent' });
    assert.ok(forced.consent, 'prompt=consent always asks');
  });

  it('does not ask a signed-in browser for a second application the person allowed elsewhere (prompt=none too)', async () => {
    const user = await createUser(t);
    const mail = await RelyingParty.register(t, { name: 'Mail' });
    const chat = await RelyingParty.register(t, { name: 'Chat' });
    await signIn(new UserAgent(), user, chat, { scope: 'openid email' });
    const agent = new UserAgent();
    await signIn(agent, user, mail, { scope: 'openid' });
    // the browser's session has no grant for Chat: the provider's own consent prompt
    const sso = await signIn(agent, user, chat, { scope: 'openid email' });
    assert.equal(sso.consent, undefined, 'no consent page');
    assert.deepEqual(scopesOf(sso.tokens), ['email', 'openid']);
    // prompt=none: a silent sign-in to an application allowed before works too
    const silent = await landing(agent, chat, { scope: 'openid email', prompt: 'none' });
    assert.ok(new URL(silent).searchParams.has('code'), `a code, not ${silent}`);
    const more = await signIn(agent, user, chat, { scope: 'openid email phone' });
    assert.match(more.consent ?? '', /Chat is asking to: See your phone number/, `more than allowed: asked (${JSON.stringify(more.tokens?.scope)})`);
  });

  it('is asked again when the application now sends people elsewhere, or was deleted and registered again under its id', async () => {
    const user = await createUser(t);
    const rp = await RelyingParty.register(t, { name: 'Wiki' });
    await signIn(new UserAgent(), user, rp, { scope: 'openid email' });
    await t.services.clients.update(rp.clientId, { redirectUris: [REDIRECT_URI, 'https://elsewhere.example/cb'] });
    assert.ok((await signIn(new UserAgent(), user, rp, { scope: 'openid email' })).consent, 'new redirect URIs: asked again');
    assert.equal((await signIn(new UserAgent(), user, rp, { scope: 'openid email' })).consent, undefined, 'then kept for the application as it is now');

    await t.services.clients.remove(rp.clientId);
    // the same id, name and redirect URIs: still another application
    const again = await RelyingParty.register(t, { clientId: rp.clientId, name: 'Wiki', redirectUris: [REDIRECT_URI, 'https://elsewhere.example/cb'] });
    assert.ok((await signIn(new UserAgent(), user, again, { scope: 'openid email' })).consent, 'created again under the same id: asked again');
  });

  it('is listed under connected applications after signing out, and "Remove access" forgets it', async () => {
    const user = await createUser(t);
    const rp = await RelyingParty.register(t, { name: 'Tasks' });
    const agent = new UserAgent();
    const { tokens } = await signIn(agent, user, rp, { scope: 'openid email' });
    // the application signs the person out: the provider ends the session's grant with it
    const confirm = await agent.visit(oidc.buildEndSessionUrl(rp.config, { id_token_hint: tokens!.id_token!, post_logout_redirect_uri: POST_LOGOUT_URI }).href);
    await agent.submit(confirm, /session\/end\/confirm/, { logout: 'yes' }, POST_LOGOUT_URI);
    assert.deepEqual((await t.services.storage.grantsOf(user.id)).filter((g) => g.clientId === rp.clientId), [], 'no grant left');

    let page = await agent.visit(`${t.issuer}/account/security/apps`);
    if (isSignInPage(page)) page = await agent.submit(page, /\/login$/, { email: user.email, password: user.password });
    assert.match(page.body, new RegExp(`<li data-app="${rp.clientId}">[\\s\\S]*?Tasks[\\s\\S]*?Allowed: who you are, your email address`), 'listed with what it may see');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const done = await agent.request(`${t.issuer}/account/security/apps/remove`, { form: { _csrf: csrf, app: rp.clientId } });
    assert.equal(done.status, 200);
    assert.doesNotMatch(done.body, /data-app=/, 'no longer listed');
    assert.deepEqual((await t.services.accounts.findById(user.id))!.consents, {}, 'the kept consent is gone');
    assert.ok((await signIn(new UserAgent(), user, rp, { scope: 'openid email' })).consent, 'the next sign-in asks again');
  });

  it("is kept without losing another change to the account made at the same moment (the embedded database rewrites whole documents)", async () => {
    const user = await createUser(t);
    const before = (await t.services.accounts.findById(user.id))!.stamp;
    const at = new Date();
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => t.services.accounts.rememberConsent(user.id, `app-${i}`, { scopes: ['openid'], claims: [], client: 'x', at })),
      t.services.accounts.setPassword(user.id, 'Another#Horse22'),
      t.services.accounts.setLocked(user.id, true),
    ]);
    const account = (await t.services.accounts.findById(user.id))!;
    assert.deepEqual(Object.keys(account.consents).sort(), Array.from({ length: 10 }, (_, i) => `app-${i}`).sort(), 'every consent kept');
    assert.equal(account.locked, true, 'the lock kept');
    assert.equal(account.stamp, before + 2, 'both stamp moves kept');
    assert.equal(await t.services.accounts.authenticate(user.email, 'Another#Horse22'), undefined, 'locked');
    await t.services.accounts.setLocked(user.id, false);
    assert.ok(await t.services.accounts.authenticate(user.email, 'Another#Horse22'), 'the new password kept');
  });
});
