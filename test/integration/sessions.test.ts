// Sessions in the account security center through real HTTP, the real database and a real relying
// party (openid-client), with Tessera's clock in the test's hand: the Active sessions page (each
// signed-in browser with browser/OS, IP and times, "this device"), "Log out" one session and "Log
// out all except this device" (the browser, the RP's refresh token and a back-channel logout
// token), auto-logout days, the Session history pages, the PIN after sign-in, and the screen lock
// (the unlock page, prompt=none, the PIN on the sign-in pages, too many wrong PINs).
// Bad input everywhere is refused with a clear 400 and changes nothing; never a 500.
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, backchannelListener, createUser, formOn, signIn, REDIRECT_URI, type Page, type TestUser } from '../support/flow.ts';
import { ACR } from '../../src/policy/assurance.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
const SAFARI = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15';
/** A Chrome of a given major version on Windows ("Chrome <n> on Windows 10"): tells history entries apart. */
const chrome = (major: number) => CHROME.replace('Chrome/120', `Chrome/${major}`);
const PIN = '4826';
const STAMP = /^\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d UTC$/;

/** The page's text without tags, entities decoded, whitespace collapsed. */
const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&amp;/g, '&').replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'").replace(/\s+/g, ' ').trim();
/** The error messages a page shows (role="alert"), as text. */
const alert = (page: Page) => [...page.body.matchAll(/role="alert">([\s\S]*?)<\/p>/g)].map((m) => text(m[1]!)).join(' | ');
const notice = (page: Page) => text(/role="status">([\s\S]*?)<\/p>/.exec(page.body)?.[1] ?? '');
const isSignInPage = (page: Page) => /action="[^"]*\/login"/.test(page.body);
const params = (url: string) => new URL(url).searchParams;

interface ListedSession {
  ref: string;
  current: boolean;
  locked: boolean;
  /** "Chrome 120 on Windows 10 · IP 127.0.0.1 (unknown location)" */
  client: string;
  signedIn: string;
  lastActive: string;
}

/** The sessions the Active sessions page lists, in order. */
function listedSessions(page: Page): ListedSession[] {
  return [...page.body.matchAll(/<li data-session="([^"]+)">([\s\S]*?)<\/li>/g)].map((m) => {
    const lines = [...m[2]!.matchAll(/<span class="muted">([\s\S]*?)<\/span>/g)].map((l) => text(l[1]!));
    const times = /^Signed in (.+) · last active (.+) · ends (.+)$/.exec(lines[1] ?? '');
    return {
      ref: m[1]!, current: /<span class="tag">this device<\/span>/.test(m[2]!), locked: /tag blocked">locked</.test(m[2]!),
      client: lines[0] ?? '', signedIn: times?.[1] ?? '', lastActive: times?.[2] ?? '',
    };
  });
}

interface HistoryEntry {
  when: string;
  result: string;
  client: string;
  /** "to <application>" on a success. */
  application: string;
}

/** The attempts a Session history page lists, in order. */
function historyEntries(page: Page): HistoryEntry[] {
  const list = /<ul class="ips history">([\s\S]*?)<\/ul>/.exec(page.body)?.[1] ?? '';
  const span = (html: string, cls: RegExp) => text(new RegExp(`<span class="${cls.source}">([\\s\\S]*?)<\\/span>`).exec(html)?.[1] ?? '');
  return [...list.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => ({ when: span(m[1]!, /range/), result: span(m[1]!, /tag[^"]*/), client: span(m[1]!, /muted/), application: span(m[1]!, /app/) }));
}

/** A POST with a hand-made form body (repeated keys, missing fields) and the agent's cookies. */
async function postRaw(agent: UserAgent, target: string, body: string): Promise<Page> {
  const headers: Record<string, string> = { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', ...agent.headers };
  const cookie = await agent.jar.getCookieString(target);
  if (cookie) headers.cookie = cookie;
  const res = await fetch(target, { method: 'POST', headers, body, redirect: 'manual' });
  return { url: target, status: res.status, headers: res.headers, body: await res.text() };
}

describe('sessions (account security center)', () => {
  let t: Tessera;
  /** A first-party RP (no consent page). */
  let rp: RelyingParty;
  /** Tessera's clock runs with real time plus this offset (the provider's token lifetimes keep real time). */
  let offset = 0;
  const now = () => new Date(Date.now() + offset);
  const url = (path: string) => `${t.issuer}/account/security${path}`;

  before(async () => {
    // the history test makes many wrong passwords in an hour: the adaptive sign-in's failure
    // velocity would then ask for a code (its own test: adaptive-sign-in.test.ts); not the subject here
    t = await startTessera({ clock: now, env: { RISK_FAILURE_VELOCITY: 'none' } });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(() => t.close());
  afterEach(() => { offset = 0; });

  /** A browser (with this User-Agent) signed in as `user` through `via`; returns it and its tokens. */
  async function signedIn(user: TestUser, ua = CHROME, via = rp, authParams: Record<string, string> = {}) {
    const agent = new UserAgent({ 'user-agent': ua });
    const auth = await via.authorize(authParams);
    const tokens = await via.tokens(await signIn(agent, auth.url, user), auth);
    return { agent, tokens };
  }
  async function open(agent: UserAgent, path: string): Promise<Page> {
    const page = await agent.visit(url(path));
    assert.equal(page.status, 200, page.body.slice(0, 400));
    return page;
  }
  /** A prompt=none authorization for `via` from this browser: the RP's callback URL. */
  async function silent(agent: UserAgent, via = rp, authParams: Record<string, string> = {}): Promise<string> {
    const page = await agent.visit((await via.authorize({ prompt: 'none', ...authParams })).url);
    assert.ok(page.url.startsWith(REDIRECT_URI), `prompt=none returned to the RP, not ${page.status} ${page.url}`);
    return page.url;
  }
  const sessionCount = async (user: TestUser) => (await t.services.storage.sessionsOf(user.id)).length;
  const autoLogoutDays = async (user: TestUser) => (await t.services.accounts.findById(user.id))!.security.autoLogoutDays;

  describe('active sessions', () => {
    it("lists each signed-in browser of the account with browser/OS, IP, sign-in and last activity, marks this device, and not another account's", async () => {
      const user = await createUser(t);
      const other = await createUser(t);
      const before = now();
      const { agent } = await signedIn(user, CHROME);
      await signedIn(user, FIREFOX);
      await signedIn(other, SAFARI);

      const page = await open(agent, '/sessions');
      assert.match(page.body, /<h1>Active sessions<\/h1>/);
      const sessions = listedSessions(page);
      assert.equal(sessions.length, 2, 'two browsers of this account, not the other account\'s');
      assert.deepEqual(sessions.map((s) => [s.current, s.client]), [
        [true, 'Chrome 120 on Windows 10 · IP 127.0.0.1 (unknown location)'],
        [false, 'Firefox 121 on Ubuntu · IP 127.0.0.1 (unknown location)'],
      ], 'this device first');
      assert.equal((page.body.match(/<span class="tag">this device<\/span>/g) ?? []).length, 1, 'only one session is "this device"');
      for (const s of sessions) {
        assert.match(s.signedIn, STAMP);
        assert.match(s.lastActive, STAMP);
        const signedInAt = Date.parse(s.signedIn);
        assert.ok(signedInAt >= before.getTime() - MINUTE && signedInAt <= now().getTime(), `signed in ${s.signedIn} is the sign-in time`);
      }
      assert.doesNotMatch(page.body, /Safari|Mac OS/, "the other account's browser is not listed");

      // the other account sees only its own
      const otherAgent = (await signedIn(other, SAFARI)).agent;
      const theirs = listedSessions(await open(otherAgent, '/sessions'));
      assert.equal(theirs.length, 2);
      assert.ok(theirs.every((s) => s.client.startsWith('Safari 17 on Mac OS')));
      assert.ok(!theirs.some((s) => sessions.some((mine) => mine.ref === s.ref)), 'no ref is shared between accounts');
    });

    it('"Log out all except this device" signs the other browser out of Tessera and the RP, revokes its refresh token and sends a back-channel logout', async () => {
      const listener = await backchannelListener();
      try {
        // an RP with refresh tokens (offline_access asks for consent) and a back-channel logout URI
        const bcRp = await RelyingParty.register(t, { grants: ['refresh_token'], backchannelLogoutUri: listener.uri });
        const user = await createUser(t);
        const offline = { scope: 'openid offline_access', prompt: 'consent' };
        const here = await signedIn(user, CHROME, bcRp, offline);
        const there = await signedIn(user, FIREFOX, bcRp, offline);
        assert.ok(here.tokens.refresh_token && there.tokens.refresh_token, 'offline_access yields refresh tokens');
        const theirSid = there.tokens.claims()!.sid;
        assert.ok(theirSid && theirSid !== here.tokens.claims()!.sid, 'each browser has its own sid');
        assert.equal(await sessionCount(user), 2);

        const page = await open(here.agent, '/sessions');
        const done = await here.agent.submit(page, /\/sessions\/end-others$/, { password: user.password });
        assert.equal(done.status, 200, alert(done));
        assert.equal(notice(done), '1 other session was signed out.');
        assert.deepEqual(listedSessions(done).map((s) => [s.current, s.client.split(' · ')[0]]), [[true, 'Chrome 120 on Windows 10']]);
        assert.equal(await sessionCount(user), 1);

        // the other browser: signed out of Tessera and of the RP
        assert.ok(isSignInPage(await there.agent.visit(url(''))), 'its /account/security goes to the sign-in');
        // (scope openid: within what each browser's grant holds, so only the sign-in can be missing)
        assert.equal(params(await silent(there.agent, bcRp, { scope: 'openid' })).get('error'), 'login_required');
        await assert.rejects(oidc.refreshTokenGrant(bcRp.config, there.tokens.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
        assert.equal(listener.received.length, 1, 'one logout token, for the ended session only');
        const { payload } = await jwtVerify(listener.received[0]!, createRemoteJWKSet(new URL('/jwks', t.issuer)), { issuer: t.issuer, audience: bcRp.clientId });
        assert.equal(payload.sub, user.id);
        assert.equal(payload.sid, theirSid, "the logout token names the other browser's session");
        assert.ok('http://schemas.openid.net/event/backchannel-logout' in (payload.events as object));

        // this browser stays signed in: the account pages, silent SSO and its own refresh token
        assert.match((await open(here.agent, '')).body, /<h1>Security<\/h1>/);
        const stillIn = await silent(here.agent, bcRp, { scope: 'openid' });
        assert.ok(params(stillIn).get('code'), `prompt=none still returns a code here: ${stillIn}`);
        const refreshed = await oidc.refreshTokenGrant(bcRp.config, here.tokens.refresh_token!);
        assert.ok(refreshed.access_token, "this browser's refresh token still works");
      } finally {
        listener.close();
      }
    });

    it("\"Log out\" ends one session by its ref; another account's ref, garbage, blank or repeated refs are refused (400) and end nothing", async () => {
      const user = await createUser(t);
      const other = await createUser(t);
      const { agent } = await signedIn(user, CHROME);
      const firefox = (await signedIn(user, FIREFOX)).agent;
      const otherAgent = (await signedIn(other, SAFARI)).agent;
      const [otherRef] = listedSessions(await open(otherAgent, '/sessions')).map((s) => s.ref);

      const page = await open(agent, '/sessions');
      const [mine, theirs] = listedSessions(page);
      assert.ok(mine!.current && !theirs!.current);
      const endForm = formOn(page, /\/sessions\/end$/);
      const counts = async () => [await sessionCount(user), await sessionCount(other)];
      assert.deepEqual(await counts(), [2, 1]);

      const refused: [string, string][] = [
        ['another account\'s session', `session=${encodeURIComponent(otherRef!)}`],
        ['garbage', 'session=garbage'],
        ['blank', 'session='],
        ['absent', ''],
        ['too long', `session=${'x'.repeat(200)}`],
        ['repeated', `session=${encodeURIComponent(theirs!.ref)}&session=${encodeURIComponent(theirs!.ref)}`],
      ];
      for (const [what, fields] of refused) {
        const res = await postRaw(agent, endForm.action, `_csrf=${encodeURIComponent(endForm.fields._csrf!)}&password=${encodeURIComponent(user.password)}&${fields}`);
        assert.equal(res.status, 400, `${what}: ${res.body.slice(0, 200)}`);
        assert.equal(alert(res), 'There is no such session of yours (it may have ended already): nothing was changed.', what);
        assert.deepEqual(await counts(), [2, 1], `${what}: nothing ended`);
      }
      assert.ok(!isSignInPage(await otherAgent.visit(url(''))), 'the other account is still signed in');

      const done = await agent.submit(page, /\/sessions\/end$/, { session: theirs!.ref, password: user.password });
      assert.equal(done.status, 200, alert(done));
      assert.equal(notice(done), 'The session on Firefox 121 on Ubuntu was signed out.');
      assert.deepEqual(listedSessions(done).map((s) => s.ref), [mine!.ref]);
      assert.deepEqual(await counts(), [1, 1]);
      assert.ok(isSignInPage(await firefox.visit(url(''))), 'the ended browser goes to the sign-in');
      assert.equal(params(await silent(firefox)).get('error'), 'login_required');
      assert.match((await open(agent, '')).body, /<h1>Security<\/h1>/, 'this browser stays signed in');

      // the same ref again: already ended
      const again = await agent.submit(await open(agent, '/sessions'), /\/sessions\/end$/, { session: theirs!.ref, password: user.password });
      assert.equal(again.status, 400);
      assert.match(alert(again), /no such session of yours/);
    });
  });

  describe('auto-logout', () => {
    it('days=1 ends sessions (one signed in before the change too) 25 hours after sign-in: the account page asks for a sign-in, prompt=none gets login_required', async () => {
      const user = await createUser(t);
      const { agent } = await signedIn(user, CHROME);
      const earlier = (await signedIn(user, FIREFOX)).agent; // signed in before the setting changes
      assert.equal(await autoLogoutDays(user), undefined, 'the default: the server\'s longest');

      const page = await agent.submit(await open(agent, '/sessions'), /\/sessions\/auto-logout$/, { days: '1', password: user.password });
      assert.equal(page.status, 200, alert(page));
      assert.match(notice(page), /^Saved: sessions end 1 day after sign-in/);
      assert.equal(await autoLogoutDays(user), 1);
      assert.match(page.body, /<option value="1" selected>1 day<\/option>/);

      offset = 23 * HOUR;
      assert.match((await open(agent, '')).body, /<h1>Security<\/h1>/, 'still signed in after 23 hours');

      offset = 25 * HOUR;
      assert.equal(params(await silent(earlier)).get('error'), 'login_required', 'the earlier session ended too');
      assert.ok(isSignInPage(await earlier.visit(url(''))), 'and its account page asks for a sign-in');
      assert.ok(isSignInPage(await agent.visit(url(''))), 'the account page asks for a sign-in');
      assert.equal(params(await silent(agent)).get('error'), 'login_required');
      assert.equal(await sessionCount(user), 0, 'both sessions ended');
    });

    it("accepts 'never'; refuses 0, 91, 'abc', an array and other junk with a 400 and changes nothing", async () => {
      const user = await createUser(t);
      const { agent } = await signedIn(user);
      let page = await agent.submit(await open(agent, '/sessions'), /\/sessions\/auto-logout$/, { days: '7', password: user.password });
      assert.equal(page.status, 200, alert(page));
      assert.equal(await autoLogoutDays(user), 7);

      const form = formOn(page, /\/sessions\/auto-logout$/);
      const post = (fields: string) => postRaw(agent, form.action, `_csrf=${encodeURIComponent(form.fields._csrf!)}&password=${encodeURIComponent(user.password)}&${fields}`);
      for (const fields of ['days=0', 'days=91', 'days=abc', 'days=1&days=2', 'days=', '', 'days=-1', 'days=1.5', 'days=1e1', 'days=007x', 'days=NEVER', `days=${'9'.repeat(50)}`]) {
        const res = await post(fields);
        assert.equal(res.status, 400, `${fields}: ${res.body.slice(0, 200)}`);
        assert.equal(alert(res), 'Choose a number of days from 1 to 90, or "never": nothing was changed.', fields);
        assert.equal(await autoLogoutDays(user), 7, `${fields}: unchanged`);
      }
      // a wrong password changes nothing either
      const wrong = await postRaw(agent, form.action, `_csrf=${encodeURIComponent(form.fields._csrf!)}&password=Wrong%23Horse1&days=3`);
      assert.equal(wrong.status, 400);
      assert.match(alert(wrong), /current password is not right/);
      assert.equal(await autoLogoutDays(user), 7, 'wrong password: unchanged');

      page = await agent.submit(await open(agent, '/sessions'), /\/sessions\/auto-logout$/, { days: 'never', password: user.password });
      assert.equal(page.status, 200, alert(page));
      assert.equal(notice(page), 'Saved: sessions end after 90 days (the longest this server allows), whatever the activity. This applies to your current sessions too.');
      assert.equal(await autoLogoutDays(user), undefined, "'never' clears the setting");
      assert.match(page.body, /<option value="never" selected>/);
    });
  });

  describe('session history', () => {
    it("lists the account's sign-in attempts newest first with result, IP and browser/OS, 20 a page with an Older link, never another account's; odd page numbers never fail", async () => {
      const user = await createUser(t);
      const other = await createUser(t);
      /** One round: a wrong password, then the right one, from a new browser (Chrome <major>). */
      async function round(who: TestUser, major: number): Promise<UserAgent> {
        const agent = new UserAgent({ 'user-agent': chrome(major) });
        const auth = await rp.authorize();
        const login = await agent.visit(auth.url);
        const wrong = await agent.submit(login, /\/login$/, { email: who.email, password: 'Wrong#Horse1' });
        assert.ok(isSignInPage(wrong), 'the wrong password shows the sign-in again');
        const done = await agent.submit(wrong, /\/login$/, { email: who.email, password: who.password });
        assert.ok(done.url.startsWith(REDIRECT_URI), `signed in: ${done.status} ${done.body.slice(0, 200)}`);
        return agent;
      }
      const rounds = 8; // 3 attempts each (wrong password, new device, signed in): 24 entries
      let agent!: UserAgent;
      for (let i = 0; i < rounds; i++) {
        offset = i * MINUTE; // each round in its own minute
        agent = await round(user, 101 + i);
        if (i % 3 === 0) await round(other, 99); // another account's attempts in between
      }

      // what happened, newest first: the last round's success first
      const expected: [RegExp, string][] = [];
      for (let i = rounds - 1; i >= 0; i--) {
        const client = `IP 127.0.0.1 (unknown location) · Chrome ${101 + i} on Windows 10`;
        expected.push([/^Signed in$/, client], [/device/i, client], [/^Wrong password$/, client]);
      }
      const check = (entries: HistoryEntry[], want: [RegExp, string][]) => {
        assert.equal(entries.length, want.length);
        entries.forEach((e, n) => {
          assert.match(e.result, want[n]![0], `entry ${n}`);
          assert.equal(e.client, want[n]![1], `entry ${n}`);
          // a success names the application signed in to (issue 20)
          assert.equal(e.application, /^Signed in$/.test(e.result) ? `to ${rp.clientId}` : '', `entry ${n}`);
          assert.match(e.when, STAMP);
        });
        const times = entries.map((e) => e.when);
        assert.deepEqual(times, [...times].sort().reverse(), 'newest first');
      };

      const first = await open(agent, '/history');
      assert.match(first.body, /<h1>Session history<\/h1>/);
      check(historyEntries(first), expected.slice(0, 20));
      assert.match(first.body, /<a href="\/account\/security\/history\?page=2" rel="next">Older →<\/a>/);
      assert.doesNotMatch(first.body, /rel="prev"/);
      assert.doesNotMatch(first.body, /Chrome 99\b/, "another account's attempts never appear");

      const second = await open(agent, '/history?page=2');
      check(historyEntries(second), expected.slice(20));
      assert.doesNotMatch(second.body, /rel="next"/, 'no page 3');
      assert.match(second.body, /<a href="\/account\/security\/history\?page=1" rel="prev">← Newer<\/a>/);
      assert.doesNotMatch(second.body, /Chrome 99\b/);

      // the other account sees only its own: 4 rounds of 3 attempts
      const theirs = historyEntries(await open(await round(other, 99), '/history'));
      assert.equal(theirs.length, 12);
      assert.ok(theirs.every((e) => e.client.endsWith('Chrome 99 on Windows 10')));

      // odd page numbers: page 1 or an empty page, never an error
      const firstEntries = historyEntries(first);
      for (const odd of ['abc', '-1', '0', '1.5', '', '99999999999', '%00', '1&page=2']) {
        const page = await agent.visit(url(`/history?page=${odd}`));
        assert.equal(page.status, 200, `page=${odd}`);
        assert.deepEqual(historyEntries(page), firstEntries, `page=${odd} is page 1`);
      }
      for (const huge of ['26', '999999']) {
        const page = await agent.visit(url(`/history?page=${huge}`));
        assert.equal(page.status, 200, `page=${huge}`);
        assert.deepEqual(historyEntries(page), [], `page=${huge} is empty`);
        assert.match(page.body, /No sign-in attempts on this page\./);
      }
    });
  });

  describe('PIN after sign-in', () => {
    async function withPin(): Promise<TestUser> {
      const user = await createUser(t);
      await t.services.accounts.setPin(user.id, PIN);
      await t.services.accounts.setSessionSettings(user.id, { pinAfterSignIn: true });
      return user;
    }
    /** Signs in with the password up to the PIN page. */
    async function toPinPage(user: TestUser) {
      const agent = new UserAgent({ 'user-agent': CHROME });
      const auth = await rp.authorize();
      const page = await agent.submit(await agent.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
      return { agent, auth, page };
    }

    it('asks for the PIN after the password; the ID token has amr pin and the password acr', async () => {
      const user = await withPin();
      const { agent, auth, page } = await toPinPage(user);
      assert.equal(page.status, 200, page.body.slice(0, 300));
      assert.match(page.body, /<h1>Enter your PIN<\/h1>/);
      assert.doesNotMatch(page.body, /name="password"/);
      const done = await agent.submit(page, /\/pin$/, { pin: PIN });
      assert.ok(done.url.startsWith(REDIRECT_URI), `back at the RP: ${done.status} ${done.body.slice(0, 200)}`);
      const claims = (await rp.tokens(done.url, auth)).claims()!;
      assert.equal(claims.sub, user.id);
      const amr = claims.amr as string[];
      assert.ok(amr.includes('pin') && amr.includes('pwd'), `amr ${amr}`);
      assert.equal(claims.acr, ACR.password, 'a PIN does not raise the level');
    });

    /** 4 wrong PINs ("n tries left"), then a 5th: the page after it. */
    async function fiveWrongPins(agent: UserAgent, page: Page): Promise<Page> {
      for (let left = 4; left >= 1; left--) {
        const wrong = await agent.submit(page, /\/pin$/, { pin: '0000' });
        assert.equal(wrong.status, 400, text(wrong.body).slice(0, 300));
        assert.equal(alert(wrong), `That PIN is not right. ${left} ${left === 1 ? 'try' : 'tries'} left.`);
      }
      return agent.submit(page, /\/pin$/, { pin: '0000' });
    }

    // with the default settings both limits are 5: the RP still hears access_denied on the last
    // wrong PIN, and the wrong PINs (failed attempts from that browser) have blocked the device
    it('stops the sign-in after 5 wrong PINs with the default settings: the RP gets access_denied, the device is blocked', async () => {
      const user = await withPin();
      const { agent, page } = await toPinPage(user);
      const stopped = await fiveWrongPins(agent, page);
      assert.ok(stopped.url.startsWith(REDIRECT_URI), `back at the RP: ${stopped.status} ${text(stopped.body).slice(0, 300)}`);
      assert.equal(params(stopped.url).get('error'), 'access_denied');
      assert.deepEqual((await t.services.devices.listFor(user.id)).map((d) => d.state), ['BLOCKED']);
    });

    it('stops the sign-in after 5 wrong PINs (device block limit raised): the RP gets access_denied, the right PIN is too late', async () => {
      // the PIN limit on its own: a device limit above it (see the skipped test above)
      const t2 = await startTessera({ env: { DEVICE_MAX_FAILURES: '10' } });
      try {
        const rp2 = await RelyingParty.register(t2, { skipConsent: true });
        const user = await createUser(t2);
        await t2.services.accounts.setPin(user.id, PIN);
        await t2.services.accounts.setSessionSettings(user.id, { pinAfterSignIn: true });
        const agent = new UserAgent({ 'user-agent': CHROME });
        const page = await agent.submit(await agent.visit((await rp2.authorize()).url), /\/login$/, { email: user.email, password: user.password });
        assert.match(page.body, /<h1>Enter your PIN<\/h1>/);
        const stopped = await fiveWrongPins(agent, page);
        assert.ok(stopped.url.startsWith(REDIRECT_URI), `back at the RP: ${stopped.status} ${text(stopped.body).slice(0, 300)}`);
        assert.equal(params(stopped.url).get('error'), 'access_denied');
        const late = await agent.submit(page, /\/pin$/, { pin: PIN });
        assert.ok(!params(late.url).get('code'), `no code after the sign-in was stopped: ${late.status} ${late.url}`);
        assert.equal((await t2.services.storage.sessionsOf(user.id)).length, 0, 'no session was signed in');
      } finally {
        await t2.close();
      }
    });

    it("skips the PIN from a trusted IP whose entry skips 'pin' (amr without pin)", async () => {
      const user = await withPin();
      await t.services.trustedIps.add(user.id, '127.0.0.1', 'pin');
      const { auth, page } = await toPinPage(user);
      assert.ok(page.url.startsWith(REDIRECT_URI), `straight back to the RP: ${page.status} ${text(page.body).slice(0, 200)}`);
      const claims = (await rp.tokens(page.url, auth)).claims()!;
      assert.deepEqual(claims.amr, ['pwd']);
      assert.equal(claims.acr, ACR.password);
    });
  });

  describe('screen lock', () => {
    async function withScreenLock() {
      const user = await createUser(t);
      await t.services.accounts.setPin(user.id, PIN);
      await t.services.accounts.setSessionSettings(user.id, { screenLockMinutes: 5 });
      const { agent } = await signedIn(user, CHROME);
      return { user, agent };
    }
    /** The account page's answer without following it: the unlock redirect when locked. */
    const lockedRedirect = async (agent: UserAgent) => {
      const res = await agent.request(url(''));
      return res.status === 302 ? new URL(res.headers.get('location')!, t.issuer).pathname + new URL(res.headers.get('location')!, t.issuer).search : `${res.status}`;
    };

    it('keeps a session open while it is used: activity at +3 minutes, still open at +7', async () => {
      const { agent } = await withScreenLock();
      offset = 3 * MINUTE;
      assert.match((await open(agent, '')).body, /<h1>Security<\/h1>/);
      offset = 7 * MINUTE;
      assert.match((await open(agent, '')).body, /<h1>Security<\/h1>/, 'last activity 4 minutes ago');
      assert.ok(params(await silent(agent)).get('code'), 'silent SSO works');
      offset = 13 * MINUTE;
      assert.equal(await lockedRedirect(agent), '/account/unlock?back=%2Faccount%2Fsecurity', '6 minutes without activity lock it');
    });

    it('locks after 5 idle minutes: the account page goes to /account/unlock, prompt=none gets login_required, and the PIN alone opens it for an RP', async () => {
      const { user, agent } = await withScreenLock();
      offset = 6 * MINUTE;
      assert.equal(await lockedRedirect(agent), '/account/unlock?back=%2Faccount%2Fsecurity');
      const unlock = await agent.visit(url(''));
      assert.equal(unlock.status, 200);
      assert.match(unlock.body, /<h1>Unlock<\/h1>/);
      assert.ok(unlock.body.includes(user.email));
      assert.doesNotMatch(unlock.body, /name="password"/);

      assert.equal(params(await silent(agent)).get('error'), 'login_required');

      const auth = await rp.authorize();
      const page = await agent.visit(auth.url);
      assert.equal(page.status, 200, text(page.body).slice(0, 300));
      assert.match(page.body, /<h1>Unlock<\/h1>/);
      assert.match(page.body, /name="pin"/);
      assert.doesNotMatch(page.body, /name="password"/, 'PIN only, no password');
      assert.ok(!isSignInPage(page));
      const done = await agent.submit(page, /\/pin$/, { pin: PIN });
      assert.ok(done.url.startsWith(REDIRECT_URI), `back at the RP: ${done.status} ${text(done.body).slice(0, 200)}`);
      const tokens = await rp.tokens(done.url, auth);
      assert.equal(tokens.claims()!.sub, user.id);
      assert.match((await open(agent, '')).body, /<h1>Security<\/h1>/, 'the account pages are open again');
    });

    it('ends the session after 5 wrong PINs on /account/unlock: "Signed out" (401), then a full sign-in, and the session is gone', async () => {
      const { user, agent } = await withScreenLock();
      assert.equal(await sessionCount(user), 1);
      offset = 6 * MINUTE;
      const unlock = await agent.visit(url(''));
      assert.match(unlock.body, /<h1>Unlock<\/h1>/);
      for (let left = 4; left >= 1; left--) {
        const wrong = await agent.submit(unlock, /\/account\/unlock$/, { pin: '0000' });
        assert.equal(wrong.status, 400);
        assert.equal(alert(wrong), `That PIN is not right. ${left} ${left === 1 ? 'try' : 'tries'} left before you are signed out.`);
      }
      const ended = await agent.submit(unlock, /\/account\/unlock$/, { pin: '0000' });
      assert.equal(ended.status, 401);
      assert.match(ended.body, /<h1>Signed out<\/h1>/);
      const after = await agent.visit(url(''));
      assert.ok(isSignInPage(after), 'a full sign-in');
      assert.match(after.body, /name="password"/);
      assert.equal(await sessionCount(user), 0, 'sessionsOf no longer lists it');
      assert.equal(params(await silent(agent)).get('error'), 'login_required');
    });
  });
});
