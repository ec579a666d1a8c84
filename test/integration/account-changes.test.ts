// Account changes reach sign-ins in progress (issue 26, item 3): a browser past the password and
// waiting at the new-device code cannot finish its sign-in after the account was locked, its
// password reset by an admin or changed by its owner, or its second factors reset.
import assert from 'node:assert/strict';
import { startTessera, type Tessera } from '../support/tessera.ts';
import { RelyingParty, UserAgent, createUser, REDIRECT_URI, type Page, type TestUser } from '../support/flow.ts';
import type { AdminActor } from '../../src/admin/types.ts';

const ADMIN: AdminActor = { type: 'admin', id: 'admin-account', label: 'root@example.com' };
const STOPPED = /This sign-in was stopped because the account changed/;

describe('account changes and sign-ins in progress', () => {
  let t: Tessera;
  let rp: RelyingParty;

  before(async () => {
    t = await startTessera();
    rp = await RelyingParty.register(t, { skipConsent: true });
  });
  after(() => t.close());

  /** The password is right; the sign-in waits at the new-device code. */
  async function atTheCode(user: TestUser): Promise<{ agent: UserAgent; page: Page; code: string }> {
    const agent = new UserAgent();
    const page = await agent.submit(await agent.visit((await rp.authorize()).url), /\/login$/, { email: user.email, password: user.password });
    assert.match(page.body, /<h1>New device<\/h1>/);
    const mail = t.services.outbox.list().find((m) => m.to === user.email && /^\d{6} /.test(m.subject ?? ''));
    assert.ok(mail, 'a code was emailed');
    return { agent, page, code: /^(\d{6}) /.exec(mail.subject!)![1]! };
  }

  async function stoppedAfter(change: (user: TestUser) => Promise<unknown>) {
    const user = await createUser(t, { deviceVerification: true });
    const { agent, page, code } = await atTheCode(user);
    await change(user);
    const answer = await agent.submit(page, /\/device$/, { code });
    assert.equal(answer.status, 409);
    assert.match(answer.body, STOPPED);
    assert.ok(!answer.url.startsWith(REDIRECT_URI), 'no code reaches the application');
    // reloading the step shows the same, never the next step
    const reload = await agent.visit(page.url);
    assert.match(reload.body, STOPPED);
  }

  it('finishes when nothing changed (the control case)', async () => {
    const user = await createUser(t, { deviceVerification: true });
    const { agent, page, code } = await atTheCode(user);
    const answer = await agent.submit(page, /\/device$/, { code });
    assert.ok(answer.url.startsWith(REDIRECT_URI) && answer.url.includes('code='), `${answer.status} ${answer.body.slice(0, 200)}`);
  });

  it('stops after an admin locked the account', () => stoppedAfter((user) => t.services.admin.users.act(ADMIN, user.id, 'lock')));

  it('stops after an admin reset the password', () => stoppedAfter((user) => t.services.admin.users.act(ADMIN, user.id, 'reset-password')));

  it('stops after the owner changed the password', () => stoppedAfter((user) => t.services.accounts.changePassword(user.id, user.password, 'Another#Horse42')));

  it("stops after an admin reset the account's second factors", () => stoppedAfter((user) => t.services.admin.users.act(ADMIN, user.id, 'reset-mfa')));

  it('stops after an admin disabled the account', () => stoppedAfter((user) => t.services.admin.users.act(ADMIN, user.id, 'disable')));

  describe('signed-in sessions', () => {
    /** A signed-in browser of `user`: silent sign-in works. */
    async function signedIn(user: TestUser): Promise<UserAgent> {
      const agent = new UserAgent();
      const page = await agent.submit(await agent.visit((await rp.authorize()).url), /\/login$/, { email: user.email, password: user.password });
      assert.ok(page.url.includes('code='));
      assert.match(await silent(agent), /code=/);
      return agent;
    }
    const silent = async (agent: UserAgent) => (await agent.visit((await rp.authorize({ prompt: 'none' })).url)).url;

    it("end when an admin resets the account's second factors", async () => {
      const user = await createUser(t);
      const agent = await signedIn(user);
      await t.services.admin.users.act(ADMIN, user.id, 'reset-mfa');
      assert.match(await silent(agent), /error=login_required/);
    });

    it('end for the device an admin removed, and only for it', async () => {
      const user = await createUser(t);
      const removed = await signedIn(user);
      const kept = await signedIn(user);
      const [first] = (await t.services.devices.listFor(user.id)).sort((a, b) => a.firstSeenAt.getTime() - b.firstSeenAt.getTime());
      await t.services.admin.devices.act(ADMIN, first!.id, 'remove');
      assert.match(await silent(removed), /error=login_required/, 'the removed browser is signed out');
      assert.match(await silent(kept), /code=/, 'the other browser is not');
    });

    it('end for a known device that gets blocked by wrong passwords', async () => {
      const user = await createUser(t);
      const agent = await signedIn(user);
      for (let i = 1; i <= 5; i++) {
        const page = await agent.visit((await rp.authorize({ prompt: 'login' })).url);
        await agent.submit(page, /\/login$/, { email: user.email, password: `Wrong#Guess${i}` });
      }
      assert.equal((await t.services.devices.listFor(user.id))[0]!.state, 'BLOCKED');
      assert.match(await silent(agent), /error=login_required/);
    });
  });
});
