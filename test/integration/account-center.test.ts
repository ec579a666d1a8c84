// The account security center (/account/security) through real HTTP and the real database:
// the overview's blocks; changing the password (each broken rule named, common passwords, wrong
// current password, other sessions signed out, a configured rule); the PIN and its settings;
// re-authentication (a blank password works only within 5 minutes of a proof, on Tessera's
// clock); the two-factor rules (verified primary mobile, one routine method at a time, recovery
// codes); and bad input (arrays, huge bodies, missing CSRF) that is refused, never a 500.
// Every refusal leaves the store unchanged and sends no notice; every change sends one.
import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, giveVerifiedPhone, signIn, type Page, type TestUser } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';

const MINUTE = 60_000;
const NOTICE = 'Security change on your Tessera account';
const NEW_PASSWORD = 'Violet!Ferry82x';

describe('account security center', () => {
  let t: Tessera;
  let rp: RelyingParty;
  /** Tessera's clock runs with real time plus this offset (re-authentication windows). */
  let offset = 0;
  const now = () => new Date(Date.now() + offset);
  const url = (path: string) => `${t.issuer}/account/security${path}`;

  before(async () => {
    t = await startTessera({ clock: now });
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(() => t.close());
  afterEach(() => { offset = 0; });

  /** A browser signed in as `user` through an RP sign-in (Tessera's own session counts). */
  async function signedIn(user: TestUser): Promise<UserAgent> {
    const agent = new UserAgent();
    await signIn(agent, (await rp.authorize()).url, user);
    return agent;
  }
  async function open(agent: UserAgent, path = ''): Promise<Page> {
    const page = await agent.visit(url(path));
    assert.equal(page.status, 200, page.body.slice(0, 400));
    assert.ok(!isSignInPage(page), `${path}: still signed in`);
    return page;
  }
  const notices = (user: TestUser) => t.services.outbox.list().filter((m) => m.channel === 'email' && m.to === user.email && m.subject === NOTICE);
  /** The notices sent while `act` ran (they leave in the background: waits for `expected`). */
  async function noticesDuring(user: TestUser, act: () => Promise<unknown>, expected: number): Promise<string[]> {
    const seen = new Set(notices(user));
    const fresh = () => notices(user).filter((m) => !seen.has(m)).map((m) => m.text);
    await act();
    await eventually(() => fresh().length >= expected, 'the notices').catch(() => undefined); // the caller asserts what came
    await new Promise((r) => setTimeout(r, 50));
    return fresh();
  }
  const account = async (user: TestUser) => (await t.services.accounts.findById(user.id))!;
  const authenticates = async (user: TestUser, password: string) => !!(await t.services.accounts.authenticate(user.email, password));
  const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&amp;/g, '&').replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'").replace(/\s+/g, ' ').trim();
  /** The error messages a page shows (role="alert"), as text. */
  const alert = (page: Page) => [...page.body.matchAll(/role="alert">([\s\S]*?)<\/(?:p|ul)>/g)].map((m) => text(m[1]!)).join(' | ');
  const csrfOf = (page: Page) => /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
  /** A POST with a hand-made form body (repeated keys, missing fields) and the agent's cookies. */
  async function postRaw(agent: UserAgent, target: string, body: string): Promise<Page> {
    const headers: Record<string, string> = { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' };
    const cookie = await agent.jar.getCookieString(target);
    if (cookie) headers.cookie = cookie;
    const res = await fetch(target, { method: 'POST', headers, body, redirect: 'manual' });
    return { url: target, status: res.status, headers: res.headers, body: await res.text() };
  }
  const isSignInPage = (page: Page) => /action="[^"]*\/login"/.test(page.body);

  describe('password', () => {
    it('changes the password: the new one signs in, the old one not, and a notice is emailed', async () => {
      const user = await createUser(t);
      const agent = await signedIn(user);
      let page!: Page;
      const sent = await noticesDuring(user, async () => {
        page = await agent.submit(await open(agent, '/password'), /\/security\/password$/, { current: user.password, password: NEW_PASSWORD, confirm: NEW_PASSWORD });
      }, 1);
      assert.equal(page.status, 200, alert(page));
      assert.match(page.body, /role="status">Your password was changed\.<\/p>/);
      assert.ok(await authenticates(user, NEW_PASSWORD));
      assert.ok(!(await authenticates(user, user.password)));
      assert.equal(sent.length, 1);
      assert.match(sent[0]!, /Your password was changed\./);
      const fresh = new UserAgent();
      const login = await fresh.visit((await rp.authorize()).url);
      const refused = await fresh.submit(login, /\/login$/, { email: user.email, password: user.password });
      assert.ok(isSignInPage(refused), 'the old password is refused at sign-in');
      await signIn(fresh, (await rp.authorize()).url, { email: user.email, password: NEW_PASSWORD });
    });

    it('refuses a new password breaking a rule, naming each broken rule in its own message', async () => {
      const user = await createUser(t);
      const agent = await signedIn(user);
      const cases: [string, string[]][] = [
        ['Ab1!xyz', ['at least 8 characters']],
        ['violet!ferry82', ['an upper-case letter']],
        ['VIOLET!FERRY82', ['a lower-case letter']],
        ['Violet!Ferryx', ['a digit']],
        ['VioletFerry82x', ['one of !@#$%^&*']],
        ['abc', ['at least 8 characters', 'an upper-case letter', 'a digit', 'one of !@#$%^&*']],
      ];
      const sent = await noticesDuring(user, async () => {
        for (const [password, rules] of cases) {
          const page = await agent.submit(await open(agent, '/password'), /\/security\/password$/, { current: user.password, password, confirm: password });
          assert.equal(page.status, 400, password);
          // beside the new password: one sentence, or a list of them
          const beside = /id="new-password-error" role="alert">([\s\S]*?)<\/(?:p|div)>/.exec(page.body)?.[1] ?? '';
          const items = [...beside.matchAll(/(?:<li>|^)(The new password needs [^<]+)/g)].map((m) => text(m[1]!));
          assert.deepEqual(items, rules.map((r) => `The new password needs ${r}.`), password);
        }
      }, 0);
      assert.deepEqual(sent, []);
      assert.ok(await authenticates(user, user.password), 'the stored password is unchanged');
    });

    it('refuses a common password, a wrong current password, a mismatched confirmation, arrays and over-long fields', async () => {
      const user = await createUser(t);
      const agent = await signedIn(user);
      const sent = await noticesDuring(user, async () => {
        for (const common of ['Password1!', 'Summer2024!']) {
          const page = await agent.submit(await open(agent, '/password'), /\/security\/password$/, { current: user.password, password: common, confirm: common });
          assert.equal(page.status, 400);
          assert.match(alert(page), /too common or too easy to guess/, common);
        }
        let page = await agent.submit(await open(agent, '/password'), /\/security\/password$/, { current: 'Wrong#Horse1', password: NEW_PASSWORD, confirm: NEW_PASSWORD });
        assert.equal(page.status, 400);
        assert.match(alert(page), /Your current password is not right: nothing was changed\./);
        page = await agent.submit(await open(agent, '/password'), /\/security\/password$/, { current: user.password, password: NEW_PASSWORD, confirm: `${NEW_PASSWORD}!` });
        assert.equal(page.status, 400);
        assert.match(alert(page), /do not match/);
        const csrf = csrfOf(await open(agent, '/password'));
        const p = encodeURIComponent(user.password);
        const n = encodeURIComponent(NEW_PASSWORD);
        for (const [body, message] of [
          [`current=${p}&current=${p}&password=${n}&confirm=${n}`, /Enter your current password\./],
          [`current=${p}&password=${n}&password=${n}&confirm=${n}`, /Enter a new password\./],
          [`current=${p}&password[a]=${n}&confirm=${n}`, /Enter a new password\./],
          [`current=${'x'.repeat(2000)}&password=${n}&confirm=${n}`, /Enter your current password\./],
          [`current=${p}&password=${'Aa1!'.repeat(500)}&confirm=${'Aa1!'.repeat(500)}`, /Enter a new password\./],
        ] as const) {
          page = await postRaw(agent, url('/password'), `_csrf=${csrf}&${body}`);
          assert.equal(page.status, 400, body.slice(0, 60));
          assert.match(alert(page), message, body.slice(0, 60));
        }
      }, 0);
      assert.deepEqual(sent, [], 'no notice after a refusal');
      assert.ok(await authenticates(user, user.password), 'the stored password is unchanged');
    });

    it('"Sign out my other sessions" signs out another browser and keeps this one signed in', async () => {
      const user = await createUser(t);
      const agent = await signedIn(user);
      const other = await signedIn(user);
      await open(other);
      const page = await agent.submit(await open(agent, '/password'), /\/security\/password$/, { current: user.password, password: NEW_PASSWORD, confirm: NEW_PASSWORD, endOthers: 'on' });
      assert.equal(page.status, 200, alert(page));
      assert.match(page.body, /Your password was changed\. 1 other session was signed out\./);
      assert.ok(isSignInPage(await other.visit(url(''))), 'the other browser is sent to the sign-in');
      assert.match((await open(agent)).body, /<h1>Security<\/h1>/, 'this browser stays signed in');
    });

    it('follows a configured rule: PASSWORD_MIN_LENGTH=12 refuses a 10-character password', async () => {
      const strict = await startTessera({ env: { PASSWORD_MIN_LENGTH: '12' } });
      try {
        const user = await createUser(strict, { password: 'Correct#Horse1' });
        const strictRp = await RelyingParty.register(strict, { skipConsent: true });
        const agent = new UserAgent();
        await signIn(agent, (await strictRp.authorize()).url, user);
        const form = await agent.visit(`${strict.issuer}/account/security/password`);
        assert.match(form.body, /<li>at least 12 characters<\/li>/);
        const page = await agent.submit(form, /\/security\/password$/, { current: user.password, password: 'Vi!Fe82xqz', confirm: 'Vi!Fe82xqz' });
        assert.equal(page.status, 400);
        assert.match(alert(page), /The new password needs at least 12 characters\./);
        assert.ok(await strict.services.accounts.authenticate(user.email, user.password));
      } finally {
        await strict.close();
      }
    });
  });

  describe('PIN and screen lock', () => {
    it('sets a PIN with its repeat and the password: stored and a notice emailed', async () => {
      const user = await createUser(t);
      const agent = await signedIn(user);
      let page!: Page;
      const sent = await noticesDuring(user, async () => {
        page = await agent.submit(await open(agent, '/pin'), /\/security\/pin$/, { pin: '4729', repeat: '4729', password: user.password });
      }, 1);
      assert.equal(page.status, 200, alert(page));
      assert.match(page.body, /Your PIN is set\./);
      assert.equal((await account(user)).security.pinSet, true);
      assert.ok(await t.services.accounts.verifyPin(user.id, '4729'));
      assert.match(sent.join(), /A PIN was set for your account\./);
    });

    it('refuses a mismatched, trivial, non-digit, too short or too long PIN and a wrong password: 400, nothing changed', async () => {
      const user = await createUser(t);
      const agent = await signedIn(user);
      const cases: [Record<string, string>, RegExp][] = [
        [{ pin: '4729', repeat: '4728' }, /do not match/],
        ...['1111', '1234', '9876', '121212'].map((pin): [Record<string, string>, RegExp] => [{ pin, repeat: pin }, /harder to guess/]),
        [{ pin: '47a9', repeat: '47a9' }, /digits only/],
        [{ pin: '472', repeat: '472' }, /4 to 8 digits/],
        [{ pin: '472951836', repeat: '472951836' }, /4 to 8 digits/],
        [{ pin: '4729', repeat: '4729', password: 'Wrong#Horse1' }, /current password is not right/],
      ];
      const sent = await noticesDuring(user, async () => {
        for (const [fields, message] of cases) {
          const page = await agent.submit(await open(agent, '/pin'), /\/security\/pin$/, { password: user.password, ...fields });
          assert.equal(page.status, 400, JSON.stringify(fields));
          assert.match(alert(page), message, JSON.stringify(fields));
        }
      }, 0);
      assert.deepEqual(sent, []);
      assert.equal((await account(user)).security.pinSet, false);
    });

    it('refuses the settings without a PIN and with bad values; removing the PIN turns both off', async () => {
      const user = await createUser(t);
      const agent = await signedIn(user);
      const settings = (fields: Record<string, string>) => agent.visit(url('/pin')).then((p) => agent.submit(p, /\/pin\/settings$/, { password: user.password, ...fields }));
      let page = await settings({ afterSignIn: 'yes', screenLock: '5' });
      assert.equal(page.status, 400);
      assert.match(alert(page), /Set a PIN first/);
      await t.services.accounts.setPin(user.id, '4729');
      for (const bad of [{ afterSignIn: 'maybe', screenLock: '5' }, { afterSignIn: 'yes', screenLock: '7' }, { afterSignIn: 'yes', screenLock: '' }, { afterSignIn: 'yes', screenLock: '-5' }]) {
        page = await settings(bad);
        assert.equal(page.status, 400, JSON.stringify(bad));
        assert.match(alert(page), /Choose yes or no, and a screen lock from the list/);
      }
      assert.deepEqual((await account(user)).security, { pinSet: true, pinAfterSignIn: false, screenLockMinutes: 0 });
      page = await settings({ afterSignIn: 'yes', screenLock: '10' });
      assert.equal(page.status, 200, alert(page));
      assert.match(page.body, /Saved\. PIN after sign-in: yes; screen lock: after 10 minutes of inactivity\./);
      assert.deepEqual((await account(user)).security, { pinSet: true, pinAfterSignIn: true, screenLockMinutes: 10 });
      const sent = await noticesDuring(user, async () => {
        page = await agent.submit(await open(agent, '/pin'), /\/pin\/remove$/, { password: user.password });
      }, 1);
      assert.equal(page.status, 200, alert(page));
      assert.deepEqual((await account(user)).security, { pinSet: false, pinAfterSignIn: false, screenLockMinutes: 0 });
      assert.match(sent.join(), /Your PIN was removed/);
    });
  });

  describe('recent authentication', () => {
    it('accepts a change without the password right after sign-in; 6 minutes later only with the typed password', async () => {
      const user = await createUser(t);
      await t.services.accounts.setPin(user.id, '4729');
      const agent = await signedIn(user);
      let form = await open(agent, '/pin');
      assert.match(form.body, /not needed: you confirmed it a few minutes ago/);
      let page = await agent.submit(form, /\/pin\/settings$/, { afterSignIn: 'yes', screenLock: '0' });
      assert.equal(page.status, 200, alert(page));
      assert.equal((await account(user)).security.pinAfterSignIn, true);

      offset = 6 * MINUTE;
      form = await open(agent, '/pin');
      assert.doesNotMatch(form.body, /not needed/);
      const sent = await noticesDuring(user, async () => {
        page = await agent.submit(form, /\/pin\/settings$/, { afterSignIn: 'no', screenLock: '0' });
      }, 0);
      assert.equal(page.status, 400);
      assert.match(alert(page), /needed again because you signed in more than a few minutes ago/);
      assert.deepEqual(sent, []);
      assert.equal((await account(user)).security.pinAfterSignIn, true, 'nothing changed');
      page = await agent.submit(form, /\/pin\/settings$/, { afterSignIn: 'no', screenLock: '0', password: user.password });
      assert.equal(page.status, 200, alert(page));
      assert.equal((await account(user)).security.pinAfterSignIn, false);
      // the typed password opened a new window
      page = await agent.submit(await open(agent, '/pin'), /\/pin\/settings$/, { afterSignIn: 'yes', screenLock: '0' });
      assert.equal(page.status, 200, alert(page));
    });
  });

  describe('two-factor rules', () => {
    const routine = (agent: UserAgent, factor: string, fields: Record<string, string> = {}) => open(agent).then((p) => agent.submit(p, /\/second-factor$/, { factor, ...fields }));
    async function enrolTotpInStore(user: TestUser): Promise<void> {
      const { secret } = await t.services.totp.begin(user.id, user.email);
      assert.ok(await t.services.totp.confirm(user.id, await generate({ secret, epoch: Math.floor(now().getTime() / 1000) })));
    }

    it('refuses text messages or an authenticator app as routine without a verified primary mobile, and the TOTP set-up page points to Contacts', async () => {
      const user = await createUser(t);
      const agent = await signedIn(user);
      // an old setup link: the overview with the reason (issue 20: no error page for it)
      const setup = await agent.visit(url('/totp'));
      assert.equal(setup.status, 200);
      assert.match(text(setup.body), /needs a verified mobile number first, for account recovery\..*\(Contacts\)/);
      // a verified landline is not a mobile: it never becomes the primary number
      const { phone } = await t.services.phones.add(user.id, '+41 44 668 18 00');
      await t.services.phones.markVerified(user.id, phone.id, phone.number);
      await enrolTotpInStore(user); // e.g. set up before the mobile number was deleted
      const sent = await noticesDuring(user, async () => {
        let page = await routine(agent, 'sms');
        assert.equal(page.status, 400);
        assert.match(alert(page), /Two-factor sign-in with text messages needs a verified mobile number, so nothing was changed\. .*\(Contacts\)/);
        page = await routine(agent, 'totp');
        assert.equal(page.status, 400);
        assert.match(alert(page), /Two-factor sign-in with the authenticator app needs a verified mobile number, so nothing was changed\. .*\(Contacts\)/);
      }, 0);
      assert.deepEqual(sent, []);
      assert.equal((await account(user)).secondFactor, undefined);
    });

    it('with a verified primary mobile: sets up the app, one routine method at a time (turn it off first), app not removable while routine', async () => {
      const user = await createUser(t);
      await giveVerifiedPhone(t, user);
      const agent = await signedIn(user);
      const setup = await open(agent, '/totp');
      const secret = /<code class="key"[^>]*>([A-Z2-7 ]+)<\/code>/.exec(setup.body)![1]!.replaceAll(' ', '');
      let page = await agent.submit(setup, /\/security\/totp$/, { code: await generate({ secret }), password: user.password });
      assert.equal(page.status, 200, alert(page));
      assert.ok(await t.services.totp.enrolled(user.id));

      const sent = await noticesDuring(user, () => routine(agent, 'sms'), 1);
      assert.equal((await account(user)).secondFactor, 'sms');
      assert.match(sent.join(), /Two-factor sign-in with text messages was turned on/);
      page = await routine(agent, 'totp');
      assert.equal(page.status, 400);
      assert.match(alert(page), /Two-factor sign-in uses text messages\. Turn it off first/);
      assert.equal((await account(user)).secondFactor, 'sms');
      page = await routine(agent, 'off');
      assert.equal(page.status, 200, alert(page));
      assert.equal((await account(user)).secondFactor, undefined);
      page = await routine(agent, 'totp');
      assert.equal(page.status, 200, alert(page));
      assert.equal((await account(user)).secondFactor, 'totp');

      page = await agent.submit(await open(agent), /\/totp\/remove$/, {});
      assert.equal(page.status, 400);
      assert.match(alert(page), /turn it off first, then remove the app/);
      assert.ok(await t.services.totp.enrolled(user.id), 'the app is still there');
    });

    it('shows the recovery codes left on the overview and regenerates them (old ones stop working)', async () => {
      const user = await createUser(t);
      const agent = await signedIn(user);
      assert.match((await open(agent)).body, /0 unused codes\./);
      let page = await agent.submit(await open(agent), /\/recovery-codes$/, {});
      assert.equal(page.status, 200, alert(page));
      const first = [...page.body.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1]!);
      assert.ok(first.length >= 8, `${first.length} codes shown`);
      assert.ok(await t.services.recovery.use(user.id, first[0]!));
      assert.match((await open(agent)).body, new RegExp(`${first.length - 1} unused codes\\.`));
      const sent = await noticesDuring(user, async () => { page = await agent.submit(await open(agent), /\/recovery-codes$/, {}); }, 1);
      assert.equal(page.status, 200);
      assert.match(sent.join(), /New recovery codes were created/);
      assert.match((await open(agent)).body, new RegExp(`${first.length} unused codes\\.`));
      assert.ok(!(await t.services.recovery.use(user.id, first[1]!)), 'an old code no longer works');
    });
  });

  it('shows every block on the overview, each linking to a page that opens', async () => {
    const user = await createUser(t);
    const agent = await signedIn(user);
    const page = await open(agent);
    const blocks: [string, string][] = [
      ['Profile', '/account/security/profile'], ['Password', '/account/security/password'], ['PIN and screen lock', '/account/security/pin'],
      ['Contacts', '/account/security/phones'], ['Trusted devices', '/account/security/devices'],
      ['Trusted IPs', '/account/security/ips'], ['Session history', '/account/security/history'],
      ['Active sessions', '/account/security/sessions'], ['Connected applications', '/account/security/apps'],
      ['Your data', '/account/security/data'], ['Delete your account', '/account/security/delete'],
    ];
    for (const [heading, link] of blocks) {
      assert.match(page.body, new RegExp(`<h[23]>${heading} <a href="${link}">`), heading);
      assert.match((await open(agent, link.slice('/account/security'.length))).body, /<h1>/, link);
    }
    assert.match(page.body, /<h2>Two-factor authentication<\/h2>/);
    assert.match(page.body, /action="\/account\/security\/second-factor"/);
    // without a verified mobile number the app is offered as not available yet, with the way there
    assert.match(page.body, /Set up an authenticator app \(not available yet\)/);
    assert.match(page.body, /unused codes?\./);
  });

  it('refuses bad input on every form (arrays, huge values, missing CSRF) with a 4xx and a clear message, never a 500', async () => {
    const user = await createUser(t);
    const agent = await signedIn(user);
    const csrf = csrfOf(await open(agent));
    const p = encodeURIComponent(user.password);
    const n = encodeURIComponent(NEW_PASSWORD);
    // each form's fields, and what it says when the other fields (not the password) are arrays
    const routes: [string, string, string, RegExp][] = [
      ['/password', `password=${n}&confirm=${n}`, `current=${p}`, /Enter a new password\./],
      ['/pin', 'pin=4729&repeat=4729', `password=${p}`, /A PIN is digits only\./],
      ['/pin/settings', 'afterSignIn=no&screenLock=0', `password=${p}`, /Choose yes or no, and a screen lock from the list: nothing was changed\./],
      ['/pin/remove', '', `password=${p}`, /nothing was changed/],
      ['/second-factor', 'factor=email', `password=${p}`, /Choose a method you have set up: nothing was changed\./],
    ];
    const refused = /is not right|Enter your current password\./; // the password check fails first
    const doubled = (fields: string) => fields.replace(/(^|&)(\w+)=([^&]*)/g, '$1$2=$3&$2=$3');
    const sent = await noticesDuring(user, async () => {
      for (const [path, fields, password, arraysMessage] of routes) {
        const good = [fields, password].filter(Boolean).join('&');
        const variants: [string, string, number, RegExp][] = [
          ['no CSRF', good, 403, /This form has expired\. Go back, reload the page and try again\./],
          ['a forged CSRF token', `_csrf=forged&${good}`, 403, /This form has expired/],
          ['every field an array', `_csrf=${csrf}&${doubled(good)}`, 400, refused],
          ['the password as an object', `_csrf=${csrf}&${[fields, password.replace('=', '[x]=')].filter(Boolean).join('&')}`, 400, refused],
          ['huge values', `_csrf=${csrf}&${good.replace(/=[^&]*/g, `=${'9'.repeat(3000)}`)}`, 400, refused],
          ['a body over the form limit', `_csrf=${csrf}&${good}&filler=${'x'.repeat(40_000)}`, 413, /too large/],
        ];
        if (fields) variants.push(['arrays besides a right password', `_csrf=${csrf}&${doubled(fields)}&${password}`, 400, arraysMessage]);
        for (const [what, body, status, message] of variants) {
          const page = await postRaw(agent, url(path), body);
          assert.equal(page.status, status, `${path}, ${what}: ${alert(page) || page.body.slice(0, 200)}`);
          assert.match(alert(page), message, `${path}, ${what}`);
        }
      }
    }, 0);
    assert.deepEqual(sent, [], 'nothing changed, so no notice');
    const after = await account(user);
    assert.deepEqual([after.security.pinSet, after.secondFactor], [false, undefined]);
    assert.ok(await authenticates(user, user.password));
  });
});
