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
});
