// Crash safety without transactions (issue 19): the database layer's test hook lets an operation's
// first n writes through and fails every later one, as a process that died after its nth write
// would leave the database. For every n of account creation, a first sign-in from a new browser
// (device registration), organisation membership and phone verification, a restarted Tessera on the
// same database must let the person sign in, the email be usable, and the lists agree. Assisted
// recovery (issue 21): never locked out, never reset without an approved request whose wait is over.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import { SimulatedCrash } from '../../src/db/database.ts';
import { collectionFor } from '../../src/oidc/adapter.ts';
import { walkCrashes } from '../support/crash-walk.ts';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { createUser, RelyingParty, REDIRECT_URI, UserAgent, type Page, type TestUser } from '../support/flow.ts';
import { eventually } from '../support/mail.ts';

const PASSWORD = 'Correct#Horse1';

/** Every crash point of a scenario (test/support/crash-walk.ts). */
const walk = walkCrashes;

/** Signs in from `agent` through the hosted pages; asserts it reaches the application. */
async function signsIn(t: Tessera, agent: UserAgent, user: { email: string; password: string }, clientId: string): Promise<void> {
  const rp = await RelyingParty.discover(t.issuer, clientId);
  const auth = await rp.authorize();
  let page = await agent.visit(auth.url);
  if (!page.url.startsWith(REDIRECT_URI)) page = await agent.submit(page, /\/login$/, { email: user.email, password: user.password });
  if (!page.url.startsWith(REDIRECT_URI)) page = await agent.submit(page, /\/confirm$/);
  assert.ok(page.url.startsWith(REDIRECT_URI), `signed in (got ${page.status} ${page.url}: ${page.body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)})`);
  await rp.tokens(page.url, auth);
}

const publicClient = async (t: Tessera, grants: 'refresh_token'[] = []) => (await t.services.clients.create({
  clientId: `rp-${randomBytes(4).toString('hex')}`, redirectUris: [REDIRECT_URI], public: true, skipConsent: true, grants,
})).clientId;

describe('crash safety: every multi-document write survives a crash after any of its writes', function () {
  this.timeout(300_000);

  it('account creation: the email stays usable, the account can be made again and signs in, search finds it once', async () => {
    const total = await walk({
      async setup(t) {
        return { email: `crash-${randomBytes(4).toString('hex')}@example.com`, clientId: await publicClient(t) };
      },
      operation: (t, { email }) => t.services.accounts.create({ email, password: PASSWORD, deviceVerification: false }),
      async check(t, { email, clientId }) {
        if (!(await t.services.accounts.findByEmail(email))) {
          // the operator tries again: the email is not "already taken" by a half-made account
          await t.services.accounts.create({ email, password: PASSWORD, deviceVerification: false });
        } else {
          await assert.rejects(t.services.accounts.create({ email, password: PASSWORD }), { code: 'email_taken' });
        }
        await signsIn(t, new UserAgent(), { email, password: PASSWORD }, clientId);
        const found = await t.services.accounts.search({ q: email, limit: 10 });
        assert.equal(found.accounts.length, 1, 'one account with the email');
      },
    });
    assert.ok(total >= 2, `account creation makes ${total} writes`);
  });

  it('an invited account (no password yet): the email stays usable after a crash at any write', async () => {
    await walk({
      async setup() {
        return { email: `invite-${randomBytes(4).toString('hex')}@example.com` };
      },
      operation: (t, { email }) => t.services.accounts.createInvited({ email, name: 'Invited' }),
      async check(t, { email }) {
        const account = (await t.services.accounts.findByEmail(email)) ?? (await t.services.accounts.createInvited({ email, name: 'Invited' }));
        assert.equal(account.passwordResetRequired, true);
        assert.equal((await t.services.accounts.search({ q: email, limit: 10 })).accounts.length, 1);
      },
    });
  });

  it('first sign-in from a new browser (device registration, session, records): the same browser signs in after the restart, one registration for it, the devices page lists what exists', async () => {
    await walk({
      async setup(t) {
        const user = await createUser(t, { deviceVerification: false });
        const clientId = await publicClient(t);
        const agent = new UserAgent();
        const rp = await RelyingParty.discover(t.issuer, clientId);
        const auth = await rp.authorize();
        const page = await agent.visit(auth.url);
        return { user, clientId, agent, page };
      },
      operation: (_t, { agent, page, user }) => agent.submit(page, /\/login$/, { email: user.email, password: user.password }),
      async check(t, { user, agent, clientId }) {
        await signsIn(t, agent, user, clientId);
        const devices = (await t.services.devices.listFor(user.id)).filter((d) => d.state !== 'REMOVED');
        assert.ok(devices.length >= 1 && devices.length <= 2, `one or two registrations (crashed try, this one): ${devices.length}`);
        const page = await agent.visit(`${t.issuer}/account/security/devices`);
        assert.equal(page.status, 200, 'the devices page');
        for (const d of devices) assert.ok(page.body.includes(d.id), `the page lists ${d.id}`);
      },
    });
  });

  it('a sign-in from a known browser (its registration stamped for the sign-in, the attempt recorded, the end with its result): the same form again is "already done", the next sign-in goes through', async () => {
    await walk({
      async setup(t) {
        const user = await createUser(t, { deviceVerification: false });
        const clientId = await publicClient(t);
        const agent = new UserAgent();
        await signsIn(t, agent, user, clientId);
        const rp = await RelyingParty.discover(t.issuer, clientId);
        const page = await agent.visit((await rp.authorize({ prompt: 'login' })).url);
        return { user, clientId, agent, page };
      },
      operation: (_t, { agent, page, user }) => agent.submit(page, /\/login$/, { email: user.email, password: user.password }),
      async check(t, { user, agent, clientId, page }) {
        // the crashed request's form sent again: signed in (nothing was stamped), "already done" (the
        // stamp is there), or "expired or already completed" (the return to the provider had taken
        // the interaction): an answer that says what to do, never a 5xx
        const again = await agent.submit(page, /\/login$/, { email: user.email, password: user.password });
        const said = again.body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
        assert.ok(again.url.startsWith(REDIRECT_URI) || (again.status === 409 && /already completed/.test(said)) || (again.status === 400 && /already completed\. Go back to the application/.test(said)), `${again.status} ${again.url} ${said.slice(0, 300)}`);
        await signsIn(t, agent, user, clientId);
        const devices = (await t.services.devices.listFor(user.id)).filter((d) => d.state !== 'REMOVED');
        assert.equal(devices.length, 1, 'still one registration for the browser');
      },
    });
  });

  it('consent "Allow" (the grant, then the consent kept on the account): after a crash the person signs in, is asked at most once more, and the grant is the account\'s', async () => {
    await walk({
      async setup(t) {
        const user = await createUser(t);
        const { clientId } = await t.services.clients.create({ clientId: `rp-${randomBytes(4).toString('hex')}`, redirectUris: [REDIRECT_URI], public: true, skipConsent: false });
        const rp = await RelyingParty.discover(t.issuer, clientId);
        const auth = await rp.authorize({ scope: 'openid email' });
        const agent = new UserAgent();
        let page = await agent.visit(auth.url);
        page = await agent.submit(page, /\/login$/, { email: user.email, password: user.password });
        assert.match(page.body, /\/confirm"/, 'the consent page');
        return { user, clientId, page, agent };
      },
      operation: (_t, { agent, page }) => agent.submit(page, /\/confirm$/),
      async check(t, { user, clientId }) {
        // a fresh browser: asked again (the consent was not kept) or not, and signed in either way
        await signsIn(t, new UserAgent(), user, clientId);
        assert.deepEqual(Object.keys((await t.services.accounts.findById(user.id))!.consents), [clientId], 'kept by now');
        const grants = (await t.services.storage.grantsOf(user.id)).filter((g) => g.clientId === clientId);
        assert.ok(grants.length >= 1, 'the account lists its grant');
        // and the next fresh browser is not asked
        const rp = await RelyingParty.discover(t.issuer, clientId);
        const auth = await rp.authorize({ scope: 'openid email' });
        const agent = new UserAgent();
        const page = await agent.submit(await agent.visit(auth.url), /\/login$/, { email: user.email, password: user.password });
        assert.ok(page.url.startsWith(REDIRECT_URI), `no consent page now: ${page.status} ${page.url}`);
      },
    });
  });

  /** Every stored token is listed in its grant's entry beside it (else revoking the grant would miss it). */
  async function tokensListed(t: Tessera): Promise<number> {
    const db = t.services.db.connection.db!;
    let checked = 0;
    for (const name of ['AccessToken', 'RefreshToken', 'AuthorizationCode']) {
      const tokens = db.collection<{ _id: string; payload?: { grantId?: string }; ids?: Record<string, number> }>(collectionFor(name));
      for (const doc of await tokens.find().toArray()) {
        if (!doc.payload) continue; // a grant's entry
        const entry = await tokens.findOne({ _id: `grant:${doc.payload.grantId!}` });
        assert.ok(entry?.ids?.[doc._id], `${name} ${doc._id} is listed under its grant`);
        checked++;
      }
    }
    return checked;
  }

  it('token exchange (code for access and refresh token): every token written is one revocation can find, and the next sign-in gets tokens', async () => {
    await walk({
      async setup(t) {
        const user = await createUser(t);
        const clientId = await publicClient(t, ['refresh_token']);
        const rp = await RelyingParty.discover(t.issuer, clientId);
        const auth = await rp.authorize({ scope: 'openid offline_access', prompt: 'consent' });
        const agent = new UserAgent();
        let page = await agent.visit(auth.url);
        page = await agent.submit(page, /\/login$/, { email: user.email, password: user.password });
        if (!page.url.startsWith(REDIRECT_URI)) page = await agent.submit(page, /\/confirm$/);
        return { user, clientId, rp, auth, callback: page.url, agent };
      },
      operation: async (_t, { rp, auth, callback }) => assert.ok((await rp.tokens(callback, auth)).refresh_token, 'a refresh token'),
      async check(t, { user, clientId, agent }) {
        await tokensListed(t);
        await signsIn(t, agent, user, clientId);
        assert.ok((await tokensListed(t)) >= 1);
        // "sign out everywhere" finds the session the restarted instance made
        const sessions = await t.services.storage.sessionsOf(user.id);
        assert.ok(sessions.length >= 1, 'the account lists its session');
      },
    });
  });

  it('organisation membership (join as admin, then leave): never a listed member whose account points elsewhere; joining again completes it', async () => {
    const agree = async (t: Tessera, orgId: string, user: TestUser) => {
      const org = (await t.services.organisations.byId(orgId))!;
      const account = (await t.services.accounts.findById(user.id))!;
      for (const member of org.members) assert.equal((await t.services.accounts.findById(member))?.organisationId, orgId, 'a listed member names the organisation');
      const member = await t.services.organisations.memberOf(account);
      assert.equal(member?.id === orgId, org.members.includes(user.id), 'membership is where both agree');
      return org.members.includes(user.id);
    };
    await walk({
      async setup(t) {
        const user = await createUser(t);
        const org = await t.services.organisations.create(`Org ${randomBytes(3).toString('hex')}`);
        return { user, orgId: org.id };
      },
      operation: (t, { user, orgId }) => t.services.organisations.setMember(orgId, user.id, true),
      async check(t, { user, orgId }) {
        await agree(t, orgId, user);
        const joined = await t.services.organisations.setMember(orgId, user.id, true);
        assert.ok(joined.members.includes(user.id) && joined.admins.includes(user.id));
        assert.equal(await agree(t, orgId, user), true);
      },
    });
    await walk({
      async setup(t) {
        const user = await createUser(t);
        const org = await t.services.organisations.create(`Org ${randomBytes(3).toString('hex')}`);
        await t.services.organisations.setMember(org.id, user.id, true);
        return { user, orgId: org.id };
      },
      operation: (t, { user, orgId }) => t.services.organisations.removeMember(orgId, user.id),
      async check(t, { user, orgId }) {
        if (await agree(t, orgId, user)) await t.services.organisations.removeMember(orgId, user.id);
        assert.equal(await agree(t, orgId, user), false);
        // free to join another organisation
        const other = await t.services.organisations.create(`Other ${randomBytes(3).toString('hex')}`);
        await t.services.organisations.setMember(other.id, user.id, false);
        assert.equal((await t.services.organisations.memberOf((await t.services.accounts.findById(user.id))!))?.id, other.id);
      },
    });
  });

  it('phone verification: the number is either still unverified (and verifies again) or active, and a colleague reuses it only when it is', async () => {
    await walk({
      async setup(t) {
        const user = await createUser(t);
        const colleague = await createUser(t);
        const org = await t.services.organisations.create(`Org ${randomBytes(3).toString('hex')}`);
        await t.services.organisations.setMember(org.id, user.id, false);
        await t.services.organisations.setMember(org.id, colleague.id, false);
        const { phone } = await t.services.phones.add(user.id, '+41 79 555 12 34');
        return { user, colleague, phone };
      },
      operation: (t, { user, phone }) => t.services.phones.markVerified(user.id, phone.id, phone.number),
      async check(t, { user, colleague, phone }) {
        const now = await t.services.phones.get(user.id, phone.id);
        assert.ok(now, 'the number is still on the list');
        const { reused } = await t.services.phones.add(colleague.id, phone.number);
        // the organisation's index of verified numbers is written after the list: a crash between
        // costs the colleague a code, never a number taken over without one
        if (reused) assert.equal(now.status, 'active', 'a colleague reuses the number only when it is active');
        if (now.status !== 'active') await t.services.phones.markVerified(user.id, phone.id, phone.number);
        assert.equal(await t.services.phones.primaryVerified(user.id), phone.number);
      },
    });
  });
});

describe('crash safety: assisted recovery (issue 21): never locked out, never reset without an approved request whose wait is over', function () {
  this.timeout(900_000);
  const HOUR = 3600_000;
  // Tessera's clock stands still unless a step moves it: no check depends on how long a restart takes
  const base = Date.now();
  let offset = 0;
  const tessera = { clock: () => new Date(base + offset) };
  const from = { ip: '203.0.113.7', browser: 'Firefox', os: 'Linux' };
  type Person = TestUser & { secret: string; codes: number };

  /** The app's code for a time step no earlier code used (Tessera's clock moves a step on). */
  async function appCode(secret: string): Promise<string> {
    offset += 30_000;
    return generate({ secret, epoch: Math.floor(tessera.clock().getTime() / 1000) });
  }
  /** An account whose every sign-in needs its authenticator app; it has recovery codes too. */
  async function personWithApp(t: Tessera): Promise<Person> {
    const user = await createUser(t);
    const { secret } = await t.services.totp.begin(user.id, user.email);
    assert.ok(await t.services.totp.confirm(user.id, await appCode(secret)));
    await t.services.accounts.setSecondFactor(user.id, 'totp');
    return { ...user, secret, codes: (await t.services.recovery.generate(user.id)).length };
  }
  /** An approved request for `who` (an administrator's note), and the cancel link's token its notice carried. */
  async function approved(t: Tessera, who: Person): Promise<string> {
    const admin = await createUser(t);
    await t.services.accounts.setRole(admin.id, 'admin');
    assert.ok((await t.services.assistedRecovery.request((await t.services.accounts.findById(who.id))!, from, 'lost phone')).ok);
    assert.ok(await t.services.assistedRecovery.approve({ id: admin.id, label: admin.email }, who.id, 'Called back on the HR number.'));
    const notice = await eventually(() => t.services.outbox.list().find((m) => m.to === who.email && /will be reset/.test(m.subject ?? '')), 'the approval notice');
    return /cancel\?token=([\w.-]+)/.exec(notice.text)![1]!;
  }
  async function factorsIntact(t: Tessera, who: Person): Promise<void> {
    assert.equal(await t.services.totp.enrolled(who.id), true, 'the app is still set up');
    assert.equal(await t.services.recovery.remaining(who.id), who.codes, 'every recovery code is still there');
    assert.equal((await t.services.accounts.findById(who.id))?.secondFactor, 'totp');
  }
  /** A sign-in with the password; the app when asked for. Resolves to the page after the password. */
  async function signIn(t: Tessera, who: Person, clientId: string, app = true): Promise<{ agent: UserAgent; page: Page; finish: (page: Page) => Promise<void> }> {
    const rp = await RelyingParty.discover(t.issuer, clientId);
    const auth = await rp.authorize();
    const agent = new UserAgent();
    const page = await agent.submit(await agent.visit(auth.url), /\/login$/, { email: who.email, password: who.password });
    const finish = async (last: Page) => {
      assert.ok(last.url.startsWith(REDIRECT_URI), `reached the application (got ${last.status} ${last.url}: ${last.body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)})`);
      await rp.tokens(last.url, auth);
    };
    if (app) {
      assert.match(page.body, /action="[^"]*\/factor"/, `the app is asked for (got ${page.status} ${page.url}: ${page.body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 400)})`);
      await finish(await agent.submit(page, /\/factor$/, { code: await appCode(who.secret) }));
    }
    return { agent, page, finish };
  }
  /** The console's queue lists the request exactly while it is open; after a minute no entry leads nowhere. */
  async function queueAgrees(t: Tessera, who: Person): Promise<void> {
    const request = await t.services.assistedRecovery.get(who.id);
    const open = request && ['requested', 'approved', 'resetting'].includes(request.state) ? 1 : 0;
    assert.equal((await t.services.assistedRecovery.queue()).filter((r) => r.accountId === who.id).length, open, 'the console lists an open request once, a closed one never');
    offset += 61_000;
    await t.services.assistedRecovery.queue();
    const queue = await t.services.db.connection.db!.collection<{ _id: string; entries?: { id: string }[] }>('account_recovery_queue').findOne({ _id: 'open' });
    assert.equal((queue?.entries ?? []).filter((e) => e.id === who.id).length, open, 'stale queue entries are pruned');
  }

  it('a request (queue entry → request document): the factors stay, the person signs in, asking again works or finds it open, the console lists it once', async () => {
    await walk({
      tessera,
      async setup(t) {
        const who = await personWithApp(t);
        return { who, clientId: await publicClient(t) };
      },
      async operation(t, { who }) {
        await t.services.assistedRecovery.request((await t.services.accounts.findById(who.id))!, from, 'lost phone');
        await t.services.audit.flush();
      },
      async check(t, { who, clientId }) {
        await factorsIntact(t, who);
        await signIn(t, who, clientId);
        const written = await t.services.assistedRecovery.get(who.id);
        await queueAgrees(t, who);
        const again = await t.services.assistedRecovery.request((await t.services.accounts.findById(who.id))!, from, 'again');
        assert.deepEqual(again.ok ? 'asked' : again.why, written ? 'open' : 'asked', 'a new request where none was written; the written one otherwise');
        await queueAgrees(t, who);
        assert.equal((await t.services.assistedRecovery.get(who.id))?.state, 'requested');
      },
    });
  });

  it('a cancel by the link (request closed → queue entry removed): the link works again or it is closed; after the wait nothing is reset', async () => {
    await walk({
      tessera,
      async setup(t) {
        const who = await personWithApp(t);
        return { who, clientId: await publicClient(t), token: await approved(t, who) };
      },
      async operation(t, { token }) {
        await t.services.assistedRecovery.cancel(token, from);
        await t.services.audit.flush();
      },
      async check(t, { who, clientId, token }) {
        const state = (await t.services.assistedRecovery.get(who.id))?.state;
        assert.ok(state === 'approved' || state === 'cancelled', `approved or cancelled: ${state}`);
        await queueAgrees(t, who);
        if (state === 'approved') assert.ok((await t.services.assistedRecovery.cancel(token, from)).ok, 'the person presses the button again');
        assert.equal((await t.services.assistedRecovery.get(who.id))?.state, 'cancelled');
        await queueAgrees(t, who);
        offset += 25 * HOUR;
        assert.equal(await t.services.assistedRecovery.completeIfDue(who.id), false, 'a cancelled request resets nothing');
        await signIn(t, who, clientId);
        await factorsIntact(t, who);
      },
    });
  });

  it('a rejection (request closed → queue entry removed): rejected once, the console never lists it, the factors stay', async () => {
    await walk({
      tessera,
      async setup(t) {
        const who = await personWithApp(t);
        const admin = await createUser(t);
        assert.ok((await t.services.assistedRecovery.request((await t.services.accounts.findById(who.id))!, from, '')).ok);
        return { who, admin, clientId: await publicClient(t) };
      },
      async operation(t, { who, admin }) {
        await t.services.assistedRecovery.reject({ id: admin.id, label: admin.email }, who.id, 'Could not reach the person.');
        await t.services.audit.flush();
      },
      async check(t, { who, admin, clientId }) {
        await queueAgrees(t, who);
        if ((await t.services.assistedRecovery.get(who.id))?.state === 'requested') {
          assert.ok(await t.services.assistedRecovery.reject({ id: admin.id, label: admin.email }, who.id, 'Could not reach the person.'), 'the administrator rejects again');
        }
        assert.equal((await t.services.assistedRecovery.get(who.id))?.state, 'rejected');
        await queueAgrees(t, who);
        await factorsIntact(t, who);
        await signIn(t, who, clientId);
      },
    });
  });

  it('the reset (claimed "resetting" → factors removed → completed → queue entry removed): nothing goes before the claim; the next sign-in finishes it and sets up a new factor that stays', async () => {
    const total = await walk({
      tessera,
      async setup(t) {
        const who = await personWithApp(t);
        await approved(t, who);
        offset += 24 * HOUR + 60_000;
        return { who, clientId: await publicClient(t) };
      },
      async operation(t, { who }) {
        await t.services.assistedRecovery.completeIfDue(who.id);
        await t.services.audit.flush();
      },
      async check(t, { who, clientId }) {
        const state = (await t.services.assistedRecovery.get(who.id))?.state;
        if (state === 'approved') await factorsIntact(t, who);
        else assert.ok(state === 'resetting' || state === 'completed', `claimed before anything is removed: ${state}`);
        // the next sign-in (password only) finishes the reset at its second-factor step; one with no
        // such step (the reset had cleared the routine method) leaves it to the sweep
        const { agent, page, finish } = await signIn(t, who, clientId, false);
        const swept = (await t.services.assistedRecovery.get(who.id))?.state === 'resetting';
        if (swept) {
          assert.ok(page.url.startsWith(REDIRECT_URI), 'only a sign-in without a second-factor step leaves it');
          assert.deepEqual(await t.services.assistedRecovery.sweep(), [], 'a reset claimed less than a minute ago may still be running');
          offset += 61_000;
          assert.deepEqual(await t.services.assistedRecovery.sweep(), [who.id], 'the sweep finishes it');
        }
        assert.equal(await t.services.totp.enrolled(who.id), false, 'the app is gone');
        assert.equal(await t.services.recovery.remaining(who.id), 0, 'the recovery codes are gone');
        assert.equal((await t.services.accounts.findById(who.id))?.secondFactor, undefined);
        assert.equal((await t.services.assistedRecovery.get(who.id))?.state, 'completed');
        await queueAgrees(t, who);
        if (page.url.startsWith(REDIRECT_URI)) {
          // finished before the crash or by the sweep: the account has no factor left to ask for (the
          // sweep's reset ended the sessions of the sign-in before it, as every MFA reset does)
          const after = swept ? await signIn(t, who, clientId, false) : { page, finish };
          return after.finish(after.page);
        }
        assert.match(page.body, /<h1>Set up a stronger sign-in<\/h1>/, 'a new factor is set up at once');
        const mail = await eventually(() => t.services.outbox.list().find((m) => m.to === who.email && /^\d{6} is your Tessera sign-in code/.test(m.subject ?? '')), 'the emailed code');
        let next = await agent.submit(page, /\/enrol\/email$/, { code: mail.subject!.slice(0, 6) });
        const secret = /class="key">([A-Z2-7 ]+)</.exec(next.body)![1]!.replace(/ /g, '');
        next = await agent.submit(next, /\/enrol\/totp$/, { code: await appCode(secret) });
        next = await agent.submit(next, /\/enrol\/continue$/);
        await finish(next);
        // the new app stays: nothing is reset again, by the next sign-in or otherwise
        assert.ok(await t.services.recovery.remaining(who.id) > 0, 'new recovery codes');
        assert.equal(await t.services.assistedRecovery.completeIfDue(who.id), false);
        const again = await signIn(t, who, clientId, false);
        await again.finish(again.page);
        assert.equal(await t.services.totp.enrolled(who.id), true, 'the new app stays');
      },
    });
    assert.ok(total >= 4, `the reset makes ${total} writes`);
  });
});

describe('the database layer', () => {
  it('the fault hook is absent unless a test asks for it', async () => {
    const t = await startTessera();
    try {
      assert.equal(t.services.db.faults, undefined);
      // the hook counts writes of every kind and fails every write after the armed count
      const hooked = await startTessera({ testDatabase: { faults: true } });
      try {
        const faults = hooked.services.db.faults!;
        await createUser(hooked);
        faults.crashAfter(0);
        await assert.rejects(createUser(hooked), SimulatedCrash);
        assert.equal(faults.crashed, true);
      } finally {
        await hooked.close().catch(() => {});
      }
    } finally {
      await t.close();
    }
  });


  it('every expiring collection is purged on the embedded database, the limit counters included (counts before and after)', async function () {
    const t = await startTessera();
    try {
      const { db } = t.services;
      const raw = db.connection.db!;
      const collections = db.expiringCollections();
      assert.ok(collections.includes('limits') && collections.includes('challenges') && collections.includes('oidc_interaction'), collections.join(', '));
      const past = new Date(Date.now() - 60_000);
      const future = new Date(Date.now() + 3_600_000);
      for (const name of collections) {
        await raw.collection<{ _id: string }>(name).insertMany([{ _id: 'probe-dead', expiresAt: past }, { _id: 'probe-live', expiresAt: future }] as never);
      }
      // a counter an earlier version wrote (expiry in `expire`): the start-up migration moves it
      await raw.collection<{ _id: string }>('limits').insertOne({ _id: 'probe-legacy', points: 3, expire: past } as never);
      assert.deepEqual(await t.services.limits.migrate(), { moved: 1, failed: [] });
      const count = async () => {
        let dead = 0;
        let live = 0;
        for (const name of collections) {
          dead += await raw.collection<{ _id: string }>(name).countDocuments({ _id: { $in: ['probe-dead', 'probe-legacy'] } });
          live += await raw.collection<{ _id: string }>(name).countDocuments({ _id: 'probe-live' });
        }
        return { dead, live };
      };
      // the keeper may already be at work (it runs every second): some dead ones can be gone
      const before = await count();
      assert.equal(before.live, collections.length);
      assert.ok(before.dead <= collections.length + 1, `dead before: ${before.dead}`);
      if (db.kind === 'ferretdb') {
        // the keeper purges every second in tests (hooks.ts): wait for it, however busy the machine
        for (const deadline = Date.now() + 60_000; (await count()).dead > 0 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 250));
      } else {
        await db.purgeExpired(); // MongoDB's TTL monitor runs once a minute
      }
      assert.deepEqual(await count(), { dead: 0, live: collections.length });
    } finally {
      await t.close();
    }
  });
});
