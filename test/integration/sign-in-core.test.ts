// The sign-in core: one flow record per sign-in, a second person signing in in a browser where
// someone else is signed in, device registrations only for browsers that proved something, and
// session records beside the sessions.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, REDIRECT_URI, UserAgent, backchannelListener, createUser, formOn, signIn, type TestUser } from '../support/flow.ts';
import { recordCommands } from '../support/commands.ts';
import { withRequestMemo } from '../../src/db/request-memo.ts';
import { flushRiders, rideWith, ridersOf } from '../../src/db/ride-along.ts';

/** The session cookies of one browser (the provider's), as a header another browser can plant. */
async function sessionCookies(agent: UserAgent, issuer: string) {
  const found = (await agent.jar.getCookies(issuer)).filter((c) => c.key === 'session' || c.key === 'session.sig');
  assert.equal(found.length, 2, 'the session cookie and its signature');
  return found;
}

describe('sign-in core', () => {
  let t: Tessera;
  let rp: RelyingParty;
  let alice: TestUser;
  let bob: TestUser;

  before(async () => {
    t = await startTessera();
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  beforeEach(async () => {
    alice = await createUser(t, { name: 'Alice' });
    bob = await createUser(t, { name: 'Bob' });
  });
  after(() => t.close());

  /** Signs `user` in with `params` in `agent`: the ID token's sub, and the uids of the account's browser sessions. */
  async function signedInAs(agent: UserAgent, user: TestUser, params: Record<string, string> = {}) {
    const auth = await rp.authorize(params);
    const callback = await signIn(agent, auth.url, user);
    const claims = (await rp.tokens(callback, auth)).claims()!;
    return { sub: claims.sub, sessions: await sessionUids(user) };
  }
  const sessionUids = async (user: TestUser) => (await t.services.storage.sessionsOf(user.id)).map((p) => p.uid as string);

  describe('a second person in the same browser', () => {
    for (const [how, params] of [['prompt=login', { prompt: 'login' }], ['max_age=0', { max_age: '0' }]] as const) {
      it(`reaches the application as the second person (${how}), in a session that is not the first person's`, async () => {
        const browser = new UserAgent();
        const first = await signedInAs(browser, alice);
        assert.equal(first.sub, alice.id);
        const oldCookies = await sessionCookies(browser, t.issuer);
        const second = await signedInAs(browser, bob, params);
        assert.equal(second.sub, bob.id, 'the application gets Bob');
        assert.equal(first.sessions.length, 1);
        assert.equal(second.sessions.length, 1);
        assert.notEqual(second.sessions[0], first.sessions[0], 'a session of its own');
        assert.deepEqual(await sessionUids(alice), [], "Alice's session in this browser ended");
        // Alice's old session cookie carries nothing of Bob's: planted in a fresh browser, silent SSO finds no one
        const stranger = new UserAgent();
        for (const c of oldCookies) await stranger.jar.setCookie(c, t.issuer);
        const silent = await stranger.visit((await rp.authorize({ prompt: 'none' })).url);
        assert.match(silent.url, /error=login_required/, `silent sign-in with Alice's old cookie: ${silent.url}`);
        // and the browser itself now signs in silently as Bob
        const again = await browser.visit((await rp.authorize({ prompt: 'none' })).url);
        assert.match(again.url, /code=/);
      });
    }

    it("reaches the application as the second person when the first person's session cookie was planted in a fresh browser", async () => {
      const aliceBrowser = new UserAgent();
      await signedInAs(aliceBrowser, alice);
      const bobBrowser = new UserAgent();
      for (const c of await sessionCookies(aliceBrowser, t.issuer)) await bobBrowser.jar.setCookie(c, t.issuer);
      const second = await signedInAs(bobBrowser, bob, { prompt: 'login' });
      assert.equal(second.sub, bob.id);
      // the planted session was Alice's: it no longer signs anyone in anywhere
      const silent = await aliceBrowser.visit((await rp.authorize({ prompt: 'none' })).url);
      assert.match(silent.url, /error=login_required/);
    });

    it("tells the first person's applications by back-channel logout when the second person signs in", async () => {
      const listener = await backchannelListener();
      try {
        const app = await RelyingParty.register(t, { skipConsent: true, backchannelLogoutUri: listener.uri });
        const browser = new UserAgent();
        const auth = await app.authorize();
        await app.tokens(await signIn(browser, auth.url, alice), auth);
        const next = await app.authorize({ prompt: 'login' });
        const claims = (await app.tokens(await signIn(browser, next.url, bob), next)).claims()!;
        assert.equal(claims.sub, bob.id);
        assert.equal(listener.received.length, 1, 'one logout token for Alice');
        const payload = JSON.parse(Buffer.from(listener.received[0]!.split('.')[1]!, 'base64url').toString()) as { sub: string };
        assert.equal(payload.sub, alice.id);
      } finally {
        listener.close();
      }
    });
  });

  describe('device registrations', () => {
    it('are made only for browsers that proved the password: wrong and locked attempts from fresh browsers register nothing', async () => {
      const before = await t.services.devices.listFor(alice.id);
      // more attempts than every limit allows: the later ones are locked out, and count as nothing either
      for (let i = 0; i < 60; i++) {
        const browser = new UserAgent();
        const page = await browser.visit((await rp.authorize()).url);
        const answer = await browser.submit(page, /\/login$/, { email: alice.email, password: `Wrong#Guess${i}` });
        assert.equal(answer.status, 200);
        assert.match(answer.body, /Incorrect email or password/);
      }
      assert.deepEqual(await t.services.devices.listFor(alice.id), before, 'no registration was made');
      const refs = await t.services.db.connection.collection('account_devices').findOne({ _id: alice.id as never });
      assert.equal(refs, null, "the account's device list was not even created");
    });

    it('are made once the password is right, and the browser is then a known device', async () => {
      const browser = new UserAgent();
      await signedInAs(browser, bob);
      const devices = await t.services.devices.listFor(bob.id);
      assert.equal(devices.length, 1);
      assert.ok(devices[0]!.verifiedAt, 'verified (new-device verification is off for this account)');
    });

    it('count wrong passwords from a fresh browser toward its block without registering it', async () => {
      const browser = new UserAgent();
      const page = await browser.visit((await rp.authorize()).url);
      let last = 0;
      for (let i = 0; i < 5; i++) {
        last = (await browser.submit(page, /\/login$/, { email: alice.email, password: `Wrong#Guess${i}` })).status;
      }
      assert.equal(last, 403, 'the fifth failure blocks this browser for the email');
      const blocked = await browser.submit(page, /\/login$/, { email: alice.email, password: alice.password });
      assert.equal(blocked.status, 403, 'the right password from the blocked browser is refused too');
      assert.deepEqual(await t.services.devices.listFor(alice.id), []);
    });

    it("are looked for with the browser's failure count in one read: the account's list and the count are one find", async () => {
      const browser = new UserAgent();
      const page = await browser.visit((await rp.authorize()).url);
      const recorder = recordCommands(t);
      try {
        await browser.submit(page, /\/login$/, { email: alice.email, password: 'Wrong#Guess1' });
      } finally {
        recorder.stop();
      }
      const finds = recorder.commands.filter((c) => c.name === 'find' && ['account_devices', 'device_failures', 'devices'].includes(c.collection));
      assert.equal(finds.length, 1, finds.map((c) => c.collection).join(', '));
      const ids = (finds[0]!.filters[0]!._id as { $in: string[] }).$in;
      assert.equal(ids[0], alice.id, "the account's device list");
      assert.match(ids[1]!, /^ghost:/, "this browser's failures for the email");
    });

    it("are read alone for a known browser: the registration its hint names, not the account's list", async () => {
      const browser = new UserAgent();
      await signedInAs(browser, alice);
      const login = await browser.visit((await rp.authorize({ prompt: 'login' })).url);
      const recorder = recordCommands(t);
      try {
        assert.ok((await browser.submit(login, /\/login$/, { email: alice.email, password: alice.password })).url.startsWith(REDIRECT_URI));
      } finally {
        recorder.stop();
      }
      const finds = recorder.commands.filter((c) => c.name === 'find' && ['account_devices', 'devices'].includes(c.collection)).map((c) => c.collection);
      assert.deepEqual(finds, ['devices'], 'one read: the registration');
    });

    it("hint only the browser and the account they were made for, and never a removed registration", async () => {
      const hintName = 'tessera.device.known';
      const alicesBrowser = new UserAgent();
      await signedInAs(alicesBrowser, alice);
      const hint = (await alicesBrowser.jar.getCookies(t.issuer)).find((c) => c.key === hintName)!.value;
      const [registration] = await t.services.devices.listFor(alice.id);
      assert.match(hint, new RegExp(`^${registration!.id}\\.`), "the hint names Alice's registration");
      /** The reads of one sign-in before the password: [account_devices | devices] finds. */
      const reads = async (agent: UserAgent, user: TestUser) => {
        const login = await agent.visit((await rp.authorize({ prompt: 'login' })).url);
        const recorder = recordCommands(t);
        try {
          await agent.submit(login, /\/login$/, { email: user.email, password: user.password });
        } finally {
          recorder.stop();
        }
        return recorder.commands.filter((c) => c.name === 'find' && ['account_devices', 'devices'].includes(c.collection)).map((c) => c.collection);
      };
      // another browser with Alice's hint planted: the hint is not its own
      const other = new UserAgent();
      await other.visit((await rp.authorize()).url);
      await other.jar.setCookie(`${hintName}=${hint}`, t.issuer);
      assert.deepEqual(await reads(other, alice), ['account_devices'], "the list is read (the hint is not this browser's), and the browser is new");
      assert.equal((await t.services.devices.listFor(alice.id)).length, 2, 'a registration of its own');
      // Alice's browser, Bob signing in: the hint is not Bob's
      assert.deepEqual((await reads(alicesBrowser, bob))[0], 'account_devices', "Bob's list is read");
      // Alice's browser after she removed that registration: read, seen removed, then a new registration
      await alicesBrowser.jar.setCookie(`${hintName}=${hint}`, t.issuer);
      await t.services.devices.remove(registration!.id, 'user', 'test');
      assert.deepEqual((await reads(alicesBrowser, alice)).slice(0, 2), ['devices', 'account_devices'], 'the hint is read, found removed, the list read');
      const now = await t.services.devices.listFor(alice.id);
      assert.equal(now.filter((d) => d.state !== 'REMOVED').length, 2, 'a new registration for the browser; the removed one stays removed');
    });

    it("keep an earlier version's failure counts: start-up moves them beside the device lists, never lowered, once", async () => {
      const browser = new UserAgent();
      const page = await browser.visit((await rp.authorize()).url);
      for (let i = 0; i < 3; i++) await browser.submit(page, /\/login$/, { email: alice.email, password: `Wrong#Guess${i}` });
      const browserId = (await browser.jar.getCookies(t.issuer)).find((c) => c.key.endsWith('tessera.device'))!.value;
      const count = async () => (await t.services.devices.beforePassword(alice.id, alice.email, browserId)).ghost.failures;
      assert.equal(await count(), 3);
      // as an earlier version left it: the count (now 4) in device_failures under the bare HMAC, none beside the lists
      const lists = t.services.db.connection.collection<{ _id: string; count: number; expiresAt: Date }>('account_devices');
      const legacy = t.services.db.connection.collection<{ _id: string; count: number; expiresAt: Date }>('device_failures');
      const moved = (await lists.findOne({ _id: { $regex: /^ghost:/ } as never, count: 3 }))!;
      await lists.deleteOne({ _id: moved._id });
      await legacy.insertOne({ _id: moved._id.slice('ghost:'.length), count: 4, expiresAt: moved.expiresAt });
      await legacy.insertOne({ _id: 'expired-count', count: 9, expiresAt: new Date(Date.now() - 1000) });
      assert.equal(await count(), 0, 'not seen where this version looks');
      assert.equal((await t.services.devices.migrate()).failed.length, 0);
      assert.equal(await count(), 4, 'folded in');
      assert.equal(await legacy.countDocuments({}), 0, 'the old documents are gone (an expired one too)');
      assert.equal(await lists.countDocuments({ _id: 'ghost:expired-count' as never }), 0, 'an expired count is not moved');
      // a fold that meets a higher count (a crash after the raise, then more failures) keeps it
      await legacy.insertOne({ _id: moved._id.slice('ghost:'.length), count: 2, expiresAt: moved.expiresAt });
      await t.services.devices.migrate();
      assert.equal(await count(), 4, 'never lowered');
    });
  });

  describe('a flood of wrong passwords for one email', () => {
    let flooded: Tessera;
    let app: RelyingParty;
    before(async () => {
      // the client IP's own limit off: every attempt reaches the account's limits and the browser's counter
      // no client cache: whether a request reads the client would depend on when its 5 s ran out
      // about registrations and lockout: the adaptive sign-in's failure-velocity code (adaptive-sign-in.test.ts, risk-policy.test.ts) is left out
      flooded = await startTessera({ env: { LOCKOUT_IP_AFTER: '100000', CLIENT_CACHE_SECONDS: '0', RISK_FAILURE_VELOCITY: 'none' } });
      app = await RelyingParty.register(flooded, { skipConsent: true });
    });
    after(() => flooded.close());

    /** Signs `user` in with `params` in `agent` on this instance: the ID token's sub. */
    async function signedInHere(agent: UserAgent, user: TestUser, params: Record<string, string> = {}) {
      const auth = await app.authorize(params);
      return (await app.tokens(await signIn(agent, auth.url, user), auth)).claims()!.sub;
    }

    it('never grows the registrations from 2,000 wrong passwords from fresh browsers: the owner still signs in from their own browser', async function () {
      this.timeout(600_000);
      const alice = await createUser(flooded);
      const home = new UserAgent();
      await signedInHere(home, alice);
      const before = await flooded.services.devices.listFor(alice.id);
      const refsBefore = await flooded.services.db.connection.collection('account_devices').findOne({ _id: alice.id as never });
      let next = 0;
      const answers: number[] = [];
      // eight attackers at a time, each attempt from a browser never seen before
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (next < 2000) {
          next++;
          const browser = new UserAgent();
          const page = await browser.visit((await app.authorize()).url);
          answers.push((await browser.submit(page, /\/login$/, { email: alice.email, password: `Wrong#Guess${next}` })).status);
        }
      }));
      assert.equal(answers.length, 2000);
      assert.deepEqual([...new Set(answers)], [200], 'every attempt: the same wrong-password page');
      assert.deepEqual(await flooded.services.devices.listFor(alice.id), before, 'the registrations are unchanged');
      assert.deepEqual(await flooded.services.db.connection.collection('account_devices').findOne({ _id: alice.id as never }), refsBefore, 'the device list document too');
      assert.equal(await signedInHere(home, alice, { prompt: 'login' }), alice.id, "the owner's known browser is not locked out by the flood");
    });


    it('does the same database work for an existing, a disabled, an unknown and a locked-out email', async () => {
      const make = async (disabled = false) => {
        const user = await createUser(flooded);
        if (disabled) await flooded.services.accounts.setDisabled(user.email, true);
        return user.email;
      };
      const locked = await make();
      for (let i = 0; i < flooded.services.limits.settings.lockAfter; i++) await wrongPasswordWork(locked);
      const kinds = { existing: await make(), disabled: await make(true), unknown: `nobody-${Date.now()}@example.com`, locked };
      const work: Record<string, string[]> = {};
      for (const [kind, email] of Object.entries(kinds)) work[kind] = await wrongPasswordWork(email);
      assert.ok(work.existing!.some((c) => c.startsWith('insert ')), 'the attempt writes');
      for (const kind of ['disabled', 'unknown', 'locked']) assert.deepEqual(work[kind], work.existing, `${kind}: the same commands on the same collections`);
    });

    /** The database commands of one wrong password from a fresh browser (kind and collection, sorted). */
    async function wrongPasswordWork(email: string): Promise<string[]> {
      const browser = new UserAgent();
      const page = await browser.visit((await app.authorize()).url);
      await flooded.services.audit.flush();
      const recorder = recordCommands(flooded);
      try {
        const answer = await browser.submit(page, /\/login$/, { email, password: 'Wrong#Guess1' });
        assert.match(answer.body, /Incorrect email or password/);
        await flooded.services.audit.flush();
      } finally {
        recorder.stop();
      }
      return recorder.commands.map((c) => `${c.name} ${c.collection}`).sort();
    }
  });

  describe('an account signing in from many fresh browsers', () => {
    let small: Tessera;
    before(async () => { small = await startTessera({ env: { DEVICE_MAX_REGISTRATIONS: '5' } }); });
    after(() => small.close());

    it('keeps at most DEVICE_MAX_REGISTRATIONS registrations: the oldest never-verified ones make room, verified ones stay', async () => {
      const app = await RelyingParty.register(small, { skipConsent: true });
      const person = await createUser(small, { deviceVerification: true });
      // one browser proves itself fully (the emailed new-device code)
      const home = new UserAgent();
      const auth = await app.authorize();
      const codePage = await home.submit(await home.visit(auth.url), /\/login$/, { email: person.email, password: person.password });
      const mail = small.services.outbox.list().find((m) => m.to === person.email && /^\d{6} /.test(m.subject ?? ''))!;
      const done = await home.submit(codePage, /\/device$/, { code: /^(\d{6}) /.exec(mail.subject!)![1]!, method: 'email' });
      assert.match(done.url, /code=/);
      // eight more browsers get past the password and stop at the code
      for (let i = 0; i < 8; i++) {
        const browser = new UserAgent();
        const page = await browser.submit(await browser.visit((await app.authorize()).url), /\/login$/, { email: person.email, password: person.password });
        assert.match(page.body, /New device/);
      }
      const devices = await small.services.devices.listFor(person.id);
      assert.ok(devices.length <= 5, devices.map((d) => d.id).join(', '));
      assert.equal(devices.filter((d) => d.verifiedAt).length, 1, 'the verified browser stays');
    });

    it('keeps the cap when every browser finished its sign-in: the oldest untrusted ones go, a trusted one stays', async () => {
      const app = await RelyingParty.register(small, { skipConsent: true });
      const person = await createUser(small);
      const first = new UserAgent();
      await signIn(first, (await app.authorize()).url, person);
      const [trusted] = await small.services.devices.listFor(person.id);
      await small.services.devices.trust(trusted!.id, 'My laptop', new Date(Date.now() + 86_400_000));
      for (let i = 0; i < 12; i++) await signIn(new UserAgent(), (await app.authorize()).url, person);
      const devices = await small.services.devices.listFor(person.id);
      assert.ok(devices.length <= 5, `${devices.length} registrations`);
      assert.ok(devices.some((d) => d.id === trusted!.id), 'the trusted one stays');
      assert.equal(devices.filter((d) => d.verifiedAt).length, devices.length, 'all of them proved the password');
    });
  });

  describe('the flow record', () => {
    it('is one document per sign-in: the old per-step collections and the redundant event log are gone', async () => {
      const recorder = recordCommands(t);
      try {
        await signedInAs(new UserAgent(), alice);
      } finally {
        recorder.stop();
      }
      const collections = new Set(recorder.commands.map((c) => c.collection));
      for (const gone of ['sign_in_progress', 'interaction_steps', 'session_proofs', 'sign_in_events', 'sign_in_flows']) assert.ok(!collections.has(gone), `${gone}: ${[...collections].join(', ')}`);
    });

    it("lives in the interaction's document: a sign-in page reads it with the interaction, in one command, before the password and after it", async () => {
      const consenting = await RelyingParty.register(t, { skipConsent: false });
      const agent = new UserAgent();
      const auth = await consenting.authorize();
      /** The commands a page load sends to the interaction's collection (and to any other flow store). */
      const reads = async (url: string) => {
        const recorder = recordCommands(t);
        try {
          const page = await agent.visit(url);
          assert.equal(page.status, 200);
          return { page, commands: recorder.commands.filter((c) => /interaction|flow/.test(c.collection)).map((c) => `${c.name} ${c.collection}`) };
        } finally {
          recorder.stop();
        }
      };
      const form = await agent.visit(auth.url);
      assert.deepEqual((await reads(form.url)).commands, ['find oidc_interaction'], 'the sign-in form');
      const consent = await agent.submit(form, /\/login$/, { email: alice.email, password: alice.password });
      assert.match(consent.body, /\/confirm"/, 'the consent page follows the password');
      const again = await reads(consent.url);
      assert.match(again.page.body, /\/confirm"/);
      assert.deepEqual(again.commands, ['find oidc_interaction'], 'the consent page, whose flow names Alice');
      const stored = await t.services.db.connection.collection<{ _id: string }>('oidc_interaction').findOne({ _id: /\/interaction\/([^/?#]+)/.exec(consent.url)![1]! });
      assert.equal((stored as { flow?: { accountId?: string } } | null)?.flow?.accountId, alice.id, "the flow record is in the interaction's document");
    });

    it("ends a known browser's password sign-in in one write of the interaction: the registration's stamp is its once", async () => {
      const agent = new UserAgent();
      await signedInAs(agent, alice);
      const login = await agent.visit((await rp.authorize({ prompt: 'login' })).url);
      const recorder = recordCommands(t);
      let answer;
      try {
        answer = await agent.submit(login, /\/login$/, { email: alice.email, password: alice.password });
      } finally {
        recorder.stop();
      }
      assert.ok(answer.url.startsWith(REDIRECT_URI), answer.url);
      // (the return to the provider then deletes the interaction: not a write of the sign-in's)
      const writes = (collection: string) => recorder.commands.filter((c) => c.collection === collection && c.name !== 'find' && c.name !== 'delete').map((c) => c.name);
      assert.equal(writes('oidc_interaction').length, 1, `the end and its result together: ${writes('oidc_interaction').join(', ')}`);
      assert.deepEqual(writes('devices'), ['findAndModify'], 'the registration stamped once');
    });

    it('ends with "Allow" in one write of the interaction (the end claimed and the result saved together), once among 20 at once', async () => {
      const consenting = await RelyingParty.register(t, { skipConsent: false });
      // each person once: after "Allow" the consent is kept, and the next sign-in asks nothing
      const consentPage = async (agent: UserAgent, user: TestUser) => agent.submit(await agent.visit((await consenting.authorize()).url), /\/login$/, { email: user.email, password: user.password });
      const one = new UserAgent();
      const allowOne = formOn(await consentPage(one, alice), /\/confirm$/);
      const recorder = recordCommands(t);
      let answer;
      try {
        answer = await one.request(allowOne.action, { form: allowOne.fields });
      } finally {
        recorder.stop();
      }
      assert.equal(answer.status, 303);
      const writes = recorder.commands.filter((c) => c.collection === 'oidc_interaction' && c.name !== 'find').map((c) => c.name);
      assert.equal(writes.length, 1, `one write, no claim apart from the save: ${writes.join(', ')}`);
      const code = await one.visit(new URL(answer.headers.get('location')!, t.issuer).href);
      assert.ok(code.url.startsWith(REDIRECT_URI) && new URL(code.url).searchParams.get('code'), 'the provider issued the code');

      const many = new UserAgent();
      const allow = formOn(await consentPage(many, bob), /\/confirm$/);
      const answers = await Promise.all(Array.from({ length: 20 }, () => many.request(allow.action, { form: allow.fields })));
      assert.equal(answers.filter((a) => a.status === 303).length, 1, `one goes on: ${answers.map((a) => a.status).join(' ')}`);
      assert.ok(answers.every((a) => a.status === 303 || a.status === 409), 'the others are "already done"');
    });
  });

  // a session's record (sessions/store.ts) lives beside the provider's sessions (`oidc_session`,
  // `rec:<uid>`): a new session's record goes in the command that writes the session, a record an
  // earlier version kept in `session_records` is still found and moves on its first read, and a
  // write that waited for a session's save and found none still happens (db/ride-along.ts)
  describe('session records', () => {
    const sessionDocs = () => t.services.db.connection.collection<{ _id: string } & Record<string, unknown>>('oidc_session');
    const earlierRecords = () => t.services.db.connection.collection<{ _id: string } & Record<string, unknown>>('session_records');

    async function signedIn() {
      const user = await createUser(t);
      const recorder = recordCommands(t);
      try {
        await signIn(new UserAgent(), (await rp.authorize()).url, user);
      } finally {
        recorder.stop();
      }
      const [uid] = (await t.services.storage.sessionsOf(user.id)).map((p) => p.uid as string);
      return { user, uid: uid!, commands: recorder.commands };
    }

    it("writes a new session's record in the session's own command: its pointer, the record, then the session", async () => {
      const { user, uid, commands } = await signedIn();
      assert.deepEqual(commands.filter((c) => c.collection === 'session_records'), [], 'nothing in the earlier collection');
      const writes = commands.filter((c) => c.collection === 'oidc_session' && c.name === 'update');
      const withRecord = writes.filter((c) => c.filters.some((f) => f._id === `rec:${uid}`));
      assert.equal(withRecord.length, 1, 'one command carries the record');
      const ids = withRecord[0]!.filters.map((f) => String(f._id));
      assert.equal(ids.length, 3);
      assert.deepEqual(ids.slice(0, 2), [`uid:${uid}`, `rec:${uid}`], 'the pointer, then the record');
      assert.ok(!ids[2]!.includes(':'), 'then the session itself');
      const record = await sessionDocs().findOne({ _id: `rec:${uid}` });
      assert.equal(record?.accountId, user.id);
      assert.ok(record?.expiresAt instanceof Date, 'it expires (TTL index on MongoDB, the keeper here)');
      assert.deepEqual((await t.services.sessions.proofsOf(uid, user.id))?.map((p) => p.factor), ['password']);
    });

    it('keeps the record out of the session listings', async () => {
      const { uid } = await signedIn();
      const listed = await t.services.storage.list('Session');
      assert.ok(listed.some((p) => p.uid === uid), 'the session is listed');
      assert.ok(listed.every((p) => typeof p.uid === 'string'), 'no record (nor pointer) among them');
    });

    it('finds a record an earlier version kept in session_records, and moves it beside the sessions on that read', async () => {
      const { user, uid } = await signedIn();
      const current = (await sessionDocs().findOne({ _id: `rec:${uid}` }))!;
      const { _id: _current, ...fields } = current;
      await sessionDocs().deleteOne({ _id: `rec:${uid}` });
      await earlierRecords().insertOne({ _id: uid, ...fields, locked: true });
      assert.deepEqual((await t.services.sessions.proofsOf(uid, user.id))?.map((p) => p.factor), ['password'], 'found');
      assert.equal((await sessionDocs().findOne({ _id: `rec:${uid}` }))?.locked, true, 'moved, as it was (a locked session stays locked)');
      assert.equal(await earlierRecords().countDocuments({ _id: uid }), 0, 'gone from the earlier collection');
    });

    it('writes a waiting write on its own when no write took it by the end of the request, and never twice', async () => {
      const sent: string[] = [];
      const rider = (name: string) => ({ statement: { name }, alone: async () => { sent.push(name); } });
      assert.equal(rideWith('k', rider('outside')), false, 'outside a request nothing waits');
      await withRequestMemo(async () => {
        assert.equal(rideWith('session:a', rider('taken')), true);
        assert.equal(rideWith('session:b', rider('left')), true);
        assert.deepEqual(ridersOf('session:a').map((r) => r.statement.name), ['taken'], 'the write it waited for takes it');
        assert.deepEqual(ridersOf('session:a'), [], 'once');
        await flushRiders();
        await flushRiders();
      });
      assert.deepEqual(sent, ['left'], 'only the one nothing took, once');
    });
  });
});
