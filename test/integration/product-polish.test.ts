// Product polish (issue 20): no bare "Not Found" for people, and the accessibility quick wins
// (muted text contrast, alert lists that keep their items).
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, formOn, giveVerifiedPhone, RelyingParty, UserAgent } from '../support/flow.ts';

const VIEWS = path.resolve(import.meta.dirname, '../../views');

/** WCAG 2.2 contrast ratio of two #rrggbb colours. */
function contrast(a: string, b: string): number {
  const luminance = (hex: string) => {
    const [r, g, bl] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

describe('pages for people: no dead ends, accessibility quick wins', () => {
  let t: Tessera;
  before(async () => { t = await startTessera(); });
  after(() => t.close());

  it('sends / and /account to the security center, and answers any other unknown address with a page that has a way on (404)', async () => {
    const agent = new UserAgent();
    for (const p of ['/', '/account']) {
      const res = await agent.request(`${t.issuer}${p}`);
      assert.equal(res.status, 302, p);
      assert.equal(res.headers.get('location'), '/account/security', p);
    }
    for (const p of ['/nothing-here', '/account/nothing-here', '/interaction/no-such-thing/at-all']) {
      const res = await agent.request(`${t.issuer}${p}`);
      assert.equal(res.status, 404, p);
      assert.match(res.headers.get('content-type') ?? '', /text\/html/);
      assert.match(res.body, /<html lang="en">/);
      assert.match(res.body, /<title>Page not found · Tessera<\/title>/);
      assert.match(res.body, /<main/);
      assert.match(res.body, /href="\/account\/security"/, 'a way on');
      assert.doesNotMatch(res.body, /^Not Found$/);
    }
  });

  it('muted text reaches 4.5:1 on the card and on the page background; no list is itself an alert', () => {
    const css = readFileSync(path.join(VIEWS, 'static/tessera.css'), 'utf8');
    const background = /:root \{[^}]*background: (#[0-9a-f]{6})/.exec(css)![1]!;
    for (const rule of css.matchAll(/\.(muted|hint|facts dt)[^{]*\{[^}]*?color: (#[0-9a-f]{6})/g)) {
      for (const bg of ['#ffffff', background]) assert.ok(contrast(rule[2]!, bg) >= 4.5, `${rule[0]} on ${bg}: ${contrast(rule[2]!, bg).toFixed(2)}`);
    }
    const views = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? views(path.join(dir, e.name)) : e.name.endsWith('.ejs') ? [path.join(dir, e.name)] : []));
    for (const file of views(VIEWS)) assert.doesNotMatch(readFileSync(file, 'utf8'), /<ul[^>]*role="alert"/, file);
  });

  it('an application\'s broken request gets a plain sentence, a way back to the application and the security center, and the protocol\'s words folded away', async () => {
    const rp = await RelyingParty.register(t, { redirectUris: ['https://shop.example/callback'] });
    const auth = new URL((await rp.authorize()).url);
    auth.searchParams.set('redirect_uri', 'https://evil.example/callback');
    const page = await new UserAgent().request(auth.href);
    assert.equal(page.status, 400);
    const [visible, folded] = page.body.split('<details');
    assert.match(visible!, /a return address Tessera does not know for it/);
    assert.doesNotMatch(visible!, /redirect_uri/, 'no protocol words in the sentence');
    assert.match(visible!, /href="https:\/\/shop\.example\/"/, 'back to the application (its registered address)');
    assert.doesNotMatch(page.body, /evil\.example/, 'never the address it asked for');
    assert.match(visible!, /href="\/account\/security"/);
    assert.match(folded!, /Technical details[\s\S]*redirect_uri[\s\S]*invalid_redirect_uri/);
  });

  it('offers the authenticator app without a verified mobile number as not available yet, with the reason and the way to add one (never an error page)', async () => {
    const user = await createUser(t);
    const agent = new UserAgent();
    const login = await agent.visit(`${t.issuer}/account/security`);
    const overview = await agent.visit((await agent.submit(login, /\/login$/, { email: user.email, password: user.password }, `${t.issuer}/account/`)).url);
    assert.equal(overview.status, 200);
    assert.doesNotMatch(overview.body, /href="\/account\/security\/totp"/, 'no link that would be refused');
    assert.match(overview.body, /Set up an authenticator app \(not available yet\)[\s\S]*First add and verify a mobile number[\s\S]*href="\/account\/security\/phones"/);
    // an old bookmark of the setup page: the overview with the reason, not a 400 page
    const bookmark = await agent.visit(`${t.issuer}/account/security/totp`);
    assert.equal(bookmark.status, 200);
    assert.match(bookmark.body, /needs a verified mobile number first/);
    await giveVerifiedPhone(t, user);
    const ready = await agent.visit(`${t.issuer}/account/security`);
    assert.match(ready.body, /href="\/account\/security\/totp"/);
  });

  it('signs out from the security center header: the confirmation, then the session is gone', async () => {
    const user = await createUser(t);
    const agent = new UserAgent();
    const login = await agent.visit(`${t.issuer}/account/security`);
    const overview = await agent.visit((await agent.submit(login, /\/login$/, { email: user.email, password: user.password }, `${t.issuer}/account/`)).url);
    const link = /<a href="([^"]*session\/end[^"]*)">Sign out<\/a>/.exec(overview.body)?.[1];
    assert.ok(link, 'a sign-out link in the header');
    const confirm = await agent.visit(new URL(link.replaceAll('&amp;', '&'), t.issuer).href);
    assert.match(confirm.body, /Sign out\?/);
    const done = await agent.submit(confirm, /session\/end\/confirm/, { logout: 'yes' });
    assert.match(done.body, /Signed out/);
    assert.equal((await t.services.storage.sessionsOf(user.id)).length, 0, 'the session ended');
    const again = await agent.visit(`${t.issuer}/account/security`);
    assert.match(again.body, /action="[^"]*\/login"/, 'the security center asks to sign in again');
  });

  it('setting up the first authenticator app turns it on for every sign-in (asked on the same form, yes by default) and shows recovery codes once', async () => {
    const user = await createUser(t);
    await giveVerifiedPhone(t, user);
    const agent = new UserAgent();
    const login = await agent.visit(`${t.issuer}/account/security`);
    await agent.visit((await agent.submit(login, /\/login$/, { email: user.email, password: user.password }, `${t.issuer}/account/`)).url);
    const setup = await agent.visit(`${t.issuer}/account/security/totp`);
    assert.match(setup.body, /<input type="checkbox" name="everySignIn" value="on" checked> Ask for a code from the app at every sign-in/);
    const secret = /<code class="key"[^>]*>([A-Z2-7 ]+)<\/code>/.exec(setup.body)![1]!.replaceAll(' ', '');
    assert.match(setup.body, /<code class="key"[^>]*>(?:[A-Z2-7]{4} )+[A-Z2-7]{1,4}<\/code>/, 'the key in groups of four, for typing it by hand');
    // on the phone itself: a link that opens the app with the key (no scanning one's own screen)
    assert.match(setup.body, new RegExp(`href="otpauth://totp/[^"]*secret=${secret}`));
    // the browser sends the checkbox as it is shown: checked
    const form = formOn(setup, /\/account\/security\/totp$/);
    const done = await agent.request(form.action, { form: { ...form.fields, everySignIn: 'on', code: await generate({ secret, epoch: Math.floor(Date.now() / 1000) }), password: user.password } });
    assert.equal(done.status, 200);
    assert.match(done.body, /every sign-in now asks for its code/);
    const codes = [...done.body.matchAll(/<code>([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})<\/code>/g)].map((m) => m[1]);
    assert.equal(codes.length, 10, 'recovery codes, shown once');
    assert.doesNotMatch(done.body, /earlier codes no longer work/, 'there were none before');
    assert.equal((await t.services.accounts.findById(user.id))!.secondFactor, 'totp');
    assert.equal(await t.services.recovery.remaining(user.id), 10);
  });

  it('plain-text emails show what was typed as typed (no HTML escapes such as &#34; or &amp;), the HTML part escapes it', async () => {
    const email = await t.services.messages.securityChange('someone@example.com', 'The security key "Tom & Jerry <3" was added.', { at: new Date(), where: 'unknown location', browser: 'Firefox', os: 'Linux' });
    assert.match(email.text, /The security key "Tom & Jerry <3" was added\./);
    assert.doesNotMatch(email.text, /&#34;|&amp;|&lt;/);
    assert.match(email.html ?? '', /Tom &amp; Jerry &lt;3/);
  });
});
