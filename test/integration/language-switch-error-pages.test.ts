// The language switcher on an error page that its query decides (i18n/middleware.ts switcherBack):
// switching language on RP-initiated logout's "This sign-out request is incomplete" page comes back
// to that page in the new language (its post_logout_redirect_uri and state kept), not to
// "Sign out?". Nothing else of the query rides along; other error pages, the one-time token of an
// emailed link among them, still return to their path alone; the cap holds; and `back` stays a
// path of this site: an absolute or protocol-relative address is refused.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, signInAndGetTokens, POST_LOGOUT_URI, type Page } from '../support/flow.ts';
import { lang } from '../support/languages.ts';

/** The switcher's link to `to` on the page, as the browser would request it. */
function switcherLink(page: Page, to: string): string {
  const href = new RegExp(`href="(/language\\?to=${to}&amp;back=[^"]*)"`).exec(page.body)?.[1];
  assert.ok(href, `a link to ${to} on the page`);
  return href.replace(/&amp;/g, '&');
}
/** Where the link sends the person back to. */
const backOf = (link: string) => new URL(link, 'http://x').searchParams.get('back');

describe('the language switcher on error pages', function () {
  this.timeout(60_000);
  let t: Tessera;
  const failures: unknown[] = [];

  before(async () => {
    t = await startTessera({ log: (err) => { failures.push(err); console.error('    [tessera 500]', err); } });
  });
  after(() => t?.close());
  afterEach(() => assert.deepEqual(failures.splice(0), [], 'never a 500'));

  const endSession = (params: Record<string, string>) => `${t.issuer}/session/end?${new URLSearchParams(params)}`;

  it('keeps the logout error page, in the new language, for a signed-in person (not "Sign out?")', async () => {
    const rp = await RelyingParty.register(t, { skipConsent: true });
    const { agent } = await signInAndGetTokens(rp, await createUser(t));
    const page = await agent.request(endSession({ post_logout_redirect_uri: POST_LOGOUT_URI, state: 'bye' }));
    assert.equal(page.status, 400);
    assert.match(page.body, /<h1>This sign-out request is incomplete<\/h1>/);

    const link = switcherLink(page, 'de');
    assert.equal(backOf(link), `/session/end?${new URLSearchParams({ post_logout_redirect_uri: POST_LOGOUT_URI, state: 'bye' })}`);
    const switched = await agent.request(`${t.issuer}${link}`);
    assert.equal(switched.status, 303);
    const again = await agent.request(new URL(switched.headers.get('location')!, t.issuer).href);
    assert.equal(again.status, 400);
    assert.equal(lang(again), 'de');
    assert.match(again.body, /<h1>Diese Abmeldeanfrage ist unvollständig<\/h1>/);
    assert.doesNotMatch(again.body, /Abmelden\?|Sign out\?|logoutForm/);
    assert.equal(again.headers.get('location'), null, 'still no redirect');
  });

  it('keeps only the logout parameters: nothing else the request sent rides along', async () => {
    const page = await new UserAgent().request(endSession({ post_logout_redirect_uri: POST_LOGOUT_URI, ui_locales: 'en', junk: '<b>x</b>', logout_hint: 'ada@example.com' }));
    assert.equal(page.status, 400);
    assert.equal(backOf(switcherLink(page, 'pl')), `/session/end?${new URLSearchParams({ post_logout_redirect_uri: POST_LOGOUT_URI, ui_locales: 'en' })}`);
  });

  it('keeps no query beyond the cap', async () => {
    const page = await new UserAgent().request(endSession({ post_logout_redirect_uri: `${POST_LOGOUT_URI}?${'a'.repeat(2100)}` }));
    assert.equal(page.status, 400);
    assert.equal(backOf(switcherLink(page, 'de')), '/session/end');
  });

  it('returns other error pages to their path alone: an emailed link\'s token, a foreign redirect_uri', async () => {
    const agent = new UserAgent();
    const link = await agent.request(`${t.issuer}/account/set-password?token=not-a-real-token-0123456789`);
    assert.equal(link.status, 400);
    assert.equal(backOf(switcherLink(link, 'de')), '/account/set-password');
    assert.doesNotMatch(link.body, /language\?[^"]*not-a-real-token/);
    const auth = await agent.request(`${t.issuer}/auth?${new URLSearchParams({ client_id: 'nobody', redirect_uri: 'https://evil.example/', response_type: 'code', scope: 'openid' })}`);
    assert.equal(auth.status, 400);
    assert.equal(backOf(switcherLink(auth, 'de')), '/auth');
  });

  it('never sends the switcher off-site: an absolute or protocol-relative back is refused', async () => {
    const agent = new UserAgent();
    for (const evil of ['https://evil.example/session/end', '//evil.example/x', '/\\evil.example', '\\\\evil.example', 'http:/evil.example', ' //evil.example', `/${'a'.repeat(2100)}`]) {
      const res = await agent.request(`${t.issuer}/language?to=de&back=${encodeURIComponent(evil)}`);
      assert.equal(res.status, 303, evil);
      assert.equal(res.headers.get('location'), '/', evil);
    }
    // a tab or newline a browser would drop stays in the path, encoded: never "//evil.example"
    for (const sneaky of ['/\t/evil.example', '/\n/evil.example']) {
      const res = await agent.request(`${t.issuer}/language?to=de&back=${encodeURIComponent(sneaky)}`);
      const location = res.headers.get('location')!;
      assert.match(location, /^\/%0[9A]\/evil\.example$/i, JSON.stringify(sneaky));
      assert.equal(new URL(location, t.issuer).origin, t.issuer);
    }
  });
});
