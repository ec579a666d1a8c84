// The trusted-IP pages (/account/security/ips) through real HTTP and the real database: a signed-in
// person adds, edits and deletes addresses and ranges with the current password; bad input, wrong
// passwords and other accounts' entries are refused with a clear message and change nothing; the
// add form offers the client address (X-Forwarded-For only behind a trusted proxy).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, formOn, signIn, type Page, type TestUser } from '../support/flow.ts';

/** A GET or POST with extra headers or a hand-made form body, with the agent's cookies. */
async function requestWith(agent: UserAgent, url: string, init: { headers?: Record<string, string>; body?: string } = {}): Promise<Page> {
  const headers: Record<string, string> = { accept: 'text/html', ...init.headers };
  const cookie = await agent.jar.getCookieString(url);
  if (cookie) headers.cookie = cookie;
  if (init.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  const res = await fetch(url, { method: init.body === undefined ? 'GET' : 'POST', headers, body: init.body, redirect: 'manual' });
  for (const c of res.headers.getSetCookie()) await agent.jar.setCookie(c, url);
  return { url, status: res.status, headers: res.headers, body: await res.text() };
}

interface Listed {
  id: string;
  cidr: string;
  skips: string;
  meta: string;
}

/** The entries the page lists, in order. */
function listed(page: Page): Listed[] {
  return [...page.body.matchAll(/<li>\s*<code class="range">([^<]+)<\/code>([\s\S]*?)<\/li>/g)].map((m) => ({
    cidr: m[1]!,
    skips: /Skips: <strong>([^<]+)<\/strong>/.exec(m[2]!)![1]!,
    meta: /<span class="muted">([^<]+)<\/span>/.exec(m[2]!)![1]!,
    id: /action="\/account\/security\/ips\/([^"/]+)"/.exec(m[2]!)![1]!,
  }));
}

const prefilled = (page: Page) => /<input id="range"[^>]*value="([^"]*)"/.exec(page.body)?.[1];
const entryAction = (id: string) => new RegExp(`/ips/${id}$`);
const deleteAction = (id: string) => new RegExp(`/ips/${id}/delete$`);
const ADD = /\/account\/security\/ips$/;

/** A signed-in browser: an RP sign-in makes Tessera's session, which the account area uses. */
async function signedInAgent(t: Tessera, rp: RelyingParty, user: TestUser): Promise<UserAgent> {
  const agent = new UserAgent();
  await signIn(agent, (await rp.authorize()).url, user);
  return agent;
}

describe('trusted IP addresses (account pages)', () => {
  let t: Tessera;
  let rp: RelyingParty;
  let user: TestUser;
  let other: TestUser;
  let agent: UserAgent;
  let ipsUrl: string;

  /** Tessera's clock runs with real time plus this offset (re-authentication windows). */
  let offset = 0;

  before(async () => {
    t = await startTessera({ clock: () => new Date(Date.now() + offset) });
    rp = await RelyingParty.register(t, { skipConsent: true });
    user = await createUser(t);
    other = await createUser(t);
    agent = await signedInAgent(t, rp, user);
    ipsUrl = `${t.issuer}/account/security/ips`;
  });
  after(() => t.close());

  const open = async () => {
    const page = await agent.visit(ipsUrl);
    assert.equal(page.status, 200, page.body.slice(0, 300));
    return page;
  };
  const stored = () => t.services.trustedIps.list(user.id);

  it('sends a visitor without a session through the sign-in and back to the list', async () => {
    const visitor = new UserAgent();
    const login = await visitor.visit(ipsUrl);
    assert.match(login.body, /action="[^"]*\/login"/, 'the sign-in page');
    const back = await visitor.submit(login, /\/login$/, { email: user.email, password: user.password }, `${t.issuer}/account/`);
    const page = await visitor.visit(back.url);
    assert.equal(page.status, 200);
    assert.match(page.body, /<h1>Trusted IP addresses<\/h1>/);
  });

  it('is linked from the security page, links back, and starts empty with the add form pre-filled with 127.0.0.1', async () => {
    const security = await agent.visit(`${t.issuer}/account/security`);
    assert.match(security.body, /<a href="\/account\/security\/ips">Trusted IP addresses<\/a>/);
    const page = await open();
    assert.match(page.body, /None yet\./);
    assert.match(page.body, /href="\/account\/security"/);
    assert.equal(prefilled(page), '127.0.0.1');
    assert.equal(page.headers.get('cache-control'), 'no-store');
    for (const label of ['All second factors and the PIN', 'Emailed code', 'Text message', 'Call', 'Authenticator app', 'Security key', 'PIN \\(after sign-in and screen lock\\)']) {
      assert.match(page.body, new RegExp(`<option value="[a-z]+" [^>]*>${label}</option>`), label);
    }
  });

  it('adds an IPv4 range, an IPv6 range and a single address, listed in canonical form with what they skip', async () => {
    let page = await open();
    page = await agent.submit(page, ADD, { range: '203.0.113.77/24', skips: 'all', password: user.password });
    assert.equal(page.status, 200);
    assert.match(page.body, /<p class="notice" role="status">203\.0\.113\.0\/24 was added \(skips: all second factors and the pin\)\.<\/p>/);
    page = await agent.submit(page, ADD, { range: ' 2001:DB8:ABCD:0012::1/48 ', skips: 'totp', password: user.password });
    assert.match(page.body, /2001:db8:abcd::\/48 was added/);
    page = await agent.submit(page, ADD, { range: '198.51.100.7', skips: 'email', password: user.password });
    assert.equal(page.status, 200);
    assert.equal(prefilled(page), '127.0.0.1', 'the add form is fresh again');

    const today = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', dateStyle: 'long' }).format(new Date());
    assert.deepEqual(listed(page).map(({ cidr, skips, meta }) => ({ cidr, skips, meta })), [
      { cidr: '203.0.113.0/24', skips: 'All second factors and the PIN', meta: `added ${today}` },
      { cidr: '2001:db8:abcd::/48', skips: 'Authenticator app', meta: `added ${today}` },
      { cidr: '198.51.100.7/32', skips: 'Emailed code', meta: `added ${today}` },
    ]);
    assert.match(page.body, /3 of 20 entries/);
    assert.deepEqual((await stored()).map((e) => [e.cidr, e.skips]), [['203.0.113.0/24', 'all'], ['2001:db8:abcd::/48', 'totp'], ['198.51.100.7/32', 'email']]);
  });

  it('edits an entry (range and what it skips), keeping its id and showing when it changed', async () => {
    let page = await open();
    const single = listed(page).find((e) => e.cidr === '198.51.100.7/32')!;
    page = await agent.submit(page, entryAction(single.id), { range: '198.51.100.9/28', skips: 'sms', password: user.password });
    assert.equal(page.status, 200);
    assert.match(page.body, /198\.51\.100\.0\/28 was saved \(skips: text message\)\./);
    const edited = listed(page).find((e) => e.id === single.id)!;
    assert.equal(edited.cidr, '198.51.100.0/28');
    assert.equal(edited.skips, 'Text message');
    assert.match(edited.meta, /^added \d{1,2} [A-Z][a-z]+ \d{4}, last changed \d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC$/);
    const entry = (await stored()).find((e) => e.id === single.id)!;
    assert.deepEqual([entry.cidr, entry.skips], ['198.51.100.0/28', 'sms']);
    assert.ok(entry.updatedAt > entry.createdAt);
    assert.match(page.body, new RegExp(`<option value="sms" selected>Text message</option>`), 'the edit form shows the new choice');
  });

  it('deletes an entry', async () => {
    let page = await open();
    const ipv6 = listed(page).find((e) => e.cidr === '2001:db8:abcd::/48')!;
    page = await agent.submit(page, deleteAction(ipv6.id), { password: user.password });
    assert.equal(page.status, 200);
    assert.match(page.body, /2001:db8:abcd::\/48 was deleted from your list\./);
    assert.deepEqual(listed(page).map((e) => e.cidr), ['203.0.113.0/24', '198.51.100.0/28']);
    assert.deepEqual((await stored()).map((e) => e.cidr), ['203.0.113.0/24', '198.51.100.0/28']);
  });

  it('changes nothing without the right current password (400, the page says so)', async () => {
    const page = await open();
    const [first] = listed(page);
    const before = await stored();
    for (const password of ['Wrong#Password9', undefined]) {
      // no password at all counts only within a few minutes of the sign-in: these are past it
      if (password === undefined) offset += 6 * 60_000;
      const pw: Record<string, string> = password === undefined ? {} : { password };
      const attempts = [
        await agent.submit(page, ADD, { range: '192.0.2.1', skips: 'all', ...pw }),
        await agent.submit(page, entryAction(first!.id), { range: '192.0.2.0/24', skips: 'sms', ...pw }),
        await agent.submit(page, deleteAction(first!.id), pw),
      ];
      for (const res of attempts) {
        assert.equal(res.status, 400);
        assert.match(res.body, /<p class="error" id="[^"]+" role="alert">Your current password is not right: nothing was changed\.<\/p>/, 'beside the form\'s password field');
      }
      assert.equal(prefilled(attempts[0]!), '192.0.2.1', 'what was typed is offered again');
      assert.match(attempts[1]!.body, new RegExp(`<details open>[\\s\\S]*?id="range-${first!.id}"[^>]*value="192\\.0\\.2\\.0/24"`), 'the edited entry is open, as typed');
      assert.equal(attempts[2]!.body.match(/<details open>/g)?.length, 1, 'the entry being deleted is open');
    }
    assert.deepEqual(await stored(), before);
  });

  it('refuses bad ranges and choices with a clear message (400) and changes nothing', async () => {
    const page = await open();
    const [first] = listed(page);
    const before = await stored();
    const cases: [Record<string, string>, RegExp][] = [
      [{ range: '10.1' }, /&#34;10\.1&#34; is not an IP address or range\./],
      [{ range: '1.2.3.4/33' }, /The range size after &#34;\/&#34; must be a number from 0 to 32\./],
      [{ range: '2001:db8::/129' }, /from 0 to 128/],
      [{ range: '0.0.0.0/0' }, /A range of every address \(\/0\) cannot be trusted\./],
      [{ range: '::/0' }, /every address/],
      // two /1 ranges would trust the whole internet (issue 26): nothing wider than /16 or /32
      [{ range: '0.0.0.0/1' }, /A range this wide \(\/1\) cannot be trusted: the widest is \/16 for IPv4/],
      [{ range: '128.0.0.0/1' }, /the widest is \/16 for IPv4/],
      [{ range: '8000::/1' }, /the widest is \/32 for IPv6/],
      [{ range: 'example.com' }, /is not an IP address or range/],
      [{ range: '' }, /Enter an IP address/],
      [{ range: '1'.repeat(65) }, /An IP address or range is at most 64 characters\./],
      [{ range: '2'.repeat(10_000) }, /at most 64 characters/],
      [{ range: '192.0.2.1', skips: 'nope' }, /Choose which second factor this address skips/],
      [{ range: '192.0.2.1', skips: 'recovery' }, /Choose which second factor/],
      [{ range: '192.0.2.1', skips: 'all'.repeat(10) }, /Choose which second factor/],
      [{ range: '192.0.2.1', skips: '' }, /Choose which second factor/],
    ];
    for (const [fields, message] of cases) {
      for (const action of [ADD, entryAction(first!.id)]) {
        const res = await agent.submit(page, action, { skips: 'all', ...fields, password: user.password });
        assert.equal(res.status, 400, `${JSON.stringify(fields).slice(0, 60)} → ${res.status}`);
        assert.match(res.body, message);
        assert.match(res.body, /<p class="error" id="[^"]+" role="alert">[^<]*Nothing was changed\.<\/p>/, 'beside the field it concerns');
      }
    }
    assert.deepEqual(await stored(), before);
  });

  it('refuses array and repeated fields (range[]=, range twice, skips[]=) without a 500', async () => {
    const page = await open();
    const form = formOn(page, ADD);
    const csrf = encodeURIComponent(form.fields._csrf!);
    const password = encodeURIComponent(user.password);
    const before = await stored();
    for (const body of [
      `range[]=192.0.2.1&skips=all`,
      `range=192.0.2.1&range=192.0.2.2&skips=all`,
      `range[a]=192.0.2.1&skips=all`,
      `range=192.0.2.1&skips[]=all`,
      `range=192.0.2.1&skips=all&skips=sms`,
    ]) {
      const res = await requestWith(agent, form.action, { body: `_csrf=${csrf}&password=${password}&${body}` });
      assert.equal(res.status, 400, body);
      assert.match(res.body, /(Enter an IP address|Choose which second factor)[^<]*Nothing was changed\./, body);
    }
    const arrayPassword = await requestWith(agent, form.action, { body: `_csrf=${csrf}&password[]=${password}&range=192.0.2.1&skips=all` });
    assert.equal(arrayPassword.status, 400);
    assert.match(arrayPassword.body, /current password is not right/);
    assert.deepEqual(await stored(), before);
  });

  it("refuses another account's entry, a random id and a malformed id (400, clear message), for edit and delete", async () => {
    const theirs = await t.services.trustedIps.add(other.id, '192.0.2.0/24', 'all');
    const page = await open();
    assert.ok(!page.body.includes('192.0.2.0/24'), "another account's entries are not listed");
    const [first] = listed(page);
    const before = await stored();
    const ids = [theirs.id, randomBytes(9).toString('base64url'), 'x'.repeat(33), encodeURIComponent('../x'), encodeURIComponent('a b'), first!.id + 'Z'];
    for (const id of ids) {
      const edit = await agent.request(`${ipsUrl}/${id}`, { form: { ...formOn(page, entryAction(first!.id)).fields, range: '198.18.0.0/16', skips: 'all', password: user.password } });
      const remove = await agent.request(`${ipsUrl}/${id}/delete`, { form: { ...formOn(page, deleteAction(first!.id)).fields, password: user.password } });
      for (const res of [edit, remove]) {
        assert.equal(res.status, 400, `${id} → ${res.status}`);
        assert.match(res.body, /There is no such entry on your list\. Nothing was changed\./);
      }
    }
    assert.deepEqual(await stored(), before);
    assert.deepEqual(await t.services.trustedIps.list(other.id), [theirs], "the other account's list is untouched");
  });

  it('refuses duplicates, however they are written, on add and on edit', async () => {
    let page = await open();
    const before = await stored();
    const dup = await agent.submit(page, ADD, { range: '203.0.113.200/24', skips: 'email', password: user.password });
    assert.equal(dup.status, 400);
    assert.match(dup.body, /203\.0\.113\.0\/24 is already on your list\. Nothing was changed\./);
    const [first, second] = listed(page);
    const collide = await agent.submit(page, entryAction(second!.id), { range: first!.cidr, skips: 'all', password: user.password });
    assert.equal(collide.status, 400);
    assert.match(collide.body, /is already on your list/);
    assert.deepEqual(await stored(), before);
    // saving an entry unchanged (or only its choice) is not a duplicate of itself
    page = await agent.submit(page, entryAction(first!.id), { range: first!.cidr, skips: 'webauthn', password: user.password });
    assert.equal(page.status, 200);
    assert.equal(listed(page)[0]!.skips, 'Security key');
  });

  it('refuses an add when the list is full (20 entries)', async () => {
    const full = await createUser(t);
    for (let i = 0; i < 20; i++) await t.services.trustedIps.add(full.id, `10.0.${i}.0/24`, 'all');
    const fullAgent = await signedInAgent(t, rp, full);
    const page = await fullAgent.visit(ipsUrl);
    assert.match(page.body, /20 of 20 entries/);
    const res = await fullAgent.submit(page, ADD, { range: '10.1.0.0/24', skips: 'all', password: full.password });
    assert.equal(res.status, 400);
    assert.match(res.body, /Your list is full \(20 entries\)\. Delete one first\./);
    assert.equal((await t.services.trustedIps.list(full.id)).length, 20);
  });

  it('keeps the CSRF check on every form', async () => {
    const page = await open();
    const [first] = listed(page);
    const before = await stored();
    for (const [url, form] of [
      [ipsUrl, { range: '192.0.2.1', skips: 'all' }],
      [`${ipsUrl}/${first!.id}`, { range: '192.0.2.1', skips: 'all' }],
      [`${ipsUrl}/${first!.id}/delete`, {}],
    ] as const) {
      const res = await agent.request(url, { form: { ...form, password: user.password } });
      assert.equal(res.status, 403, url);
    }
    assert.deepEqual(await stored(), before);
  });

  it('ignores X-Forwarded-For without TRUST_PROXY: the add form offers the connecting address', async () => {
    const page = await requestWith(agent, ipsUrl, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(page.status, 200);
    assert.equal(prefilled(page), '127.0.0.1');
    assert.match(page.body, /Your address now is <code>127\.0\.0\.1<\/code>/);
  });

  describe('behind a trusted proxy (TRUST_PROXY=true)', () => {
    let proxied: Tessera;
    let proxiedAgent: UserAgent;
    let proxiedUser: TestUser;
    before(async () => {
      proxied = await startTessera({ env: { TRUST_PROXY: 'true' } });
      proxiedUser = await createUser(proxied);
      proxiedAgent = await signedInAgent(proxied, await RelyingParty.register(proxied, { skipConsent: true }), proxiedUser);
    });
    after(() => proxied.close());

    it('offers the client address the proxy saw (the last X-Forwarded-For entry), not a spoofed one', async () => {
      const url = `${proxied.issuer}/account/security/ips`;
      const page = await requestWith(proxiedAgent, url, { headers: { 'x-forwarded-for': '203.0.113.9' } });
      assert.equal(page.status, 200);
      assert.equal(prefilled(page), '203.0.113.9');
      const spoofed = await requestWith(proxiedAgent, url, { headers: { 'x-forwarded-for': '198.51.100.66, 203.0.113.9' } });
      assert.equal(prefilled(spoofed), '203.0.113.9', 'the entry a client wrote itself is not trusted');
      const mapped = await requestWith(proxiedAgent, url, { headers: { 'x-forwarded-for': '::ffff:203.0.113.9' } });
      assert.equal(prefilled(mapped), '203.0.113.9', 'IPv4-mapped shown as IPv4');
      const ipv6 = await requestWith(proxiedAgent, url, { headers: { 'x-forwarded-for': '2001:DB8::0009' } });
      assert.equal(prefilled(ipv6), '2001:db8::9');
      const none = await requestWith(proxiedAgent, url);
      assert.equal(prefilled(none), '127.0.0.1', 'no header: the connecting address');
    });

    it('marks the entries that contain the current client address', async () => {
      await proxied.services.trustedIps.add(proxiedUser.id, '203.0.113.0/24', 'all');
      const url = `${proxied.issuer}/account/security/ips`;
      const inside = await requestWith(proxiedAgent, url, { headers: { 'x-forwarded-for': '203.0.113.9' } });
      assert.match(inside.body, /<code class="range">203\.0\.113\.0\/24<\/code> <span class="tag">your address now<\/span>/);
      const outside = await requestWith(proxiedAgent, url, { headers: { 'x-forwarded-for': '198.51.100.1' } });
      assert.doesNotMatch(outside.body, /your address now/);
    });
  });
});
